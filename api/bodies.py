"""The HTTP bodies: their own shapes, so that a change to the case view or the store's rows does not
change what callers of the API read, nor the other way round."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, HttpUrl

from cases.events import CaseEvent
from cases.model import OpaqueId
from cases.money import Money
from cases.strict import Strict
from store.schema import CaseRow


class Opened(BaseModel):
    case_id: str
    workflow_id: str
    created: bool


class Accepted(BaseModel):
    """A fire-and-forget command the case has durably received; its effect shows in the case view."""

    case_id: str
    accepted: bool = True


class CaseSummary(BaseModel):
    case_id: str
    status: str
    outcome: str | None
    awaiting: str
    due_at: datetime | None
    reason: str
    policy: str
    order_id: str
    seller_id: str
    buyer_id: str
    total_paid: Money
    refunded: Money
    opened_at: datetime
    closed_at: datetime | None
    version: int

    @classmethod
    def of(cls, row: CaseRow) -> CaseSummary:
        fields = {name: getattr(row, name) for name in cls.model_fields if name not in ("total_paid", "refunded")}
        return cls(
            **fields,
            total_paid=Money(amount=row.total_paid, currency=row.currency),
            refunded=Money(amount=row.refunded, currency=row.currency),
        )


class SellerCases(BaseModel):
    cases: list[CaseSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; absent on the last.")


class OrderCases(BaseModel):
    order_id: str
    payout_state: str
    cases: list[CaseSummary]


class NewSubscription(Strict):
    url: HttpUrl
    events: list[CaseEvent] = Field(min_length=1)
    seller_ids: list[OpaqueId] | None = Field(
        default=None, min_length=1, description="Only these sellers' cases (a seller's own systems); every seller's when absent."
    )


class Subscription(BaseModel):
    id: str
    url: str
    events: list[CaseEvent]
    seller_ids: list[str] | None = None
    created_at: datetime


class CreatedSubscription(Subscription):
    secret: str = Field(description="Shown once: verify each delivery's Refund-Cases-Signature with it.")


class Delivery(BaseModel):
    id: str
    event: str
    case_id: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class Reinstated(BaseModel):
    seller_id: str
    lifted_cases: list[str] = Field(description="The cases whose flags on the seller were lifted.")
