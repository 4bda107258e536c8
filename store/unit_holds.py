"""The units each case of an order concerns, held at opening under a lock on the order's budget, so
that two cases opening at once on one order cannot both take its last unit."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Connection, bindparam, insert, select, update

from cases.lines import RELEASES_UNITS, check_units_free
from cases.model import CaseLine, Order
from store.engine import Database, add_new, table
from store.schema import OrderBudgetRow, UnitHoldRow

HOLDS, BUDGETS = table(UnitHoldRow), table(OrderBudgetRow)
LOCK_ORDER = select(BUDGETS.c.order_id).where(BUDGETS.c.order_id == bindparam("order_id")).with_for_update()
ROWS = select(HOLDS.c.case_id, HOLDS.c.sku, HOLDS.c.quantity, HOLDS.c.released).where(HOLDS.c.order_id == bindparam("order_id"))
HELD = ROWS.where(HOLDS.c.released.is_(False))
RELEASE = update(HOLDS).where(HOLDS.c.case_id == bindparam("case_id_")).values(released=True)

# One case's lines, and the field its refusal names (`lines`, or `issues[1].lines` for a report of several).
Holding = tuple[str, list[CaseLine], str]


class UnitHolds(Database):
    def hold_units(self, order: Order, holdings: list[Holding]) -> None:
        """Holds the units each case names, all or none. A case that holds its units already (its
        opening retried) holds them once, and one that gave them back does not take them again. Raises Refusal naming the first line whose units another
        case of the order holds; nothing is held then."""

        def hold(connection: Connection) -> None:
            # The order's budget row is the order's lock: the first case on an order makes it.
            add_new(connection, [OrderBudgetRow(order_id=order.order_id, currency=order.currency, paid=order.total_paid.amount, reserved=0)])
            connection.execute(LOCK_ORDER, {"order_id": order.order_id}).first()
            rows = connection.execute(ROWS, {"order_id": order.order_id}).all()
            holding = {row.case_id for row in rows}  # a case that held units once, released since or not, holds no more
            held = Counter[str]()
            for row in rows:
                held[row.sku] += 0 if row.released else row.quantity
            for case_id, lines, field in holdings:
                if case_id in holding:
                    continue
                check_units_free(order, lines, held, field)
                held.update({line.sku: line.quantity or 0 for line in lines})
                values = [dict(case_id=case_id, sku=line.sku, order_id=order.order_id, quantity=line.quantity, released=False) for line in lines]
                connection.execute(insert(HOLDS), values)

        self.in_transaction(hold)

    def units_held(self, order_id: str) -> dict[str, dict[str, int]]:
        """Case id -> sku -> units, for the cases of an order that hold units."""
        with self.engine.connect() as connection:
            rows = connection.execute(HELD, {"order_id": order_id}).all()
        found: dict[str, dict[str, int]] = {}
        for row in rows:
            found.setdefault(row.case_id, {})[row.sku] = row.quantity
        return found


def release_units(connection: Connection, case_id: str, outcome: str | None) -> None:
    """A case that closed without taking anything for its units gives them back."""
    if outcome in RELEASES_UNITS:
        connection.execute(RELEASE, {"case_id_": case_id})
