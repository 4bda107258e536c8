"""`store check`: the store's case row, refunds and seller ledger against the workflow's own view, and
what a repair rewrites (the case row and refunds) and leaves (money posted under its keys)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, update

from cases.engine import apply, open_case
from cases.messages import RefundSettled, SellerResponse
from cases.model import Resolution
from cases.view import view
from starter import reconcile
from store.database import Store
from store.schema import LedgerRow, RefundRow
from tests.factories import PAYMENT, SELLER, T0, request

HOUR = timedelta(hours=1)


def refunded_in_full():
    """Case c-1, which the seller refunded in full: its refund waits for the provider."""
    return apply(open_case(request(case_id="c-1"), T0).case, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND), T0).case


@pytest.fixture
def refunded(tmp_path):
    """A store holding that case as the worker writes it: the case row, its refund, and the seller's
    charge."""
    store = Store(f"sqlite:///{tmp_path}/cases.db")
    store.migrate()
    shown = view(refunded_in_full())
    store.record_case(shown, shown.timeline)
    charge = shown.charged_to_seller
    store.post_ledger_entry(
        LedgerRow(
            key="c-1:ledger:1",
            case_id="c-1",
            seller_id=shown.seller_id,
            kind="seller_charge",
            amount=charge.amount,
            currency=charge.currency,
            created_at=datetime.now(UTC),
            order_id=shown.order_id,
        )
    )
    return store, shown


class Workflows:
    """The client side `check` reads: one case and its view, running or finished (its result)."""

    def __init__(self, shown, running: bool = True):
        self.shown, self.running, self.client = shown, running, self

    async def list(self, query: str, limit: int) -> list[dict]:
        return [{"case_id": self.shown.case_id}] if self.running else []

    async def show(self, case_id: str):
        return self.shown

    def get_workflow_handle(self, workflow_id: str, result_type=None):
        return self

    async def result(self):
        return self.shown


def test_a_store_that_agrees_shows_no_difference(refunded):
    store, shown = refunded
    assert shown.refunded.amount > 0 and shown.charged_to_seller.amount > 0
    assert reconcile.differences(store, shown) == ""


def test_refund_rows_and_the_ledger_are_compared_in_money(refunded):
    store, shown = refunded
    with store.sessions() as session, session.begin():
        session.execute(update(RefundRow).where(RefundRow.case_id == "c-1").values(status="failed"))
        session.add(
            RefundRow(
                idempotency_key="c-1:refund:2",
                case_id="c-1",
                order_id=shown.order_id,
                seller_id=shown.seller_id,
                number=2,
                amount=1000,
                currency="EUR",
                status="succeeded",
                updated_at=datetime.now(UTC),
            )
        )
        session.execute(delete(LedgerRow).where(LedgerRow.case_id == "c-1"))
    assert reconcile.differences(store, shown).split("; ") == [
        f"refund 1: store {shown.refunded} failed, workflow {shown.refunded} requested",
        "refund 2: store 10.00 EUR succeeded, workflow none",
        f"ledger: store charges the seller 0.00 EUR, workflow {shown.charged_to_seller}",
    ]


async def test_a_repair_rewrites_the_refunds_and_leaves_the_ledger_to_a_person(refunded):
    store, shown = refunded
    with store.sessions() as session, session.begin():
        session.execute(update(RefundRow).where(RefundRow.case_id == "c-1").values(status="failed"))
        session.execute(update(LedgerRow).where(LedgerRow.case_id == "c-1").values(amount=1))
    compared, [drift] = await reconcile.check(Workflows(shown), store, repair=True)
    assert compared == 1 and drift.what.startswith("refund 1: store")
    assert (drift.repaired, drift.left) == (False, f"ledger: store charges the seller 0.01 EUR, workflow {shown.charged_to_seller}")
    assert store.get(RefundRow, "c-1:refund:1").status == "requested"
    assert store.get(LedgerRow, "c-1:ledger:1").amount == 1


async def test_cases_closed_since_a_date_are_compared_too(refunded):
    store, _ = refunded
    closed = view(apply(refunded_in_full(), RefundSettled(by=PAYMENT, refund_number=1), T0 + HOUR).case)
    store.record_case(closed, closed.timeline)
    with store.sessions() as session, session.begin():
        session.execute(update(RefundRow).where(RefundRow.case_id == "c-1").values(amount=1))
    finished = Workflows(closed, running=False)
    assert await reconcile.check(finished, store) == (0, [])
    compared, [drift] = await reconcile.check(finished, store, closed_since=T0)
    assert compared == 1 and drift.what == f"refund 1: store 0.01 EUR succeeded, workflow {closed.refunded} succeeded"
    assert await reconcile.check(finished, store, closed_since=T0 + 2 * HOUR) == (0, [])
