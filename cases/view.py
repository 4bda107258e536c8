"""The case as people read it: what it waits for, from whom, until when, and what each party may do."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from cases.case import Case
from cases.engine import allowed_actions
from cases.evidence import Evidence, summary
from cases.messages import OpenCase
from cases.model import CaseKind, CaseLine, Offer, Outcome, Party, Reason, Refund, Status, TimelineEntry
from cases.money import Money


class CaseView(BaseModel):
    case_id: str
    kind: CaseKind
    reason: Reason
    status: Status
    outcome: Outcome | None
    label: str
    awaiting: Party | None
    due_at: datetime | None
    waiting_for: str
    may: dict[Party, list[str]]
    policy: str
    policy_version: str
    order_id: str
    seller_id: str
    buyer_id: str
    routed_to: Party
    routing_note: str
    lines: list[CaseLine] = Field(default=[], description="The order lines and units the case concerns; every unit of the order when empty.")
    total_paid: Money = Field(description="What the whole order cost the buyer.")
    covered: Money = Field(description="The most this case may refund: its units' price, and shipping only with every unit of the order.")
    refunded: Money
    refundable: Money
    charged_to_seller: Money
    offers: list[Offer]
    refunds: list[Refund] = []
    evidence: list[Evidence] = Field(
        default=[], description="Files both sides gave, by reference; download them from /v1/cases/{case_id}/evidence/{digest}."
    )
    timeline: list[TimelineEntry]
    opened_at: datetime
    closed_at: datetime | None
    protected_until: datetime | None = None
    reopenable_until: datetime | None = None
    reopened: int = 0
    seller_flagged: bool = Field(default=False, description="This case flagged its seller; support lifts the flag by reinstating the seller.")
    seller_flagged_at: datetime | None = None
    refusals_not_written: int = Field(default=0, description="Refused or unreadable signals counted, not written (engine.refuse).")
    version: int

    def party_id(self, party: Party) -> str | None:
        """The case's own buyer or seller id; None for a party no id binds (support, a carrier…)."""
        return {Party.BUYER: self.buyer_id, Party.SELLER: self.seller_id}.get(party)


_WAITS = {
    Status.AWAITING_SELLER_RESPONSE: "the seller's response",
    Status.AWAITING_CANCELLATION_ANSWER: "the seller's answer to the cancellation",
    Status.AWAITING_OFFER_ANSWER: "the buyer's answer to the partial offer",
    Status.AWAITING_RETURN_SHIPMENT: "the buyer to ship the return",
    Status.RETURN_IN_TRANSIT: "the carrier to deliver the return",
    Status.AWAITING_RETURN_INSPECTION: "the seller to confirm or dispute the returned items",
    Status.DECLINED: "the buyer to escalate or accept the decline",
    Status.AWAITING_SUPPORT: "a support decision",
    Status.APPEAL_OPEN: "the seller to appeal or accept the support decision",
    Status.REFUND_PENDING: "the payment provider to settle the refund",
    Status.IN_PROGRESS: "the buyer to mark the issue resolved",
    Status.PROTECTED: "the buyer's feedback while the order is protected",
    Status.AWAITING_REFUND_CONFIRMATION: "the buyer to confirm the seller's refund arrived",
}


def waiting_for(case: Case) -> str:
    """One line for operators: what the case waits for, from whom, until when, with the options open."""
    if case.is_closed:
        line = f"Closed: {case.outcome.value if case.outcome else 'closed'}."
        if case.reopenable_until is not None:
            line += f" Support may reopen it until {case.reopenable_until:%Y-%m-%d %H:%M} UTC."
        elif case.policy.support_may_reopen:
            line += " Support may reopen it."
        return line
    line = f"Waiting for {_WAITS[case.status]}"
    if case.deadline:
        window = case.policy.windows[case.status]
        line += f" until {case.deadline.due_at:%Y-%m-%d %H:%M} UTC (then {window.on_timeout.value})"
    options = [f"{party.value}: {', '.join(kinds)}" for party, kinds in allowed_actions(case).items() if party is case.awaiting]
    if options:
        line += f". Options: {'; '.join(options)}"
        if case.awaiting is Party.SELLER and case.status is Status.AWAITING_SELLER_RESPONSE:
            line += f" ({', '.join(sorted(r.value for r in case.policy.resolutions))})"
    return line + "."


def view(case: Case) -> CaseView:
    return CaseView(
        case_id=case.case_id,
        kind=case.kind,
        reason=case.reason,
        status=case.status,
        outcome=case.outcome,
        label=case.policy.label(case.status, case.outcome.value if case.outcome else None),
        awaiting=case.awaiting,
        due_at=case.deadline.due_at if case.deadline else None,
        waiting_for=waiting_for(case),
        may=allowed_actions(case),
        policy=case.policy.name,
        policy_version=case.policy.version,
        order_id=case.order.order_id,
        seller_id=case.order.seller_id,
        buyer_id=case.order.buyer_id,
        routed_to=case.routed_to,
        routing_note=case.routing_note,
        lines=case.lines,
        total_paid=case.order.total_paid,
        covered=case.covered,
        refunded=case.refunded,
        refundable=case.refundable,
        charged_to_seller=case.charged_to_seller,
        offers=case.offers,
        refunds=case.refunds,
        evidence=case.evidence,
        timeline=case.timeline,
        opened_at=case.opened_at,
        closed_at=case.closed_at,
        protected_until=case.protected_until,
        reopenable_until=case.reopenable_until,
        reopened=case.reopened,
        seller_flagged=case.seller_flagged,
        seller_flagged_at=case.seller_flagged_at,
        refusals_not_written=case.refusals_not_written,
        version=case.version,
    )


def seen_by(shown: CaseView, reads_every_case: bool) -> CaseView:
    """The view a reader gets: support reads all of it; a seller's portal and a buyer's app get the
    timeline without the entries for support only (why the platform reviews a request)."""
    if reads_every_case:
        return shown
    return shown.model_copy(update={"timeline": [entry for entry in shown.timeline if not entry.private]})


def static_summary(request: OpenCase) -> str:
    """The UI's one-line title of a case; opaque ids only, under 200 bytes."""
    order = request.order
    return f"{request.kind.value} {request.reason.value}: {order.total_paid} on order {order.order_id}"[:200]


def static_details(request: OpenCase) -> str:
    order = request.order
    return "\n".join(
        [
            f"**Case** `{request.case_id}` ({request.kind.value}, reason `{request.reason.value}`)",
            f"**Policy** `{request.policy.name}` version `{request.policy.version}`",
            f"**Order** `{order.order_id}`: seller `{order.seller_id}`, buyer `{order.buyer_id}`",
            f"**Paid** {order.total_paid} ({len(order.items)} item(s) + {order.shipping_paid} shipping)",
            f"**Concerns** {', '.join(f'{item.quantity} x `{item.sku}`' for item in order.units(request.lines or []))}",
        ]
    )


def details_markdown(case: Case) -> str:
    """The UI's current details: what the case waits for, then the money so far."""
    return (
        f"**{case.status.value}**: {waiting_for(case)}\n\n"
        f"Refunded {case.refunded} of {case.covered} this case covers; charged to seller {case.charged_to_seller}.\n\n"
        f"Evidence: {summary(case.evidence)}"
        + "".join(f"\n- {e.added_by.party.value} {e.kind.value} `{e.digest[:12]}` {e.media_type}, {e.size} bytes" for e in case.evidence)
    )
