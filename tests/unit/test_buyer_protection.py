"""The buyer-protection process (seed 003) on the pure core."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cases import policies
from cases.engine import apply, check, check_open, next_alarm, open_case
from cases.messages import DeadlinePassed, Escalation, ProtectionFeedback, RefundConfirmation, SellerResponse, Withdrawal
from cases.model import CLOCK, CaseKind, Outcome, Party, Reason, Resolution, Status
from cases.policy import Policy
from cases.refusal import Refusal
from cases.view import view
from tests.factories import BUYER, SELLER, T0, eur, request


def protection(opted_in=True):
    return request(Reason.OTHER, kind=CaseKind.PROTECTION, policy="buyer_protection", purchased_at=T0, shipped_at=None, protection_opted_in=opted_in)


def protected():
    return open_case(protection(), T0).case


def feedback(option):
    return ProtectionFeedback(by=BUYER, option=option)


def claim(option="not_received"):
    return apply(protected(), feedback(option), T0 + timedelta(days=10)).case


def test_protection_runs_30_days_from_checkout_and_asks_for_feedback_on_day_23():
    case = protected()
    assert (case.status, view(case).label, case.deadline.due_at) == (Status.PROTECTED, "Protected", T0 + timedelta(days=30))
    at, alarm = next_alarm(case)
    assert (alarm.kind, at) == ("reminder_due", T0 + timedelta(days=23))
    step = apply(case, alarm, at)
    assert [c.event for c in step.commands if c.kind == "notify"] == ["feedback_request"]
    ended = apply(step.case, DeadlinePassed(by=CLOCK, status=Status.PROTECTED, due_at=T0 + timedelta(days=30)), T0 + timedelta(days=30)).case
    assert ended.outcome is Outcome.PROTECTION_ENDED


def test_only_buyers_who_opted_in_are_protected():
    with pytest.raises(Refusal, match="order.protection_opted_in: protection covers only orders whose buyer opted in"):
        check_open(protection(opted_in=False), T0)


def test_cancelling_protection_closes_it():
    assert apply(protected(), feedback("cancel_protection"), T0).case.outcome is Outcome.PROTECTION_CANCELLED


@pytest.mark.parametrize("option", ["not_received", "refund_not_received"])
def test_a_problem_opens_a_claim_the_shop_answers_within_5_days(option):
    case = claim(option)
    assert (case.status, case.reason.value, view(case).label) == (Status.AWAITING_SELLER_RESPONSE, option, "Waiting for the shop")
    assert case.deadline.due_at == T0 + timedelta(days=15)
    escalated = apply(case, DeadlinePassed(by=CLOCK, status=case.status, due_at=case.deadline.due_at), case.deadline.due_at).case
    assert view(escalated).label == "Service team"


def test_other_requests_go_to_the_service_team():
    assert claim("other_request").status is Status.AWAITING_SUPPORT


def test_protection_counts_30_days_and_day_23_from_the_order_not_from_the_opening():
    """The seed: protection "active for 30 days", the mail "on the 23rd day following the order"."""
    case = open_case(protection(), T0 + timedelta(hours=6)).case
    assert case.protected_until == case.deadline.due_at == T0 + timedelta(days=30)
    assert next_alarm(case)[0] == T0 + timedelta(days=23)


def refunded(resolution=Resolution.FULL_REFUND, **response):
    answer = SellerResponse(by=SELLER, resolution=resolution, note="refunded today", **response)
    return apply(claim(), answer, T0 + timedelta(days=11)).case


@pytest.mark.parametrize("resolution", [Resolution.FULL_REFUND, Resolution.REFUND_AFTER_RETURN])
def test_the_shop_refunds_itself_and_the_buyer_has_20_days_to_confirm(resolution):
    case = refunded(resolution)
    assert case.status is Status.AWAITING_REFUND_CONFIRMATION and case.refunds == []  # no money moves here
    assert case.deadline.due_at == T0 + timedelta(days=31)
    assert view(case).offers[-1].amount == case.order.total_paid  # the amount defaults to the order's value
    received = apply(case, RefundConfirmation(by=BUYER, answer="received"), T0 + timedelta(days=12)).case
    assert (received.outcome, received.offers[-1].answer) == (Outcome.REFUNDED_BY_SELLER, "received")
    missing = apply(case, RefundConfirmation(by=BUYER, answer="not_received"), T0 + timedelta(days=12)).case
    assert (missing.status, missing.offers[-1].answer) == (Status.AWAITING_SUPPORT, "not_received")
    assert missing.timeline[-1].summary.startswith("buyer says the seller's refund did not arrive")
    with pytest.raises(Refusal, match="answer: only a partial refund can be not accepted"):
        check(case, RefundConfirmation(by=BUYER, answer="partial_not_accepted"), T0 + timedelta(days=12))


def test_a_partial_refund_not_received_and_one_not_accepted_are_different_answers():
    case = refunded(Resolution.PARTIAL_REFUND, amount=eur(2000))
    assert view(case).offers[-1].amount == eur(2000)
    missing_step = apply(case, RefundConfirmation(by=BUYER, answer="not_received"), T0)
    refused_step = apply(case, RefundConfirmation(by=BUYER, answer="partial_not_accepted"), T0)
    missing, refused = missing_step.case, refused_step.case
    assert missing.status is refused.status is Status.AWAITING_SUPPORT
    assert (missing.offers[-1].answer, refused.offers[-1].answer) == ("not_received", "partial_not_accepted")
    assert missing.timeline[-1].summary == "buyer says the seller's refund did not arrive (20.00 EUR)"
    assert refused.timeline[-1].summary == "buyer does not accept the partial refund (20.00 EUR)"
    tickets = [c.reason for step in (missing_step, refused_step) for c in step.commands if c.kind == "support_ticket"]
    assert tickets == ["the buyer says the seller's refund did not arrive", "the buyer does not accept the partial refund"]


def test_the_shop_must_justify_its_decision_in_a_message():
    for unexplained in (None, "", "   "):
        with pytest.raises(Refusal, match="note: under policy buyer_protection the seller must justify its decision"):
            check(claim(), SellerResponse(by=SELLER, resolution=Resolution.DECLINE, note=unexplained), T0)
    check(claim(), SellerResponse(by=SELLER, resolution=Resolution.DECLINE, note="the parcel is on its way"), T0)


def test_no_refund_lets_the_buyer_agree_or_disagree():
    case = apply(claim("not_received"), SellerResponse(by=SELLER, resolution=Resolution.DECLINE, note="delayed, not lost"), T0).case
    assert (case.status, case.awaiting, view(case).label) == (Status.DECLINED, Party.BUYER, "Shop declined")
    assert apply(case, Withdrawal(by=BUYER), T0).case.outcome is Outcome.WITHDRAWN
    assert apply(case, Escalation(by=BUYER), T0).case.status is Status.AWAITING_SUPPORT


def test_no_to_a_refund_not_received_claim_goes_straight_to_the_service_team():
    case = apply(claim("refund_not_received"), SellerResponse(by=SELLER, resolution=Resolution.DECLINE, note="no order was cancelled"), T0).case
    assert case.status is Status.AWAITING_SUPPORT


def test_feedback_only_while_protected():
    with pytest.raises(Refusal, match="kind: protection_feedback is not possible while the case is awaiting_seller_response"):
        check(claim(), feedback("cancel_protection"), T0)


# ------------------------------------------------------------------------ the extension variant


def extended_claim(reported_on_day=10):
    case = open_case(protection_extended(), T0).case
    return apply(case, feedback("not_received"), T0 + timedelta(days=reported_on_day))


def protection_extended():
    return protection().model_copy(update={"policy": policies.load("buyer_protection_extended")})


def test_reporting_a_problem_extends_protection_by_30_days_and_the_shop_has_until_then():
    step = extended_claim()
    case = step.case
    assert case.protected_until == view(case).protected_until == T0 + timedelta(days=60)
    assert case.deadline.due_at == T0 + timedelta(days=60)
    assert "protection_extended" in [c.event for c in step.commands if c.kind == "notify"]


def test_a_week_before_the_extended_end_the_shop_is_reminded_and_the_buyer_may_claim():
    case = extended_claim().case
    week_before = T0 + timedelta(days=53)
    kinds = []
    for _ in range(2):
        at, alarm = next_alarm(case)
        assert at == week_before
        kinds.append(alarm.kind)
        case = apply(case, alarm, at).case
    assert sorted(kinds) == ["escalation_opens", "reminder_due"]
    assert apply(case, Escalation(by=BUYER), week_before).case.status is Status.AWAITING_SUPPORT


def test_the_base_process_does_not_extend_protection():
    case = claim()
    assert case.protected_until == T0 + timedelta(days=30)
    assert case.deadline.due_at == T0 + timedelta(days=15)


def test_only_protection_policies_extend_protection():
    with pytest.raises(ValueError, match="protection_extension_hours: only a policy that takes protection cases"):
        Policy.model_validate({**policies.load("direct_service").model_dump(), "protection_extension_hours": 720})
