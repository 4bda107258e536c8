"""The rules of a case, pure: `check` says whether a message may act now, `apply` says what it does.

No I/O, no clock reads (time comes in as `now`), no Temporal: the workflow runs this code inside its
sandbox and the tests run it directly. Every side effect leaves as a command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from cases.abuse import judged
from cases.case import GENERATION, Case
from cases.commands import Command, IssueRefund, Notify, OpenSupportTicket, PostLedgerEntry
from cases.events import CaseEvent, in_order
from cases.evidence import Attachment, check_attachments, recorded, summary
from cases.lines import check_lines
from cases.messages import (
    Appeal,
    BuyerAnswer,
    CaseMessage,
    DeadlinePassed,
    Escalation,
    EscalationOpens,
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
    SellerFlagDue,
    SellerResponse,
    Sent,
    SupportDecision,
    Withdrawal,
    kind_of,
)
from cases.model import (
    CLOCK,
    OPEN_STATUSES,
    Actor,
    CaseKind,
    CaseLine,
    Deadline,
    LedgerKind,
    LedgerLine,
    Offer,
    Outcome,
    Party,
    Reason,
    Refund,
    Resolution,
    ReturnLeg,
    Status,
    SupportRuling,
    TimelineEntry,
)
from cases.money import Money
from cases.policy import TimeoutAction
from cases.refusal import Refusal

S = Status
P = Party


@dataclass
class Transition:
    case: Case
    commands: list[Command] = field(default_factory=list)
    heard: bool = True  # False: only counted (a refusal no one is told of); nothing to write or send
    events: list[CaseEvent] = field(default_factory=list)  # what it tells subscribers, in order


# What one case carries at most, whoever sends it: its timeline stays far below Temporal's payload limit.
MAX_MESSAGES = 200  # messages between the parties
MAX_REFUSALS_WRITTEN = 50  # refused signals on the timeline; later ones are only counted

FIRST_VERDICTS = {"refund_charged_to_seller", "refund_at_platform_cost", "deny"}
APPEAL_VERDICTS = {"uphold", "overturn"}


# ---------------------------------------------------------------------------------------------- open


def check_open(request: OpenCase, now: datetime) -> None:
    """Whether this request may open a case now. Raises Refusal naming the field and the rule."""
    policy, order = request.policy, request.order
    if request.kind not in policy.kinds:
        raise Refusal("kind", f"policy {policy.name} does not take {request.kind.value} cases")
    if order.purchased_at > now:
        raise Refusal("order.purchased_at", "must not be in the future")
    check_attachments(policy.evidence, 0, request.evidence, policy.name)
    lines = check_lines(order, request.lines)
    if request.kind is not CaseKind.REFUND_REQUEST and not order.is_whole(lines):
        raise Refusal("lines", f"a {request.kind.value} covers every unit of the order")
    _check_eligibility(request, now)
    if request.kind is CaseKind.CANCELLATION:
        if order.shipped_at is not None:
            raise Refusal("kind", "an order cannot be cancelled once it has shipped")
        free_until = order.purchased_at + policy.hours(policy.cancellation_free_hours)
        printed = order.label_printed_at
        if printed is not None and now > max(free_until, printed):
            raise Refusal(
                "kind",
                f"cancellation is possible within {policy.cancellation_free_hours} h of purchase or until the label is printed, whichever is later",
            )


_MOMENTS = {"purchase": "purchased_at", "estimated_delivery": "estimated_delivery_at", "delivery": "delivered_at"}


def _check_eligibility(request: OpenCase, now: datetime) -> None:
    policy, rule = request.policy, request.policy.eligibility
    if request.kind is CaseKind.CANCELLATION:
        return
    if request.kind is CaseKind.PROTECTION and not request.order.protection_opted_in:
        raise Refusal("order.protection_opted_in", "protection covers only orders whose buyer opted in")
    if request.kind is not CaseKind.PROTECTION and rule.reasons is not None and request.reason not in rule.reasons:
        names = ", ".join(sorted(r.value for r in rule.reasons))
        raise Refusal("reason", f"policy {policy.name} opens cases only for {names}")
    field_name = _MOMENTS[rule.opens_at]
    start = getattr(request.order, field_name)
    if start is None:
        raise Refusal(f"order.{field_name}", f"policy {policy.name} needs it to decide whether a case may open")
    if now < start:
        raise Refusal("opened_at", f"a case may open only from the order's {rule.opens_at.replace('_', ' ')} ({start:%Y-%m-%d %H:%M} UTC)")
    if rule.within_hours is not None:
        end = policy.after(start, rule.within_hours, rule.time)
        if now > end:
            unit = "business hours" if rule.time == "business" else "hours"
            raise Refusal(
                "opened_at",
                f"a case must open within {rule.within_hours} {unit} of the order's {rule.opens_at.replace('_', ' ')}, by {end:%Y-%m-%d %H:%M} UTC",
            )


# How long before a case's first workflow task its request may have been checked and still open it.
OPENING_GRACE = timedelta(minutes=1)


def opening_time(request: OpenCase, now: datetime) -> datetime:
    """When the case opens: when the client checked the request (and computed the search attributes it
    starts with), unless that is not within OPENING_GRACE before now (a client clock that runs ahead or
    far behind, a start that waited): then now."""
    at = request.requested_at
    return at if at is not None and now - OPENING_GRACE <= at <= now else now


def open_case(request: OpenCase, now: datetime) -> Transition:
    """The first transition. An ineligible request still opens, and closes at once with the reason."""
    routed_to, why = _route(request)
    case = Case(
        case_id=request.case_id,
        generation=GENERATION,
        request_id=request.request_id,
        kind=request.kind,
        reason=request.reason,
        order=request.order,
        lines=_lines_or_all(request),
        policy=request.policy,
        opened_at=now,
        status=S.AWAITING_SUPPORT if routed_to is P.SUPPORT else S.AWAITING_SELLER_RESPONSE,
        routed_to=routed_to,
        routing_note=why,
    )
    step = _Step(case, now, Actor(party=P.BUYER, id=request.order.buyer_id), opening=True)
    step.emit(CaseEvent.CASE_OPENED)
    step.arm_seller_flag()
    try:
        check_open(request, now)
    except Refusal as refusal:
        step.log("opened", f"{request.kind.value} for {request.reason.value} refused: {refusal}")
        step.close(Outcome.INELIGIBLE, tell=(P.BUYER,))
        return step.done()
    step.log("opened", f"{request.kind.value} for {request.reason.value}{_on_items(step.case)}, {why}")
    step.add_evidence(request.evidence, "opened")
    if request.kind is CaseKind.PROTECTION:
        step.move(S.PROTECTED, since=request.order.purchased_at)  # the seed: 30 days, and day 23, from the order
        step.case.protected_until = step.case.deadline.due_at if step.case.deadline else now
        step.tell((P.BUYER,), "protected", f"Your order is protected until {step.case.protected_until:%Y-%m-%d}.")
    elif request.kind is CaseKind.CANCELLATION:
        step.move(S.AWAITING_CANCELLATION_ANSWER)
        step.tell((P.SELLER, P.BUYER), "cancellation_requested", "A cancellation was requested before shipping.")
    elif review := _refund_review(request):
        step.log("refund_review", review, private=True)
        step.escalate(review, told=why)
    elif routed_to is P.SUPPORT:
        step.escalate(why)
    else:
        step.move(S.AWAITING_SELLER_RESPONSE)
        step.tell((P.SELLER, P.BUYER), "case_opened", f"A refund request ({request.reason.value}) was opened.")
    return step.done()


def items_named(case: Case) -> str:
    """The units a case concerns, as people read them: `2 x mug, 1 x lamp`."""
    return ", ".join(f"{item.quantity} x {item.sku}" for item in case.order.units(case.lines))


def _on_items(case: Case) -> str:
    return "" if case.order.is_whole(case.lines) else f" on {items_named(case)}"


def _lines_or_all(request: OpenCase) -> list[CaseLine]:
    """The lines the case concerns, each with its quantity; an ineligible request's as it named them."""
    try:
        return check_lines(request.order, request.lines)
    except Refusal:
        return [line for line in request.lines or [] if request.order.item(line.sku) is not None]


