"""The reported-issue process (seed 002) on the pure core."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cases.commands import Notify
from cases.engine import apply, check, check_open, open_case
from cases.messages import DeadlinePassed, Escalation, ResolutionConfirmed, SellerResponse, SupportDecision
from cases.model import CLOCK, Outcome, Party, Reason, Resolution, Status
from cases.refusal import Refusal
from cases.view import view
from tests.factories import BUYER, SELLER, SUPPORT, eur, request

MONDAY = datetime(2026, 11, 23, 9, tzinfo=UTC)


def reported(reason=Reason.DAMAGED_IN_TRANSIT, delivered=MONDAY - timedelta(days=1)):
    return request(reason, policy="reported_issue", delivered_at=delivered)


def opened(**kw):
    return open_case(reported(**kw), MONDAY).case


@pytest.mark.parametrize("reason", [Reason.DAMAGED_IN_TRANSIT, Reason.DEFECTIVE, Reason.MISSING_ITEM, Reason.WRONG_ITEM])
def test_goods_problems_go_to_the_brand_as_submitted(reason):
    shown = view(opened(reason=reason))
    assert (shown.status, shown.label, shown.awaiting) == (Status.AWAITING_SELLER_RESPONSE, "Submitted", Party.SELLER)


def test_anything_else_goes_to_platform_review():
    shown = view(opened(reason=Reason.INVOICE_INCORRECT))
    assert (shown.status, shown.label) == (Status.AWAITING_SUPPORT, "Platform review")


def test_an_issue_opens_within_4_working_days_of_arrival():
    thursday_delivery = datetime(2026, 11, 19, 9, tzinfo=UTC)  # Thu: Fri, Mon, Tue, Wed count
    check_open(reported(delivered=thursday_delivery), datetime(2026, 11, 25, 9, tzinfo=UTC))
    with pytest.raises(Refusal, match="within 96 business hours of the order's delivery"):
        check_open(reported(delivered=thursday_delivery), datetime(2026, 11, 25, 9, 1, tzinfo=UTC))


def test_a_replacement_is_in_progress_until_the_retailer_marks_it_resolved():
    case = apply(opened(), SellerResponse(by=SELLER, resolution=Resolution.REPLACEMENT, tracking_number="RPL-1234"), MONDAY).case
    assert (case.status, view(case).label) == (Status.IN_PROGRESS, "In progress")
    case = apply(case, ResolutionConfirmed(by=BUYER), MONDAY).case
    assert (case.outcome, view(case).label) == (Outcome.RESOLVED, "Resolved")


def test_a_replacement_may_ask_the_original_back_on_a_label_the_brand_pays():
    response = SellerResponse(by=SELLER, resolution=Resolution.REPLACEMENT, tracking_number="RPL-1234", return_original=True)
    step = apply(opened(), response, MONDAY)
    assert step.case.status is Status.IN_PROGRESS
    assert step.case.charged_to_seller == eur(650)
    assert step.case.refunded == eur(0)
    told = {(n.to, n.event) for n in step.commands if isinstance(n, Notify)}
    assert {(Party.BUYER, "return_instructions"), (Party.SELLER, "seller_charged")} <= told


def test_only_a_replacement_asks_the_original_back():
    with pytest.raises(ValueError, match="return_original: only a replacement"):
        SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND, return_original=True)


def test_contacting_the_retailer_then_silence_for_14_days_counts_as_resolved():
    case = apply(opened(), SellerResponse(by=SELLER, resolution=Resolution.CONTACT_BUYER), MONDAY).case
    assert case.deadline.due_at == MONDAY + timedelta(days=14)
    case = apply(case, DeadlinePassed(by=CLOCK, status=case.deadline.status, due_at=case.deadline.due_at), case.deadline.due_at).case
    assert case.outcome is Outcome.RESOLVED


def test_an_unhappy_retailer_escalates_from_in_progress_and_the_platform_may_refuse():
    case = apply(opened(), SellerResponse(by=SELLER, resolution=Resolution.CONTACT_BUYER), MONDAY).case
    case = apply(case, Escalation(by=BUYER), MONDAY).case
    assert view(case).label == "Platform review"
    case = apply(case, SupportDecision(by=SUPPORT, decision="deny"), MONDAY).case
    assert view(case).label == "Refused"


def test_the_brand_has_3_business_days_then_the_platform_reviews():
    friday = datetime(2026, 11, 20, 9, tzinfo=UTC)
    case = open_case(reported(delivered=friday - timedelta(days=1)), friday).case
    assert case.deadline.due_at == datetime(2026, 11, 25, 9, tzinfo=UTC)  # Fri + Mon + Tue


def test_only_the_retailer_confirms_and_only_while_in_progress():
    with pytest.raises(Refusal, match="kind: resolution_confirmed is not possible while the case is awaiting_seller_response"):
        check(opened(), ResolutionConfirmed(by=BUYER), MONDAY)
    case = apply(opened(), SellerResponse(by=SELLER, resolution=Resolution.CONTACT_BUYER), MONDAY).case
    with pytest.raises(Refusal, match="by.party: only the buyer"):
        check(case, ResolutionConfirmed(by=SELLER), MONDAY)


def test_labels_must_name_statuses_or_outcomes():
    from cases import policies
    from cases.policy import Policy

    data = policies.load("reported_issue").model_dump(mode="json")
    data["labels"]["sumbitted"] = "Submitted"
    with pytest.raises(ValueError, match="labels: sumbitted is neither a status nor an outcome"):
        Policy.model_validate(data)
