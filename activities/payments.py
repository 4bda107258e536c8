"""The payment-gateway seam. Production plugs in a provider client; the embedded gateway keeps refunds
in the store so that `make run` and the tests move (pretend) money exactly once per idempotency key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, Protocol

from pydantic import BaseModel

from cases.money import Money
from store.database import Store
from store.schema import GatewayRefundRow


class GatewayReceipt(BaseModel):
    """What became of a refund: settled or pending at the gateway, or refused before reaching it
    because the order's other cases have already taken what it needs."""

    status: Literal["settled", "pending", "refused"]
    gateway_ref: str | None = None
    first_call: bool = False
    other_cases_refunded: Money | None = None


class PaymentGateway(Protocol):
    def refund(self, idempotency_key: str, case_id: str, number: int, amount: Money) -> GatewayReceipt:
        """Refunds once per key: a repeated key returns the first receipt and moves no money."""
        ...


class EmbeddedGateway:
    """Settles at once. `settle_later=True` answers "pending", as providers with webhooks do."""

    def __init__(self, store: Store, settle_later: bool = False):
        self.store = store
        self.settle_later = settle_later

    def refund(self, idempotency_key: str, case_id: str, number: int, amount: Money) -> GatewayReceipt:
        row, first = self.store.insert_once(
            GatewayRefundRow(
                idempotency_key=idempotency_key,
                case_id=case_id,
                number=number,
                amount=amount.amount,
                currency=amount.currency,
                status="pending" if self.settle_later else "settled",
                gateway_ref=f"re_{idempotency_key.replace(':', '_')}",
                created_at=datetime.now(UTC),
            )
        )
        return GatewayReceipt(status=row.status, gateway_ref=row.gateway_ref, first_call=first)
