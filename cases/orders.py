"""Orders as the marketplace's order system registers them: the only source of a case's parties,
lines, amounts, currency, dates, protection, policy and fraud flag. The party that claims names an
order and the lines it concerns; nothing it sends sets what is refunded or charged."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, model_validator

from cases.evidence import MAX_ATTACHMENTS, Attachment
from cases.messages import REQUEST_ID_LENGTH, Note
from cases.model import MAX_ITEMS, CaseKind, CaseLine, OpaqueId, Order, Reason
from cases.refusal import Refusal
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


def policy_for(registered: RegisteredOrder, kind: CaseKind) -> str:
    return registered.protection_policy if kind is CaseKind.PROTECTION else registered.policy


def _lines(value: object) -> object:
    """A line given as its sku alone concerns all its units."""
    return [{"sku": line} if isinstance(line, str) else line for line in value] if isinstance(value, list) else value


CaseLines = Annotated[list[CaseLine], BeforeValidator(_lines), Field(min_length=1, max_length=MAX_ITEMS)]


class CaseRequest(Strict):
    """What a buyer app or support sends to open a case (`POST /v1/cases`): the order and its lines,
    never their content."""

    request_id: str = Field(min_length=1, max_length=REQUEST_ID_LENGTH, description="Makes opening idempotent, for this caller.")
    order_id: OpaqueId
    lines: CaseLines | None = Field(
        default=None,
        description="The order lines concerned, each a sku and a quantity (a sku alone: all its units); every unit of the order when absent.",
    )
    kind: CaseKind = CaseKind.REFUND_REQUEST
    reason: Reason
    note: Note | None = None
    evidence: list[Attachment] = Field(default=[], max_length=MAX_ATTACHMENTS, description="The buyer's files, uploaded first (POST /v1/evidence).")


MAX_ISSUES = 20  # issues one report opens at once


class Issue(Strict):
    """One issue of a report: the lines it concerns, its reason, what the buyer says."""

    lines: CaseLines
    reason: Reason
    note: Note | None = None
    evidence: list[Attachment] = Field(
        default=[], max_length=MAX_ATTACHMENTS, description="Photos of this issue, uploaded first (POST /v1/evidence)."
    )


class IssueReport(Strict):
    """Several issues on one order at once (`POST /v1/orders/{order_id}/issues`, seed 002): a refund
    request each, on its own lines; all open, or none does."""

    request_id: str = Field(min_length=1, max_length=REQUEST_ID_LENGTH - 4, description="Makes the report idempotent, for this caller.")
    issues: list[Issue] = Field(min_length=1, max_length=MAX_ISSUES)
