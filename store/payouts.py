"""Money to sellers: payouts, held while any case on the order is open, and the ledger's postings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, func, insert, select, update

from cases.money import Money
from store.engine import Database, add_new, table
from store.schema import Base, CaseRow, LedgerRow, PayoutHoldRow, PayoutRow

HOLDS, PAYOUTS, CASES = table(PayoutHoldRow), table(PayoutRow), table(CaseRow)
LOCK_HOLD = select(HOLDS.c.released_at).where(HOLDS.c.order_id == bindparam("order_id")).with_for_update()
HOLD = update(HOLDS).where(HOLDS.c.order_id == bindparam("order_id_"))
OPEN_ON_ORDER = select(func.count()).select_from(CASES).where(CASES.c.order_id == bindparam("order_id"), CASES.c.status != "closed")
PAID_OUT = select(PAYOUTS.c.order_id).where(PAYOUTS.c.order_id == bindparam("order_id"))


class PayoutHeld(ValueError):
    """A payout asked for while cases on the order are open."""

    def __init__(self, order_id: str, open_cases: list[str]):
        self.order_id, self.open_cases = order_id, open_cases
        super().__init__(f"order_id: the payout of order {order_id} is held while case(s) {', '.join(open_cases)} are open")


class PayoutHolds(Database):
    def pay_out(self, order_id: str, seller_id: str, amount: Money, at: datetime) -> PayoutRow:
        """Records an order's payout to its seller, once; refused while a case on the order is open
        (the cases decide; the hold row, locked here like in `record_case`, keeps the history)."""
        with self.sessions() as session, session.begin():
            session.get(PayoutHoldRow, order_id, with_for_update=True)
            open_ids = list(
                session.scalars(select(CaseRow.case_id).where(CaseRow.order_id == order_id, CaseRow.status != "closed").order_by(CaseRow.case_id))
            )
            if open_ids:
                raise PayoutHeld(order_id, open_ids)
            paid = session.get(PayoutRow, order_id)
            if paid is None:
                paid = PayoutRow(order_id=order_id, seller_id=seller_id, amount=amount.amount, currency=amount.currency, paid_out_at=at)
                session.add(paid)
            return paid

    def post_ledger_entry(self, row: LedgerRow) -> None:
        def post(connection: Connection) -> None:
            mark_charges_paid_out(connection, [row])
            add_new(connection, [row])

        self.in_transaction(post)


def mark_charges_paid_out(connection: Connection, rows: Sequence[Base]) -> None:
    """A seller charge on an order already paid out is recovered from the seller's next payout."""
    for row in rows:
        if not isinstance(row, LedgerRow) or row.kind != "seller_charge" or row.order_id is None:
            continue
        if connection.execute(PAID_OUT, {"order_id": row.order_id}).first() is not None:
            row.settled_by = "next_payout"


def new_hold(connection: Connection, order_id: str, seller_id: str, at: datetime) -> None:
    connection.execute(insert(HOLDS), {"order_id": order_id, "seller_id": seller_id, "held_at": at, "released_at": None})


def hold(connection: Connection, order_id: str, released_at: datetime | None, at: datetime) -> None:
    """Held while any case on the order is open; released when the last one closes."""
    open_cases = connection.execute(OPEN_ON_ORDER, {"order_id": order_id}).scalar()
    if open_cases and released_at is not None:
        connection.execute(HOLD, {"order_id_": order_id, "held_at": at, "released_at": None})
    elif not open_cases and released_at is None:
        connection.execute(HOLD, {"order_id_": order_id, "released_at": at})
