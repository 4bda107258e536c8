"""Evidence through the public client on the time-skipping server: files go to the evidence store,
the case's history holds their references only."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from cases.evidence import EvidenceKind
from cases.messages import Escalation, SellerResponse, SupportDecision
from cases.model import Reason, Resolution, Status
from starter.client import CaseRefused, NewCase
from store.schema import SupportTicketRow
from tests.factories import BUYER, SELLER, SUPPORT, jpeg, order, pdf
from workflows.refund_case import workflow_id

pytestmark = pytest.mark.workflow


async def test_both_sides_files_reach_support_and_the_history_holds_references_only(cases):
    now = await cases.env.get_current_time()
    photos = [jpeg(400_000), jpeg(400_000)]
    given = [await cases.client.attach(photo, EvidenceKind.PHOTO, "as it arrived") for photo in photos]
    sold = order(purchased_at=now - timedelta(days=3), shipped_at=now - timedelta(days=2))
    opened = await cases.client.open(NewCase(request_id=f"req-{uuid.uuid4()}", reason=Reason.DEFECTIVE, order=sold, evidence=given))
    await cases.client.show(opened.case_id)
    packing = await cases.client.attach(pdf(200_000), EvidenceKind.DOCUMENT, "packing list", uploader="seller-portal")
    await cases.client.send(opened.case_id, SellerResponse(by=SELLER, resolution=Resolution.DECLINE, evidence=[packing]))
    shown = await cases.client.send(opened.case_id, Escalation(by=BUYER))
    assert shown.status is Status.AWAITING_SUPPORT
    await cases.settled(opened.case_id)
    (ticket,) = cases.store.rows(SupportTicketRow, case_id=opened.case_id)
    assert [(e["added_by"]["party"], e["kind"], e["size"]) for e in ticket.details["evidence"]] == [
        ("buyer", "photo", 400_000),
        ("buyer", "photo", 400_000),
        ("seller", "document", 200_000),
    ]
    shown = await cases.client.send(opened.case_id, SupportDecision(by=SUPPORT, decision="refund_at_platform_cost"))
    assert [e.digest for e in shown.evidence] == [a.digest for a in [*given, packing]]
    assert await cases.client.file_of(opened.case_id, packing.digest) is not None
    history = await cases.env.client.get_workflow_handle(workflow_id(opened.case_id)).fetch_history()
    raw = history.to_json()
    assert len(raw) < 200_000, "a megabyte of files, a history of kilobytes"
    for content in photos:
        assert content[:40].hex() not in raw and content[14:30] not in raw.encode()


async def test_a_file_not_in_the_evidence_store_is_refused_naming_it(cases):
    now = await cases.env.get_current_time()
    sold = order(purchased_at=now - timedelta(days=3), shipped_at=now - timedelta(days=2))
    made_up = (await cases.client.attach(jpeg(), EvidenceKind.PHOTO)).model_copy(update={"digest": "a" * 64})
    with pytest.raises(CaseRefused) as refused:
        await cases.client.open(NewCase(request_id=f"req-{uuid.uuid4()}", reason=Reason.DEFECTIVE, order=sold, evidence=[made_up]))
    assert refused.value.field == "evidence[0].digest"
    with pytest.raises(CaseRefused, match="file: its content is not a photo"):
        await cases.client.attach(b"plain text, named .jpg", EvidenceKind.PHOTO)
