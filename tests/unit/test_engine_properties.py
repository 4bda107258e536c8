"""Random sequences of messages, good and bad, from every party: whatever happens, a refused message
changes nothing, money never exceeds what was paid, and an open case always has a deadline."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import event, given, settings
from hypothesis import strategies as st

from cases.engine import apply, next_alarm, open_case
from cases.messages import (
    Appeal,
    BuyerAnswer,
    Escalation,
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
from cases.model import Actor, CaseKind, ItemCategory, Party, Reason, Resolution, Status
from cases.refusal import Refusal
from tests.factories import BUYER, CARRIER, PAYMENT, SELLER, SUPPORT, T0, eur, request

ANYONE = [BUYER, SELLER, SUPPORT, CARRIER, PAYMENT, Actor(party=Party.SELLER, id="intruder")]


def sent_by(actor: Actor):
    """Mostly the party who may send it, sometimes anybody: deep paths and refusals both."""
    return st.sampled_from([actor] * 6 + ANYONE)


actors = st.sampled_from(ANYONE)
amounts = st.one_of(st.integers(min_value=1, max_value=4499), st.integers(min_value=-1000, max_value=6000)).map(eur)
notes = st.none() | st.text(max_size=20)


def _seller_response(by, resolution, amount):
    fields = {"amount": amount} if resolution is Resolution.PARTIAL_REFUND else {}
    if resolution in (Resolution.REPLACEMENT, Resolution.PROOF_OF_DELIVERY):
        fields["tracking_number"] = "NEW-12345"
    return SellerResponse(by=by, resolution=resolution, **fields)


messages = st.one_of(
    st.builds(_seller_response, sent_by(SELLER), st.sampled_from(Resolution), amounts),
    st.builds(BuyerAnswer, by=sent_by(BUYER), accept=st.booleans()),
    st.builds(ReturnInspection, by=sent_by(SELLER), confirm=st.booleans()),
    st.builds(Escalation, by=sent_by(BUYER), note=notes),
    st.builds(Withdrawal, by=actors),
    st.builds(
        SupportDecision,
        by=sent_by(SUPPORT),
        decision=st.sampled_from(["refund_charged_to_seller", "refund_at_platform_cost", "deny", "uphold", "overturn"]),
        amount=st.none() | amounts,
    ),
    st.builds(Appeal, by=sent_by(SELLER)),
    st.builds(PartyMessage, by=actors, text=st.just("hi")),
    st.builds(ReturnShipped, by=sent_by(CARRIER), tracking_number=st.just("RET-12345")),
    st.builds(ReturnDelivered, by=sent_by(CARRIER)),
    st.builds(RefundSettled, by=sent_by(PAYMENT), refund_number=st.integers(1, 3)),
    st.builds(RefundFailed, by=sent_by(PAYMENT), refund_number=st.integers(1, 3), failure=st.just("declined")),
    st.just("clock"),
)

openings = st.builds(
    lambda reason, category, fraud, cancel: request(
        reason,
        category=category,
        fraud=fraud,
        **(dict(kind=CaseKind.CANCELLATION, shipped_at=None, purchased_at=T0) if cancel else {}),
    ),
    st.sampled_from([Reason.DEFECTIVE, Reason.WRONG_ITEM, *Reason]),
    st.sampled_from([ItemCategory.GENERAL, ItemCategory.GENERAL, *ItemCategory]),
    st.sampled_from([False, False, False, True]),
    st.sampled_from([False, False, False, True]),
)


@settings(max_examples=500, deadline=None)
@given(openings, st.lists(messages, min_size=10, max_size=60))
def test_no_sequence_of_messages_breaks_the_money_or_strands_a_case(opening, sequence):
    case = open_case(opening, T0).case
    now = T0
    for message in sequence:
        now += timedelta(minutes=5)
        if message == "clock":
            alarm = next_alarm(case)
            if alarm is None:
                continue
            now, message = alarm
        before = case.model_copy(deep=True)
        try:
            case = apply(case, message, now).case
        except Refusal:
            assert case == before, "a refused message changed the case"
            continue
        event(f"reached {case.status.value}")
        paid = case.order.total_paid.amount
        assert 0 <= case.refunded.amount <= paid
        assert case.refundable.amount == paid - case.refunded.amount
        # Net of reversals, the seller never pays more than the buyer paid plus one return label.
        assert 0 <= case.charged_to_seller.amount <= paid + case.policy.label_fee(case.currency).amount
        if case.status is Status.CLOSED:
            assert case.deadline is None and case.outcome is not None
        else:
            assert case.deadline is not None and case.deadline.due_at > now - timedelta(seconds=1)
            assert case.version == before.version + 1
