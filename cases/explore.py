"""Exhaustive exploration of a policy: every state a case can reach, checked.

From every kind of opening the policy takes, it applies every representative message each party may
send (all resolutions and verdicts; amounts of 1 minor unit, half and all but 1 of what was paid) and the
clock's next alarm, breadth first. States are compared on what the checks depend on (status, money,
return leg, offers, rulings, deadline; counters capped at 2), never on times or the timeline, so the
search reaches a fixpoint: when no new state appears, every reachable state has been checked, at
whatever depth. `max_depth` only guards against a policy whose state space would not close.

Checked in every state:
- an open case has a deadline, and the clock's alarm is accepted: no case waits forever;
- refunded never exceeds what the items the case concerns allow (worked out here apart from the rules:
  their units at their price, shipping only with every unit of the order; each refund request is also
  opened on part of a two-line order), nor with the order's other cases (as the order budget reports
  them) more than was paid, and the seller's net charge never exceeds it plus one label;
- a closed case arms no seller flag and refuses every message but support's reopening, and that only where
  its policy allows it: years later too unless the policy limits it; elsewhere the case is final and
  refuses everything;
- a flagged seller may be reinstated by support once the case is resolved, and not before;
- the awaited party has at least one action the rules accept.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NoReturn, cast

from cases.case import Case
from cases.engine import RULES, allowed_actions, apply, next_alarm, open_case
from cases.messages import (
    CaseMessage,
    OpenCase,
    Reopening,
    SellerResponse,
    Sent,
)
from cases.model import Actor, CaseKind, CaseLine, ItemCategory, Order, OrderItem, Party, Reason, Resolution, Status
from cases.money import Money
from cases.policy import Policy
from cases.refusal import Refusal
from cases.sellers import check_reinstatement

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
YEARS_LATER = timedelta(days=3 * 365)  # a closed case reopened this much later
SELLER = Actor(party=Party.SELLER, id="seller-x")
BUYER = Actor(party=Party.BUYER, id="buyer-x")
SUPPORT = Actor(party=Party.SUPPORT, id="agent-x")
CARRIER = Actor(party=Party.CARRIER, id="carrier-x")
PAYMENT = Actor(party=Party.PAYMENT, id="psp-x")
ACTORS = {Party.SELLER: SELLER, Party.BUYER: BUYER, Party.SUPPORT: SUPPORT, Party.CARRIER: CARRIER, Party.PAYMENT: PAYMENT}


@dataclass
class Step:
    message: str
    at: datetime


@dataclass
class CounterExample(Exception):
    policy: str
    rule: str
    path: list[str]

    def __str__(self) -> str:
        steps = "\n  ".join(self.path)
        return f"{self.policy}: {self.rule}\n  {steps}"


@dataclass
class Report:
    policy: str
    openings: int = 0
    states: int = 0
    transitions: int = 0
    refusals: int = 0
    depth: int = 0
    statuses: set[Status] = field(default_factory=set)

    def __str__(self) -> str:
        return (
            f"{self.policy}: {self.states} states, {self.transitions} transitions, {self.refusals} refusals checked, "
            f"{self.openings} openings, fixpoint at depth {self.depth}, statuses reached {len(self.statuses)}"
        )


def openings(policy: Policy, items_concerned: bool = True) -> list[OpenCase]:
    """One opening for each way a case can start under this policy, and each refund request also on
    part of a two-line order (ITEMS_CONCERNED: two of three units of its second, general line, beside
    an openable one; no shipping)."""
    requests = []
    for kind in sorted(policy.kinds):
        reasons = {CaseKind.CANCELLATION: [Reason.BUYER_REMORSE], CaseKind.PROTECTION: [Reason.OTHER]}.get(kind, list(Reason))
        for reason in reasons:
            for category in ItemCategory:
                for fraud in (False, True):
                    requests.append(_request(policy, kind, reason, category, fraud))
            if kind is CaseKind.REFUND_REQUEST and items_concerned:  # beside an excluded line: the case's own items decide its route
                requests.append(_request(policy, kind, reason, ItemCategory.OPENABLE, False, lines=ITEMS_CONCERNED))
    return requests


SECOND_LINE = OrderItem(sku="sku-y", unit_price=Money(amount=1500, currency="EUR"), quantity=3)
ITEMS_CONCERNED = [CaseLine(sku="sku-y", quantity=2)]


def allowance(request: OpenCase) -> int:
    """What a case may refund, worked out here apart from the rules: the units it names at their price,
    plus shipping only for every unit of the order."""
    order = request.order
    if request.lines is None:
        return order.total_paid.amount
    prices = {item.sku: item.unit_price.amount for item in order.items}
    return sum(prices[line.sku] * (line.quantity or 0) for line in request.lines)


def _request(policy: Policy, kind: CaseKind, reason: Reason, category: ItemCategory, fraud: bool, lines: list[CaseLine] | None = None) -> OpenCase:
    shipped = kind is CaseKind.REFUND_REQUEST
    order = Order(
        order_id="ord-x",
        seller_id=SELLER.id,
        buyer_id=BUYER.id,
        currency="EUR",
        items=[OrderItem(sku="sku-x", category=category, unit_price=Money(amount=4000, currency="EUR")), *([SECOND_LINE] if lines else [])],
        shipping_paid=Money(amount=500, currency="EUR"),
        purchased_at=T0 - timedelta(hours=2 if not shipped else 72),
        shipped_at=T0 - timedelta(hours=48) if shipped else None,
        estimated_delivery_at=T0 - timedelta(hours=24) if shipped else None,
        delivered_at=T0 - timedelta(hours=24) if shipped else None,
        protection_opted_in=kind is CaseKind.PROTECTION,
    )
    return OpenCase(
        case_id="explore", request_id="explore", kind=kind, reason=reason, order=order, lines=lines, buyer_flagged_for_fraud=fraud, policy=policy
    )


def candidates(case: Case) -> list[CaseMessage]:
    """Representative messages of every kind a party sends, as each message class declares them
    (`samples`), and one from a party that may never send it."""
    sent = [message for model in RULES if issubclass(model, Sent) for message in model.samples(case)]
    wrong_party = SellerResponse(by=BUYER, resolution=Resolution.FULL_REFUND)  # always refused
    return [*cast(list[CaseMessage], sent), wrong_party]


# One move tried from a state: the message, when, and the case after it (None: refused).
Tried = tuple[CaseMessage, datetime, Case | None]


def fingerprint(case: Case) -> tuple[object, ...]:
    """What the rules and the checks read; times, the timeline, ledger history already summed in the net
    charge, and counters beyond 2 are left out."""
    failed = sum(1 for r in case.refunds if r.status == "failed")
    leg = case.return_leg
    deadline = case.deadline
    charges = {line.number: line.amount.amount for line in case.ledger}
    return (
        case.kind,
        (case.covered.amount, case.order.total_paid.amount),
        # After opening, the rules read the reason only for proof of delivery and the decline rule.
        (case.reason is Reason.NOT_RECEIVED, case.reason in case.policy.decline_to_support_for),
        case.status,
        case.outcome,
        # A refund's linked charge is what the rules reverse if it fails; the rest of the ledger is
        # summed up in the net charge.
        tuple((r.amount.amount, r.status, charges.get(r.charge_number or 0), r.includes_label_fee) for r in case.refunds if r.status != "failed"),
        min(failed, 2),
        case.other_cases_refunded,
        case.charged_to_seller.amount,
        (leg.shipped_at is not None, leg.delivered_at is not None) if leg else None,
        case.return_disputed,
        tuple((o.resolution, o.amount.amount if o.amount else None, o.answer) for o in case.offers[-1:]),
        tuple(r.decision for r in case.rulings[-2:]),
        case.appealed,
        case.escalated_at is not None,
        case.buyer_may_escalate,
        case.reopenable_until is not None,
        (case.flag_seller_at is not None, case.seller_flagged),
        (deadline.status, min(deadline.reminded, 2), len(deadline.reminders)) if deadline else None,
    )


def explore(policy: Policy, max_depth: int = 60, items_concerned: bool = True) -> Report:
    """`items_concerned=False` leaves out the openings on part of an order (about two thirds of direct_service's states)."""
    report = Report(policy=policy.name)
    seen: set[tuple[object, ...]] = set()
    queue: deque[tuple[Case, datetime, list[str], int]] = deque()
    for request in openings(policy, items_concerned):
        report.openings += 1
        case = open_case(request, T0).case
        scope = f" lines={[line.model_dump() for line in request.lines]}" if request.lines else ""
        path = [
            f"open {request.kind.value} {request.reason.value} {request.order.items[0].category.value} fraud={request.buyer_flagged_for_fraud}{scope}"
        ]
        key = fingerprint(case)
        if key not in seen:
            seen.add(key)
            queue.append((case, T0, path, allowance(request)))
    while queue:
        case, now, path, allowed = queue.popleft()
        report.depth = max(report.depth, len(path))
        report.statuses.add(case.status)
        if len(path) > max_depth:
            raise CounterExample(policy.name, f"the state space did not close within {max_depth} events", path)
        alarm = next_alarm(case)
        moves = _moves(case, now, alarm)
        results: list[Tried] = []
        for message, at in moves:
            try:
                results.append((message, at, apply(case, message, at).case))
            except Refusal:
                report.refusals += 1
                results.append((message, at, None))
        _check(policy, case, now, path, results, alarm, allowed)
        for message, at, after in results:
            if after is None:
                continue
            report.transitions += 1
            key = fingerprint(after)
            if key not in seen:
                seen.add(key)
                queue.append((after, at, [*path, f"{at - T0} {message.by} {_describe(message)} -> {after.status.value}"], allowed))
    report.states = len(seen)
    return report


def _moves(case: Case, now: datetime, alarm: tuple[datetime, CaseMessage] | None) -> list[tuple[CaseMessage, datetime]]:
    later = now + timedelta(minutes=1)
    moves = [(m, later) for m in candidates(case)]
    if case.is_closed:  # reopening at any later time: a closed case's workflow no longer runs, so years may pass
        moves.append((Reopening(by=SUPPORT), now + YEARS_LATER))
    if alarm:
        moves.append((alarm[1], alarm[0]))
    return moves


def _describe(message: CaseMessage) -> str:
    detail = {k: v for k, v in message.model_dump(mode="json", exclude={"kind", "by"}).items() if v not in (None, [])}
    return f"{message.kind} {detail}" if detail else message.kind


def _check(
    policy: Policy, case: Case, now: datetime, path: list[str], results: list[Tried], alarm: tuple[datetime, CaseMessage] | None, allowed: int
) -> None:
    """The checks on one state, given its clock alarm, what each of its moves did (None: refused) and
    what its items allow it to refund."""

    def fail(rule: str) -> NoReturn:
        raise CounterExample(policy.name, rule, path)

    paid = allowed
    if not 0 <= case.refunded.amount <= paid:
        fail(f"refunded {case.refunded} outside 0..{paid} minor units, what the items it concerns allow")
    if case.refundable.amount < 0:
        fail(f"this case and the order's other cases refunded more than was paid: {case.refundable} left")
    if not 0 <= case.charged_to_seller.amount <= paid + policy.label_fee(case.currency).amount:
        fail(f"seller charged {case.charged_to_seller} beyond what was paid plus one label")
    if case.seller_flagged:
        try:
            check_reinstatement(case.order.seller_id, {case.case_id: case.status})
            reinstatable = True
        except Refusal:
            reinstatable = False
        if reinstatable is not case.is_closed:
            fail(
                "support could reinstate the seller of an unresolved case"
                if reinstatable
                else "support cannot reinstate the seller of a resolved case"
            )
    if case.is_closed:
        if case.deadline is not None:
            fail("a closed case still has a deadline")
        if case.flag_seller_at is not None:
            fail("a closed case still means to flag its seller")
        years_later = [after for m, at, after in results if m.kind == "reopening" and at - now > timedelta(days=365)]
        if policy.support_may_reopen and policy.reopen_within_hours is None and not all(years_later):
            fail("support could not reopen a closed case years later, though the policy sets no limit")
        clock = alarm[1] if alarm else None
        accepted = [m for m, _, after in results if after is not None and m != clock]
        if alarm is not None:
            fail(f"a closed case still arms the clock: {alarm[1].kind}")
        if case.is_final and accepted:
            fail(f"a final case accepted {accepted[0].kind}")
        strays = [m.kind for m in accepted if (m.kind, m.by.party) != ("reopening", Party.SUPPORT)]
        if strays:
            fail(f"a closed case accepted {strays[0]}: only support may reopen it")
        return  # its workflow ends: nothing waits, no alarm is armed
    if alarm is None:
        fail(f"open case in {case.status.value} has no deadline: it could wait forever")
    at, clock = alarm
    if at < now:
        fail(f"deadline {at} is already past at {now}")
    if not any(message == clock and after is not None for message, _, after in results):
        fail(f"the clock's {clock.kind} is refused in {case.status.value}")
    awaiting = case.awaiting
    if awaiting is not None:
        kinds = set(allowed_actions(case).get(awaiting, [])) - {"message"}
        if not any(m.kind in kinds and m.by.party is awaiting and after is not None for m, _, after in results):
            fail(f"the {awaiting.value} is awaited in {case.status.value} but has no action the rules accept")
