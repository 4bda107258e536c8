"""The direct-service rules, on the pure core: routing, every response, the return leg, escalation,
appeal, cancellation, timeouts, charges, and refusals that change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cases.case import Case
from cases.commands import IssueRefund, Notify, OpenSupportTicket, PostLedgerEntry
from cases.engine import MAX_MESSAGES, MAX_REFUSALS_WRITTEN, OPENING_GRACE, apply, check, open_case, opening_time, refuse
from cases.messages import (
    Appeal,
    BuyerAnswer,
    DeadlinePassed,
    Escalation,
    OpenCase,
    PartyMessage,
    RefundFailed,
    RefundSettled,
    ReturnDelivered,
    ReturnInspection,
    ReturnShipped,
    SellerResponse,
    SupportDecision,
    Withdrawal,
)
from cases.model import CLOCK, CaseKind, ItemCategory, LedgerKind, Outcome, Party, Reason, Resolution, Status
from cases.refusal import Refusal
from cases.view import view
from tests.factories import BUYER, CARRIER, PAYMENT, SELLER, SUPPORT, T0, eur, request

LABEL_FEE = 650


def opened(*args, **kwargs) -> Case:
    return open_case(request(*args, **kwargs), T0).case


def play(case: Case, *messages, after: timedelta = timedelta(minutes=1)):
    """Applies messages one minute apart, settling every refund the moment it is issued."""
    commands = []
    now = case.timeline[-1].at
    for message in messages:
        now += after
        step = apply(case, message, now)
        case, commands = step.case, commands + step.commands
        for refund in (c for c in step.commands if isinstance(c, IssueRefund)):
            settled = apply(case, RefundSettled(by=PAYMENT, refund_number=refund.number), now)
            case, commands = settled.case, commands + settled.commands
    return case, commands


def timeout(case: Case):
    assert case.deadline is not None
    return play(case, DeadlinePassed(by=CLOCK, status=case.deadline.status, due_at=case.deadline.due_at))


def ledger(commands) -> list[tuple[LedgerKind, int]]:
    return [(c.entry, c.amount.amount) for c in commands if isinstance(c, PostLedgerEntry)]


def refunds(commands) -> list[int]:
    return [c.amount.amount for c in commands if isinstance(c, IssueRefund)]


def respond(resolution: Resolution, **kw) -> SellerResponse:
    return SellerResponse(by=SELLER, resolution=resolution, **kw)


# ------------------------------------------------------------------------------------------- routing


@pytest.mark.parametrize("reason", ["shipped_late", "missing_item", "wrong_item", "not_as_described", "defective", "giveaway_not_sent"])
def test_covered_reasons_go_to_the_seller_with_72_hours(reason):
    case = opened(Reason(reason))
    assert case.status is Status.AWAITING_SELLER_RESPONSE
    assert case.deadline.due_at == T0 + timedelta(hours=72)


@pytest.mark.parametrize("reason", ["not_received", "damaged_in_transit", "buyer_remorse", "invoice_incorrect", "other"])
def test_uncovered_reasons_go_to_support(reason):
    transition = open_case(request(Reason(reason)), T0)
    assert transition.case.status is Status.AWAITING_SUPPORT
    assert any(isinstance(c, OpenSupportTicket) for c in transition.commands)


@pytest.mark.parametrize("category", [ItemCategory.CONSUMABLE, ItemCategory.OPENABLE])
@pytest.mark.parametrize("reason", [Reason.MISSING_ITEM, Reason.WRONG_ITEM])
def test_missing_or_wrong_items_on_consumable_or_openable_goods_skip_the_seller(reason, category):
    case = opened(reason, category=category)
    assert case.status is Status.AWAITING_SUPPORT
    assert "excluded" in case.routing_note


def test_a_defect_on_consumable_goods_still_goes_to_the_seller():
    assert opened(Reason.DEFECTIVE, category=ItemCategory.CONSUMABLE).status is Status.AWAITING_SELLER_RESPONSE


def test_buyers_flagged_for_fraud_go_to_support_and_the_seller_is_not_asked():
    transition = open_case(request(Reason.DEFECTIVE, fraud=True), T0)
    assert transition.case.status is Status.AWAITING_SUPPORT
    assert not [c for c in transition.commands if isinstance(c, Notify) and c.event == "case_opened"]


# ---------------------------------------------------------------------------------- seller responses


def test_full_refund_without_return_refunds_and_charges_sale_plus_shipping_on_acceptance():
    case, commands = play(opened(), respond(Resolution.FULL_REFUND))
    assert refunds(commands) == [4500]
    assert ledger(commands) == [(LedgerKind.SELLER_CHARGE, 4500)]
    assert (case.status, case.outcome) == (Status.CLOSED, Outcome.REFUNDED_FULL)
    assert case.refundable == eur(0)


def test_refund_after_return_charges_sale_shipping_and_label_on_confirmation():
    case, commands = play(
        opened(),
        respond(Resolution.REFUND_AFTER_RETURN),
        ReturnShipped(by=CARRIER, tracking_number="TRACK-1234"),
        ReturnDelivered(by=CARRIER),
    )
    assert case.status is Status.AWAITING_RETURN_INSPECTION
    assert not refunds(commands) and not ledger(commands)
    case, commands = play(case, ReturnInspection(by=SELLER, confirm=True))
    assert refunds(commands) == [4500]
    assert ledger(commands) == [(LedgerKind.SELLER_CHARGE, 4500 + LABEL_FEE)]
    assert case.outcome is Outcome.REFUNDED_FULL


def test_return_is_confirmed_automatically_72_hours_after_delivery():
    case, _ = play(opened(), respond(Resolution.REFUND_AFTER_RETURN), ReturnDelivered(by=CARRIER))
    assert case.deadline.due_at - case.return_leg.delivered_at == timedelta(hours=72)
    case, commands = timeout(case)
    assert refunds(commands) == [4500]
    assert ledger(commands) == [(LedgerKind.SELLER_CHARGE, 4500 + LABEL_FEE)]
    assert case.outcome is Outcome.REFUNDED_FULL


def test_return_not_shipped_within_7_days_cancels_the_request_without_charge():
    case, _ = play(opened(), respond(Resolution.REFUND_AFTER_RETURN))
    assert case.deadline.due_at - case.return_leg.approved_at == timedelta(days=7)
    case, commands = timeout(case)
    assert (case.outcome, refunds(commands), ledger(commands)) == (Outcome.RETURN_NOT_SHIPPED, [], [])


def test_disputed_return_goes_to_support_with_the_charge_on_hold():
    case, commands = play(opened(), respond(Resolution.REFUND_AFTER_RETURN), ReturnDelivered(by=CARRIER), ReturnInspection(by=SELLER, confirm=False))
    assert case.status is Status.AWAITING_SUPPORT and case.return_disputed
    assert not ledger(commands)
    case, commands = play(case, SupportDecision(by=SUPPORT, decision="refund_charged_to_seller"))
    assert ledger(commands) == [(LedgerKind.SELLER_CHARGE, 4500 + LABEL_FEE)]
    assert case.status is Status.APPEAL_OPEN


def test_partial_offer_accepted_refunds_and_charges_that_amount():
    case, _ = play(opened(), respond(Resolution.PARTIAL_REFUND, amount=eur(1500)))
    assert case.status is Status.AWAITING_OFFER_ANSWER
    case, commands = play(case, BuyerAnswer(by=BUYER, accept=True))
    assert refunds(commands) == [1500]
    assert ledger(commands) == [(LedgerKind.SELLER_CHARGE, 1500)]
    assert case.outcome is Outcome.REFUNDED_PARTIAL


def test_partial_offer_declined_opens_a_return_for_a_full_refund():
    case, _ = play(opened(), respond(Resolution.PARTIAL_REFUND, amount=eur(1500)), BuyerAnswer(by=BUYER, accept=False))
    assert case.status is Status.AWAITING_RETURN_SHIPMENT
    assert case.offers[-1].answer == "declined"
    case, commands = play(case, ReturnDelivered(by=CARRIER), ReturnInspection(by=SELLER, confirm=True))
    assert refunds(commands) == [4500]


def test_unanswered_partial_offer_lapses():
    case, _ = play(opened(), respond(Resolution.PARTIAL_REFUND, amount=eur(1500)))
    case, commands = timeout(case)
    assert (case.outcome, refunds(commands)) == (Outcome.ABANDONED, [])


def test_replacement_needs_tracking_and_closes_the_case():
    with pytest.raises(ValueError, match="tracking_number"):
        respond(Resolution.REPLACEMENT)
    case, commands = play(opened(), respond(Resolution.REPLACEMENT, tracking_number="NEW-98765"))
    assert (case.outcome, case.offers[-1].tracking_number, refunds(commands)) == (Outcome.REPLACED, "NEW-98765", [])


# ------------------------------------------------------------------------- decline, support, appeal


def test_decline_charges_nothing_and_lets_the_buyer_escalate():
    case, commands = play(opened(), respond(Resolution.DECLINE, note="item was fine"))
    assert case.status is Status.DECLINED and not ledger(commands)
    case, commands = play(case, Escalation(by=BUYER))
    assert case.status is Status.AWAITING_SUPPORT
    assert any(isinstance(c, OpenSupportTicket) for c in commands)


def test_decline_not_escalated_closes_as_declined():
    case, _ = play(opened(), respond(Resolution.DECLINE))
    case, _ = timeout(case)
    assert case.outcome is Outcome.DECLINED


def test_silent_seller_is_escalated_to_support_after_72_hours():
    case, commands = timeout(opened())
    assert case.status is Status.AWAITING_SUPPORT
    assert any(isinstance(c, OpenSupportTicket) for c in commands)


def test_support_refund_charged_to_seller_then_appeal_overturned_reverses_the_charge():
    case, _ = play(opened(), respond(Resolution.DECLINE), Escalation(by=BUYER))
    case, commands = play(case, SupportDecision(by=SUPPORT, decision="refund_charged_to_seller"))
    assert refunds(commands) == [4500] and ledger(commands) == [(LedgerKind.SELLER_CHARGE, 4500)]
    assert case.status is Status.APPEAL_OPEN
    case, _ = play(case, Appeal(by=SELLER))
    assert case.status is Status.AWAITING_SUPPORT
    with pytest.raises(Refusal, match="decision: on an appeal"):
        check(case, SupportDecision(by=SUPPORT, decision="deny"), T0)
    case, commands = play(case, SupportDecision(by=SUPPORT, decision="overturn"))
    assert ledger(commands) == [(LedgerKind.CHARGE_REVERSAL, 4500), (LedgerKind.PLATFORM_REFUND, 4500)]
    assert case.charged_to_seller == eur(0) and case.refunded == eur(4500)
    assert case.outcome is Outcome.REFUNDED_FULL


def test_appeal_upheld_keeps_the_charge():
    case, _ = play(
        opened(),
        respond(Resolution.DECLINE),
        Escalation(by=BUYER),
        SupportDecision(by=SUPPORT, decision="refund_charged_to_seller"),
        Appeal(by=SELLER),
    )
    case, commands = play(case, SupportDecision(by=SUPPORT, decision="uphold"))
    assert not ledger(commands) and case.charged_to_seller == eur(4500)


def test_appeal_window_passing_makes_the_decision_final():
    case, _ = play(opened(), respond(Resolution.DECLINE), Escalation(by=BUYER), SupportDecision(by=SUPPORT, decision="refund_charged_to_seller"))
    case, _ = timeout(case)
    assert case.outcome is Outcome.REFUNDED_FULL and case.charged_to_seller == eur(4500)


def test_refund_at_platform_cost_charges_the_seller_nothing_and_has_no_appeal():
    case, _ = play(opened(Reason.NOT_RECEIVED))
    case, commands = play(case, SupportDecision(by=SUPPORT, decision="refund_at_platform_cost", amount=eur(2000)))
    assert ledger(commands) == [(LedgerKind.PLATFORM_REFUND, 2000)]
    assert (case.status, case.outcome, case.charged_to_seller) == (Status.CLOSED, Outcome.REFUNDED_PARTIAL, eur(0))


def test_support_denial_closes_without_money():
    case, commands = play(opened(Reason.NOT_RECEIVED), SupportDecision(by=SUPPORT, decision="deny"))
    assert (case.outcome, refunds(commands), ledger(commands)) == (Outcome.DENIED, [], [])


def test_support_gets_a_reminder_each_time_its_window_passes():
    case = opened(Reason.NOT_RECEIVED)
    first_due = case.deadline.due_at
    case, commands = timeout(case)
    assert case.status is Status.AWAITING_SUPPORT and case.deadline.reminded == 1
    assert case.deadline.due_at > first_due
    assert [c.event for c in commands if isinstance(c, Notify)] == ["overdue"]


# ---------------------------------------------------------------------------------- refund settling


def test_a_failed_refund_reverses_the_charge_and_goes_to_support():
    case = apply(opened(), respond(Resolution.FULL_REFUND), T0).case
    assert case.status is Status.REFUND_PENDING
    failed = apply(case, RefundFailed(by=PAYMENT, refund_number=1, failure="card closed"), T0)
    assert ledger(failed.commands) == [(LedgerKind.CHARGE_REVERSAL, 4500)]
    assert failed.case.status is Status.AWAITING_SUPPORT
    assert failed.case.refundable == eur(4500) and failed.case.charged_to_seller == eur(0)


def test_a_refund_settles_once():
    case, _ = play(opened(), respond(Resolution.PARTIAL_REFUND, amount=eur(1000)), BuyerAnswer(by=BUYER, accept=True))
    with pytest.raises(Refusal, match="closed"):
        check(case, RefundSettled(by=PAYMENT, refund_number=1), T0)


# -------------------------------------------------------------------------------------- cancellation


def unshipped(**kw):
    return dict(kind=CaseKind.CANCELLATION, reason=Reason.BUYER_REMORSE, shipped_at=None, **kw)


def test_cancellation_within_24_hours_goes_to_the_seller_and_acceptance_refunds_all():
    case = opened(**unshipped(purchased_at=T0 - timedelta(hours=2)))
    assert case.status is Status.AWAITING_CANCELLATION_ANSWER
    case, commands = play(case, respond(Resolution.FULL_REFUND))
    assert refunds(commands) == [4500] and case.outcome is Outcome.ORDER_CANCELLED


def test_cancellation_refused_by_the_seller():
    case, _ = play(opened(**unshipped(purchased_at=T0 - timedelta(hours=2))), respond(Resolution.DECLINE))
    assert case.outcome is Outcome.CANCELLATION_REFUSED


@pytest.mark.parametrize(
    ("hours_since_purchase", "label_printed_hours_ago", "allowed"),
    [
        (23, 1, True),  # inside 24 h even though printed
        (25, None, True),  # label not printed yet
        (30, 1, False),  # printed after 24 h had passed, and that was an hour ago
        (30, -1, True),  # label printing scheduled later: not printed yet at T0
    ],
)
def test_cancellation_window_is_24_hours_or_until_the_label_is_printed_whichever_is_later(hours_since_purchase, label_printed_hours_ago, allowed):
    printed = None if label_printed_hours_ago is None else T0 - timedelta(hours=label_printed_hours_ago)
    case = opened(**unshipped(purchased_at=T0 - timedelta(hours=hours_since_purchase), label_printed_at=printed))
    assert (case.status is Status.AWAITING_CANCELLATION_ANSWER) == allowed
    if not allowed:
        assert case.outcome is Outcome.INELIGIBLE


def test_cancellation_is_never_possible_after_shipping():
    case = opened(kind=CaseKind.CANCELLATION, reason=Reason.BUYER_REMORSE)
    assert case.outcome is Outcome.INELIGIBLE
    assert "shipped" in case.timeline[0].summary


def test_cancellation_cannot_be_answered_with_a_return():
    case = opened(**unshipped(purchased_at=T0))
    with pytest.raises(Refusal, match="resolution: a cancellation"):
        check(case, respond(Resolution.REFUND_AFTER_RETURN), T0)


# ---------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (BuyerAnswer(by=BUYER, accept=True), "kind: buyer_answer is not possible while the case is awaiting_seller_response"),
        (SellerResponse(by=BUYER, resolution=Resolution.FULL_REFUND), "by.party: only the seller"),
        (SellerResponse(by=SELLER.model_copy(update={"id": "seller-8"}), resolution=Resolution.DECLINE), "by.id: seller-8 is not this case's seller"),
        (respond(Resolution.PARTIAL_REFUND, amount=eur(4500)), "amount: a partial offer must be less than the refundable 45.00 EUR"),
        (respond(Resolution.PARTIAL_REFUND, amount=eur(9000)), "amount: must not exceed what is refundable, 45.00 EUR"),
        (respond(Resolution.PARTIAL_REFUND, amount=eur(0)), "amount: must be positive"),
        (respond(Resolution.PARTIAL_REFUND, amount=eur(-100)), "amount: must be positive"),
        (
            respond(Resolution.PARTIAL_REFUND, amount=eur(100).model_copy(update={"currency": "USD"})),
            "amount.currency: must be the order currency EUR",
        ),
        (SupportDecision(by=SUPPORT, decision="deny"), "kind: support_decision is not possible"),
        (Appeal(by=SELLER), "kind: appeal is not possible"),
    ],
)
def test_refused_messages_name_the_field_and_the_rule(message, error):
    case = opened()
    before = case.model_copy(deep=True)
    with pytest.raises(Refusal) as refused:
        apply(case, message, T0)
    assert str(refused.value).startswith(error)
    assert case == before


def test_unknown_reason_is_rejected_by_the_model():
    with pytest.raises(ValueError, match="reason"):
        OpenCase.model_validate({**request().model_dump(), "reason": "bored"})


def test_anything_on_a_closed_case_is_refused():
    case, _ = play(opened(), Withdrawal(by=BUYER))
    assert case.outcome is Outcome.WITHDRAWN
    with pytest.raises(Refusal, match="status: the case is closed"):
        check(case, PartyMessage(by=SELLER, text="hello"), T0)


def test_ids_must_be_opaque():
    with pytest.raises(ValueError, match="buyer_id"):
        request(buyer_id="jane@example.com")


def test_a_refused_signal_changes_only_the_timeline_and_tells_the_sender():
    case = opened()
    message = respond(Resolution.PARTIAL_REFUND, amount=eur(9000))
    with pytest.raises(Refusal) as refused:
        apply(case, message, T0)
    after = refuse(case, message.kind, message.by, refused.value, T0)
    assert after.case.status is case.status and after.case.offers == []
    assert after.case.timeline[-1].refused
    assert [(c.to, c.event) for c in after.commands] == [(Party.SELLER, "refused")]


def test_messages_between_parties_change_no_state_and_reach_the_others():
    case = opened()
    case2, commands = play(case, PartyMessage(by=BUYER, text="It arrived broken, photos attached"))
    assert case2.status is case.status and case2.deadline == case.deadline
    assert sorted(c.to for c in commands) == [Party.SELLER, Party.SUPPORT]


# ------------------------------------------------------------------------------------- request ids

STRANGER = BUYER.model_copy(update={"id": "buyer-8"})


def test_a_refused_message_leaves_no_request_id_to_replay_the_case_with():
    """A refused signal's request id once matched the same id sent again as an update, which was taken
    for a repeat and answered with the whole case view; a stranger's refusal is not written at all."""
    case = opened()
    withdrawal = Withdrawal(by=STRANGER, request_id="x-1")
    with pytest.raises(Refusal) as refused:
        apply(case, withdrawal, T0)
    assert str(refused.value) == "by.id: buyer-8 is not this case's buyer"
    assert refuse(case, withdrawal.kind, withdrawal.by, refused.value, T0).case.timeline == case.timeline
    answer = BuyerAnswer(by=BUYER, accept=True, request_id="x-2")
    with pytest.raises(Refusal) as refused:
        apply(case, answer, T0)
    case = refuse(case, answer.kind, answer.by, refused.value, T0, answer.request_id).case
    assert case.timeline[-1].refused and case.timeline[-1].request_id == "x-2"  # for the record
    with pytest.raises(Refusal, match="kind: buyer_answer is not possible"):  # judged again, not a repeat
        check(case, answer, T0)


