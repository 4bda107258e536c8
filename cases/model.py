"""The nouns of the domain: orders, parties, reasons, and the state of one case."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from cases.money import MAX_MINOR, Money
from cases.strict import Strict

OPAQUE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_OPAQUE = OPAQUE_PATTERN


def _opaque(value: str) -> str:
    """Ids travel in workflow ids, search attributes and logs, so they must not carry personal data."""
    if not re.fullmatch(_OPAQUE, value):
        raise ValueError("must be an opaque id of at most 64 letters, digits and _.:- (no e-mail address or name)")
    return value


# A moment from outside: with its offset (a time without one means nothing to compare with), which
# the JSON Schemas say too, since they do not check a date-time's format.
Moment = Annotated[AwareDatetime, Field(json_schema_extra={"pattern": r"(Z|z|[+-]\d{2}:\d{2})$"})]

OpaqueId = Annotated[
    str,
    Field(description="Opaque id: letters, digits, _.:- only.", json_schema_extra={"pattern": _OPAQUE}),
    AfterValidator(_opaque),
]


class Party(StrEnum):
    BUYER = "buyer"
    SELLER = "seller"
    SUPPORT = "support"
    CARRIER = "carrier"
    PAYMENT = "payment"
    CLOCK = "clock"


class Reason(StrEnum):
    NOT_RECEIVED = "not_received"
    SHIPPED_LATE = "shipped_late"
    MISSING_ITEM = "missing_item"
    WRONG_ITEM = "wrong_item"
    NOT_AS_DESCRIBED = "not_as_described"
    DEFECTIVE = "defective"
    DAMAGED_IN_TRANSIT = "damaged_in_transit"
    GIVEAWAY_NOT_SENT = "giveaway_not_sent"
    REFUND_NOT_RECEIVED = "refund_not_received"
    INVOICE_INCORRECT = "invoice_incorrect"
    BUYER_REMORSE = "buyer_remorse"
    OTHER = "other"


class ItemCategory(StrEnum):
    GENERAL = "general"
    CONSUMABLE = "consumable"
    OPENABLE = "openable"


class CaseKind(StrEnum):
    REFUND_REQUEST = "refund_request"
    CANCELLATION = "cancellation"
    PROTECTION = "protection"  # opened at checkout; becomes a claim if the buyer reports a problem


class Status(StrEnum):
    """Each open status names what the case waits for; each has exactly one policy window."""

    PROTECTED = "protected"
    AWAITING_SELLER_RESPONSE = "awaiting_seller_response"
    AWAITING_CANCELLATION_ANSWER = "awaiting_cancellation_answer"
    AWAITING_OFFER_ANSWER = "awaiting_offer_answer"
    AWAITING_RETURN_SHIPMENT = "awaiting_return_shipment"
    RETURN_IN_TRANSIT = "return_in_transit"
    AWAITING_RETURN_INSPECTION = "awaiting_return_inspection"
    DECLINED = "declined"
    AWAITING_SUPPORT = "awaiting_support"
    APPEAL_OPEN = "appeal_open"
    REFUND_PENDING = "refund_pending"
    IN_PROGRESS = "in_progress"
    AWAITING_REFUND_CONFIRMATION = "awaiting_refund_confirmation"
    CLOSED = "closed"


OPEN_STATUSES = tuple(s for s in Status if s is not Status.CLOSED)

# Who must act in each status; carrier and payment facts count as nobody's turn.
AWAITING: dict[Status, Party | None] = {
    Status.PROTECTED: Party.BUYER,
    Status.AWAITING_REFUND_CONFIRMATION: Party.BUYER,
    Status.AWAITING_SELLER_RESPONSE: Party.SELLER,
    Status.AWAITING_CANCELLATION_ANSWER: Party.SELLER,
    Status.AWAITING_OFFER_ANSWER: Party.BUYER,
    Status.AWAITING_RETURN_SHIPMENT: Party.BUYER,
    Status.RETURN_IN_TRANSIT: None,
    Status.AWAITING_RETURN_INSPECTION: Party.SELLER,
    Status.DECLINED: Party.BUYER,
    Status.AWAITING_SUPPORT: Party.SUPPORT,
    Status.APPEAL_OPEN: Party.SELLER,
    Status.REFUND_PENDING: None,
    Status.IN_PROGRESS: Party.BUYER,
    Status.CLOSED: None,
}


class Outcome(StrEnum):
    REFUNDED_FULL = "refunded_full"
    REFUNDED_PARTIAL = "refunded_partial"
    REPLACED = "replaced"
    DELIVERED = "delivered"
    RESOLVED = "resolved"
    PROTECTION_ENDED = "protection_ended"
    PROTECTION_CANCELLED = "protection_cancelled"
    REFUNDED_BY_SELLER = "refunded_by_seller"
    DECLINED = "declined"
    DENIED = "denied"
    RETURN_NOT_SHIPPED = "return_not_shipped"
    ABANDONED = "abandoned"
    WITHDRAWN = "withdrawn"
    ORDER_CANCELLED = "order_cancelled"
    CANCELLATION_REFUSED = "cancellation_refused"
    CANCELLATION_EXPIRED = "cancellation_expired"
    INELIGIBLE = "ineligible"


class Resolution(StrEnum):
    FULL_REFUND = "full_refund"
    REFUND_AFTER_RETURN = "refund_after_return"
    PARTIAL_REFUND = "partial_refund"
    REPLACEMENT = "replacement"
    PROOF_OF_DELIVERY = "proof_of_delivery"
    CONTACT_BUYER = "contact_buyer"
    DECLINE = "decline"


class Actor(Strict):
    model_config = ConfigDict(frozen=True)

    party: Party
    id: OpaqueId

    def __str__(self) -> str:
        return f"{self.party}:{self.id}"


CLOCK = Actor(party=Party.CLOCK, id="deadline")


MAX_ITEMS = 200  # lines of one order: far above a real basket, and a bound on what a case carries


class OrderItem(Strict):
    sku: OpaqueId
    category: ItemCategory = ItemCategory.GENERAL
    unit_price: Money
    quantity: int = Field(default=1, ge=1, le=10_000)

    @property
    def price(self) -> Money:
        return Money(amount=self.unit_price.amount * self.quantity, currency=self.unit_price.currency)


class CaseLine(Strict):
    """One order line a case concerns, and how many of its units."""

    model_config = ConfigDict(frozen=True)

    sku: OpaqueId
    quantity: int | None = Field(default=None, ge=1, le=10_000, description="Units concerned; every unit of the line when absent.")


class Order(Strict):
    order_id: OpaqueId
    seller_id: OpaqueId
    buyer_id: OpaqueId
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    items: list[OrderItem] = Field(min_length=1, max_length=MAX_ITEMS)
    shipping_paid: Money
    purchased_at: Moment
    label_printed_at: Moment | None = None
    shipped_at: Moment | None = None
    estimated_delivery_at: Moment | None = None
    delivered_at: Moment | None = None
    protection_opted_in: bool = False

    @model_validator(mode="after")
    def _one_currency(self) -> Order:
        for money in [self.shipping_paid, *(i.unit_price for i in self.items)]:
            if money.currency != self.currency:
                raise ValueError(f"every amount must be in the order currency {self.currency}, got {money.currency}")
            if money.amount < 0:
                raise ValueError("prices and shipping must not be negative")
        if self.total_paid.amount > MAX_MINOR:
            raise ValueError(f"total_paid: an order may total at most {MAX_MINOR} minor units")
        return self

    @property
    def sale_price(self) -> Money:
        total = Money.zero(self.currency)
        for item in self.items:
            total = total + item.price
        return total

    @property
    def total_paid(self) -> Money:
        return self.sale_price + self.shipping_paid

    def item(self, sku: str) -> OrderItem | None:
        return next((item for item in self.items if item.sku == sku), None)

    def units(self, lines: list[CaseLine]) -> list[OrderItem]:
        """The items `lines` name, at the quantities they name; every unit of every line when `lines`
        is empty. Lines are checked at opening (cases.lines.check_lines): each names a line of the
        order, at most its quantity."""
        if not lines:
            return list(self.items)
        found = []
        for line in lines:
            item = self.item(line.sku)
            if item is not None:
                found.append(
                    item if line.quantity in (None, item.quantity) else item.model_copy(update={"quantity": min(line.quantity or 0, item.quantity)})
                )
        return found

    def is_whole(self, lines: list[CaseLine]) -> bool:
        """Whether `lines` name every unit of the order."""
        if not lines:
            return True
        named = {line.sku: line.quantity for line in lines}
        return all(item.sku in named and named[item.sku] in (None, item.quantity) for item in self.items)

    def value_of(self, lines: list[CaseLine]) -> Money:
        """What a case on `lines` may refund at most: the sale price of those units, and the shipping
        the buyer paid only with every unit of the order (seed 000's charges: sale price + shipping)."""
        if self.is_whole(lines):
            return self.total_paid
        amount = sum(item.unit_price.amount * item.quantity for item in self.units(lines))
        return Money(amount=amount, currency=self.currency)


class Deadline(BaseModel):
    status: Status
    due_at: datetime
    reminded: int = 0
    reminders: list[datetime] = []


class TimelineEntry(BaseModel):
    seq: int
    at: datetime
    actor: Actor
    kind: str
    summary: str
    refused: bool = False
    request_id: str | None = None  # the sender's request id, on the first entry of the transition it caused
    private: bool = False  # for support only: the buyer's and the seller's views leave it out (view.seen_by)


class Offer(BaseModel):
    at: datetime
    resolution: Resolution
    amount: Money | None = None
    tracking_number: str | None = None
    return_original: bool = False
    note: str | None = None
    answer: str | None = None


class ReturnLeg(BaseModel):
    approved_at: datetime
    label_fee: Money
    tracking_number: str | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    disputed: bool = False


class Refund(BaseModel):
    number: int
    amount: Money
    status: str = "requested"  # requested, settled, failed
    charge_number: int | None = None
    includes_label_fee: bool = False
    gateway_ref: str | None = None
    failure: str | None = None


class LedgerKind(StrEnum):
    SELLER_CHARGE = "seller_charge"
    CHARGE_REVERSAL = "charge_reversal"
    PLATFORM_REFUND = "platform_refund"


# What a ledger line does to the seller's charge: a charge adds, its reversal takes back, a refund the
# platform pays charges nobody. The case's own view and the store check both count by it.
SELLER_SIGN = {LedgerKind.SELLER_CHARGE: 1, LedgerKind.CHARGE_REVERSAL: -1, LedgerKind.PLATFORM_REFUND: 0}


class LedgerLine(BaseModel):
    number: int
    kind: LedgerKind
    amount: Money
    refund_number: int | None = None


class SupportRuling(BaseModel):
    at: datetime
    decision: str
    amount: Money | None = None
    note: str | None = None
    on_appeal: bool = False