# What a seller whose flagged case is resolved is told (seed 001).
REINSTATEMENT = "The case is resolved. Your account's restrictions are not lifted automatically: contact support to request reinstatement."

# What everyone is told of a request the platform reviews; why it does is support's alone.
REVIEW_NOTE = "the platform reviews this request; the seller is not asked"


def _refund_review(request: OpenCase) -> str | None:
    """Why the platform reviews a refund request before any seller sees it: the caller's fraud flag,
    or the buyer's behaviour across the marketplace (cases.abuse)."""
    if not judged(request.kind):
        return None
    if request.buyer_flagged_for_fraud:
        return "the buyer is flagged for refund review by the marketplace"
    return request.abuse_suspected


def _route(request: OpenCase) -> tuple[Party, str]:
    policy = request.policy
    if request.kind is CaseKind.CANCELLATION:
        return P.SELLER, "cancellation goes to the seller"
    if request.kind is CaseKind.PROTECTION:
        return P.SELLER, "protection: a problem the buyer reports goes to the shop first"
    if _refund_review(request):
        return P.SUPPORT, REVIEW_NOTE
    if request.reason not in policy.seller_reasons:
        return P.SUPPORT, f"{request.reason.value} is not covered for the seller; support decides"
    for exclusion in policy.exclusions:
        if request.reason in exclusion.reasons and any(item.category in exclusion.categories for item in request.order.units(request.lines or [])):
            kinds = ", ".join(sorted(c.value for c in exclusion.categories))
            return P.SUPPORT, f"{request.reason.value} on {kinds} goods is excluded; support decides"
    return P.SELLER, "routed to the seller"


# --------------------------------------------------------------------------------------------- check


def is_repeat(case: Case, message: CaseMessage) -> bool:
    """Whether the case has already taken this very command: the same request id, from the same sender,
    for the same kind of message. It must not act twice. A refusal took nothing: its entry keeps the
    request id, for the record, but never matches, so a command refused once is judged again when sent
    again, and no one's request id can shadow another's command."""
    request_id = getattr(message, "request_id", None)
    return request_id is not None and any(
        entry.request_id == request_id and entry.actor == message.by and entry.kind == message.kind and not entry.refused for entry in case.timeline
    )


def check(case: Case, message: CaseMessage, now: datetime) -> None:
    """Whether `message` may act on `case` now. Raises Refusal; changes nothing. The sender is checked
    first, whatever the case is doing; then a repeat of a command the case has taken passes (the
    sender's retry is answered, and nothing acts twice); then what the case's state allows."""
    check_sender(case, message)
    if not is_repeat(case, message):
        _check_now(case, message, now)
        attachments = getattr(message, "evidence", [])
        if attachments:
            check_attachments(case.policy.evidence, len(case.evidence), attachments, case.policy.name)


def check_sender(case: Case, message: CaseMessage) -> None:
    """Whether the sender is one who may ever send this kind of message to this case."""
    by = message.by
    senders = senders_of(type(message))
    if by.party not in senders:
        names = " or ".join(sorted(p.value for p in senders))
        raise Refusal("by.party", f"only the {names} may send {message.kind}")
    expected = case.party_id(by.party)
    if expected is not None and by.id != expected:
        raise Refusal("by.id", f"{by.id} is not this case's {by.party.value}")


def _check_now(case: Case, message: CaseMessage, now: datetime) -> None:
    if case.is_final or (case.is_closed and message.kind != "reopening"):
        raise Refusal("status", f"the case is closed ({case.outcome.value if case.outcome else 'closed'}){_final_note(case)}")
    rule = RULES[type(message)]
    allowed = rule.who_may.get(case.status)
    if not allowed:
        raise Refusal("kind", f"{message.kind} is not possible while the case is {case.status.value}")
    if message.by.party not in allowed:
        names = " or ".join(sorted(p.value for p in allowed))
        raise Refusal("by.party", f"only the {names} may send {message.kind} now")
    if rule.extra is not None:
        rule.extra(case, message, now)


def _check_seller_response(case: Case, msg: SellerResponse, now: datetime) -> None:
    if case.policy.seller_must_explain and not (msg.note or "").strip():
        raise Refusal("note", f"under policy {case.policy.name} the seller must justify its decision to the buyer in a message")
    if msg.resolution not in case.policy.resolutions:
        raise Refusal("resolution", f"policy {case.policy.name} does not offer {msg.resolution.value}")
    if msg.resolution is Resolution.PROOF_OF_DELIVERY and case.reason is not Reason.NOT_RECEIVED:
        raise Refusal("resolution", "proof_of_delivery answers only a not_received case")
    if case.kind is CaseKind.CANCELLATION and msg.resolution not in (Resolution.FULL_REFUND, Resolution.DECLINE):
        raise Refusal("resolution", "a cancellation is accepted with full_refund or refused with decline")
    if msg.resolution is Resolution.PARTIAL_REFUND:
        assert msg.amount is not None
        _check_amount(case, msg.amount)
        if msg.amount.amount >= case.refundable.amount:
            raise Refusal("amount", f"a partial offer must be less than the refundable {case.refundable}; use full_refund")


