"""Orders, requests and actors for tests: one place, so every test speaks the same case."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from cases import policies
from cases.messages import OpenCase
from cases.model import Actor, CaseKind, ItemCategory, Order, OrderItem, Party, Reason
from cases.money import Money

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SELLER = Actor(party=Party.SELLER, id="seller-7")
BUYER = Actor(party=Party.BUYER, id="buyer-3")
SUPPORT = Actor(party=Party.SUPPORT, id="agent-1")
CARRIER = Actor(party=Party.CARRIER, id="carrier-hook")
PAYMENT = Actor(party=Party.PAYMENT, id="psp-hook")


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


def order(category: ItemCategory = ItemCategory.GENERAL, **changes) -> Order:
    """A 40.00 EUR item plus 5.00 EUR shipping: 45.00 EUR paid, on an order of its own (cases that
    share an order share its budget)."""
    fields = dict(
        order_id=f"ord-{uuid.uuid4().hex[:12]}",
        seller_id=SELLER.id,
        buyer_id=BUYER.id,
        currency="EUR",
        items=[OrderItem(sku="sku-1", category=category, unit_price=eur(4000))],
        shipping_paid=eur(500),
        purchased_at=T0 - timedelta(days=3),
        shipped_at=T0 - timedelta(days=2),
    )
    fields.update(changes)
    return Order(**fields)


def request(
    reason: Reason = Reason.DEFECTIVE,
    *,
    case_id: str = "c-1",
    kind: CaseKind = CaseKind.REFUND_REQUEST,
    policy: str = "direct_service",
    fraud: bool = False,
    **order_changes,
) -> OpenCase:
    return OpenCase(
        case_id=case_id,
        request_id=f"req-{case_id}",
        kind=kind,
        reason=reason,
        order=order(**order_changes),
        buyer_flagged_for_fraud=fraud,
        policy=policies.load(policy),
    )


def jpeg(size: int = 2048) -> bytes:
    """A file whose first bytes say JPEG, unique on every call (its own digest)."""
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + uuid.uuid4().bytes + bytes(max(size - 27, 0))


def pdf(size: int = 2048) -> bytes:
    return b"%PDF-1.7\n" + uuid.uuid4().bytes + b"\n" * max(size - 25, 0)


def gif() -> bytes:
    return b"GIF89a\x01\x00\x01\x00\x00\x00\x00" + uuid.uuid4().bytes
