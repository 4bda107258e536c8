"""Registered orders: the only source of a case's parties, lines and amounts."""

from __future__ import annotations

from datetime import datetime

from cases.orders import RegisteredOrder, check_registered_again
from store.engine import Database
from store.schema import RegisteredOrderRow


class RegisteredOrders(Database):
    def register_order(self, registered: RegisteredOrder, at: datetime) -> bool:
        """Registers an order, or registers it again: its dates may move, what its sale fixed may not
        (cases.orders.check_registered_again raises Refusal). Whether this call registered it first."""
        order = registered.order
        with self.sessions() as session, session.begin():
            row = session.get(RegisteredOrderRow, order.order_id, with_for_update=True)
            if row is None:
                values = dict(seller_id=order.seller_id, buyer_id=order.buyer_id, registered_at=at, updated_at=at)
                session.add(RegisteredOrderRow(order_id=order.order_id, registration=registered.model_dump(mode="json"), **values))
                return True
            check_registered_again(RegisteredOrder.model_validate(row.registration), registered)
            row.registration, row.updated_at = registered.model_dump(mode="json"), at
            return False

    def registered_order(self, order_id: str) -> RegisteredOrder | None:
        row = self.get(RegisteredOrderRow, order_id)
        return None if row is None else RegisteredOrder.model_validate(row.registration)
