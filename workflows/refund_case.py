"""One refund case, durably: wait for the next message or the case's deadline, let the rules decide,
carry out what they decided.

Every way in (update, signal, timer) goes through `_deliver`, under one lock, so a case applies one
message at a time and the rules in `cases.engine` are the only place that decides anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.payments import GatewayReceipt
    from activities.case_activities import (
        REFUND_REJECTED,
        CaseActivities,
        CaseRecord,
        Effects,
        LedgerPosting,
        Notifications,
        RefundOrder,
        TicketRequest,
    )
    from cases import engine
    from cases.case import Case
    from cases.commands import IssueRefund, Notify, OpenSupportTicket, PostLedgerEntry
    from cases.messages import (
        Appeal,
        BuyerAnswer,
        CaseMessage,
        DeadlinePassed,
        Escalation,
        OpenCase,
        PartyMessage,
        ProtectionFeedback,
        RefundFailed,
        RefundSettled,
        ReminderDue,
        Reopening,
        ResolutionConfirmed,
        ReturnDelivered,
        ReturnInspection,
        ReturnShipped,
        SellerResponse,
        SupportDecision,
        Withdrawal,
    )
    from cases.model import CLOCK, Actor, Party
    from cases.view import CaseView, details_markdown, view, waiting_for
    from workflows import search_attributes
    from workflows.metrics import CaseMetrics

def workflow_id(case_id: str) -> str:
    return f"case-{case_id}"


# Patch ids: each names a change to what running cases record in history (see README, "Changing
# workflow code"). Remove a patch only once no case started before it is still running.
REMINDERS = "reminders-before-deadlines"
REOPENING = "closed-cases-wait-for-reopening"
SELLER_FLAGS = "flag-sellers-of-unresolved-cases"
AWAITING_SINCE = "awaiting-since-search-attribute"
REQUEST_IDS = "commands-act-once-per-request-id"
BOUNDED_REFUND_RETRIES = "refund-retries-end-before-the-provider-forgets-the-key"
EFFECTS_TOGETHER = "effects-of-a-transition-in-one-activity"
# Cases started under today's code read this one patch, at their start, and every change above is on
# for them: one marker (and its TemporalChangeVersion upsert) instead of one per change, and no patch
# read after a local activity, which could move it into a later workflow task than on replay. Their
# effects go to the store in one local activity, and they open at the moment the client checked the
# request (engine.opening_time), so the search attributes set at start need no upsert. The next
# change gets a new code id, read in __init__ before this one.
CURRENT_CODE = "case-code-2026-12"

GATEWAY = Actor(party=Party.PAYMENT, id="gateway")
ACTIVITY_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=5))
# A refund is retried with the same idempotency key only while the provider still remembers that key
# (24 h at the common providers); after that a retry could pay twice. So its retries stop at 12 h, and
# a refund still unanswered then stays pending: the provider's webhook, or support after the
# refund_pending window, settles it. See README, "Payment gateway failures".
REFUND_RETRIES_FOR = timedelta(hours=12)


@workflow.defn(name="RefundCase")
class RefundCaseWorkflow:
    @workflow.init
    def __init__(self, request: OpenCase) -> None:
        current = self._current_code()  # first, in the first workflow task: before any local activity
        self._lock = asyncio.Lock()
        self._history_limit = request.continue_after_events
        self._recorded = 0
        self._ahead = 0  # messages waiting for their turn (see _check)
        self._opening: engine.Transition | None = None
        self._metrics = CaseMetrics()
        if request.continued is not None:
            self.case: Case = request.continued
            self._recorded = len(self.case.timeline)
        else:
            opened_at = engine.opening_time(request, workflow.now()) if current else workflow.now()
            self._opening = engine.open_case(request, opened_at)
            self.case = self._opening.case

    @workflow.run
    async def run(self, request: OpenCase) -> CaseView:
        if self._opening is not None:
            self._metrics.case_opened(self.case)
            async with self._lock:
                await self._carry_out(self._opening)
            self._opening = None
        while not self._finished():
            if self._history_is_long():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(request.model_copy(update={"continued": self.case}))
            waiting = (self.case.status, self.case.deadline)
            at, alarm = self._next_alarm()
            remaining = at - workflow.now()
            if remaining > timedelta(0):
                try:
                    await workflow.wait_condition(
                        lambda: (self.case.status, self.case.deadline) != waiting or self._history_is_long(),
                        timeout=remaining,
                        timeout_summary=_timer_summary(self.case, alarm),
                    )
                    continue
                except asyncio.TimeoutError:
                    pass
            await self._deliver(alarm, via="clock")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return view(self.case)

    # ------------------------------------------------------------------------------------- query

    @workflow.query(name="case", description="The case view: status, who acts next and by when, options, money, timeline.")
    def case_view(self) -> CaseView:
        return view(self.case)

    # --------------------------------------------- people's decisions: updates, and signals alike

    @workflow.update(name="seller_response", description="The seller's resolution: full_refund, refund_after_return, partial_refund, replacement or decline.")
    async def seller_response(self, response: SellerResponse) -> CaseView:
        return await self._deliver(response, via="update")

    @seller_response.validator
    def _check_seller_response(self, response: SellerResponse) -> None:
        self._check(response)

    @workflow.signal(name="seller_response", description="Fire-and-forget form of the seller_response update.")
    async def seller_response_signal(self, response: SellerResponse) -> None:
        await self._deliver(response, via="signal")

    @workflow.update(name="buyer_answer", description="The buyer accepts or declines a partial refund offer.")
    async def buyer_answer(self, answer: BuyerAnswer) -> CaseView:
        return await self._deliver(answer, via="update")

    @buyer_answer.validator
    def _check_buyer_answer(self, answer: BuyerAnswer) -> None:
        self._check(answer)

    @workflow.signal(name="buyer_answer", description="Fire-and-forget form of the buyer_answer update.")
    async def buyer_answer_signal(self, answer: BuyerAnswer) -> None:
        await self._deliver(answer, via="signal")

    @workflow.update(name="return_inspection", description="The seller confirms the returned items (refund) or disputes them (support).")
    async def return_inspection(self, inspection: ReturnInspection) -> CaseView:
        return await self._deliver(inspection, via="update")

    @return_inspection.validator
    def _check_return_inspection(self, inspection: ReturnInspection) -> None:
        self._check(inspection)

    @workflow.signal(name="return_inspection", description="Fire-and-forget form of the return_inspection update.")
    async def return_inspection_signal(self, inspection: ReturnInspection) -> None:
        await self._deliver(inspection, via="signal")

    @workflow.update(name="protection_feedback", description="The buyer's feedback during protection: cancel it, or report a problem.")
    async def protection_feedback(self, feedback: ProtectionFeedback) -> CaseView:
        return await self._deliver(feedback, via="update")

    @protection_feedback.validator
    def _check_protection_feedback(self, feedback: ProtectionFeedback) -> None:
        self._check(feedback)

    @workflow.signal(name="protection_feedback", description="Fire-and-forget form of the protection_feedback update.")
    async def protection_feedback_signal(self, feedback: ProtectionFeedback) -> None:
        await self._deliver(feedback, via="signal")

    @workflow.update(name="resolution_confirmed", description="The buyer (retailer) marks the issue resolved.")
    async def resolution_confirmed(self, confirmation: ResolutionConfirmed) -> CaseView:
        return await self._deliver(confirmation, via="update")

    @resolution_confirmed.validator
    def _check_resolution_confirmed(self, confirmation: ResolutionConfirmed) -> None:
        self._check(confirmation)

    @workflow.signal(name="resolution_confirmed", description="Fire-and-forget form of the resolution_confirmed update.")
    async def resolution_confirmed_signal(self, confirmation: ResolutionConfirmed) -> None:
        await self._deliver(confirmation, via="signal")

    @workflow.update(name="escalation", description="The buyer (after a decline) or support (early) hands the case to support.")
    async def escalate(self, escalation: Escalation) -> CaseView:
        return await self._deliver(escalation, via="update")

    @escalate.validator
    def _check_escalate(self, escalation: Escalation) -> None:
        self._check(escalation)

    @workflow.signal(name="escalation", description="Fire-and-forget form of the escalation update.")
    async def escalate_signal(self, escalation: Escalation) -> None:
        await self._deliver(escalation, via="signal")

    @workflow.update(name="withdrawal", description="The buyer withdraws the request.")
    async def withdraw(self, withdrawal: Withdrawal) -> CaseView:
        return await self._deliver(withdrawal, via="update")

    @withdraw.validator
    def _check_withdraw(self, withdrawal: Withdrawal) -> None:
        self._check(withdrawal)

    @workflow.signal(name="withdrawal", description="Fire-and-forget form of the withdrawal update.")
    async def withdraw_signal(self, withdrawal: Withdrawal) -> None:
        await self._deliver(withdrawal, via="signal")

    @workflow.update(name="support_decision", description="Support decides: refund charged to the seller, refund at the platform's cost, deny; on appeal, uphold or overturn.")
    async def support_decision(self, decision: SupportDecision) -> CaseView:
        return await self._deliver(decision, via="update")

    @support_decision.validator
    def _check_support_decision(self, decision: SupportDecision) -> None:
        self._check(decision)

    @workflow.signal(name="support_decision", description="Fire-and-forget form of the support_decision update.")
    async def support_decision_signal(self, decision: SupportDecision) -> None:
        await self._deliver(decision, via="signal")

    @workflow.update(name="appeal", description="The seller appeals a support decision that charged them.")
    async def appeal(self, appeal: Appeal) -> CaseView:
        return await self._deliver(appeal, via="update")

    @appeal.validator
    def _check_appeal(self, appeal: Appeal) -> None:
        self._check(appeal)

    @workflow.signal(name="appeal", description="Fire-and-forget form of the appeal update.")
    async def appeal_signal(self, appeal: Appeal) -> None:
        await self._deliver(appeal, via="signal")

    @workflow.update(name="reopening", description="Support reopens a closed case, where the policy allows it, for a new decision.")
    async def reopen(self, reopening: Reopening) -> CaseView:
        return await self._deliver(reopening, via="update")

    @reopen.validator
    def _check_reopen(self, reopening: Reopening) -> None:
        self._check(reopening)

    @workflow.signal(name="reopening", description="Fire-and-forget form of the reopening update.")
    async def reopen_signal(self, reopening: Reopening) -> None:
        await self._deliver(reopening, via="signal")

    @workflow.update(name="message", description="A message to the other parties; changes no state.")
    async def message(self, message: PartyMessage) -> CaseView:
        return await self._deliver(message, via="update")

    @message.validator
    def _check_message(self, message: PartyMessage) -> None:
        self._check(message)

    @workflow.signal(name="message", description="Fire-and-forget form of the message update.")
    async def message_signal(self, message: PartyMessage) -> None:
        await self._deliver(message, via="signal")

    # ------------------------------------------------------------- machine facts: signals only

    @workflow.signal(name="return_shipped", description="Carrier: the buyer's return was handed over, with tracking.")
    async def return_shipped(self, fact: ReturnShipped) -> None:
        await self._deliver(fact, via="signal")

    @workflow.signal(name="return_delivered", description="Carrier: the return reached the seller.")
    async def return_delivered(self, fact: ReturnDelivered) -> None:
        await self._deliver(fact, via="signal")

    @workflow.signal(name="refund_settled", description="Payment provider: a pending refund settled.")
    async def refund_settled(self, fact: RefundSettled) -> None:
        await self._deliver(fact, via="signal")

    @workflow.signal(name="refund_failed", description="Payment provider: a pending refund failed.")
    async def refund_failed(self, fact: RefundFailed) -> None:
        await self._deliver(fact, via="signal")

    # ------------------------------------------------------------------------------- the shell

    def _check(self, message: CaseMessage) -> None:
        """Update validators: a refusal here rejects the update and leaves no trace in history. They
        judge only an update with nothing ahead of it: behind a message still waiting for its turn (a
        carrier's signal in the same workflow task) the case is not yet what the update will meet, so
        the update is accepted and its handler judges it in turn, a refusal then failing the update
        with the same reason. Validators do not run on replay, so this changes no recorded history."""
        if self._opening is None and not self._ahead:
            engine.check(self.case, message, workflow.now())

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """A message's turn: after the opening's own commands (it must not overtake them), then under
        the lock. Until it has the lock it counts as ahead of any update that arrives (see _check); from
        the lock to its new state nothing else runs, as no await lies between."""
        self._ahead += 1
        try:
            await workflow.wait_condition(lambda: self._opening is None)
            await self._lock.acquire()
        finally:
            self._ahead -= 1
        try:
            yield
        finally:
            self._lock.release()

    async def _deliver(self, message: CaseMessage, via: str) -> CaseView:
        async with self._turn():
            if engine.is_repeat(self.case, message):
                if self._takes(REQUEST_IDS):
                    return view(self.case)  # a retry of a command the case has taken: answer, do not act
                message = message.model_copy(update={"request_id": None})  # how cases before the patch took it
            try:
                transition = engine.apply(self.case, message, workflow.now())
            except engine.Refusal as refusal:
                if via == "update":  # judged here, not by the validator (see _check), or the state changed since
                    raise ApplicationError(str(refusal), type="Refusal", non_retryable=True) from None
                if via == "clock":  # the deadline moved while we waited for the lock
                    return view(self.case)
                transition = engine.refuse(self.case, message, refusal, workflow.now())
            if isinstance(message, DeadlinePassed):
                self._metrics.deadline_missed(self.case, message.status.value)
            await self._carry_out(transition)
            return view(self.case)

    async def _carry_out(self, transition: engine.Transition) -> None:
        if self._takes(EFFECTS_TOGETHER):
            effects = Effects(case_id=self.case.case_id)
            await self._decide(transition, effects)
            await self._apply(effects, local=self._current_code())
        else:
            await self._carry_out_one_by_one(transition)

    async def _decide(self, transition: engine.Transition, effects: Effects) -> None:
        """Adopts the new state and refunds at once (money moves as soon as the case decides); the
        gateway's answers feed straight back in; every other command waits in `effects`."""
        self._adopt(transition)
        answers: list[RefundSettled | RefundFailed] = []
        for command in transition.commands:
            match command:
                case IssueRefund():
                    answers += await self._refund_answers(command)
                case PostLedgerEntry():
                    effects.postings.append(self._posting(command))
                case OpenSupportTicket():
                    effects.tickets.append(self._ticket(command))
                case Notify():
                    effects.notices.append(command)
        for fact in answers:
            await self._decide(engine.apply(self.case, fact, workflow.now()), effects)

    async def _apply(self, effects: Effects, local: bool) -> None:
        """One search-attribute upsert of what changed, then the effects and the read model in one
        activity: a local one (inside the workflow task, one marker) for cases on CURRENT_CODE, which
        read no patch after it. Cases between EFFECTS_TOGETHER and CURRENT_CODE check patches after it,
        and a local activity that outlasts its workflow task moves that check into the next task, where
        replay cannot follow (a chaos run found it): they keep an ordinary activity."""
        current = workflow.info().typed_search_attributes
        changed = [u for u in search_attributes.updates_for(self.case) if current.get(u.key) != u.value]
        if changed:
            workflow.upsert_search_attributes(changed)
        workflow.set_current_details(details_markdown(self.case))
        effects.record = self._case_record()
        if local:
            await workflow.execute_local_activity_method(
                CaseActivities.apply_effects, effects, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY, summary=effects.summary()
            )
        else:
            await _side_effect(CaseActivities.apply_effects, effects, effects.summary())
        self._recorded = len(self.case.timeline)

    async def _carry_out_one_by_one(self, transition: engine.Transition) -> None:
        """How cases started before EFFECTS_TOGETHER carry out a transition: every attribute upserted,
        then one activity per command kind and one for the read model, in order."""
        self._adopt(transition)
        workflow.upsert_search_attributes(search_attributes.updates_for(self.case, self._takes(AWAITING_SINCE)))
        workflow.set_current_details(details_markdown(self.case))
        notices: list[Notify] = []
        answers: list[RefundSettled | RefundFailed] = []
        for command in transition.commands:
            match command:
                case IssueRefund():
                    answers += await self._refund_answers(command)
                case PostLedgerEntry():
                    await _side_effect(CaseActivities.post_ledger_entry, self._posting(command), f"ledger {command.entry.value} {command.amount}")
                case OpenSupportTicket():
                    await _side_effect(CaseActivities.open_support_ticket, self._ticket(command), "support ticket")
                case Notify():
                    notices.append(command)
        if notices:
            batch = Notifications(case_id=self.case.case_id, notices=notices)
            await _side_effect(CaseActivities.send_notifications, batch, batch.summary())
        await self._record()
        for fact in answers:
            await self._carry_out_one_by_one(engine.apply(self.case, fact, workflow.now()))

    def _adopt(self, transition: engine.Transition) -> None:
        self._metrics.transition(self.case, transition)
        self.case = transition.case

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
        still unanswered when its retries run out returns None and stays pending (see REFUND_RETRIES_FOR).
        Cases that scheduled refunds before the bound existed keep retrying without one."""
        order = self.case.order
        refund_order = RefundOrder(case_id=self.case.case_id, refund=command, order_id=order.order_id, order_paid=order.total_paid)
        bound = {"schedule_to_close_timeout": REFUND_RETRIES_FOR} if self._takes(BOUNDED_REFUND_RETRIES) else {}
        try:
            return await workflow.execute_activity_method(
                CaseActivities.issue_refund,
                refund_order,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RETRY,
                summary=f"refund {command.amount}",
                **bound,
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == REFUND_REJECTED:
                return GatewayReceipt(status="rejected", failure=cause.message)
            workflow.logger.warning("refund %s unanswered after %s: left pending", command.number, REFUND_RETRIES_FOR)
            return None

    async def _record(self) -> None:
        """Writes the read model: the case view and the timeline entries it has not seen yet."""
        await _side_effect(CaseActivities.record_case, self._case_record(), f"record {self.case.status.value}")
        self._recorded = len(self.case.timeline)

    def _case_record(self) -> CaseRecord:
        return CaseRecord(
            view=view(self.case),
            new_entries=self.case.timeline[self._recorded :],
            failed_refunds=[r.number for r in self.case.refunds if r.status == "failed"],
        )

    def _finished(self) -> bool:
        """Final, or closed where support may reopen it but the case started before that existed."""
        if not self.case.is_closed:
            return False
        return self.case.is_final or not self._takes(REOPENING)

    def _next_alarm(self) -> tuple[datetime, CaseMessage]:
        flags = self.case.flag_seller_at is not None and self._takes(SELLER_FLAGS)
        alarm = engine.next_alarm(self.case, seller_flags=flags)
        assert alarm is not None, "every open status has a window (checked when the policy loads)"
        deadline = self.case.deadline
        if deadline is None or self._takes(REMINDERS):
            return alarm
        # cases started before reminders existed wait for the deadline alone
        return deadline.due_at, DeadlinePassed(by=CLOCK, status=deadline.status, due_at=deadline.due_at)

    def _current_code(self) -> bool:
        """Whether the case started under CURRENT_CODE. The SDK keeps the first answer for the run, so
        reading it first thing in the first task fixes it for good (replay finds the marker, or not)."""
        return workflow.patched(CURRENT_CODE)

    def _takes(self, change: str) -> bool:
        """Whether the case runs the code of `change`, one of the changes CURRENT_CODE folds in: all of
        them on CURRENT_CODE, else as the change's own patch said when the case first reached it. Not
        for later changes: those get a new code id, read in `__init__` (README, "Changing workflow code")."""
        return self._current_code() or workflow.patched(change)

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > self._history_limit


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


def _timer_summary(case: Case, alarm: CaseMessage) -> str:
    """How the timer reads in the UI: the window it ends, the reminder it sends, or the time to reopen."""
    if case.deadline is None:
        return f"support may reopen until {case.reopenable_until:%Y-%m-%d %H:%M} UTC"
    window = case.policy.windows[case.deadline.status]
    length = f"{window.hours} {'business ' if window.time == 'business' else ''}h"
    if isinstance(alarm, ReminderDue):
        return f"reminder before the end of {case.deadline.status.value} ({length})"
    return f"{case.deadline.status.value} window, {length}"


async def _side_effect(activity, argument, summary: str):
    """Every side effect is idempotent on its own key, so it may retry until it lands."""
    return await workflow.execute_activity_method(
        activity, argument, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY, summary=summary
    )