def test_the_same_request_id_from_another_sender_or_for_another_kind_is_a_new_command():
    """The carrier's return_shipped with request id portal-7731 once made the seller's decline with
    the same id a repeat: answered, and dropped."""
    case = opened()
    case, _ = play(case, PartyMessage(by=BUYER, text="photos attached", request_id="portal-7731"))
    case, _ = play(case, respond(Resolution.DECLINE).model_copy(update={"request_id": "portal-7731"}))
    assert case.status is Status.DECLINED
    assert [(e.actor, e.kind) for e in case.timeline if e.request_id == "portal-7731"] == [(BUYER, "message"), (SELLER, "seller_response")]


def test_a_sender_is_checked_before_a_repeat_is_answered():
    case, _ = play(opened(), respond(Resolution.DECLINE).model_copy(update={"request_id": "r-1"}))
    impostor = respond(Resolution.DECLINE).model_copy(update={"request_id": "r-1", "by": SELLER.model_copy(update={"id": "seller-8"})})
    with pytest.raises(Refusal, match="by.id: seller-8 is not this case's seller"):
        apply(case, impostor, T0 + timedelta(hours=1))
    with pytest.raises(Refusal, match="by.party: only the seller may send seller_response"):
        check(case, respond(Resolution.DECLINE).model_copy(update={"request_id": "r-1", "by": BUYER}), T0)
    assert apply(case, respond(Resolution.DECLINE).model_copy(update={"request_id": "r-1"}), T0 + timedelta(hours=1)).case is case


