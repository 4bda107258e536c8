"""Refund abuse the platform catches across its marketplace (seed 000: "where refund fraud is
suspected, the platform steps in and you will not have to handle the request"; seed 004: detect
fraudulent or excessive returns and refunds). Pure: the store counts a buyer's behaviour, the policy
says how much is too much, and a suspicion routes the new request to support."""

from __future__ import annotations

from pydantic import Field

from cases.model import CaseKind
from cases.money import Money
from cases.policy import AbuseRules
from cases.strict import Strict


class BuyerRecord(Strict):
    """One buyer's refund behaviour within a policy's window, this request not counted."""

    requests: int = Field(ge=0, description="Refund requests opened.")
    refunded: dict[str, int] = Field(default={}, description="Minor units refunded, per currency.")
    orders: int = Field(ge=0, description="Orders registered.")
    orders_with_cases: int = Field(ge=0, description="Of those, orders with a case, this request's order included.")


def judged(kind: CaseKind) -> bool:
    """Only refund requests are judged: a protection opens at checkout, a cancellation before anything
    shipped."""
    return kind is CaseKind.REFUND_REQUEST


def suspicion(rules: AbuseRules, kind: CaseKind, record: BuyerRecord) -> str | None:
    """Why this buyer's new request goes to support for review, or None."""
    if not judged(kind):
        return None
    days = f"{rules.within_hours} h"
    if rules.max_requests is not None and record.requests >= rules.max_requests:
        return f"{record.requests} refund requests by this buyer within {days} (policy limit {rules.max_requests})"
    for currency, limit in sorted(rules.max_refunded.items()):
        refunded = Money(amount=record.refunded.get(currency, 0), currency=currency)
        if refunded.amount >= limit:
            return f"{refunded} refunded to this buyer within {days} (policy limit {Money(amount=limit, currency=currency)})"
    share = rules.max_share_of_orders_percent
    if share is not None and record.orders >= rules.min_orders and record.orders_with_cases * 100 > share * record.orders:
        return f"{record.orders_with_cases} of this buyer's {record.orders} orders within {days} would have a case (policy limit {share} %)"
    return None
