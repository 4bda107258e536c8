"""Cases scoped to the items they concern, through the public client on the time-skipping server: one
report opens an issue per item, each refunds and charges its own items, and a unit is never in two
cases at once."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from cases.messages import SellerResponse, Withdrawal
from cases.model import CaseLine, OrderItem, Outcome, Reason, Resolution, Status
from starter.client import CaseClient, CaseRefused, NewCase
from store.schema import LedgerRow
from tests.factories import BUYER, SELLER, eur, order

pytestmark = pytest.mark.workflow


@pytest.fixture
def client(cases) -> CaseClient:
    """A client that holds units in the case store, as the API's does."""
    own = CaseClient(cases.env.client, cases.client.task_queue, clock=cases.env.get_current_time)
    return own.use_store(cases.store)


async def basket(cases):
    now = await cases.env.get_current_time()
    items = [OrderItem(sku="lamp", unit_price=eur(4000)), OrderItem(sku="mug", unit_price=eur(1500), quantity=3)]
    dates = dict(purchased_at=now - timedelta(days=3), shipped_at=now - timedelta(days=2), delivered_at=now - timedelta(hours=1))
    return order(items=items, buyer_id=f"buyer-{uuid.uuid4().hex[:8]}", **dates)


def issue(sold, reason: Reason, *lines: CaseLine) -> NewCase:
    return NewCase(request_id=f"req-{uuid.uuid4()}", reason=reason, order=sold, lines=list(lines))


async def test_one_report_opens_an_issue_per_item_and_each_refunds_its_own(cases, client):
    sold = await basket(cases)
    lamp, mugs = await client.report(
        [issue(sold, Reason.DEFECTIVE, CaseLine(sku="lamp")), issue(sold, Reason.MISSING_ITEM, CaseLine(sku="mug", quantity=2))]
    )
    assert lamp.created and mugs.created and lamp.case_id != mugs.case_id
    for opened in (lamp, mugs):
        await client.show(opened.case_id)  # its first workflow task has run: the seller's 72 h count from there
    shown = await client.send(mugs.case_id, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))
    assert (shown.outcome, shown.refunded, shown.covered, shown.total_paid) == (Outcome.REFUNDED_FULL, eur(3000), eur(3000), eur(9000))
    assert shown.lines == [CaseLine(sku="mug", quantity=2)]
    shown = await client.send(lamp.case_id, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))
    assert (shown.refunded, shown.charged_to_seller) == (eur(4000), eur(4000))
    charged = sorted(row.amount for row in cases.store.rows(LedgerRow, order_id=sold.order_id))
    assert charged == [3000, 4000], "the seller pays the items of each case, and no shipping"


async def test_a_unit_already_in_a_case_cannot_be_claimed_again(cases, client):
    sold = await basket(cases)
    await client.open(issue(sold, Reason.DEFECTIVE, CaseLine(sku="mug", quantity=2)))
    with pytest.raises(CaseRefused) as refused:
        await client.open(issue(sold, Reason.WRONG_ITEM, CaseLine(sku="mug", quantity=2)))
    assert refused.value.field == "lines[0].quantity"
    assert "2 of the 3 unit(s) of line mug are in another case of the order; 1 free" in refused.value.rule
    with pytest.raises(CaseRefused, match="issues\\[1\\]\\.lines\\[0\\]\\.quantity"):
        await client.report([issue(sold, Reason.DEFECTIVE, CaseLine(sku="lamp")), issue(sold, Reason.DEFECTIVE, CaseLine(sku="mug", quantity=2))])
    assert cases.store.units_held(sold.order_id) and "lamp" not in str(cases.store.units_held(sold.order_id)), "a refused report holds nothing"


async def test_a_withdrawn_case_gives_its_units_to_the_next(cases, client):
    sold = await basket(cases)
    first = await client.open(issue(sold, Reason.DEFECTIVE, CaseLine(sku="lamp")))
    await client.show(first.case_id)
    shown = await client.send(first.case_id, Withdrawal(by=BUYER.model_copy(update={"id": sold.buyer_id})))
    assert shown.outcome is Outcome.WITHDRAWN
    await cases.settled(first.case_id)  # its store write, which gives the units back
    again = await client.open(issue(sold, Reason.DEFECTIVE, CaseLine(sku="lamp")))
    assert again.created and (await client.show(again.case_id)).status is Status.AWAITING_SELLER_RESPONSE


async def test_a_report_on_two_orders_is_refused(cases, client):
    one, other = await basket(cases), await basket(cases)
    with pytest.raises(CaseRefused, match="issues: the issues of one report concern one order"):
        await client.report([issue(one, Reason.DEFECTIVE, CaseLine(sku="lamp")), issue(other, Reason.DEFECTIVE, CaseLine(sku="lamp"))])