def _check_support_decision(case: Case, msg: SupportDecision, now: datetime) -> None:
    verdicts = APPEAL_VERDICTS if case.appealed else FIRST_VERDICTS
    if msg.decision not in verdicts:
        when = "on an appeal" if case.appealed else "before an appeal"
        raise Refusal("decision", f"{when} support decides one of {', '.join(sorted(verdicts))}")
    long_stop = case.policy.full_refund_only_after_hours
    late = long_stop is not None and now >= case.opened_at + case.policy.hours(long_stop)
    if late and case.refundable.amount > 0:  # once all is refunded or on its way, nothing more to insist on
        full = msg.decision.startswith("refund") and (msg.amount is None or msg.amount == case.refundable)
        if not full and not case.appealed:
            raise Refusal("decision", f"unresolved for {long_stop} h the case counts as late delivery: only a full refund is acceptable")
    if msg.decision.startswith("refund"):
        if case.refundable.amount <= 0:
            raise Refusal("decision", "nothing is left to refund on this order")
        if msg.amount is not None:
            _check_amount(case, msg.amount)
    elif msg.amount is not None:
        raise Refusal("amount", f"{msg.decision} takes no amount")


def _check_amount(case: Case, amount: Money) -> None:
    if amount.currency != case.currency:
        raise Refusal("amount.currency", f"must be the order currency {case.currency}")
    if amount.amount <= 0:
        raise Refusal("amount", "must be positive")
    if amount.amount > case.refundable.amount:
        raise Refusal("amount", f"must not exceed what is refundable, {case.refundable}")


def _check_refund_fact(case: Case, msg: RefundSettled | RefundFailed, now: datetime) -> Refund:
    refund = next((r for r in case.refunds if r.number == msg.refund_number), None)
    if refund is None:
        raise Refusal("refund_number", f"this case has no refund number {msg.refund_number}")
    if refund.status != "requested":
        raise Refusal("refund_number", f"refund {msg.refund_number} is already {refund.status}")
    return refund


def _check_refund_failed(case: Case, msg: RefundFailed, now: datetime) -> None:
    """A refusal by the order's budget says what the other cases took: never more than this case left."""
    refund = _check_refund_fact(case, msg, now)
    others = msg.other_cases_refunded
    if others is not None:
        left = case.order.total_paid - case.refunded + refund.amount  # this refund no longer counts
        if others.currency != case.currency or not 0 <= others.amount <= left.amount:
            raise Refusal("other_cases_refunded", f"must be in {case.currency} and between 0 and {left}")


def _check_deadline(case: Case, msg: DeadlinePassed, now: datetime) -> None:
    if case.deadline is None or (case.deadline.status, case.deadline.due_at) != (msg.status, msg.due_at):
        raise Refusal("due_at", "this deadline is no longer the case's deadline")


def _check_reminder(case: Case, msg: ReminderDue, now: datetime) -> None:
    if case.deadline is None or msg.at not in case.deadline.reminders:
        raise Refusal("at", "no reminder of the case's deadline is due at this time")


def _check_escalation(case: Case, msg: Escalation, now: datetime) -> None:
    if msg.by.party is P.BUYER and case.status is S.AWAITING_SELLER_RESPONSE and not case.buyer_may_escalate:
        opens = escalation_opens_at(case)
        if opens is None:
            raise Refusal("by.party", f"under policy {case.policy.name} the buyer may escalate only after the seller declines")
        hours = case.policy.buyer_may_escalate_after_hours
        raise Refusal("kind", f"the buyer may escalate once the case is {hours} h old, from {opens:%Y-%m-%d %H:%M} UTC")


def _final_note(case: Case) -> str:
    if case.reopenable_until is not None:
        return f"; only support may reopen it, until {case.reopenable_until:%Y-%m-%d %H:%M} UTC"
    if case.policy.support_may_reopen:
        return "; only support may reopen it"
    return "; nothing more can be done"


def _check_reopening(case: Case, msg: Reopening, now: datetime) -> None:
    if case.reopenable_until is not None and now > case.reopenable_until:
        raise Refusal("kind", f"support may reopen this case only until {case.reopenable_until:%Y-%m-%d %H:%M} UTC")


def _check_seller_flag_due(case: Case, msg: SellerFlagDue, now: datetime) -> None:
    if msg.at != case.flag_seller_at:
        raise Refusal("at", "the case's seller is not due to be flagged at this time")


def escalation_opens_at(case: Case) -> datetime | None:
    """When the buyer may escalate a case the seller has not resolved (policies with an age rule),
    counted from the opening, or for protection from the order, as protection itself is."""
    hours = case.policy.buyer_may_escalate_after_hours
    since = case.order.purchased_at if case.kind is CaseKind.PROTECTION else case.opened_at
    return None if hours is None else since + case.policy.hours(hours)


def _check_escalation_opens(case: Case, msg: EscalationOpens, now: datetime) -> None:
    if case.buyer_may_escalate or msg.at != escalation_opens_at(case):
        raise Refusal("at", "the buyer's escalation does not open at this time")


def _check_refund_confirmation(case: Case, msg: RefundConfirmation, now: datetime) -> None:
    if msg.answer == "partial_not_accepted" and case.offers[-1].resolution is not Resolution.PARTIAL_REFUND:
        raise Refusal("answer", "only a partial refund can be not accepted; the answer is received or not_received")


def _check_party_message(case: Case, msg: PartyMessage, now: datetime) -> None:
    if sum(entry.kind == "message" and not entry.refused for entry in case.timeline) >= MAX_MESSAGES:
        raise Refusal("text", f"a case takes at most {MAX_MESSAGES} messages; contact support")


def allowed_actions(case: Case) -> dict[Party, list[str]]:
    """What each party may send now: the table `check` enforces, with the buyer's early escalation
    only once the clock has opened it."""
    may: dict[Party, list[str]] = {}
    for kind, by_status in WHO_MAY.items():
        for party in by_status.get(case.status, ()):
            if party is P.CLOCK:
                continue
            early = kind == "escalation" and party is P.BUYER and case.status is S.AWAITING_SELLER_RESPONSE
            if (early and not case.buyer_may_escalate) or case.is_final:
                continue
            may.setdefault(party, []).append(kind)
    return may


