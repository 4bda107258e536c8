"""One refund case, durably: one loop takes the case's messages and the clock's alarms one at a time,
lets the rules decide, and carries out what they decided.

Handlers only hand their message to the loop (an update then waits for its outcome), so every command
the workflow issues comes from the loop, in the order the case took its messages. Every side effect is
an ordinary activity, whose result the history records where the workflow saw it. So what a case
commands depends on its history alone, never on how its workflow tasks were split, retried or cut short
to answer a query: a replay rebuilds the same case (docs/nothing-lost.md).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NoReturn, TypeVar, cast

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from activities.case_activities import REFUND_REJECTED, CaseActivities, CaseRecord, Effects, LedgerPosting, RefundOrder, TicketRequest
    from activities.payments import GatewayReceipt
    from cases import engine
    from cases.case import Case
    from cases.commands import IssueRefund, Notify, OpenSupportTicket, PostLedgerEntry
    from cases.events import CaseEvent, in_order
    from cases.messages import (
        Appeal,
        BuyerAnswer,
        CaseMessage,
        DeadlinePassed,
        Escalation,
        OpenCase,
        PartyMessage,
        ProtectionFeedback,
        RefundConfirmation,
        RefundFailed,
        RefundSettled,
        ReminderDue,
        Reopening,
        ResolutionConfirmed,
        ReturnDelivered,
        ReturnInspection,
        ReturnShipped,
        SellerResponse,
        Sent,
        SupportDecision,
        Withdrawal,
        kind_of,
    )
    from cases.model import Actor, Party
    from cases.refusal import Refusal
    from cases.strict import field_rules
    from cases.view import CaseView, details_markdown, view, waiting_for
    from workflows import search_attributes
    from workflows.metrics import CaseMetrics


def workflow_id(case_id: str) -> str:
    return f"case-{case_id}"


GATEWAY = Actor(party=Party.PAYMENT, id="gateway")
ACTIVITY_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=5))
# A refund is retried with the same idempotency key only while the provider still remembers that key
# (24 h at the common providers); after that a retry could pay twice. So its retries stop at 12 h, and
# a refund still unanswered then stays pending: the provider's webhook, or support after the
# refund_pending window, settles it (docs/nothing-lost.md, "Payment gateway failures").
REFUND_RETRIES_FOR = timedelta(hours=12)

SHORTEST_TIMER = timedelta(milliseconds=1)

Via = Literal["update", "signal", "clock"]


STALE_CLOCK = "stale workflow task clock"  # how a task failed on purpose reads in the history
CANNOT_OPEN = "CaseCannotOpen"  # the failure of a case whose input no model takes


class StaleClock(RuntimeError):
    """Fails a workflow task handed a stale clock; not an error of the case: the task runs again."""


@dataclass(frozen=True)
class Unreadable:
    """A signal the case could not read (or no signal has its name), taken in its turn as a refusal.
    `by` is its sender when that much could be read."""

    kind: str
    by: Actor | None
    refusal: Refusal


@dataclass
class Delivery:
    """A message waiting for the loop, with the way it came; an update's handler waits on `outcome`.
    An alarm carries the moment it is for (`at`): the clock's transitions happen then."""

    message: CaseMessage | Unreadable
    via: Via
    outcome: asyncio.Future[CaseView] | None = None
    at: datetime | None = None

    def answer(self, shown: CaseView) -> None:
        if self.outcome is not None:
            self.outcome.set_result(shown)

    def refuse(self, refusal: Refusal) -> None:
        assert self.outcome is not None, "only an update is refused back to its sender"
        self.outcome.set_exception(ApplicationError(str(refusal), type="Refusal", non_retryable=True))


