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
    """What became of a refund: settled or pending at the gateway, refused before reaching it because
    the order's other cases have already taken what it needs, or rejected for good by the provider."""

    status: Literal["settled", "pending", "refused", "rejected"]
    gateway_ref: str | None = None
    first_call: bool = False
    other_cases_refunded: Money | None = None
    failure: str | None = None


class GatewayUnavailable(Exception):
    """A transient failure (a 5xx, a timeout, a dropped connection): the same call may succeed later,
    with the same idempotency key."""


class GatewayRejection(Exception):
    """A permanent refusal (a 4xx: the charge was disputed, the card closed): retrying cannot help."""


class PaymentGateway(Protocol):
    def refund(self, idempotency_key: str, case_id: str, number: int, amount: Money) -> GatewayReceipt:
        """Refunds once per key: a repeated key returns the first receipt and moves no money.
        Raises GatewayUnavailable (retry) or GatewayRejection (do not)."""
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