# --------------------------------------------------------------------------------------------- apply


def apply(case: Case, message: CaseMessage, now: datetime) -> Transition:
    """Checks `message` and applies it. Raises Refusal, leaving `case` untouched, when it may not act."""
    check(case, message, now)
    if is_repeat(case, message):
        return Transition(case)
    step = _Step(case, now, message.by, getattr(message, "request_id", None))
    RULES[type(message)].act(step, message)
    step.add_evidence(getattr(message, "evidence", []), message.kind)
    return step.done()


def refuse(case: Case, kind: str, by: Actor | None, refusal: Refusal, now: datetime, request_id: str | None = None) -> Transition:
    """A refused signal, or one the case could not read (`by` None when even its sender could not be
    read): it changes nothing but the timeline, and its sender is told why; its request id is on the
    entry, for the record (is_repeat never matches a refusal). Only a party of this case is heard, and
    only for MAX_REFUSALS_WRITTEN refusals; any other refusal is only counted (`refusals_not_written`),
    so that no sender can flood a case's timeline, history or store."""
    written = sum(entry.refused for entry in case.timeline)
    if by is None or not is_party_of(case, by) or written >= MAX_REFUSALS_WRITTEN:
        return Transition(case.model_copy(update={"refusals_not_written": case.refusals_not_written + 1}), heard=False)
    step = _Step(case, now, by, request_id)
    step.log(kind, str(refusal), refused=True)
    if by.party in (P.BUYER, P.SELLER, P.SUPPORT):
        step.notify(by.party, by.id, "refused", f"Your {kind} was refused: {refusal}")
    return step.done()


def is_party_of(case: Case, by: Actor) -> bool:
    """Whether `by` is one of this case's parties: its buyer or seller by id, support, a carrier or the
    payment provider (the clock is the case's own)."""
    expected = case.party_id(by.party)
    return by.party is not P.CLOCK and (expected is None or by.id == expected)


def _private_copy(case: Case) -> Case:
    """A copy a transition may change without touching `case`. Only what transitions mutate is copied
    (offers, refunds, the return leg, the deadline and the lists they append to); the policy, the
    order, timeline entries, ledger lines and rulings are never changed once written, so they are
    shared. The property test checks that a refused message leaves the original equal to a deep copy."""
    deadline = case.deadline
    return case.model_copy(
        update={
            "offers": [offer.model_copy() for offer in case.offers],
            "refunds": [refund.model_copy() for refund in case.refunds],
            "return_leg": case.return_leg.model_copy() if case.return_leg else None,
            "deadline": deadline.model_copy(update={"reminders": list(deadline.reminders)}) if deadline else None,
            "rulings": list(case.rulings),
            "ledger": list(case.ledger),
            "timeline": list(case.timeline),
            "evidence": list(case.evidence),
        }
    )


