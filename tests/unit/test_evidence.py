"""Evidence in the rules: what a policy takes, what a case records, and what support sees of both sides."""

from __future__ import annotations

import pytest

from cases.commands import OpenSupportTicket
from cases.engine import apply, check_open, open_case
from cases.events import CaseEvent
from cases.evidence import Attachment, EvidenceKind, EvidenceRules, check_attachments, summary
from cases.messages import Escalation, SellerResponse, SupportDecision
from cases.model import Resolution
from cases.refusal import Refusal
from cases.view import details_markdown, view
from store.outbox import webhook_payload
from tests.factories import BUYER, SELLER, SUPPORT, T0, request


def attachment(n: int = 1, kind: EvidenceKind = EvidenceKind.PHOTO, media_type: str | None = "image/jpeg", size: int | None = 2048) -> Attachment:
    return Attachment(digest=f"{n:064x}", kind=kind, caption=f"file {n}", media_type=media_type, size=size)


RULES = EvidenceRules(max_files=3, max_bytes=10_000, media_types={"image/jpeg", "application/pdf"})


@pytest.mark.parametrize(
    ("held", "given", "field", "rule"),
    [
        (2, [attachment(1), attachment(2)], "evidence", "takes at most 3 files a case; this case holds 2"),
        (0, [attachment(1), attachment(2, media_type="image/gif")], "evidence[1].media_type", "image/gif is not a type policy p takes"),
        (0, [attachment(1, size=10_001)], "evidence[0].size", "at most 10000 bytes a file under policy p"),
        (0, [attachment(1, media_type=None)], "evidence[0].digest", "not read from the evidence store"),
    ],
)
def test_a_policy_refuses_files_beyond_its_limits_naming_the_file(held, given, field, rule):
    with pytest.raises(Refusal) as refused:
        check_attachments(RULES, held, given, "p")
    assert refused.value.field == field and rule in refused.value.rule


def test_the_opening_and_every_message_add_their_files_to_the_case():
    opening = request().model_copy(update={"evidence": [attachment(1)]})
    opened = open_case(opening, T0)
    assert [e.added_by for e in opened.case.evidence] == [BUYER.model_copy(update={"id": opening.order.buyer_id})]
    assert CaseEvent.EVIDENCE_ADDED in opened.events
    answer = SellerResponse(
        by=SELLER, resolution=Resolution.DECLINE, note="packed with care", evidence=[attachment(2, EvidenceKind.VIDEO, "video/mp4")]
    )
    after = apply(opened.case, answer, T0)
    assert [(e.kind, e.with_message, e.added_by) for e in after.case.evidence][1:] == [(EvidenceKind.VIDEO, "seller_response", SELLER)]
    assert after.case.timeline[-1].summary == "1 file(s) with seller_response: video"
    assert len(opened.case.evidence) == 1, "the case before the message is left as it was"


def test_a_message_with_files_beyond_the_policy_changes_nothing():
    policy = request().policy.model_copy(update={"evidence": RULES})
    case = open_case(request().model_copy(update={"policy": policy}), T0).case
    too_many = SellerResponse(by=SELLER, resolution=Resolution.DECLINE, evidence=[attachment(n) for n in range(4)])
    with pytest.raises(Refusal, match="evidence: policy direct_service takes at most 3 files"):
        apply(case, too_many, T0)
    with pytest.raises(Refusal, match="evidence\\[0\\].media_type"):
        check_open(request().model_copy(update={"policy": policy, "evidence": [attachment(1, media_type="video/mp4")]}), T0)


def test_support_sees_what_both_sides_gave_on_its_ticket_and_its_decision():
    case = open_case(request().model_copy(update={"evidence": [attachment(1), attachment(2)]}), T0).case
    declined = apply(
        case, SellerResponse(by=SELLER, resolution=Resolution.DECLINE, evidence=[attachment(3, EvidenceKind.DOCUMENT, "application/pdf")]), T0
    ).case
    escalated = apply(declined, Escalation(by=BUYER.model_copy(update={"id": case.order.buyer_id})), T0)
    (ticket,) = [command for command in escalated.commands if isinstance(command, OpenSupportTicket)]
    assert [(e.added_by.party.value, e.kind.value) for e in ticket.evidence] == [("buyer", "photo"), ("buyer", "photo"), ("seller", "document")]
    decided = apply(escalated.case, SupportDecision(by=SUPPORT, decision="deny"), T0).case
    decision = next(entry for entry in decided.timeline if entry.kind == "support_decision")
    assert decision.summary == "support decided deny, on the evidence given: buyer 2 (photo, photo); seller 1 (document)"
    assert summary([]) == "none"


def test_webhooks_and_the_uis_details_list_references_never_contents_or_captions():
    case = open_case(request().model_copy(update={"evidence": [attachment(7)]}), T0).case
    payload = webhook_payload("d-1", CaseEvent.EVIDENCE_ADDED, view(case), T0)
    assert payload["case"]["evidence"] == [{"digest": f"{7:064x}", "kind": "photo", "media_type": "image/jpeg", "size": 2048, "added_by": "buyer"}]
    assert "file 7" not in str(payload) and "file 7" not in details_markdown(case)
    assert f"buyer photo `{7:064x}`"[:24] in details_markdown(case) and "image/jpeg, 2048 bytes" in details_markdown(case)
