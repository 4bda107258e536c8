"""Our marketplace's rule: the seller answers within 48 hours, or support decides."""

from datetime import timedelta

import pytest

from cases.messages import SellerResponse
from cases.model import Actor, ItemCategory, Order, OrderItem, Party, Reason, Resolution, Status
from cases.money import Money
from starter.client import NewCase

EUR = lambda cents: Money(amount=cents, currency="EUR")  # noqa: E731


async def open_case(world, request_id: str) -> str:
    now = await world.now()
    order = Order(
        order_id=f"ord-{request_id}", seller_id="seller-1", buyer_id="buyer-1", currency="EUR",
        items=[OrderItem(sku="mug", category=ItemCategory.GENERAL, unit_price=EUR(4000))], shipping_paid=EUR(500),
        purchased_at=now - timedelta(days=3), shipped_at=now - timedelta(days=2),
    )  # fmt: skip
    new = NewCase(request_id=request_id, policy="quick_sellers", reason=Reason.DEFECTIVE, order=order)
    return (await world.client.open(new)).case_id


@pytest.mark.asyncio
async def test_the_seller_has_48_hours_to_the_second(case_world):
    case_id = await open_case(case_world, "late-seller")
    before = await case_world.skip_to_deadline(case_id, before=timedelta(seconds=1))
    assert before.status is Status.AWAITING_SELLER_RESPONSE
    assert before.due_at - before.opened_at == timedelta(hours=48)
    after = await case_world.skip_to_deadline(case_id, after=timedelta(seconds=1))
    assert after.status is Status.AWAITING_SUPPORT


@pytest.mark.asyncio
async def test_a_full_refund_moves_the_money_once_and_tells_the_buyer(case_world):
    case_id = await open_case(case_world, "quick-seller")
    seller = Actor(party=Party.SELLER, id="seller-1")
    shown = await case_world.client.send(case_id, SellerResponse(by=seller, resolution=Resolution.FULL_REFUND))
    assert (shown.status, shown.refunded) == (Status.CLOSED, EUR(4500))
    assert [(r.amount, r.status) for r in case_world.refunds(case_id)] == [(4500, "succeeded")]
    assert [(p.kind, p.amount) for p in case_world.ledger(case_id)] == [("seller_charge", 4500)]
    assert "case_closed" in [n.event for n in case_world.notices(case_id) if n.party == "buyer"]