class _Step:
    """One transition under construction: a private copy of the case plus the commands it yields."""

    def __init__(self, case: Case, now: datetime, by: Actor, request_id: str | None = None, opening: bool = False):
        self.case = _private_copy(case)
        self.now = now
        self.by = by
        self.request_id = request_id  # goes on the first entry only: one command, one mark
        self.commands: list[Command] = []
        self.was: Status | None = None if opening else case.status
        self.happened: set[CaseEvent] = set()

    def emit(self, event: CaseEvent) -> None:
        self.happened.add(event)

    def done(self) -> Transition:
        """The transition, with its events: those its handler emitted and those of the status it moved to."""
        self.case.version += 1
        if self.case.status is not self.was:
            if self.case.status is S.AWAITING_SUPPORT:
                self.emit(CaseEvent.ESCALATED)
            if self.case.status is S.CLOSED:
                self.emit(CaseEvent.CLOSED)
            if self.case.awaiting is not None:
                self.emit(CaseEvent.WAITING_ON_PARTY)
        return Transition(self.case, self.commands, events=in_order(self.happened))

    def log(self, kind: str, summary: str, refused: bool = False, private: bool = False) -> None:
        seq = len(self.case.timeline) + 1
        self.case.timeline.append(
            TimelineEntry(
                seq=seq, at=self.now, actor=self.by, kind=kind, summary=summary, refused=refused, request_id=self.request_id, private=private
            )
        )
        self.request_id = None

    def add_evidence(self, attachments: list[Attachment], with_message: str) -> None:
        """Files the sender gave with its message: their references go on the case, its timeline and its webhooks say so."""
        if not attachments:
            return
        self.case.evidence += recorded(attachments, self.by, self.now, with_message)
        kinds = ", ".join(a.kind.value for a in attachments)
        self.log("evidence", f"{len(attachments)} file(s) with {with_message}: {kinds}")
        self.emit(CaseEvent.EVIDENCE_ADDED)

    def notify(self, to: Party, recipient_id: str, event: str, text: str) -> None:
        self.case.notices_sent += 1
        self.commands.append(Notify(number=self.case.notices_sent, to=to, recipient_id=recipient_id, event=event, text=text))

    def tell(self, parties: tuple[Party, ...], event: str, text: str) -> None:
        for party in parties:
            self.notify(party, self.case.party_id(party) or "support", event, text)

    def move(self, status: Status, since: datetime | None = None) -> None:
        """Enters `status`, its window counted from `since` (now unless the rule says otherwise)."""
        if status is not self.case.status or self.case.waiting_since is None:
            self.case.waiting_since = self.now
        self.case.status = status
        self.case.deadline = None
        if status is not S.CLOSED:
            policy = self.case.policy
            due = policy.due(status, since or self.now, self.case.protected_until)
            self.case.deadline = Deadline(status=status, due_at=due, reminders=policy.reminders(status, self.now, due))

    def arm_seller_flag(self) -> None:
        """Policies that flag sellers with unresolved cases: from now, the case may stay unresolved this long."""
        hours = self.case.policy.flag_seller_after_hours
        self.case.flag_seller_at = None if hours is None else self.now + self.case.policy.hours(hours)

    def close(self, outcome: Outcome, tell: tuple[Party, ...] = (P.BUYER, P.SELLER)) -> None:
        self.case.flag_seller_at = None
        self.move(S.CLOSED)
        self.case.outcome = outcome
        self.case.closed_at = self.now
        hours = self.case.policy.reopen_within_hours
        self.case.reopenable_until = self.now + self.case.policy.hours(hours) if hours is not None else None
        self.tell(tell, "case_closed", f"The case is closed: {outcome.value}.")
        if self.case.seller_flagged:  # seed 001: privileges are not restored automatically
            self.log("seller_flag_kept", "the case is resolved; the seller stays flagged until support reinstates it")
            self.tell((P.SELLER,), "reinstatement", REINSTATEMENT)

    def escalate(self, why: str, told: str | None = None) -> None:
        """Hands the case to support with `why` on its ticket; the parties are told `told` if given."""
        self.case.escalated_at = self.now
        self.commands.append(OpenSupportTicket(reason=why, evidence=list(self.case.evidence)))
        self.move(S.AWAITING_SUPPORT)
        self.tell((P.SUPPORT,), "escalated", f"Support is looking at the case: {why}.")
        self.tell((P.BUYER, P.SELLER), "escalated", f"Support is looking at the case: {told or why}.")

    def refund(self, amount: Money, seller_charge: Money | None, label_fee: Money | None = None) -> None:
        """Refunds the buyer; the seller is charged `seller_charge` plus `label_fee`, or the platform pays
        when `seller_charge` is None."""
        number = len(self.case.refunds) + 1
        if seller_charge is not None and label_fee is not None:
            seller_charge = seller_charge + label_fee
        line = self.ledger(LedgerKind.SELLER_CHARGE if seller_charge else LedgerKind.PLATFORM_REFUND, seller_charge or amount, number)
        self.case.refunds.append(
            Refund(
                number=number,
                amount=amount,
                charge_number=line.number if seller_charge else None,
                includes_label_fee=seller_charge is not None and label_fee is not None,
            )
        )
        self.commands.append(IssueRefund(number=number, amount=amount))
        self.move(S.REFUND_PENDING)
        self.tell((P.BUYER,), "refund_issued", f"A refund of {amount} is on its way (3-5 business days).")
        if seller_charge:
            self.tell((P.SELLER,), "seller_charged", f"{seller_charge} is charged to your account for this case.")

    def ledger(self, kind: LedgerKind, amount: Money, refund_number: int | None = None) -> LedgerLine:
        line = LedgerLine(number=len(self.case.ledger) + 1, kind=kind, amount=amount, refund_number=refund_number)
        self.case.ledger.append(line)
        self.commands.append(PostLedgerEntry(number=line.number, entry=kind, amount=amount, refund_number=refund_number))
        return line

    def approve_return(self) -> None:
        fee = self.case.policy.label_fee(self.case.currency)
        self.case.return_leg = ReturnLeg(approved_at=self.now, label_fee=fee)
        self.move(S.AWAITING_RETURN_SHIPMENT)
        due = self.case.deadline.due_at if self.case.deadline else self.now
        what = "the items" if self.case.order.is_whole(self.case.lines) else items_named(self.case)
        self.tell((P.BUYER,), "return_approved", f"Please ship {what} back by {due:%Y-%m-%d %H:%M} UTC.")

    def refund_after_return(self) -> None:
        """Full refund once returned goods are confirmed; the seller also pays the return label."""
        self.refund(self.case.refundable, self.case.refundable, self.label_fee_due())

    def label_fee_due(self) -> Money | None:
        """The return label, once the return was delivered, charged once per case (again only if the
        refund that carried it failed and its charge was reversed)."""
        leg = self.case.return_leg
        if leg is None or leg.delivered_at is None:
            return None
        if any(r.includes_label_fee and r.status != "failed" for r in self.case.refunds):
            return None
        return leg.label_fee

    def finish_refunds(self) -> None:
        """Once no refund is outstanding: open the appeal window if the seller was charged by support, else close."""
        if any(r.status == "requested" for r in self.case.refunds):
            return
        last = self.case.rulings[-1] if self.case.rulings else None
        appealable = self.case.policy.seller_may_appeal and not self.case.appealed
        if last and last.decision == "refund_charged_to_seller" and appealable:
            self.move(S.APPEAL_OPEN)
            self.tell((P.SELLER,), "appeal_open", "Support charged you for this case; you may appeal.")
        else:
            self.close(self.refund_outcome())

    def refund_outcome(self) -> Outcome:
        if self.case.kind is CaseKind.CANCELLATION:
            return Outcome.ORDER_CANCELLED
        full = self.case.refunded.amount >= self.case.covered.amount
        return Outcome.REFUNDED_FULL if full else Outcome.REFUNDED_PARTIAL


# -------------------------------------------------------------------------------- one handler a kind


_SELLER_REFUNDS = (Resolution.FULL_REFUND, Resolution.PARTIAL_REFUND, Resolution.REFUND_AFTER_RETURN)


def _seller_response(step: _Step, msg: SellerResponse) -> None:
    case = step.case
    refunds_itself = case.policy.refunds_by == "seller" and msg.resolution in _SELLER_REFUNDS
    case.offers.append(
        Offer(
            at=step.now,
            resolution=msg.resolution,
            amount=msg.amount or (case.refundable if refunds_itself else None),  # the seed: defaults to the order's value
            tracking_number=msg.tracking_number,
            return_original=msg.return_original,
            note=msg.note,
        )
    )
    step.log("seller_response", f"seller chose {msg.resolution.value}" + (f" of {msg.amount}" if msg.amount else ""))
    step.emit(CaseEvent.OFFER_MADE)
    if refunds_itself:
        step.move(S.AWAITING_REFUND_CONFIRMATION)
        amount = case.offers[-1].amount
        days = case.policy.windows[S.AWAITING_REFUND_CONFIRMATION].hours // 24
        step.tell((P.BUYER,), "seller_refunds", f"The seller says it refunds {amount}: tell us within {days} days whether it arrived.")
        return
    if msg.resolution is Resolution.DECLINE and case.reason in case.policy.decline_to_support_for:
        step.escalate(f"the seller refuses a {case.reason.value} claim")
        return
    match msg.resolution:
        case Resolution.FULL_REFUND:
            step.refund(case.refundable, case.refundable)
        case Resolution.REFUND_AFTER_RETURN:
            step.approve_return()
        case Resolution.PARTIAL_REFUND:
            step.move(S.AWAITING_OFFER_ANSWER)
            step.tell((P.BUYER,), "offer_made", f"The seller offers a partial refund of {msg.amount}.")
        case Resolution.REPLACEMENT:
            _replacement(step, msg)
        case Resolution.CONTACT_BUYER:
            step.move(S.IN_PROGRESS)
            step.tell((P.BUYER,), "seller_in_touch", "The seller will work it out with you: mark the issue resolved once satisfied.")
        case Resolution.PROOF_OF_DELIVERY:
            step.close(Outcome.DELIVERED)
        case Resolution.DECLINE if case.kind is CaseKind.CANCELLATION:
            step.close(Outcome.CANCELLATION_REFUSED)
        case Resolution.DECLINE:
            step.move(S.DECLINED)
            step.tell((P.BUYER,), "declined", "The seller declined; you may escalate to support.")


