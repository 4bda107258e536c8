"""RefundCaseWorkflow on the time-skipping server: every direct-service path end to end through
CaseClient, each deadline one second before and one second after, refusals, and money moved once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from cases import engine, policies
from cases.messages import (
    Appeal,
    BuyerAnswer,
    Escalation,
    OpenCase,
    PartyMessage,
    ProtectionFeedback,
    RefundConfirmation,
    RefundFailed,
    RefundSettled,
    Reopening,
    ResolutionConfirmed,
    ReturnDelivered,
    ReturnInspection,
    ReturnShipped,
    SellerResponse,
    SupportDecision,
    Withdrawal,
)
from cases.model import CaseKind, ItemCategory, Outcome, Party, Reason, Resolution, Status
from cases.refusal import Refusal
from cases.view import CaseView, static_summary
from starter.client import CaseClient, CaseRefused, NewCase, case_id_for
from store import queries
from store.schema import CaseRow, GatewayRefundRow, LedgerRow, NotificationRow, RefundReservationRow, SupportTicketRow, TimelineRow
from testkit.world import settled
from tests.conftest import result_when_done, worker_for
from tests.factories import BUYER, CARRIER, PAYMENT, SELLER, SUPPORT, eur, order
from workflows import search_attributes
from workflows.refund_case import RefundCaseWorkflow, workflow_id

pytestmark = pytest.mark.workflow

SECOND = timedelta(seconds=1)


async def open_case(h, reason=Reason.DEFECTIVE, kind=CaseKind.REFUND_REQUEST, policy="direct_service", **order_changes) -> str:
    now = await h.env.get_current_time()
    fields = dict(
        purchased_at=now - timedelta(days=3),
        shipped_at=now - timedelta(days=2),
        estimated_delivery_at=now - timedelta(days=1),
        delivered_at=now - timedelta(hours=1),
    )
    fields.update(order_changes)
    new = NewCase(request_id=f"req-{uuid.uuid4()}", reason=reason, kind=kind, order=order(**fields), policy=policy)
    opened = await h.client.open(new)
    assert opened.created
    await h.client.show(opened.case_id)  # the first workflow task has run
    return opened.case_id


async def signal(h, case_id, message):
    """Sends a signal and waits (bounded) until the case has taken it and carried it out."""
    before = (await h.client.show(case_id)).version
    await h.client.send(case_id, message, wait=False)
    for _ in range(500):
        shown = await h.client.show(case_id)
        if shown.version > before:
            await settled(h.env.client, workflow_id(case_id))
            return shown
        await asyncio.sleep(0.01)
    raise AssertionError(f"case {case_id} did not take {message.kind}")


async def eventually(probe):
    """Polls `probe` (bounded) until it returns something truthy: activities finish after the state moves."""
    for _ in range(500):
        if found := probe():
            return found
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


async def status(h, case_id) -> Status:
    return (await h.client.show(case_id)).status


async def final_view(h, case_id, patience: timedelta = timedelta(hours=1)) -> CaseView:
    return await result_when_done(h.env, workflow_id(case_id), CaseView, patience)


def money_rows(h, case_id):
    refunds = [r.amount for r in h.store.rows(GatewayRefundRow, case_id=case_id)]
    ledger = sorted((r.kind, r.amount) for r in h.store.rows(LedgerRow, case_id=case_id))
    return refunds, ledger


# ---------------------------------------------------------------------------------------- the paths


async def test_full_refund_without_return(cases):
    case_id = await open_case(cases)
    shown = await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))
    assert (shown.status, shown.outcome, shown.refunded) == (Status.CLOSED, Outcome.REFUNDED_FULL, eur(4500))
    assert money_rows(cases, case_id) == ([4500], [("seller_charge", 4500)])
    result = await cases.env.client.get_workflow_handle(workflow_id(case_id)).result()
    assert result["outcome"] == "refunded_full"


async def test_two_cases_on_one_order_share_what_was_paid(cases):
    first = await open_case(cases, order_id="ord-shared", reason=Reason.DEFECTIVE)
    second = await open_case(cases, order_id="ord-shared", reason=Reason.MISSING_ITEM)
    shown = await cases.client.send(first, SellerResponse(by=SELLER, resolution=Resolution.PARTIAL_REFUND, amount=eur(3000)))
    shown = await cases.client.send(first, BuyerAnswer(by=BUYER, accept=True))
    assert shown.refunded == eur(3000)
    shown = await cases.client.send(second, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))
    assert (shown.status, shown.refunded, shown.refundable, shown.charged_to_seller) == (Status.AWAITING_SUPPORT, eur(0), eur(1500), eur(0))
    assert "the order's other cases have already refunded 30.00 EUR" in shown.timeline[-1].summary
    shown = await cases.client.send(second, SupportDecision(by=SUPPORT, decision="refund_charged_to_seller"))
    assert (shown.status, shown.refunded, shown.refundable) == (Status.APPEAL_OPEN, eur(1500), eur(0))
    assert money_rows(cases, first)[0] + money_rows(cases, second)[0] == [3000, 1500]


async def test_refund_after_return_with_carrier_signals_and_confirmation(cases):
    case_id = await open_case(cases)
    await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.REFUND_AFTER_RETURN))
    await signal(cases, case_id, ReturnShipped(by=CARRIER, tracking_number="RET-12345"))
    await signal(cases, case_id, ReturnDelivered(by=CARRIER))
    assert await status(cases, case_id) is Status.AWAITING_RETURN_INSPECTION
    shown = await cases.client.send(case_id, ReturnInspection(by=SELLER, confirm=True))
    assert shown.outcome is Outcome.REFUNDED_FULL
    assert money_rows(cases, case_id) == ([4500], [("seller_charge", 4500 + 650)])


async def test_partial_offer_accepted(cases):
    case_id = await open_case(cases)
    await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.PARTIAL_REFUND, amount=eur(1200)))
    shown = await cases.client.send(case_id, BuyerAnswer(by=BUYER, accept=True))
    assert shown.outcome is Outcome.REFUNDED_PARTIAL
    assert money_rows(cases, case_id) == ([1200], [("seller_charge", 1200)])


async def test_partial_offer_declined_then_return_for_full_refund(cases):
    case_id = await open_case(cases)
    await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.PARTIAL_REFUND, amount=eur(1200)))
    shown = await cases.client.send(case_id, BuyerAnswer(by=BUYER, accept=False))
    assert shown.status is Status.AWAITING_RETURN_SHIPMENT
    await signal(cases, case_id, ReturnDelivered(by=CARRIER))
    shown = await cases.client.send(case_id, ReturnInspection(by=SELLER, confirm=True))
    assert shown.outcome is Outcome.REFUNDED_FULL


async def test_a_decision_in_the_first_workflow_task_does_not_overtake_the_opening(env, store):
    """Open with no worker running, send the seller's answer, then start the worker: its first task
    holds both, and the answer must apply after the opening, not be overwritten by it."""
    idle = CaseClient(env.client, f"late-{uuid.uuid4().hex[:8]}", clock=env.get_current_time)
    now = await env.get_current_time()
    opened = await idle.open(NewCase(request_id=f"req-{uuid.uuid4()}", reason=Reason.DEFECTIVE, order=order(purchased_at=now - timedelta(days=1))))
    answer = asyncio.create_task(idle.send(opened.case_id, SellerResponse(by=SELLER, resolution=Resolution.DECLINE)))
    await asyncio.sleep(0.5)
    async with worker_for(env, store, idle.task_queue) as h:
        shown = await answer
        assert shown.status is Status.DECLINED
        assert [e.kind for e in shown.timeline] == ["opened", "seller_response"]
        shown = await h.client.send(opened.case_id, Escalation(by=BUYER))
        assert shown.status is Status.AWAITING_SUPPORT
        # Close it while its worker runs: an open case with no worker would stop the server skipping time.
        await h.client.send(opened.case_id, SupportDecision(by=SUPPORT, decision="deny"))


async def test_an_update_right_behind_a_signal_sees_what_the_signal_did(env, store):
    """The carrier's delivery signal and the seller's inspection update reach the case in one workflow
    task (no worker runs while they are sent): the inspection is judged on the delivered return, not
    refused as if the return were still on its way. An update behind those that the case cannot take is
    judged in its turn: refused, with its reason, and it changes nothing."""
    queue = f"behind-{uuid.uuid4().hex[:8]}"
    async with worker_for(env, store, queue, worker_max_cached_cases=0) as h:
        case_id = await open_case(h)
        await h.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.REFUND_AFTER_RETURN))
        await signal(h, case_id, ReturnShipped(by=CARRIER, tracking_number="RET-12345"))
    await h.client.send(case_id, ReturnDelivered(by=CARRIER))
    inspection = asyncio.create_task(h.client.send(case_id, ReturnInspection(by=SELLER, confirm=True)))
    await asyncio.sleep(0.2)
    stray = asyncio.create_task(h.client.send(case_id, BuyerAnswer(by=BUYER, accept=True)))
    await asyncio.sleep(0.5)
    async with worker_for(env, store, queue, worker_max_cached_cases=0):
        shown = await inspection
        with pytest.raises(CaseRefused, match=r"^status: the case is closed \(refunded_full\)"):  # judged after the inspection
            await stray
        after = await h.client.show(case_id)
    assert shown.outcome is Outcome.REFUNDED_FULL
    assert [e.kind for e in shown.timeline][-3:] == ["return_delivered", "return_inspection", "refund_settled"]
    assert after.version == shown.version and money_rows(h, case_id) == ([4500], [("seller_charge", 4500 + 650)])
    history = await env.client.get_workflow_handle(workflow_id(case_id)).fetch_history()
    accepted = [e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")]
    assert len(accepted) == 3  # the seller's response, the inspection, and the stray answer its handler refused
    await Replayer(workflows=[RefundCaseWorkflow], data_converter=pydantic_data_converter).replay_workflow(history)


async def test_replacement_with_tracking(cases):
    case_id = await open_case(cases)
    shown = await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.REPLACEMENT, tracking_number="NEW-55555"))
    assert shown.outcome is Outcome.REPLACED and money_rows(cases, case_id) == ([], [])


async def test_decline_escalation_support_charge_appeal_overturned(cases):
    case_id = await open_case(cases)
    await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.DECLINE, note="as described"))
    shown = await cases.client.send(case_id, Escalation(by=BUYER))
    assert shown.status is Status.AWAITING_SUPPORT
    assert cases.store.rows(SupportTicketRow, case_id=case_id)
    shown = await cases.client.send(case_id, SupportDecision(by=SUPPORT, decision="refund_charged_to_seller"))
    assert shown.status is Status.APPEAL_OPEN
    await cases.client.send(case_id, Appeal(by=SELLER))
    shown = await cases.client.send(case_id, SupportDecision(by=SUPPORT, decision="overturn"))
    assert (shown.outcome, shown.charged_to_seller) == (Outcome.REFUNDED_FULL, eur(0))
    assert money_rows(cases, case_id) == (
        [4500],
        [("charge_reversal", 4500), ("platform_refund", 4500), ("seller_charge", 4500)],
    )


async def test_excluded_goods_go_straight_to_support_which_denies(cases):
    case_id = await open_case(cases, reason=Reason.WRONG_ITEM, items=order(ItemCategory.OPENABLE).items)
    shown = await cases.client.show(case_id)
    assert (shown.status, shown.routed_to) == (Status.AWAITING_SUPPORT, Party.SUPPORT)
    shown = await cases.client.send(case_id, SupportDecision(by=SUPPORT, decision="deny"))
    assert shown.outcome is Outcome.DENIED


async def test_cancellation_before_shipping_accepted(cases):
    now = await cases.env.get_current_time()
    case_id = await open_case(cases, reason=Reason.BUYER_REMORSE, kind=CaseKind.CANCELLATION, purchased_at=now - timedelta(hours=1), shipped_at=None)
    assert await status(cases, case_id) is Status.AWAITING_CANCELLATION_ANSWER
    shown = await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))
    assert shown.outcome is Outcome.ORDER_CANCELLED and shown.refunded == eur(4500)


async def test_cancellation_after_shipping_is_refused_before_anything_starts(cases):
    with pytest.raises(CaseRefused) as refused:
        await open_case(cases, reason=Reason.BUYER_REMORSE, kind=CaseKind.CANCELLATION)
    assert refused.value.field == "kind" and "shipped" in refused.value.rule


async def test_opening_twice_with_one_request_id_finds_the_first_case(cases):
    now = await cases.env.get_current_time()
    new = NewCase(request_id=f"req-{uuid.uuid4()}", reason=Reason.DEFECTIVE, order=order(purchased_at=now - timedelta(days=1)))
    first, second = await cases.client.open(new), await cases.client.open(new)
    assert (first.created, second.created, first.case_id) == (True, False, second.case_id)


async def test_search_attributes_and_details_follow_the_case(cases):
    case_id = await open_case(cases)
    handle = cases.env.client.get_workflow_handle(workflow_id(case_id))
    described = await handle.describe()
    attrs = described.typed_search_attributes
    assert attrs.get(search_attributes.CASE_STATUS) == "awaiting_seller_response"
    assert attrs.get(search_attributes.AWAITING_PARTY) == "seller"
    assert attrs.get(search_attributes.SELLER_ID) == SELLER.id
    assert attrs.get(search_attributes.RESPONSE_DUE_AT) is not None
    assert "defective" in (await described.static_summary())
    opened_since = attrs.get(search_attributes.AWAITING_SINCE)
    assert opened_since is not None
    await cases.env.sleep(timedelta(hours=1))
    await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.DECLINE))
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(search_attributes.AWAITING_PARTY) == "buyer"
    assert attrs.get(search_attributes.AWAITING_SINCE) >= opened_since + timedelta(hours=1)  # waiting anew, on the buyer


# ------------------------------------------------------------------------------------ the deadlines


async def across_deadline(h, case_id, waiting, after):
    """The case still waits one second before its deadline, and has moved on one second after it."""
    shown = await h.client.show(case_id)
    assert shown.status is waiting
    await h.env.sleep(shown.due_at - await h.env.get_current_time() - SECOND)
    assert await status(h, case_id) is waiting
    await h.env.sleep(2 * SECOND)
    shown = await h.client.show(case_id)
    assert after in (shown.status, shown.outcome)
    return shown


async def to_seller_response(h):
    return await open_case(h)


async def to_offer_answer(h):
    case_id = await open_case(h)
    await h.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.PARTIAL_REFUND, amount=eur(1000)))
    return case_id


async def to_return_shipment(h):
    case_id = await open_case(h)
    await h.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.REFUND_AFTER_RETURN))
    return case_id


async def to_return_in_transit(h):
    case_id = await to_return_shipment(h)
    await signal(h, case_id, ReturnShipped(by=CARRIER, tracking_number="RET-77777"))
    return case_id


async def to_return_inspection(h):
    case_id = await to_return_in_transit(h)
    await signal(h, case_id, ReturnDelivered(by=CARRIER))
    return case_id


async def to_declined(h):
    case_id = await open_case(h)
    await h.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.DECLINE))
    return case_id


async def to_support(h):
    return await open_case(h, reason=Reason.NOT_RECEIVED)


async def to_appeal_open(h):
    case_id = await to_support(h)
    await h.client.send(case_id, SupportDecision(by=SUPPORT, decision="refund_charged_to_seller"))
    return case_id


async def to_cancellation_answer(h):
    now = await h.env.get_current_time()
    return await open_case(h, reason=Reason.BUYER_REMORSE, kind=CaseKind.CANCELLATION, purchased_at=now, shipped_at=None)


@pytest.mark.parametrize(
    ("reach", "waiting", "hours", "after"),
    [
        (to_seller_response, Status.AWAITING_SELLER_RESPONSE, 72, Status.AWAITING_SUPPORT),
        (to_cancellation_answer, Status.AWAITING_CANCELLATION_ANSWER, 72, Outcome.CANCELLATION_EXPIRED),
        (to_offer_answer, Status.AWAITING_OFFER_ANSWER, 168, Outcome.ABANDONED),
        (to_return_shipment, Status.AWAITING_RETURN_SHIPMENT, 168, Outcome.RETURN_NOT_SHIPPED),
        (to_return_in_transit, Status.RETURN_IN_TRANSIT, 720, Status.AWAITING_SUPPORT),
        (to_return_inspection, Status.AWAITING_RETURN_INSPECTION, 72, Outcome.REFUNDED_FULL),
        (to_declined, Status.DECLINED, 168, Outcome.DECLINED),
        (to_appeal_open, Status.APPEAL_OPEN, 168, Outcome.REFUNDED_FULL),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
async def test_each_deadline_one_second_before_and_one_second_after(cases, reach, waiting, hours, after):
    shown = await across_deadline(cases, await reach(cases), waiting, after)
    assert shown.timeline[-1].kind != "deadline_passed" or shown.status is not waiting
    assert any(e.kind == "deadline_passed" and f"{hours} h" in e.summary for e in shown.timeline)


async def test_the_seller_is_reminded_a_day_before_the_deadline(cases):
    case_id = await open_case(cases)
    shown = await cases.client.show(case_id)
    await cases.env.sleep(shown.due_at - timedelta(hours=24) - await cases.env.get_current_time() - SECOND)
    assert not [e for e in (await cases.client.show(case_id)).timeline if e.kind == "reminder_due"]
    await cases.env.sleep(2 * SECOND)
    shown = await cases.client.show(case_id)
    assert shown.timeline[-1].summary == "reminded the seller: awaiting_seller_response ends in 24 h"
    assert shown.status is Status.AWAITING_SELLER_RESPONSE
    await eventually(lambda: "reminder" in [n.event for n in cases.store.rows(NotificationRow, case_id=case_id, party="seller")])


async def test_business_hours_variant_deadline_one_second_before_and_after(cases):
    case_id = await open_case(cases, policy="direct_service_business_hours")
    shown = await cases.client.show(case_id)
    assert shown.policy == "direct_service_business_hours"
    calendar = policies.load("direct_service_business_hours").calendar
    assert shown.due_at == calendar.add_business_hours(shown.opened_at, 48)
    await across_deadline(cases, case_id, Status.AWAITING_SELLER_RESPONSE, Status.AWAITING_SUPPORT)


async def test_support_is_reminded_when_its_window_passes(cases):
    case_id = await to_support(cases)
    shown = await cases.client.show(case_id)
    await cases.env.sleep(shown.due_at - await cases.env.get_current_time() + SECOND)
    again = await cases.client.show(case_id)
    assert again.status is Status.AWAITING_SUPPORT and again.due_at > shown.due_at
    await eventually(lambda: "overdue" in [n.event for n in cases.store.rows(NotificationRow, case_id=case_id, party="support")])


async def test_refund_pending_until_the_provider_settles_it(pending_cases):
    h = pending_cases
    case_id = await open_case(h)
    shown = await h.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))
    assert shown.status is Status.REFUND_PENDING and shown.awaiting is None
    shown = await signal(h, case_id, RefundSettled(by=PAYMENT, refund_number=1, gateway_ref="re_1"))
    assert shown.outcome is Outcome.REFUNDED_FULL


async def test_refund_never_settled_goes_to_support_after_its_window(pending_cases):
    h = pending_cases
    case_id = await open_case(h)
    shown = await h.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))
    await h.env.sleep(shown.due_at - await h.env.get_current_time() - SECOND)
    assert await status(h, case_id) is Status.REFUND_PENDING
    await h.env.sleep(2 * SECOND)
    assert await status(h, case_id) is Status.AWAITING_SUPPORT


async def test_a_refund_that_fails_gives_its_share_of_the_order_back(pending_cases):
    h = pending_cases
    first = await open_case(h, order_id="ord-fails-once")
    await h.client.send(first, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))
    await signal(h, first, RefundFailed(by=PAYMENT, refund_number=1, failure="card closed"))
    await eventually(lambda: all(r.released for r in h.store.rows(RefundReservationRow, case_id=first)))
    second = await open_case(h, order_id="ord-fails-once")
    shown = await h.client.send(second, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))
    assert (shown.status, [r for r in money_rows(h, second)[0]]) == (Status.REFUND_PENDING, [4500])


# ---------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (SellerResponse(by=BUYER, resolution=Resolution.FULL_REFUND), "by.party"),
        (SellerResponse(by=SELLER.model_copy(update={"id": "seller-x"}), resolution=Resolution.FULL_REFUND), "by.id"),
        (BuyerAnswer(by=BUYER, accept=True), "kind"),
        (SellerResponse(by=SELLER, resolution=Resolution.PARTIAL_REFUND, amount=eur(10_000)), "amount"),
        (SellerResponse(by=SELLER, resolution=Resolution.PARTIAL_REFUND, amount=eur(-5)), "amount"),
        (SellerResponse(by=SELLER, resolution=Resolution.PARTIAL_REFUND, amount=eur(0)), "amount"),
    ],
)
async def test_refused_updates_name_the_field_change_nothing_and_leave_no_history(cases, message, field):
    case_id = await open_case(cases)
    before = await cases.client.show(case_id)
    with pytest.raises(CaseRefused) as refused:
        await cases.client.send(case_id, message)
    assert refused.value.field == field
    after = await cases.client.show(case_id)
    assert after == before
    history = await cases.env.client.get_workflow_handle(workflow_id(case_id)).fetch_history()
    assert not [e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")]


async def test_update_on_a_closed_case_is_refused(cases):
    case_id = await open_case(cases)
    await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.REPLACEMENT, tracking_number="NEW-11111"))
    with pytest.raises(CaseRefused, match="status: the case is closed"):
        await cases.client.send(case_id, PartyMessage(by=BUYER, text="hello"))
    with pytest.raises(CaseRefused, match="status: the case is closed"):
        await cases.client.send(case_id, ReturnDelivered(by=CARRIER))
    with pytest.raises(CaseRefused, match="case_id: there is no case nope"):
        await cases.client.send("nope", PartyMessage(by=BUYER, text="hello"))


async def test_unknown_reason_is_rejected_with_the_field():
    with pytest.raises(ValueError, match="reason"):
        NewCase.model_validate({"request_id": "r", "reason": "bored", "order": order().model_dump()})


async def test_refused_signal_is_recorded_and_its_sender_told(cases):
    case_id = await open_case(cases)
    shown = await signal(cases, case_id, BuyerAnswer(by=BUYER, accept=True))
    assert shown.timeline[-1].refused
    assert shown.status is Status.AWAITING_SELLER_RESPONSE
    assert shown.timeline[-1].summary.startswith("kind: buyer_answer is not possible")
    told = await eventually(lambda: [(n.party, n.event) for n in cases.store.rows(NotificationRow, case_id=case_id) if n.event == "refused"])
    assert told == [("buyer", "refused")]


async def test_signal_form_of_a_decision_acts_like_the_update(cases):
    case_id = await open_case(cases)
    shown = await signal(cases, case_id, SellerResponse(by=SELLER, resolution=Resolution.DECLINE))
    assert shown.status is Status.DECLINED


# --------------------------------------------------------------------------------- money only once


async def test_a_refund_retried_after_a_lost_answer_moves_money_once(flaky_cases):
    h = flaky_cases
    case_id = await open_case(h)
    shown = await h.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))
    assert shown.outcome is Outcome.REFUNDED_FULL
    assert h.gateway.calls == 2
    assert money_rows(h, case_id) == ([4500], [("seller_charge", 4500)])


async def test_store_has_the_case_and_its_timeline(cases):
    case_id = await open_case(cases)
    await cases.client.send(case_id, PartyMessage(by=BUYER, text="photos attached"))
    shown = await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))
    row = cases.store.get(CaseRow, case_id)
    assert (row.status, row.outcome, row.refunded, row.version) == ("closed", "refunded_full", 4500, shown.version)
    seqs = [t.seq for t in cases.store.rows(TimelineRow, case_id=case_id)]
    assert sorted(seqs) == list(range(1, len(shown.timeline) + 1))


async def test_completed_histories_replay_deterministically(cases):
    case_id = await to_appeal_open(cases)
    await cases.client.send(case_id, Appeal(by=SELLER))
    await cases.client.send(case_id, SupportDecision(by=SUPPORT, decision="uphold"))
    history: WorkflowHistory = await cases.env.client.get_workflow_handle(workflow_id(case_id)).fetch_history()
    replayer = Replayer(workflows=[RefundCaseWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


async def test_a_long_case_continues_as_new_and_keeps_everything(cases):
    """Messages alone (no deadline change) push the history past the limit; the case carries on."""
    now = await cases.env.get_current_time()
    case_id = case_id_for(f"req-{uuid.uuid4()}")
    request = OpenCase(
        case_id=case_id,
        request_id="long-1",
        reason=Reason.DEFECTIVE,
        order=order(purchased_at=now - timedelta(days=1)),
        policy=policies.load("direct_service"),
        continue_after_events=100,
    )
    handle = await cases.env.client.start_workflow(
        RefundCaseWorkflow.run,
        request,
        id=workflow_id(case_id),
        task_queue=cases.client.task_queue,
        static_summary=static_summary(request),
        search_attributes=search_attributes.initial(engine.open_case(request, now).case),
    )
    first_run = handle.first_execution_run_id
    for n in range(20):
        await cases.client.send(case_id, PartyMessage(by=BUYER if n % 2 else SELLER, text=f"message {n}"))
    described = await cases.env.client.get_workflow_handle(workflow_id(case_id)).describe()
    assert described.run_id != first_run
    assert described.typed_search_attributes.get(search_attributes.CASE_STATUS) == "awaiting_seller_response"
    shown = await cases.client.show(case_id)
    assert [e.kind for e in shown.timeline].count("message") == 20
    shown = await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))
    assert shown.outcome is Outcome.REFUNDED_FULL
    assert money_rows(cases, case_id) == ([4500], [("seller_charge", 4500)])
    timeline_rows = cases.store.rows(TimelineRow, case_id=case_id)
    assert len(timeline_rows) == len(shown.timeline)


# ------------------------------------------------------------------------------- marketplace case


async def test_marketplace_case_long_stop_refunds_in_full_at_365_days(quiet_cases):
    cases = quiet_cases
    case_id = await open_case(cases, reason=Reason.NOT_RECEIVED, policy="marketplace_case")
    shown = await cases.client.show(case_id)
    assert shown.due_at - shown.opened_at == timedelta(days=365)
    await cases.env.sleep(shown.due_at - await cases.env.get_current_time() - SECOND)
    shown = await cases.client.show(case_id)
    assert shown.status is Status.AWAITING_SELLER_RESPONSE
    assert [e.kind for e in shown.timeline].count("reminder_due") == 2
    assert "escalation_opens" in [e.kind for e in shown.timeline]
    await cases.env.sleep(2 * SECOND)
    shown = await cases.client.show(case_id)
    assert (shown.outcome, shown.refunded, shown.charged_to_seller) == (Outcome.REFUNDED_FULL, eur(4500), eur(4500))


async def test_marketplace_case_buyer_escalates_from_day_3(cases):
    case_id = await open_case(cases, reason=Reason.NOT_AS_DESCRIBED, policy="marketplace_case")
    shown = await cases.client.show(case_id)
    assert "escalation" not in shown.may.get(Party.BUYER, [])
    await cases.env.sleep(shown.opened_at + timedelta(hours=72) - await cases.env.get_current_time() - SECOND)
    with pytest.raises(CaseRefused) as refused:
        await cases.client.send(case_id, Escalation(by=BUYER))
    assert refused.value.field == "kind" and "72 h old" in refused.value.rule
    await cases.env.sleep(2 * SECOND)
    shown = await cases.client.show(case_id)
    assert "escalation" in shown.may[Party.BUYER]
    assert shown.timeline[-1].kind == "escalation_opens"
    shown = await cases.client.send(case_id, Escalation(by=BUYER))
    assert shown.status is Status.AWAITING_SUPPORT
    shown = await cases.client.send(case_id, SupportDecision(by=SUPPORT, decision="refund_charged_to_seller"))
    assert shown.outcome is Outcome.REFUNDED_FULL  # no appeal window in this process


async def test_marketplace_case_tracking_showing_delivery_closes_it(cases):
    case_id = await open_case(cases, reason=Reason.NOT_RECEIVED, policy="marketplace_case")
    shown = await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.PROOF_OF_DELIVERY, tracking_number="TRK-20202"))
    assert shown.outcome is Outcome.DELIVERED and money_rows(cases, case_id) == ([], [])


async def test_marketplace_case_support_reopens_a_closed_case_years_later_from_the_store(quiet_cases):
    """The seed sets no time limit, and a closed case's workflow does not wait for one: it ends. Three
    years later support reopens it: the workflow starts again from the state the store kept."""
    case_id = await open_case(quiet_cases, reason=Reason.NOT_RECEIVED, policy="marketplace_case")
    shown = await quiet_cases.client.send(case_id, Withdrawal(by=BUYER))
    assert shown.outcome is Outcome.WITHDRAWN and shown.reopenable_until is None
    final = await final_view(quiet_cases, case_id)  # the workflow has ended
    assert final.version == shown.version and not await quiet_cases.client.is_running(case_id)
    await eventually(lambda: quiet_cases.store.closed_case(case_id))
    with pytest.raises(CaseRefused) as refused:
        await quiet_cases.client.send(case_id, Escalation(by=BUYER))
    assert refused.value.field == "status" and "only support may reopen it" in refused.value.rule
    with pytest.raises(CaseRefused, match="by.party: only the support may send reopening"):
        await quiet_cases.client.send(case_id, Reopening(by=BUYER))
    await quiet_cases.env.sleep(timedelta(days=3 * 365))
    shown = await quiet_cases.client.send(case_id, Reopening(by=SUPPORT, note="new evidence", request_id="reopen-1"))
    assert (shown.status, shown.reopened, shown.version) == (Status.AWAITING_SUPPORT, 1, final.version + 1)
    assert await quiet_cases.client.is_running(case_id)
    again = await quiet_cases.client.send(case_id, Reopening(by=SUPPORT, note="new evidence", request_id="reopen-1"))
    assert again.version == shown.version  # a retry acts once
    shown = await quiet_cases.client.send(case_id, SupportDecision(by=SUPPORT, decision="refund_charged_to_seller"))
    assert shown.refunds[0].amount == eur(4500)
    final = await final_view(quiet_cases, case_id)
    assert final.outcome is Outcome.REFUNDED_FULL and [e.kind for e in final.timeline].count("reopening") == 1
    row = await eventually(lambda: (r := quiet_cases.store.get(CaseRow, case_id)) is not None and r.version == final.version and r)
    assert row.status == "closed" and quiet_cases.store.closed_case(case_id).version == final.version


async def test_marketplace_case_unresolved_for_30_days_flags_its_seller_until_support_reinstates_it(cases):
    case_id = await open_case(cases, reason=Reason.NOT_RECEIVED, policy="marketplace_case", seller_id="seller-slow")
    await cases.env.sleep(timedelta(days=30) - SECOND)
    assert not (await cases.client.show(case_id)).seller_flagged
    await cases.env.sleep(2 * SECOND)
    shown = await cases.client.show(case_id)
    assert shown.seller_flagged and shown.seller_flagged_at == shown.opened_at + timedelta(days=30)
    flagged = lambda: [row for row in queries.flagged_sellers(cases.store) if row[0] == "seller-slow"]  # noqa: E731
    assert (await eventually(flagged))[0][1] == 1
    with pytest.raises(Refusal, match="are not resolved yet"):
        cases.store.reinstate_seller("seller-slow", "support:agent-1", await cases.env.get_current_time())
    shown = await cases.client.send(case_id, Withdrawal(by=BUYER))
    assert shown.seller_flagged and shown.timeline[-1].kind == "seller_flag_kept"
    await eventually(lambda: "reinstatement" in [n.event for n in cases.store.rows(NotificationRow, case_id=case_id, party="seller")])
    assert flagged()  # resolving the case lifts nothing
    assert cases.store.reinstate_seller("seller-slow", "support:agent-1", await cases.env.get_current_time()) == [case_id]
    assert not flagged()


async def test_marketplace_case_refuses_to_open_before_the_estimated_delivery(cases):
    now = await cases.env.get_current_time()
    with pytest.raises(CaseRefused) as refused:
        await open_case(cases, reason=Reason.NOT_RECEIVED, policy="marketplace_case", estimated_delivery_at=now + timedelta(days=2))
    assert refused.value.field == "opened_at"


# --------------------------------------------------------------------------------- reported issue


async def test_reported_issue_replacement_then_the_retailer_marks_it_resolved(cases):
    case_id = await open_case(cases, reason=Reason.DAMAGED_IN_TRANSIT, policy="reported_issue")
    assert (await cases.client.show(case_id)).label == "Submitted"
    shown = await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.REPLACEMENT, tracking_number="RPL-30303"))
    assert (shown.status, shown.label) == (Status.IN_PROGRESS, "In progress")
    shown = await cases.client.send(case_id, ResolutionConfirmed(by=BUYER))
    assert (shown.outcome, shown.label) == (Outcome.RESOLVED, "Resolved")


@pytest.mark.parametrize(
    ("resolution", "waiting", "after"),
    [(None, Status.AWAITING_SELLER_RESPONSE, Status.AWAITING_SUPPORT), (Resolution.CONTACT_BUYER, Status.IN_PROGRESS, Outcome.RESOLVED)],
    ids=["brand silent: platform review", "retailer silent: resolved"],
)
async def test_reported_issue_deadlines_one_second_before_and_after(cases, resolution, waiting, after):
    case_id = await open_case(cases, reason=Reason.DEFECTIVE, policy="reported_issue")
    if resolution:
        await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=resolution))
    await across_deadline(cases, case_id, waiting, after)


# ------------------------------------------------------------------------------- buyer protection


async def open_protection(h, policy="buyer_protection", ordered_at=None) -> str:
    ordered_at = ordered_at or await h.env.get_current_time()
    return await open_case(
        h, reason=Reason.OTHER, kind=CaseKind.PROTECTION, policy=policy, purchased_at=ordered_at, shipped_at=None, protection_opted_in=True
    )


async def test_buyer_protection_claim_refunded_by_the_shop_and_confirmed(cases):
    case_id = await open_protection(cases)
    shown = await cases.client.send(case_id, ProtectionFeedback(by=BUYER, option="not_received"))
    assert (shown.status, shown.label) == (Status.AWAITING_SELLER_RESPONSE, "Waiting for the shop")
    shown = await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND, note="refunded"))
    assert shown.status is Status.AWAITING_REFUND_CONFIRMATION
    shown = await cases.client.send(case_id, RefundConfirmation(by=BUYER, answer="received"))
    assert (shown.outcome, shown.label, money_rows(cases, case_id)) == (Outcome.REFUNDED_BY_SELLER, "Refunded by the shop", ([], []))
    assert (shown.offers[-1].amount, shown.offers[-1].answer) == (shown.total_paid, "received")  # the order's value, by default


async def protection_claim(h, option="not_received"):
    case_id = await open_protection(h)
    await h.client.send(case_id, ProtectionFeedback(by=BUYER, option=option))
    return case_id


async def protection_refund(h):
    case_id = await protection_claim(h)
    await h.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.PARTIAL_REFUND, amount=eur(2000), note="20 EUR back"))
    return case_id


@pytest.mark.parametrize(
    ("reach", "waiting", "after"),
    [
        (open_protection, Status.PROTECTED, Outcome.PROTECTION_ENDED),
        (protection_claim, Status.AWAITING_SELLER_RESPONSE, Status.AWAITING_SUPPORT),
        (protection_refund, Status.AWAITING_REFUND_CONFIRMATION, Outcome.REFUNDED_BY_SELLER),
    ],
    ids=["30-day protection", "shop's 5 days", "buyer's 20 days"],
)
async def test_buyer_protection_deadlines_one_second_before_and_after(cases, reach, waiting, after):
    await across_deadline(cases, await reach(cases), waiting, after)


async def test_buyer_protection_runs_30_days_from_the_order_and_asks_on_day_23_to_the_second(cases):
    """Opened six hours after the order, as a shop's checkout may: both moments still count from the order."""
    ordered = await cases.env.get_current_time() - timedelta(hours=6)
    case_id = await open_protection(cases, ordered_at=ordered)
    shown = await cases.client.show(case_id)
    assert shown.protected_until == shown.due_at == ordered + timedelta(days=30)
    assert shown.protected_until == shown.due_at == ordered + timedelta(days=30)
    await cases.env.sleep(ordered + timedelta(days=23) - await cases.env.get_current_time() - SECOND)
    assert not [e for e in (await cases.client.show(case_id)).timeline if e.kind == "reminder_due"]
    await cases.env.sleep(2 * SECOND)
    assert (await cases.client.show(case_id)).timeline[-1].kind == "reminder_due"
    await eventually(lambda: "feedback_request" in [n.event for n in cases.store.rows(NotificationRow, case_id=case_id, party="buyer")])
    await across_deadline(cases, case_id, Status.PROTECTED, Outcome.PROTECTION_ENDED)


