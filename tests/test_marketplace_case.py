"""The marketplace-case process (seed 001) on the pure core."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cases.engine import Refusal, allowed_actions, apply, check, check_open, next_alarm, open_case
from cases.messages import Escalation, RefundSettled, Reopening, SellerResponse, SupportDecision, Withdrawal
from cases.view import view
from cases.model import Outcome, Party, Reason, Resolution, Status
from tests.factories import BUYER, PAYMENT, SELLER, SUPPORT, T0, eur, request


def marketplace(reason=Reason.NOT_RECEIVED, **order):
    fields = dict(estimated_delivery_at=T0 - timedelta(days=1))
    fields.update(order)
    return request(reason, policy="marketplace_case", **fields)


def opened(**kw):
    return open_case(marketplace(**kw), T0).case


def until_alarm(case, kind):
    """Lets the clock deliver every earlier alarm; returns the case and the first alarm of `kind`."""
    at, alarm = next_alarm(case)
    while alarm.kind != kind:
        case = apply(case, alarm, at).case
        at, alarm = next_alarm(case)
    return case, at, alarm


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        (dict(reason=Reason.DEFECTIVE), "reason: policy marketplace_case opens cases only for not_as_described, not_received"),
        (dict(estimated_delivery_at=T0 + timedelta(hours=1)), "opened_at: a case may open only from the order's estimated delivery"),
        (dict(estimated_delivery_at=T0 - timedelta(days=101)), "opened_at: a case must open within 2400 hours of the order's estimated delivery"),
        (dict(estimated_delivery_at=None), "order.estimated_delivery_at: policy marketplace_case needs it"),
    ],
)
def test_a_case_opens_only_for_two_reasons_after_the_estimated_delivery_and_within_100_days(changes, error):
    with pytest.raises(Refusal) as refused:
        check_open(marketplace(**changes), T0)
    assert str(refused.value).startswith(error)


def test_eligible_on_day_100_and_the_seller_is_asked_first():
    case = open_case(marketplace(estimated_delivery_at=T0 - timedelta(days=100)), T0).case
    assert case.status is Status.AWAITING_SELLER_RESPONSE
    assert case.deadline.due_at == T0 + timedelta(days=365)


def test_the_buyer_may_escalate_from_day_3_and_not_before():
    case = opened()
    with pytest.raises(Refusal, match="kind: the buyer may escalate once the case is 72 h old"):
        check(case, Escalation(by=BUYER), T0 + timedelta(hours=72) - timedelta(seconds=1))
    case, at, alarm = until_alarm(case, "escalation_opens")  # the seller's day-3 reminder falls at the same moment
    assert at == T0 + timedelta(hours=72)
    case = apply(case, alarm, at).case
    assert "escalation" in allowed_actions(case)[Party.BUYER]
    escalated = apply(case, Escalation(by=BUYER), at).case
    assert escalated.status is Status.AWAITING_SUPPORT


def test_the_platform_may_escalate_earlier():
    assert apply(opened(), Escalation(by=SUPPORT), T0 + timedelta(minutes=5)).case.status is Status.AWAITING_SUPPORT


def test_a_full_refund_closes_the_case():
    case = apply(opened(), SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND), T0).case
    assert case.status is Status.REFUND_PENDING and case.refunds[0].amount == eur(4500)


def test_tracking_that_shows_delivery_closes_a_non_delivery_case_only():
    proof = SellerResponse(by=SELLER, resolution=Resolution.PROOF_OF_DELIVERY, tracking_number="TRK-88888")
    assert apply(opened(), proof, T0).case.outcome is Outcome.DELIVERED
    with pytest.raises(Refusal, match="resolution: proof_of_delivery answers only a not_received case"):
        check(opened(reason=Reason.NOT_AS_DESCRIBED), proof, T0)


def test_the_buyer_may_close_the_case():
    assert apply(opened(), Withdrawal(by=BUYER), T0).case.outcome is Outcome.WITHDRAWN


def test_the_seller_cannot_decline_or_offer_a_return_here():
    for resolution in (Resolution.DECLINE, Resolution.REFUND_AFTER_RETURN):
        with pytest.raises(Refusal, match="does not offer"):
            check(opened(), SellerResponse(by=SELLER, resolution=resolution), T0)


def test_unresolved_for_365_days_it_refunds_in_full_charged_to_the_seller():
    case, at, alarm = until_alarm(opened(), "deadline_passed")
    assert at == T0 + timedelta(days=365)
    step = apply(case, alarm, at)
    assert step.case.refunds[0].amount == eur(4500) and step.case.charged_to_seller == eur(4500)
    assert step.case.timeline[-1].kind == "long_stop"


def test_after_365_days_support_may_only_refund_in_full_and_there_is_no_appeal():
    case = apply(opened(), Escalation(by=SUPPORT), T0).case
    late = T0 + timedelta(days=366)
    with pytest.raises(Refusal, match="decision: unresolved for 8760 h .* only a full refund"):
        check(case, SupportDecision(by=SUPPORT, decision="deny"), late)
    with pytest.raises(Refusal, match="only a full refund"):
        check(case, SupportDecision(by=SUPPORT, decision="refund_charged_to_seller", amount=eur(100)), late)
    decided = apply(case, SupportDecision(by=SUPPORT, decision="refund_charged_to_seller"), late).case
    settled = apply(decided, RefundSettled(by=PAYMENT, refund_number=1), late).case
    assert settled.outcome is Outcome.REFUNDED_FULL  # closed: this policy has no appeal


# ---------------------------------------------------------------------------------- reopening


def withdrawn():
    return apply(opened(), Withdrawal(by=BUYER), T0).case


def test_a_closed_case_may_be_reopened_by_support_for_30_days_for_a_new_decision():
    case = withdrawn()
    assert (case.status, case.reopenable_until) == (Status.CLOSED, T0 + timedelta(days=30))
    assert allowed_actions(case) == {Party.SUPPORT: ["reopening"]}
    assert "Support may reopen it until" in view(case).waiting_for
    with pytest.raises(Refusal, match="by.party: only the support may send reopening"):
        check(case, Reopening(by=BUYER), T0)
    reopened = apply(case, Reopening(by=SUPPORT, note="buyer sent new evidence"), T0 + timedelta(days=29)).case
    assert (reopened.status, reopened.outcome, reopened.closed_at, reopened.reopened) == (Status.AWAITING_SUPPORT, None, None, 1)
    refunded = apply(reopened, SupportDecision(by=SUPPORT, decision="refund_charged_to_seller"), T0 + timedelta(days=29)).case
    assert refunded.refunds[0].amount == eur(4500)


def test_once_the_time_to_reopen_has_passed_the_case_is_final():
    case = withdrawn()
    with pytest.raises(Refusal, match="kind: support may reopen this case only until"):
        check(case, Reopening(by=SUPPORT), T0 + timedelta(days=30, seconds=1))
    at, alarm = next_alarm(case)
    assert (at, alarm.kind) == (T0 + timedelta(days=30), "reopening_lapsed")
    final = apply(case, alarm, at).case
    assert final.is_final and next_alarm(final) is None and allowed_actions(final) == {}
    with pytest.raises(Refusal, match="status: the case is closed .withdrawn.; support may reopen a case only within 720 h"):
        check(final, Reopening(by=SUPPORT), at)


def test_a_closed_case_takes_nothing_but_a_reopening():
    with pytest.raises(Refusal, match="status: the case is closed .withdrawn.; only support may reopen it, until"):
        check(withdrawn(), Escalation(by=BUYER), T0)


def test_processes_without_reopening_close_for_good():
    case = apply(open_case(request(), T0).case, Withdrawal(by=BUYER), T0).case
    assert case.is_final and next_alarm(case) is None
    with pytest.raises(Refusal, match="nothing more can be done"):
        check(case, Reopening(by=SUPPORT), T0)


# ------------------------------------------------------------------------------ flagged sellers


def test_a_case_unresolved_for_30_days_flags_its_seller_until_it_closes():
    case, at, alarm = until_alarm(opened(), "seller_flag_due")
    assert at == T0 + timedelta(days=30)
    step = apply(case, alarm, at)
    assert step.case.seller_flagged and view(step.case).seller_flagged
    assert [(n.to, n.event) for n in step.commands if n.kind == "notify"] == [(Party.SELLER, "seller_flagged")]
    closed = apply(step.case, Withdrawal(by=BUYER), at).case
    assert not closed.seller_flagged and closed.timeline[-1].kind == "seller_flag_lifted"


def test_a_case_resolved_in_time_never_flags_its_seller_and_a_reopened_one_may():
    case = withdrawn()
    assert case.flag_seller_at is None and next_alarm(case)[1].kind == "reopening_lapsed"
    reopened = apply(case, Reopening(by=SUPPORT), T0 + timedelta(days=2)).case
    assert reopened.flag_seller_at == T0 + timedelta(days=32)
