"""The order budget: what all the cases on one order may refund together, reserved refund by refund
with one conditional UPDATE, so two cases racing for the last euro cannot both win."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, func, insert, select, update

from cases.money import Money
from store.engine import Database, add_new, table
from store.schema import OrderBudgetRow, RefundReservationRow

BUDGETS, RESERVATIONS = table(OrderBudgetRow), table(RefundReservationRow)
RESERVATION = select(RESERVATIONS.c.key).where(RESERVATIONS.c.key == bindparam("key"))
TAKE = (
    update(BUDGETS)
    .where(BUDGETS.c.order_id == bindparam("order_id_"), BUDGETS.c.reserved + bindparam("amount") <= BUDGETS.c.paid)
    .values(reserved=BUDGETS.c.reserved + bindparam("amount"))
)
GIVE_BACK = update(BUDGETS).where(BUDGETS.c.order_id == bindparam("order_id_")).values(reserved=BUDGETS.c.reserved - bindparam("amount"))
RELEASE = (
    update(RESERVATIONS)
    .where(RESERVATIONS.c.key == bindparam("key_"), RESERVATIONS.c.released.is_(False))
    .values(released=True)
    .returning(RESERVATIONS.c.order_id, RESERVATIONS.c.amount)
)
TAKEN_BY_OTHERS = select(func.coalesce(func.sum(RESERVATIONS.c.amount), 0)).where(
    RESERVATIONS.c.order_id == bindparam("order_id"), RESERVATIONS.c.case_id != bindparam("case_id"), RESERVATIONS.c.released.is_(False)
)


class OrderBudget(Database):
    def reserve_refund(self, key: str, case_id: str, order_id: str, paid: Money, amount: Money) -> Money | None:
        """Takes `amount` from the order's budget for refund `key`, once. Returns None when it is
        reserved (now or by an earlier call with the key), else what the order's other cases have
        already taken. One conditional UPDATE decides, so two cases racing for the last euro cannot
        both win, on SQLite and on PostgreSQL alike."""

        def reserve(connection: Connection) -> Money | None:
            if connection.execute(RESERVATION, {"key": key}).first() is not None:
                return None
            # The order's budget, once; a concurrent first reservation on the order makes this run again.
            add_new(connection, [OrderBudgetRow(order_id=order_id, currency=paid.currency, paid=paid.amount, reserved=0)])
            if connection.execute(TAKE, {"order_id_": order_id, "amount": amount.amount}).rowcount == 1:
                connection.execute(
                    insert(RESERVATIONS), {"key": key, "order_id": order_id, "case_id": case_id, "amount": amount.amount, "released": False}
                )
                return None
            return Money(amount=connection.execute(TAKEN_BY_OTHERS, {"order_id": order_id, "case_id": case_id}).scalar(), currency=paid.currency)

        return self.in_transaction(reserve)

    def release_refunds(self, keys: list[str]) -> None:
        self.in_transaction(lambda connection: release(connection, keys))


def release(connection: Connection, keys: list[str]) -> None:
    """Gives failed refunds' shares back to their orders; a key already released is left alone."""
    for key in keys:
        released = connection.execute(RELEASE, {"key_": key}).first()
        if released is not None:
            connection.execute(GIVE_BACK, {"order_id_": released.order_id, "amount": released.amount})
