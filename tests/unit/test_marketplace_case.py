"""The marketplace-case process (seed 001) on the pure core."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cases.engine import allowed_actions, apply, check, check_open, next_alarm, open_case
from cases.messages import Escalation, RefundSettled, Reopening, SellerResponse, SupportDecision, Withdrawal
from cases.model import Outcome, Party, Reason, Resolution, Status
from cases.refusal import Refusal
from cases.sellers import check_reinstatement
from cases.view import view
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


def test_a_closed_case_may_be_reopened_by_support_at_any_later_time_for_a_new_decision():
    """The seed: the platform "may reopen a previously closed case", with no time limit."""
    case = withdrawn()
    assert (case.status, case.reopenable_until, next_alarm(case)) == (Status.CLOSED, None, None)  # its workflow ends
    assert allowed_actions(case) == {Party.SUPPORT: ["reopening"]}
    assert "Support may reopen it." in view(case).waiting_for
    with pytest.raises(Refusal, match="by.party: only the support may send reopening"):
        check(case, Reopening(by=BUYER), T0)
    years_later = T0 + timedelta(days=3 * 365)
    reopened = apply(case, Reopening(by=SUPPORT, note="buyer sent new evidence"), years_later).case
    assert (reopened.status, reopened.outcome, reopened.closed_at, reopened.reopened) == (Status.AWAITING_SUPPORT, None, None, 1)
    refunded = apply(reopened, SupportDecision(by=SUPPORT, decision="refund_charged_to_seller"), years_later).case
    assert refunded.refunds[0].amount == eur(4500)


def limited(hours=720):
    """The marketplace process with a limit on reopening, as a policy may set one."""
    request = marketplace()
    policy = request.policy.model_copy(update={"reopen_within_hours": hours})
    return apply(open_case(request.model_copy(update={"policy": policy}), T0).case, Withdrawal(by=BUYER), T0).case


def test_a_policy_may_still_limit_reopening():
    case = limited()
    assert case.reopenable_until == T0 + timedelta(days=30) and next_alarm(case) is None
    check(case, Reopening(by=SUPPORT), T0 + timedelta(days=30))
    with pytest.raises(Refusal, match="kind: support may reopen this case only until"):
        check(case, Reopening(by=SUPPORT), T0 + timedelta(days=30, seconds=1))


def test_a_reopening_limit_without_reopening_is_refused_when_the_policy_loads():
    data = marketplace().policy.model_dump() | {"support_may_reopen": False, "reopen_within_hours": 720}
    with pytest.raises(ValueError, match="reopen_within_hours: limits reopening, which this policy does not allow"):
        type(marketplace().policy).model_validate(data)


def test_a_closed_case_takes_nothing_but_a_reopening():
    with pytest.raises(Refusal, match="status: the case is closed .withdrawn.; only support may reopen it$"):
        check(withdrawn(), Escalation(by=BUYER), T0)


def test_processes_without_reopening_close_for_good():
    case = apply(open_case(request(), T0).case, Withdrawal(by=BUYER), T0).case
    assert case.is_final and next_alarm(case) is None
    with pytest.raises(Refusal, match="nothing more can be done"):
        check(case, Reopening(by=SUPPORT), T0)


# ------------------------------------------------------------------------------ flagged sellers


def test_a_case_unresolved_for_30_days_flags_its_seller_and_resolving_it_does_not_lift_the_flag():
    """The seed: "once your case is resolved, your account privileges will not be restored
    automatically; contact support to request reinstatement"."""
    case, at, alarm = until_alarm(opened(), "seller_flag_due")
    assert at == T0 + timedelta(days=30)
    step = apply(case, alarm, at)
    assert step.case.seller_flagged_at == at and view(step.case).seller_flagged
    assert [(n.to, n.event) for n in step.commands if n.kind == "notify"] == [(Party.SELLER, "seller_flagged")]
    closing = apply(step.case, Withdrawal(by=BUYER), at)
    assert closing.case.seller_flagged and closing.case.timeline[-1].kind == "seller_flag_kept"
    told = [n.text for n in closing.commands if n.kind == "notify" and n.event == "reinstatement"]
    assert told == ["The case is resolved. Your account's restrictions are not lifted automatically: contact support to request reinstatement."]


def test_support_reinstates_a_flagged_seller_only_once_every_flagging_case_is_resolved():
    with pytest.raises(Refusal, match="seller_id: case.s. c-1 flagging seller-7 are not resolved yet"):
        check_reinstatement("seller-7", {"c-1": Status.AWAITING_SELLER_RESPONSE, "c-2": Status.CLOSED})
    with pytest.raises(Refusal, match="seller_id: seller-7 is not flagged by any case"):
        check_reinstatement("seller-7", {})
    check_reinstatement("seller-7", {"c-1": Status.CLOSED, "c-2": Status.CLOSED})


def test_a_case_resolved_in_time_never_flags_its_seller_and_a_reopened_one_may():
    case = withdrawn()
    assert case.flag_seller_at is None and next_alarm(case) is None
    reopened = apply(case, Reopening(by=SUPPORT), T0 + timedelta(days=2)).case
    assert reopened.flag_seller_at == T0 + timedelta(days=32)
