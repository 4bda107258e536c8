"""The contract's search attributes: one definition for the workflow, the client and every server."""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from cases.case import Case

CASE_STATUS = SearchAttributeKey.for_keyword("CaseStatus")
CASE_POLICY = SearchAttributeKey.for_keyword("CasePolicy")
CASE_REASON = SearchAttributeKey.for_keyword("CaseReason")
AWAITING_PARTY = SearchAttributeKey.for_keyword("AwaitingParty")
RESPONSE_DUE_AT = SearchAttributeKey.for_datetime("ResponseDueAt")
ORDER_ID = SearchAttributeKey.for_keyword("OrderId")
SELLER_ID = SearchAttributeKey.for_keyword("SellerId")
BUYER_ID = SearchAttributeKey.for_keyword("BuyerId")
AWAITING_SINCE = SearchAttributeKey.for_datetime("AwaitingSince")  # beyond the contract: since when the awaited party is

ALL: list[SearchAttributeKey[Any]] = [
    CASE_STATUS,
    CASE_POLICY,
    CASE_REASON,
    AWAITING_PARTY,
    RESPONSE_DUE_AT,
    ORDER_ID,
    SELLER_ID,
    BUYER_ID,
    AWAITING_SINCE,
]
DATETIMES = {RESPONSE_DUE_AT.name, AWAITING_SINCE.name}


def cli_flags() -> list[str]:
    """`--search-attribute Name=Type` pairs for `temporal server start-dev`."""
    flags = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={'Datetime' if key.name in DATETIMES else 'Keyword'}"]
    return flags


def updates_for(case: Case) -> list[SearchAttributeUpdate[Any]]:
    """The attributes after a transition."""
    due = case.deadline.due_at if case.deadline else None
    since = case.waiting_since if case.awaiting is not None else None
    return [
        AWAITING_SINCE.value_set(since) if since else AWAITING_SINCE.value_unset(),
        CASE_STATUS.value_set(case.status.value),
        CASE_POLICY.value_set(case.policy.name),
        CASE_REASON.value_set(case.reason.value),
        AWAITING_PARTY.value_set(case.awaiting.value if case.awaiting else "none"),
        RESPONSE_DUE_AT.value_set(due) if due else RESPONSE_DUE_AT.value_unset(),
        ORDER_ID.value_set(case.order.order_id),
        SELLER_ID.value_set(case.order.seller_id),
        BUYER_ID.value_set(case.order.buyer_id),
    ]


def initial(case: Case) -> TypedSearchAttributes:
    """The same attributes, set at start, so a case is findable from its first event."""
    pairs = [SearchAttributePair(u.key, u.value) for u in updates_for(case) if u.value is not None]
    return TypedSearchAttributes(pairs)


async def register(client: Client, namespace: str = "default") -> list[str]:
    """Registers the attributes the namespace lacks (a dev server started before one was added, the
    time-skipping server); returns their names."""
    try:
        listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
        existing = set(listed.custom_attributes)
    except RPCError as error:
        if error.status is not RPCStatusCode.UNIMPLEMENTED:  # the time-skipping server cannot list them
            raise
        existing = set()
    missing = {
        key.name: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME if key.name in DATETIMES else IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for key in ALL
        if key.name not in existing
    }
    if missing:
        await client.operator_service.add_search_attributes(AddSearchAttributesRequest(namespace=namespace, search_attributes=missing))
    return sorted(missing)