async def test_buyer_protection_the_shop_must_justify_its_answer(cases):
    case_id = await protection_claim(cases)
    with pytest.raises(CaseRefused) as refused:
        await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.DECLINE))
    assert refused.value.field == "note" and "must justify its decision" in refused.value.rule
    assert (await cases.client.show(case_id)).status is Status.AWAITING_SELLER_RESPONSE
    shown = await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.DECLINE, note="it ships tomorrow"))
    assert shown.status is Status.DECLINED and shown.offers[-1].note == "it ships tomorrow"


@pytest.mark.parametrize(
    ("answer", "said"),
    [("not_received", "buyer says the seller's refund did not arrive"), ("partial_not_accepted", "buyer does not accept the partial refund")],
)
async def test_buyer_protection_not_received_and_not_accepted_are_two_answers(cases, answer, said):
    case_id = await protection_refund(cases)
    shown = await cases.client.send(case_id, RefundConfirmation(by=BUYER, answer=answer))
    assert shown.status is Status.AWAITING_SUPPORT
    assert (shown.offers[-1].amount, shown.offers[-1].answer) == (eur(2000), answer)
    assert any(e.kind == "refund_confirmation" and e.summary == f"{said} (20.00 EUR)" for e in shown.timeline)
    await eventually(lambda: [t for t in cases.store.rows(SupportTicketRow, case_id=case_id) if said in t.reason])


async def test_buyer_protection_extended_gives_the_shop_until_the_extended_end(cases):
    ordered = await cases.env.get_current_time()
    case_id = await open_protection(cases, policy="buyer_protection_extended", ordered_at=ordered)
    await cases.env.sleep(timedelta(days=10))
    shown = await cases.client.send(case_id, ProtectionFeedback(by=BUYER, option="not_received"))
    assert shown.protected_until == shown.due_at == ordered + timedelta(days=60)
    shown = await across_deadline(cases, case_id, Status.AWAITING_SELLER_RESPONSE, Status.AWAITING_SUPPORT)
    kinds = [e.kind for e in shown.timeline]
    assert {"protection_extended", "escalation_opens", "reminder_due"} <= set(kinds)