def test_a_stranger_is_only_counted_and_so_is_everyone_past_the_written_refusals():
    case = opened()
    stranger = refuse(case, "withdrawal", STRANGER, Refusal("by.id", "not this case's buyer"), T0)
    assert not stranger.heard and stranger.commands == [] and stranger.case.timeline == case.timeline
    assert (stranger.case.refusals_not_written, stranger.case.version) == (1, case.version)
    assert not refuse(case, "unknown", None, Refusal("signal", "unreadable"), T0).heard
    for _ in range(MAX_REFUSALS_WRITTEN):
        case = refuse(case, "return_delivered", CARRIER, Refusal("kind", "not now"), T0).case
    past = refuse(case, "return_delivered", CARRIER, Refusal("kind", "not now"), T0)
    assert not past.heard and past.case.refusals_not_written == 1
    assert sum(e.refused for e in past.case.timeline) == MAX_REFUSALS_WRITTEN


def test_a_case_takes_at_most_its_quota_of_messages():
    case = opened()
    for _ in range(MAX_MESSAGES):
        case = apply(case, PartyMessage(by=BUYER, text="again"), T0).case
    with pytest.raises(Refusal, match=f"text: a case takes at most {MAX_MESSAGES} messages"):
        apply(case, PartyMessage(by=SELLER, text="one more"), T0)