@workflow.defn(name="RefundCase")
class RefundCaseWorkflow:
    @workflow.init
    def __init__(self, opening: RawValue) -> None:
        """Reads its input here rather than in the SDK, which fails a workflow task for ever on an input
        it cannot read (a start from another SDK): such a case fails at once, naming the field and the
        rule (see run)."""
        self._inbox: list[Delivery] = []
        self._cannot_open: ApplicationError | None = None
        try:
            request = _read(OpenCase, opening)
        except Refusal as refusal:
            self._cannot_open = ApplicationError(f"the case cannot open: {refusal}", type=CANNOT_OPEN, non_retryable=True)
            return
        self._request = request
        self._history_limit = request.continue_after_events
        self._metrics = CaseMetrics()
        self._alarm: tuple[datetime, CaseMessage] | None = None
        self._timer: asyncio.Task[None] | None = None
        self._clock: tuple[datetime, int] | None = None  # the clock and history length a transition last read (see _now)
        self._opening: engine.Transition | None = None
        if request.continued is not None:
            self.case: Case = request.continued
            if request.reopening is not None:  # a closed case started again to take its reopening first
                self._inbox.append(Delivery(request.reopening, "signal"))
        else:
            self._opening = engine.open_case(request, engine.opening_time(request, workflow.now()))
            self.case = self._opening.case
        self._recorded = len(self.case.timeline) if request.continued is not None else 0

    @workflow.run
    async def run(self, opening: RawValue) -> CaseView:
        if self._cannot_open is not None:
            raise self._cannot_open
        if self._opening is not None:
            self._metrics.case_opened(self.case)
            await self._carry_out(self._opening)
        self._arm()
        while self._inbox or not self.case.is_closed:
            await workflow.wait_condition(self._woken)
            if not self._inbox:
                await self._continue_as_new(self._request)
            await self._take(self._inbox.pop(0))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return view(self.case)

    # ------------------------------------------------------------------------------------- query

    @workflow.query(name="case", description="The case view: status, who acts next and by when, options, money, timeline.")
    def case_view(self) -> CaseView:
        return view(self.case)

    # --------------------------------------------- people's decisions: updates, and signals alike

    @workflow.update(
        name="seller_response", description="The seller's resolution: full_refund, refund_after_return, partial_refund, replacement or decline."
    )
    async def seller_response(self, response: RawValue) -> CaseView:
        return await self._hand_over(_read(SellerResponse, response))

    @seller_response.validator
    def _check_seller_response(self, response: RawValue) -> None:
        self._check(_read(SellerResponse, response))

    @workflow.signal(name="seller_response", description="Fire-and-forget form of the seller_response update.")
    def seller_response_signal(self, response: RawValue) -> None:
        self._arrive_signal(SellerResponse, response)

    @workflow.update(name="buyer_answer", description="The buyer accepts or declines a partial refund offer.")
    async def buyer_answer(self, answer: RawValue) -> CaseView:
        return await self._hand_over(_read(BuyerAnswer, answer))

    @buyer_answer.validator
    def _check_buyer_answer(self, answer: RawValue) -> None:
        self._check(_read(BuyerAnswer, answer))

    @workflow.signal(name="buyer_answer", description="Fire-and-forget form of the buyer_answer update.")
    def buyer_answer_signal(self, answer: RawValue) -> None:
        self._arrive_signal(BuyerAnswer, answer)

    @workflow.update(name="refund_confirmation", description="Where the seller refunds directly: received, not_received or partial_not_accepted.")
    async def refund_confirmation(self, confirmation: RawValue) -> CaseView:
        return await self._hand_over(_read(RefundConfirmation, confirmation))

    @refund_confirmation.validator
    def _check_refund_confirmation(self, confirmation: RawValue) -> None:
        self._check(_read(RefundConfirmation, confirmation))

    @workflow.signal(name="refund_confirmation", description="Fire-and-forget form of the refund_confirmation update.")
    def refund_confirmation_signal(self, confirmation: RawValue) -> None:
        self._arrive_signal(RefundConfirmation, confirmation)

    @workflow.update(name="return_inspection", description="The seller confirms the returned items (refund) or disputes them (support).")
    async def return_inspection(self, inspection: RawValue) -> CaseView:
        return await self._hand_over(_read(ReturnInspection, inspection))

    @return_inspection.validator
    def _check_return_inspection(self, inspection: RawValue) -> None:
        self._check(_read(ReturnInspection, inspection))

    @workflow.signal(name="return_inspection", description="Fire-and-forget form of the return_inspection update.")
    def return_inspection_signal(self, inspection: RawValue) -> None:
        self._arrive_signal(ReturnInspection, inspection)

    @workflow.update(name="protection_feedback", description="The buyer's feedback during protection: cancel it, or report a problem.")
    async def protection_feedback(self, feedback: RawValue) -> CaseView:
        return await self._hand_over(_read(ProtectionFeedback, feedback))

    @protection_feedback.validator
    def _check_protection_feedback(self, feedback: RawValue) -> None:
        self._check(_read(ProtectionFeedback, feedback))

    @workflow.signal(name="protection_feedback", description="Fire-and-forget form of the protection_feedback update.")
    def protection_feedback_signal(self, feedback: RawValue) -> None:
        self._arrive_signal(ProtectionFeedback, feedback)

    @workflow.update(name="resolution_confirmed", description="The buyer (retailer) marks the issue resolved.")
    async def resolution_confirmed(self, confirmation: RawValue) -> CaseView:
        return await self._hand_over(_read(ResolutionConfirmed, confirmation))

    @resolution_confirmed.validator
    def _check_resolution_confirmed(self, confirmation: RawValue) -> None:
        self._check(_read(ResolutionConfirmed, confirmation))

    @workflow.signal(name="resolution_confirmed", description="Fire-and-forget form of the resolution_confirmed update.")
    def resolution_confirmed_signal(self, confirmation: RawValue) -> None:
        self._arrive_signal(ResolutionConfirmed, confirmation)

    @workflow.update(name="escalation", description="The buyer (after a decline) or support (early) hands the case to support.")
    async def escalate(self, escalation: RawValue) -> CaseView:
        return await self._hand_over(_read(Escalation, escalation))

    @escalate.validator
    def _check_escalate(self, escalation: RawValue) -> None:
        self._check(_read(Escalation, escalation))

    @workflow.signal(name="escalation", description="Fire-and-forget form of the escalation update.")
    def escalate_signal(self, escalation: RawValue) -> None:
        self._arrive_signal(Escalation, escalation)

    @workflow.update(name="withdrawal", description="The buyer withdraws the request.")
    async def withdraw(self, withdrawal: RawValue) -> CaseView:
        return await self._hand_over(_read(Withdrawal, withdrawal))

    @withdraw.validator
    def _check_withdraw(self, withdrawal: RawValue) -> None:
        self._check(_read(Withdrawal, withdrawal))

    @workflow.signal(name="withdrawal", description="Fire-and-forget form of the withdrawal update.")
    def withdraw_signal(self, withdrawal: RawValue) -> None:
        self._arrive_signal(Withdrawal, withdrawal)

    @workflow.update(
        name="support_decision",
        description="Support decides: refund charged to the seller, refund at the platform's cost, deny; on appeal, uphold or overturn.",
    )
    async def support_decision(self, decision: RawValue) -> CaseView:
        return await self._hand_over(_read(SupportDecision, decision))

    @support_decision.validator
    def _check_support_decision(self, decision: RawValue) -> None:
        self._check(_read(SupportDecision, decision))

    @workflow.signal(name="support_decision", description="Fire-and-forget form of the support_decision update.")
    def support_decision_signal(self, decision: RawValue) -> None:
        self._arrive_signal(SupportDecision, decision)

    @workflow.update(name="appeal", description="The seller appeals a support decision that charged them.")
    async def appeal(self, appeal: RawValue) -> CaseView:
        return await self._hand_over(_read(Appeal, appeal))

    @appeal.validator
    def _check_appeal(self, appeal: RawValue) -> None:
        self._check(_read(Appeal, appeal))

    @workflow.signal(name="appeal", description="Fire-and-forget form of the appeal update.")
    def appeal_signal(self, appeal: RawValue) -> None:
        self._arrive_signal(Appeal, appeal)

    @workflow.update(name="reopening", description="Support reopens a closed case, where the policy allows it, for a new decision.")
    async def reopen(self, reopening: RawValue) -> CaseView:
        return await self._hand_over(_read(Reopening, reopening))

    @reopen.validator
    def _check_reopen(self, reopening: RawValue) -> None:
        self._check(_read(Reopening, reopening))

    @workflow.signal(name="reopening", description="Fire-and-forget form of the reopening update.")
    def reopen_signal(self, reopening: RawValue) -> None:
        self._arrive_signal(Reopening, reopening)

    @workflow.update(name="message", description="A message to the other parties; changes no state.")
    async def message(self, message: RawValue) -> CaseView:
        return await self._hand_over(_read(PartyMessage, message))

    @message.validator
    def _check_message(self, message: RawValue) -> None:
        self._check(_read(PartyMessage, message))

    @workflow.signal(name="message", description="Fire-and-forget form of the message update.")
    def message_signal(self, message: RawValue) -> None:
        self._arrive_signal(PartyMessage, message)

    # ------------------------------------------------------------- machine facts: signals only

    @workflow.signal(name="return_shipped", description="Carrier: the buyer's return was handed over, with tracking.")
    def return_shipped(self, fact: RawValue) -> None:
        self._arrive_signal(ReturnShipped, fact)

    @workflow.signal(name="return_delivered", description="Carrier: the return reached the seller.")
    def return_delivered(self, fact: RawValue) -> None:
        self._arrive_signal(ReturnDelivered, fact)

    @workflow.signal(name="refund_settled", description="Payment provider: a pending refund settled.")
    def refund_settled(self, fact: RawValue) -> None:
        self._arrive_signal(RefundSettled, fact)

    @workflow.signal(name="refund_failed", description="Payment provider: a pending refund failed.")
    def refund_failed(self, fact: RawValue) -> None:
        self._arrive_signal(RefundFailed, fact)

    @workflow.signal(dynamic=True, description="Any other name: recorded as unreadable, and its sender told.")
    def unknown_signal(self, name: str, args: Sequence[RawValue]) -> None:
        shown = _opaque(name)
        refusal = Refusal("signal", f"this case takes no signal named {shown}")
        self._arrive(Delivery(Unreadable(shown, _sender(args[0]) if args else None, refusal), "signal"))

    # ------------------------------------------------------------------------------- the shell

    def _check(self, message: CaseMessage) -> None:
        """Update validators: a refusal here rejects the update and leaves no trace in history. They
        judge only an update with nothing ahead of it: behind a message still waiting in the inbox (a
        carrier's signal in the same workflow task) the case is not yet what the update will meet, so
        the update is accepted and the loop judges it in turn, a refusal then failing the update with
        the same reason. Validators do not run on replay, so this changes no recorded history."""
        if not self._inbox:
            engine.check(self.case, message, workflow.now())

    async def _hand_over(self, message: CaseMessage) -> CaseView:
        outcome: asyncio.Future[CaseView] = asyncio.get_running_loop().create_future()
        self._arrive(Delivery(message, "update", outcome))
        return await outcome

    def _arrive_signal(self, model: type[Sent], raw: RawValue) -> None:
        """Reads a signal here rather than in the SDK, which drops one it cannot read with a log line:
        one that fails its model is recorded in its turn as refused, naming the field and the rule,
        and its sender is told."""
        try:
            message = cast(CaseMessage, _read(model, raw))  # a signal's model is one of CaseMessage's
        except Refusal as refusal:
            self._arrive(Delivery(Unreadable(kind_of(model), _sender(raw), refusal), "signal"))
            return
        self._arrive(Delivery(message, "signal"))

    def _arrive(self, delivery: Delivery) -> None:
        self._note_clock()
        self._inbox.append(delivery)

    async def _take(self, delivery: Delivery) -> None:
        """One message, in its turn: a repeat is answered, a refusal sent back or recorded, anything
        else carried out."""
        message = delivery.message
        if isinstance(message, Unreadable):
            await self._refused(engine.refuse(self.case, message.kind, message.by, message.refusal, self._now()))
            return
        if engine.is_repeat(self.case, message):
            delivery.answer(view(self.case))  # a retry of a command the case has taken: answer, do not act
            return
        now = self._now() if delivery.at is None else max(delivery.at, self.case.timeline[-1].at)
        try:
            transition = engine.apply(self.case, message, now)
        except Refusal as refusal:
            if delivery.via == "update":
                delivery.refuse(refusal)
                return
            if delivery.via == "clock":  # overtaken by a message taken before it: no longer due
                return
            request_id = message.request_id if isinstance(message, Sent) else None
            await self._refused(engine.refuse(self.case, message.kind, message.by, refusal, now, request_id))
            return
        if isinstance(message, DeadlinePassed):
            self._metrics.deadline_missed(self.case, message.status.value)
        await self._carry_out(transition)
        delivery.answer(view(self.case))

    async def _refused(self, transition: engine.Transition) -> None:
        """A refused signal: carried out when its sender is heard, else only counted in the case."""
        if transition.heard:
            await self._carry_out(transition)
        else:
            self.case = transition.case

    async def _carry_out(self, transition: engine.Transition) -> None:
        """Decides (refunds included), publishes the new state to visibility, arms the clock for the
        new state, then writes every other effect and the read model in one activity."""
        happened: list[CaseEvent] = []
        left = await self._decide(transition, happened)
        current = workflow.info().typed_search_attributes
        changed = [u for u in search_attributes.updates_for(self.case) if current.get(u.key) != u.value]
        if changed:
            workflow.upsert_search_attributes(changed)
        workflow.set_current_details(details_markdown(self.case))
        self._arm()
        effects = Effects(
            case_id=self.case.case_id,
            postings=[e for e in left if isinstance(e, LedgerPosting)],
            tickets=[e for e in left if isinstance(e, TicketRequest)],
            notices=[e for e in left if isinstance(e, Notify)],
            record=CaseRecord(
                view=view(self.case),
                new_entries=self.case.timeline[self._recorded :],
                failed_refunds=[r.number for r in self.case.refunds if r.status == "failed"],
                events=in_order(happened),
                closed=self.case if self.case.is_closed and self.case.policy.support_may_reopen else None,
            ),
        )
        await self._write(effects)
        self._note_clock()
        self._recorded = len(self.case.timeline)

    async def _write(self, effects: Effects) -> None:
        await workflow.execute_activity_method(
            CaseActivities.apply_effects, effects, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY, summary=effects.summary()
        )

    async def _decide(self, transition: engine.Transition, happened: list[CaseEvent]) -> list[LedgerPosting | TicketRequest | Notify]:
        """Adopts the new state and refunds at once (money moves as soon as the case decides); the
        gateway's answers feed straight back in. Returns every other effect, for `_write`; the events
        of the transition and of the answers' go into `happened`."""
        self._metrics.transition(self.case, transition)
        self.case = transition.case
        happened += transition.events
        left: list[LedgerPosting | TicketRequest | Notify] = []
        answers: list[RefundSettled | RefundFailed] = []
        for command in transition.commands:
            match command:
                case IssueRefund():
                    answers += await self._refund_answers(command)
                case PostLedgerEntry():
                    left.append(self._posting(command))
                case OpenSupportTicket():
                    left.append(self._ticket(command))
                case Notify():
                    left.append(command)
        for fact in answers:
            left += await self._decide(engine.apply(self.case, fact, self._now()), happened)
        return left

    def _arm(self) -> None:
        """Keeps one timer, for the case's next alarm: a new one only when the alarm moves. When it
        rings, the alarm joins the inbox behind whatever came before it."""
        alarm = engine.next_alarm(self.case)
        if alarm == self._alarm:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._alarm = alarm
        self._timer = None if alarm is None else asyncio.create_task(self._ring(*alarm, _timer_summary(self.case, alarm[1])))

    async def _ring(self, at: datetime, alarm: CaseMessage, summary: str) -> None:
        """Waits for `at`; the alarm then acts at `at`, not when its workflow task ran: the same moment
        on every replay, and a late timer does not push the case's next deadlines later. An alarm
        already due still gets a (shortest) timer: whether to start one never depends on the task's
        clock, which the SDK can hand over stale after a worker dies (docs/nothing-lost.md)."""
        await workflow.sleep(max(at - workflow.now(), SHORTEST_TIMER), summary=summary)
        self._arrive(Delivery(alarm, "clock", at=at))

    def _note_clock(self) -> bool:
        """Notes the workflow task's clock; False when it is stale. A later task always starts later, so
        a clock no later than one already noted, with history events since, is an earlier task's: the
        SDK can hand the events a query replayed on this worker over with it (docs/nothing-lost.md).
        Noted wherever the case's code runs, so that no earlier clock goes unseen."""
        now, length = workflow.now(), workflow.info().get_current_history_length()
        if self._clock is not None and now <= self._clock[0] and length > self._clock[1]:
            return False
        self._clock = (now, length)
        return True

    def _now(self) -> datetime:
        """The clock for a transition. A stale one fails the task: its retry, replayed afresh, reads the
        right clock. A replay never sees a stale clock."""
        if not self._note_clock() and not workflow.unsafe.is_replaying():
            noted = self._clock[1] if self._clock else 0
            raise StaleClock(
                f"{STALE_CLOCK}: the clock of history event {noted} handed over again at event {workflow.info().get_current_history_length()}"
            )
        return workflow.now()

    def _posting(self, command: PostLedgerEntry) -> LedgerPosting:
        order = self.case.order
        return LedgerPosting(case_id=self.case.case_id, seller_id=order.seller_id, posting=command, order_id=order.order_id)

    def _ticket(self, command: OpenSupportTicket) -> TicketRequest:
        return TicketRequest(case_id=self.case.case_id, at_version=self.case.version, ticket=command, waiting_for=waiting_for(self.case))

    async def _refund_answers(self, command: IssueRefund) -> list[RefundSettled | RefundFailed]:
        answer = _answer(command, await self._refund(command))
        return [answer] if answer is not None else []

    async def _refund(self, command: IssueRefund) -> GatewayReceipt | None:
        """Refunds through the gateway. A permanent rejection comes back as a "rejected" receipt; a refund
        still unanswered when its retries run out returns None and stays pending (see REFUND_RETRIES_FOR)."""
        order = self.case.order
        refund_order = RefundOrder(case_id=self.case.case_id, refund=command, order_id=order.order_id, order_paid=order.total_paid)
        try:
            return await workflow.execute_activity_method(
                CaseActivities.issue_refund,
                refund_order,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                schedule_to_close_timeout=REFUND_RETRIES_FOR,
                retry_policy=RETRY,
                summary=f"refund {command.amount}",
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == REFUND_REJECTED:
                return GatewayReceipt(status="rejected", failure=cause.message)
            workflow.logger.warning("refund %s unanswered after %s: left pending", command.number, REFUND_RETRIES_FOR)
            return None

    def _woken(self) -> bool:
        """What the loop waits for: a message, or a reason to continue as new."""
        self._note_clock()
        return bool(self._inbox) or self._should_continue()

    def _should_continue(self) -> bool:
        """Continue as new when the history grows long, or when a newer version of the workers has
        become the deployment's current one (the case then moves to it)."""
        info = workflow.info()
        long = info.is_continue_as_new_suggested() or info.get_current_history_length() > self._history_limit
        return long or info.is_target_worker_deployment_version_changed()

    async def _continue_as_new(self, request: OpenCase) -> NoReturn:
        """Nothing waits in the inbox: the next run starts from the case as it is."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        moving = workflow.info().is_target_worker_deployment_version_changed()
        workflow.continue_as_new(
            request.model_copy(update={"continued": self.case, "reopening": None}),
            initial_versioning_behavior=workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE if moving else None,
        )


def _answer(command: IssueRefund, receipt: GatewayReceipt | None) -> RefundSettled | RefundFailed | None:
    """The gateway's receipt as the fact the case takes next; None while the refund is pending."""
    if receipt is None or receipt.status == "pending":
        return None
    if receipt.status == "settled":
        return RefundSettled(by=GATEWAY, refund_number=command.number, gateway_ref=receipt.gateway_ref)
    if receipt.status == "refused":
        others = receipt.other_cases_refunded
        failure = f"the order's other cases have already refunded {others}"
        return RefundFailed(by=GATEWAY, refund_number=command.number, failure=failure, other_cases_refunded=others)
    return RefundFailed(by=GATEWAY, refund_number=command.number, failure=f"the payment provider rejected it: {receipt.failure}")


Input = TypeVar("Input", bound=BaseModel)


def _read(model: type[Input], raw: RawValue) -> Input:
    """A model read from its payload, or a Refusal naming the field and the rule (an update is then
    rejected in one line, never with the model's whole error text; an opening fails its case)."""
    try:
        return workflow.payload_converter().from_payload(raw.payload, model)
    except ValidationError as invalid:
        raise Refusal(*field_rules(invalid)[0]) from None


def _sender(raw: RawValue) -> Actor | None:
    """The sender of a signal that could not be read, when its `by` at least can be."""
    try:
        sent = workflow.payload_converter().from_payload(raw.payload, dict)
        return Actor.model_validate(sent.get("by")) if isinstance(sent, dict) else None
    except ValueError:
        return None


def _opaque(name: str) -> str:
    """A signal name as a case may record it: opaque characters only, at most 64."""
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", name)[:64] or "_"


def _timer_summary(case: Case, alarm: CaseMessage) -> str:
    """How the timer reads in the UI: the window it ends, or the reminder it sends."""
    assert case.deadline is not None, "only an open case arms the clock"
    window = case.policy.windows[case.deadline.status]
    length = f"{window.hours} {'business ' if window.time == 'business' else ''}h"
    if isinstance(alarm, ReminderDue):
        return f"reminder before the end of {case.deadline.status.value} ({length})"
    return f"{case.deadline.status.value} window, {length}"