def _replacement(step: _Step, msg: SellerResponse) -> None:
    """A replacement ships; asked back, the original returns on a prepaid label charged to the seller
    now. The case does not wait for that return: the replacement is what resolves it."""
    case = step.case
    if msg.return_original:
        fee = case.policy.label_fee(case.currency)
        if fee.amount > 0:
            step.ledger(LedgerKind.SELLER_CHARGE, fee)
            step.tell((P.SELLER,), "seller_charged", f"{fee} for the return label is charged to your account.")
        step.tell((P.BUYER,), "return_instructions", "Please send the original item back with the prepaid return label.")
    if case.policy.buyer_confirms_resolution:
        step.move(S.IN_PROGRESS)
        step.tell((P.BUYER,), "replacement_sent", "A replacement is on its way: mark the issue resolved once satisfied.")
    else:
        step.close(Outcome.REPLACED)


def _buyer_answer(step: _Step, msg: BuyerAnswer) -> None:
    offer = step.case.offers[-1]
    offer.answer = "accepted" if msg.accept else "declined"
    step.log("buyer_answer", f"buyer {offer.answer} the offer of {offer.amount}")
    if msg.accept:
        assert offer.amount is not None
        step.refund(offer.amount, offer.amount)
    else:
        step.approve_return()


# What each answer about a seller's own refund means: the timeline's words, and the review it asks for.
_REFUND_ANSWERS = {
    "received": ("buyer confirms the seller's refund arrived", None),
    "not_received": ("buyer says the seller's refund did not arrive", "the buyer says the seller's refund did not arrive"),
    "partial_not_accepted": ("buyer does not accept the partial refund", "the buyer does not accept the partial refund"),
}


def _refund_confirmation(step: _Step, msg: RefundConfirmation) -> None:
    """Where the seller refunds directly, the buyer says whether the money arrived (and, for a partial
    refund, whether it is accepted); anything but "received" goes to review."""
    offer = step.case.offers[-1]
    offer.answer = msg.answer
    said, review = _REFUND_ANSWERS[msg.answer]
    step.log("refund_confirmation", f"{said} ({offer.amount})")
    if review is None:
        step.close(Outcome.REFUNDED_BY_SELLER)
    else:
        step.escalate(review)


def _protection_feedback(step: _Step, msg: ProtectionFeedback) -> None:
    step.log("protection_feedback", f"buyer's feedback: {msg.option}")
    case = step.case
    if msg.option == "cancel_protection":
        step.close(Outcome.PROTECTION_CANCELLED, tell=(P.BUYER,))
    elif msg.option == "other_request":
        case.reason = Reason.OTHER
        step.escalate("the buyer has another request")
    else:
        case.reason = Reason(msg.option)
        extension = case.policy.protection_extension_hours
        if extension is not None and case.protected_until is not None:
            case.protected_until += case.policy.hours(extension)
            step.log("protection_extended", f"protection extended by {extension} h, to {case.protected_until:%Y-%m-%d %H:%M} UTC")
            step.tell((P.BUYER,), "protection_extended", f"Your protection now runs until {case.protected_until:%Y-%m-%d}.")
        step.move(S.AWAITING_SELLER_RESPONSE)
        step.tell((P.SELLER, P.BUYER), "claim_opened", f"A protection claim ({msg.option}) was opened.")


def _return_shipped(step: _Step, msg: ReturnShipped) -> None:
    leg = step.case.return_leg
    assert leg is not None
    leg.tracking_number, leg.shipped_at = msg.tracking_number, step.now
    step.log("return_shipped", "return shipped")
    step.emit(CaseEvent.RETURN_SHIPPED)
    step.move(S.RETURN_IN_TRANSIT)
    step.tell((P.SELLER,), "return_shipped", "The buyer shipped the return.")


def _return_delivered(step: _Step, msg: ReturnDelivered) -> None:
    leg = step.case.return_leg
    assert leg is not None
    leg.shipped_at = leg.shipped_at or step.now
    leg.delivered_at = step.now
    step.log("return_delivered", "return delivered to the seller")
    step.emit(CaseEvent.RETURN_DELIVERED)
    step.move(S.AWAITING_RETURN_INSPECTION)
    hours = step.case.policy.windows[S.AWAITING_RETURN_INSPECTION].hours
    step.tell((P.SELLER,), "return_delivered", f"The return arrived: confirm or dispute it within {hours} h.")
    step.tell((P.BUYER,), "return_received", "The seller received your return.")


def _return_inspection(step: _Step, msg: ReturnInspection) -> None:
    if msg.confirm:
        step.log("return_inspection", "return confirmed" if msg.by.party is P.SELLER else "return confirmed automatically")
        step.refund_after_return()
    else:
        step.log("return_inspection", "seller disputes the returned items")
        step.case.return_disputed = True
        step.escalate("the seller disputes the returned items; the charge is on hold")


def _resolution_confirmed(step: _Step, msg: ResolutionConfirmed) -> None:
    step.log("resolution_confirmed", "the buyer marked the issue resolved")
    step.close(Outcome.RESOLVED)


def _escalation(step: _Step, msg: Escalation) -> None:
    step.log("escalation", f"escalated by the {msg.by.party.value}")
    step.escalate(f"escalated by the {msg.by.party.value}")


def _withdrawal(step: _Step, msg: Withdrawal) -> None:
    step.log("withdrawal", "buyer withdrew the request")
    step.close(Outcome.WITHDRAWN)


def _support_decision(step: _Step, msg: SupportDecision) -> None:
    case = step.case
    case.rulings.append(SupportRuling(at=step.now, decision=msg.decision, amount=msg.amount, note=msg.note, on_appeal=case.appealed))
    asked = f" ({msg.amount})" if msg.amount else ""
    step.log("support_decision", f"support decided {msg.decision}{asked}, on the evidence given: {summary(case.evidence)}")
    step.emit(CaseEvent.DECIDED)
    match msg.decision:
        case "refund_charged_to_seller" | "refund_at_platform_cost":
            amount = msg.amount or case.refundable
            if msg.decision == "refund_charged_to_seller":
                step.refund(amount, amount, step.label_fee_due())
            else:
                step.refund(amount, None)
        case "deny":
            step.close(Outcome.DENIED)
        case "uphold":
            step.close(step.refund_outcome())
        case "overturn":
            charged = case.charged_to_seller
            if charged.amount > 0:
                step.ledger(LedgerKind.CHARGE_REVERSAL, charged)
                step.ledger(LedgerKind.PLATFORM_REFUND, charged)
            step.close(step.refund_outcome())