# --------------------------------------------------------------------------------------- case view


def test_the_view_says_who_acts_next_by_when_and_what_each_party_may_do():
    shown = view(opened())
    assert (shown.awaiting, shown.due_at) == (Party.SELLER, T0 + timedelta(hours=72))
    assert "seller_response" in shown.may[Party.SELLER] and "withdrawal" in shown.may[Party.BUYER]
    assert shown.waiting_for.startswith("Waiting for the seller's response until 2026-11-05 09:00 UTC (then escalate)")
    assert shown.policy == "direct_service" and shown.policy_version


def test_the_return_label_is_charged_once_even_when_support_refunds_twice():
    """Found by the exploration: a disputed return, a support refund stuck pending, then a second one."""
    case, _ = play(opened(), respond(Resolution.REFUND_AFTER_RETURN), ReturnDelivered(by=CARRIER), ReturnInspection(by=SELLER, confirm=False))
    case = apply(case, SupportDecision(by=SUPPORT, decision="refund_charged_to_seller", amount=eur(2250)), T0).case
    assert case.charged_to_seller == eur(2250 + LABEL_FEE)
    case = apply(case, DeadlinePassed(by=CLOCK, status=case.deadline.status, due_at=case.deadline.due_at), T0).case
    assert case.status is Status.AWAITING_SUPPORT
    case = apply(case, SupportDecision(by=SUPPORT, decision="refund_charged_to_seller"), T0).case
    assert case.charged_to_seller == eur(4500 + LABEL_FEE)


