"""The state of one case: everything the workflow carries, and nothing it can derive."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from cases.evidence import Evidence
from cases.model import (
    AWAITING,
    SELLER_SIGN,
    CaseKind,
    CaseLine,
    Deadline,
    LedgerLine,
    Offer,
    OpaqueId,
    Order,
    Outcome,
    Party,
    Reason,
    Refund,
    ReturnLeg,
    Status,
    SupportRuling,
    TimelineEntry,
)
from cases.money import Money
from cases.policy import Policy

# The code generation a case opens under, recorded in the case and kept for its whole life (across
# continue-as-new). A rule that must treat cases opened before a change differently reads
# `case.generation`; the generation goes up with such a change (docs/changing-workflow-code.md).
GENERATION = 2


class Case(BaseModel):
    """The whole state of one case; the workflow carries it across continue-as-new."""

    case_id: OpaqueId
    generation: int = Field(ge=1, description="The code generation the case opened under (GENERATION then).")
    request_id: str
    kind: CaseKind
    reason: Reason
    order: Order
    lines: list[CaseLine] = Field(default=[], description="The order lines and units the case concerns; every unit of the order when empty.")
    policy: Policy
    opened_at: datetime
    status: Status
    outcome: Outcome | None = None
    routed_to: Party
    routing_note: str
    deadline: Deadline | None = None
    offers: list[Offer] = []
    return_leg: ReturnLeg | None = None
    escalated_at: datetime | None = None
    buyer_may_escalate: bool = False
    protected_until: datetime | None = None
    waiting_since: datetime | None = None  # when the case entered its current status
    return_disputed: bool = False
    rulings: list[SupportRuling] = []
    appealed: bool = False
    refunds: list[Refund] = []
    ledger: list[LedgerLine] = []
    evidence: list[Evidence] = []
    timeline: list[TimelineEntry] = []
    notices_sent: int = 0
    version: int = 0
    closed_at: datetime | None = None
    reopenable_until: datetime | None = None  # where the policy limits reopening: support may until then
    other_cases_refunded: int = 0  # minor units of the order currency, as the order budget last said
    flag_seller_at: datetime | None = None
    # When this case last flagged its seller. Closing the case leaves the flag: support lifts it, in the
    # case store, when it reinstates the seller (seed 001); only a reopened case can flag again.
    seller_flagged_at: datetime | None = None
    reopened: int = 0
    refusals_not_written: int = 0  # refused or unreadable signals only counted (engine.refuse)

    @property
    def currency(self) -> str:
        return self.order.currency

    @property
    def refunded(self) -> Money:
        total = Money.zero(self.currency)
        for refund in self.refunds:
            if refund.status != "failed":
                total = total + refund.amount
        return total

    @property
    def covered(self) -> Money:
        """The most this case may refund: the value of the units it concerns (Order.value_of)."""
        return self.order.value_of(self.lines)

    @property
    def refundable(self) -> Money:
        """What is left to refund: what the case covers less its refunds, and never more than the order
        has left once its other cases' refunds are counted (the order budget, the last guard)."""
        left_of_order = self.order.total_paid - self.refunded - Money(amount=self.other_cases_refunded, currency=self.currency)
        return min(self.covered - self.refunded, left_of_order, key=lambda money: money.amount)

    @property
    def charged_to_seller(self) -> Money:
        total = Money.zero(self.currency)
        for line in self.ledger:
            total = total + Money(amount=SELLER_SIGN[line.kind] * line.amount.amount, currency=line.amount.currency)
        return total

    @property
    def awaiting(self) -> Party | None:
        return AWAITING[self.status]

    @property
    def is_closed(self) -> bool:
        return self.status is Status.CLOSED

    @property
    def is_final(self) -> bool:
        """Closed for good: closed under a policy that lets nobody reopen it. A reopenable case's
        workflow still ends when it closes; a reopening starts it again (starter.client)."""
        return self.is_closed and not self.policy.support_may_reopen

    @property
    def seller_flagged(self) -> bool:
        return self.seller_flagged_at is not None

    def party_id(self, party: Party) -> str | None:
        return {Party.BUYER: self.order.buyer_id, Party.SELLER: self.order.seller_id}.get(party)