def _appeal(step: _Step, msg: Appeal) -> None:
    step.case.appealed = True
    step.log("appeal", "seller appealed the support decision")
    step.escalate("the seller appeals the support decision")


def _reopening(step: _Step, msg: Reopening) -> None:
    """Support takes a closed case up again; what was refunded stays refunded, and support decides anew."""
    case = step.case
    step.log("reopening", f"support reopened the case (closed {case.outcome.value if case.outcome else ''})")
    case.outcome, case.closed_at, case.reopenable_until, case.appealed = None, None, None, False
    case.reopened += 1
    step.arm_seller_flag()
    step.escalate("support reopened the case")


def _seller_flag_due(step: _Step, msg: SellerFlagDue) -> None:
    case = step.case
    case.flag_seller_at, case.seller_flagged_at = None, step.now
    hours = case.policy.flag_seller_after_hours
    step.log("seller_flagged", f"unresolved for {hours} h: the seller is flagged until support reinstates it")
    step.tell(
        (P.SELLER,),
        "seller_flagged",
        "A case unresolved for too long flags your account: it may be restricted. Resolve the case, then contact support to request reinstatement.",
    )


def _party_message(step: _Step, msg: PartyMessage) -> None:
    step.log("message", msg.text)
    others = tuple(p for p in (P.BUYER, P.SELLER, P.SUPPORT) if p is not msg.by.party)
    step.tell(others, "message", f"New message from the {msg.by.party.value}.")


def _refund_settled(step: _Step, msg: RefundSettled) -> None:
    refund = next(r for r in step.case.refunds if r.number == msg.refund_number)
    refund.status, refund.gateway_ref = "settled", msg.gateway_ref
    step.log("refund_settled", f"refund {refund.number} of {refund.amount} settled")
    step.emit(CaseEvent.REFUNDED)
    if step.case.status is S.REFUND_PENDING:
        step.finish_refunds()


def _refund_failed(step: _Step, msg: RefundFailed) -> None:
    refund = next(r for r in step.case.refunds if r.number == msg.refund_number)
    refund.status, refund.failure = "failed", msg.failure
    if msg.other_cases_refunded is not None:
        step.case.other_cases_refunded = msg.other_cases_refunded.amount
    step.log("refund_failed", f"refund {refund.number} of {refund.amount} failed: {msg.failure}")
    charge = next((line for line in step.case.ledger if line.number == refund.charge_number), None)
    if charge:
        step.ledger(LedgerKind.CHARGE_REVERSAL, charge.amount, refund.number)
    step.escalate(f"refund {refund.number} failed: {msg.failure}")


def _deadline_passed(step: _Step, msg: DeadlinePassed) -> None:
    case = step.case
    window = case.policy.windows[case.status]
    step.log("deadline_passed", f"{case.status.value} window of {window.hours} h passed: {window.on_timeout.value}")
    match window.on_timeout:
        case TimeoutAction.ESCALATE:
            step.escalate(f"nobody acted within the {case.status.value} window of {window.hours} h")
        case TimeoutAction.CLOSE:
            step.close(_CLOSE_OUTCOMES.get(case.status) or step.refund_outcome())
        case TimeoutAction.ACCEPT:
            _ACCEPTS[case.status](step)
        case TimeoutAction.REFUND:
            step.log("long_stop", "unresolved for the whole window: counts as late delivery, refunded in full")
            step.refund(case.refundable, case.refundable)
        case TimeoutAction.REMIND:
            reminded = (case.deadline.reminded if case.deadline else 0) + 1
            step.move(case.status)
            assert case.deadline is not None
            case.deadline.reminded = reminded
            awaiting = case.awaiting or P.SUPPORT
            step.tell((awaiting,), "overdue", f"This case is overdue ({case.status.value}, {reminded} reminder(s)).")


def _reminder_due(step: _Step, msg: ReminderDue) -> None:
    case = step.case
    assert case.deadline is not None
    case.deadline.reminders.remove(msg.at)
    left = case.deadline.due_at - msg.at
    awaiting = case.awaiting or P.SUPPORT
    step.log("reminder_due", f"reminded the {awaiting.value}: {case.status.value} ends in {_hours(left)}")
    if case.status is S.PROTECTED:
        text = f"How was your order? Tell us by {case.deadline.due_at:%Y-%m-%d} if anything went wrong."
        step.tell((awaiting,), "feedback_request", text)
    else:
        step.tell((awaiting,), "reminder", f"Reminder: please act by {case.deadline.due_at:%Y-%m-%d %H:%M} UTC ({case.status.value}).")


def _escalation_opens(step: _Step, msg: EscalationOpens) -> None:
    step.case.buyer_may_escalate = True
    hours = step.case.policy.buyer_may_escalate_after_hours
    step.log("escalation_opens", f"the case is {hours} h old: the buyer may escalate")
    step.tell((P.BUYER,), "may_escalate", "The seller has not resolved your case yet: you may now ask support to step in.")


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:.0f} h"


def next_alarm(case: Case) -> tuple[datetime, CaseMessage] | None:
    """What the clock must deliver next, and when: the earliest of the buyer's escalation opening, the
    seller's flag, a reminder, and the deadline itself; nothing for a closed case."""
    if case.is_closed or case.deadline is None:
        return None
    deadline = case.deadline
    alarms: list[tuple[datetime, CaseMessage]] = [(deadline.due_at, DeadlinePassed(by=CLOCK, status=deadline.status, due_at=deadline.due_at))]
    alarms += [(at, ReminderDue(by=CLOCK, at=at)) for at in deadline.reminders]
    opens = escalation_opens_at(case)
    if opens is not None and case.status is S.AWAITING_SELLER_RESPONSE and not case.buyer_may_escalate:
        alarms.append((opens, EscalationOpens(by=CLOCK, at=opens)))
    if case.flag_seller_at is not None:
        alarms.append((case.flag_seller_at, SellerFlagDue(by=CLOCK, at=case.flag_seller_at)))
    return min(alarms, key=lambda alarm: alarm[0])