def test_a_label_fee_whose_refund_failed_is_charged_again_with_the_next_refund():
    case, _ = play(opened(), respond(Resolution.REFUND_AFTER_RETURN), ReturnDelivered(by=CARRIER))
    case = apply(case, ReturnInspection(by=SELLER, confirm=True), T0).case
    case = apply(case, RefundFailed(by=PAYMENT, refund_number=1, failure="card closed"), T0).case
    assert case.charged_to_seller == eur(0)
    case = apply(case, SupportDecision(by=SUPPORT, decision="refund_charged_to_seller"), T0).case
    assert case.charged_to_seller == eur(4500 + LABEL_FEE)


@pytest.mark.parametrize(
    ("checked", "opens"),
    [
        (None, "now"),
        (T0 - timedelta(seconds=2), "checked"),
        (T0, "checked"),
        (T0 - OPENING_GRACE, "checked"),
        (T0 - OPENING_GRACE - timedelta(microseconds=1), "now"),  # the start waited too long
        (T0 + timedelta(seconds=1), "now"),  # the client's clock runs ahead
    ],
)
def test_a_case_opens_when_its_request_was_checked_if_that_was_just_before(checked, opens):
    """The client computes the search attributes a case starts with at `requested_at`; the case opens
    at that moment, so the attributes hold, unless the moment is implausible."""
    asked = request().model_copy(update={"requested_at": checked})
    case = open_case(asked, opening_time(asked, T0)).case
    assert case.opened_at == (checked if opens == "checked" else T0)
    assert case.deadline.due_at == case.opened_at + timedelta(hours=72)
