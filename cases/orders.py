"""Orders as the marketplace's order system registers them: the only source of a case's parties,
lines, amounts, currency, dates, protection, policy and fraud flag. The party that claims names an
order and the lines it concerns; nothing it sends sets what is refunded or charged."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from cases.engine import Refusal
from cases.messages import REQUEST_ID_LENGTH, Note
from cases.model import MAX_ITEMS, CaseKind, OpaqueId, Order, Reason
from cases.money import Money
from cases.strict import Strict

# What a sale is, once made: registering the order again may move its dates, never these.
FIXED = ("seller_id", "buyer_id", "currency", "items", "shipping_paid", "purchased_at", "protection_opted_in")


class RegisteredOrder(Strict):
    """What the order system sends (`PUT /v1/orders/{order_id}`), and the store keeps."""

    order: Order
    policy: OpaqueId = Field(default="direct_service", description="The policy of the order's refund requests and cancellations.")
    protection_policy: OpaqueId = Field(default="buyer_protection", description="The policy of its protection claims.")
    buyer_flagged_for_fraud: bool = Field(default=False, description="The marketplace's own fraud signal: routes its cases to support.")

    @model_validator(mode="after")
    def _one_sku_per_line(self) -> RegisteredOrder:
        skus = [item.sku for item in self.order.items]
        if len(set(skus)) != len(skus):
            raise ValueError("order.items: each line has a sku of its own")
        return self


def check_registered_again(before: RegisteredOrder, after: RegisteredOrder) -> None:
    """An order registered again keeps what its sale fixed. Raises Refusal naming the field."""
    for name in FIXED:
        if getattr(before.order, name) != getattr(after.order, name):
            raise Refusal(f"order.{name}", "fixed by the sale: a registered order's parties, lines, amounts and purchase do not change")


def order_for_case(registered: RegisteredOrder, lines: list[str] | None) -> Order:
    """The order a case concerns: the registered one, or only the lines it names. Shipping comes back
    with a case on every line of the order, never with a case on some of them."""
    order = registered.order
    if lines is None:
        return order
    known = {item.sku for item in order.items}
    unknown = sorted(set(lines) - known)
    if unknown:
        raise Refusal("lines", f"the order has no line {unknown[0]}")
    named = [item for item in order.items if item.sku in set(lines)]
    shipping = order.shipping_paid if len(named) == len(order.items) else Money.zero(order.currency)
    return order.model_copy(update={"items": named, "shipping_paid": shipping})


def policy_for(registered: RegisteredOrder, kind: CaseKind) -> str:
    return registered.protection_policy if kind is CaseKind.PROTECTION else registered.policy


class CaseRequest(Strict):
    """What a buyer app or support sends to open a case (`POST /v1/cases`): the order and its lines,
    never their content."""

    request_id: str = Field(min_length=1, max_length=REQUEST_ID_LENGTH, description="Makes opening idempotent, for this caller.")
    order_id: OpaqueId
    lines: Annotated[list[OpaqueId], Field(min_length=1, max_length=MAX_ITEMS)] | None = Field(
        default=None, description="The skus of the lines concerned; every line when absent."
    )
    kind: CaseKind = CaseKind.REFUND_REQUEST
    reason: Reason
    note: Note | None = None