# What a `close` timeout means in each status; a status not listed closes with its refund outcome.
_CLOSE_OUTCOMES = {
    S.AWAITING_CANCELLATION_ANSWER: Outcome.CANCELLATION_EXPIRED,
    S.AWAITING_OFFER_ANSWER: Outcome.ABANDONED,
    S.AWAITING_RETURN_SHIPMENT: Outcome.RETURN_NOT_SHIPPED,
    S.DECLINED: Outcome.DECLINED,
    S.IN_PROGRESS: Outcome.RESOLVED,  # the buyer said nothing for the whole window: taken as satisfied
    S.PROTECTED: Outcome.PROTECTION_ENDED,
    S.AWAITING_REFUND_CONFIRMATION: Outcome.REFUNDED_BY_SELLER,  # silence: the refund arrived
}

# What an `accept` timeout means: the awaited party's "yes", made by the clock.
_ACCEPTS = {
    S.AWAITING_RETURN_INSPECTION: lambda step: _return_inspection(step, ReturnInspection(by=CLOCK, confirm=True)),
    S.AWAITING_OFFER_ANSWER: lambda step: _buyer_answer(step, BuyerAnswer(by=CLOCK, accept=True)),
    S.AWAITING_CANCELLATION_ANSWER: lambda step: _seller_response(step, SellerResponse(by=CLOCK, resolution=Resolution.FULL_REFUND)),
}

# --------------------------------------------------------------------------------- one rule a kind


@dataclass(frozen=True)
class MessageRule:
    """One kind of message, declared once: who may send it in which status (`check` enforces it and
    the case view lists it), what else it must satisfy (`extra`, raising Refusal), and what it does."""

    who_may: dict[Status, set[Party]]
    act: Callable[[_Step, Any], None]
    extra: Callable[[Case, Any, datetime], Any] | None = None


def _in_every_open_status(*parties: Party) -> dict[Status, set[Party]]:
    return {status: set(parties) for status in OPEN_STATUSES}


RULES: dict[type[BaseModel], MessageRule] = {
    SellerResponse: MessageRule(
        {S.AWAITING_SELLER_RESPONSE: {P.SELLER}, S.AWAITING_CANCELLATION_ANSWER: {P.SELLER}}, _seller_response, _check_seller_response
    ),
    BuyerAnswer: MessageRule({S.AWAITING_OFFER_ANSWER: {P.BUYER}}, _buyer_answer),
    RefundConfirmation: MessageRule({S.AWAITING_REFUND_CONFIRMATION: {P.BUYER}}, _refund_confirmation, _check_refund_confirmation),
    ProtectionFeedback: MessageRule({S.PROTECTED: {P.BUYER}}, _protection_feedback),
    ReturnInspection: MessageRule({S.AWAITING_RETURN_INSPECTION: {P.SELLER}}, _return_inspection),
    ResolutionConfirmed: MessageRule({S.IN_PROGRESS: {P.BUYER}}, _resolution_confirmed),
    Escalation: MessageRule(
        {
            S.DECLINED: {P.BUYER, P.SUPPORT},
            S.AWAITING_SELLER_RESPONSE: {P.SUPPORT, P.BUYER},  # the buyer only once the case is old enough
            S.AWAITING_OFFER_ANSWER: {P.SUPPORT},
            S.AWAITING_RETURN_SHIPMENT: {P.SUPPORT},
            S.AWAITING_RETURN_INSPECTION: {P.SUPPORT},
            S.IN_PROGRESS: {P.BUYER, P.SUPPORT},
        },
        _escalation,
        _check_escalation,
    ),
    Withdrawal: MessageRule(
        {
            s: {P.BUYER}
            for s in (
                S.AWAITING_SELLER_RESPONSE,
                S.AWAITING_CANCELLATION_ANSWER,
                S.AWAITING_OFFER_ANSWER,
                S.AWAITING_RETURN_SHIPMENT,
                S.DECLINED,
                S.AWAITING_SUPPORT,
                S.IN_PROGRESS,
            )
        },
        _withdrawal,
    ),
    SupportDecision: MessageRule({S.AWAITING_SUPPORT: {P.SUPPORT}}, _support_decision, _check_support_decision),
    Appeal: MessageRule({S.APPEAL_OPEN: {P.SELLER}}, _appeal),
    PartyMessage: MessageRule(_in_every_open_status(P.BUYER, P.SELLER, P.SUPPORT), _party_message, _check_party_message),
    ReturnShipped: MessageRule({S.AWAITING_RETURN_SHIPMENT: {P.CARRIER}}, _return_shipped),
    ReturnDelivered: MessageRule({S.AWAITING_RETURN_SHIPMENT: {P.CARRIER}, S.RETURN_IN_TRANSIT: {P.CARRIER}}, _return_delivered),
    # Payment facts are true whatever the case is doing, so any open status takes them.
    RefundSettled: MessageRule(_in_every_open_status(P.PAYMENT), _refund_settled, _check_refund_fact),
    RefundFailed: MessageRule(_in_every_open_status(P.PAYMENT), _refund_failed, _check_refund_failed),
    DeadlinePassed: MessageRule(_in_every_open_status(P.CLOCK), _deadline_passed, _check_deadline),
    ReminderDue: MessageRule(_in_every_open_status(P.CLOCK), _reminder_due, _check_reminder),
    SellerFlagDue: MessageRule(_in_every_open_status(P.CLOCK), _seller_flag_due, _check_seller_flag_due),
    EscalationOpens: MessageRule({S.AWAITING_SELLER_RESPONSE: {P.CLOCK}}, _escalation_opens, _check_escalation_opens),
    # A closed case takes only this, and only where its policy lets support reopen it.
    Reopening: MessageRule({S.CLOSED: {P.SUPPORT}}, _reopening, _check_reopening),
}

# The same, by kind: who may send which message in which status.
WHO_MAY: dict[str, dict[Status, set[Party]]] = {kind_of(model): rule.who_may for model, rule in RULES.items()}


def senders_of(model: type[BaseModel]) -> set[Party]:
    """The parties who may ever send this kind of message, in some status."""
    return set().union(*RULES[model].who_may.values())


def sender_party(model: type[BaseModel], named: Party | None) -> Party:
    """The party a message of this kind comes from: the one named, or the only one who may send it.
    Refusal("party", …) when several may and none is named."""
    parties = senders_of(model)
    if named is None and len(parties) > 1:
        raise Refusal("party", f"{kind_of(model)} is sent by {' or '.join(sorted(p.value for p in parties))}: say which")
    return named or next(iter(parties))


# Every kind a party or a carrier sends, by kind: what the CLI's `send` and scenario files take.
SENDABLE: dict[str, type[Sent]] = {kind_of(model): model for model in RULES if issubclass(model, Sent)}
