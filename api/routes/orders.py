"""Orders: registered by the marketplace's order system, read with their cases and payout state."""

from datetime import UTC, datetime

from fastapi import APIRouter, Response

from api.auth import Role
from api.bodies import CaseSummary, OrderCases
from api.dependencies import CallerDep, ServiceDep, allow, no_such_order
from api.parameters import OpaquePath
from api.problem import Problem
from cases.orders import RegisteredOrder
from cases.refusal import Refusal
from store import queries

router = APIRouter()


@router.put("/v1/orders/{order_id}", status_code=201, response_model=RegisteredOrder, tags=["orders"], responses={200: {"model": RegisteredOrder}})
async def register_order(
    order_id: OpaquePath, registered: RegisteredOrder, caller: CallerDep, service: ServiceDep, response: Response
) -> RegisteredOrder:
    """Registers an order as the marketplace sold it (201), or again with its dates moved (200): the
    only source of a case's parties, lines and amounts. What the sale fixed never changes (409)."""
    allow(caller, Role.ORDER_SYSTEM)
    if registered.order.order_id != order_id:
        raise Problem(422, "Invalid request", "order.order_id", f"must be the order id of the path, {order_id}")
    try:
        created = service.store.register_order(registered, datetime.now(UTC))
    except Refusal as refusal:
        raise Problem(409, "The order is registered otherwise", refusal.field, refusal.rule) from None
    response.status_code = 201 if created else 200
    return registered


@router.get("/v1/orders/{order_id}/cases", response_model=OrderCases, tags=["reads"])
async def order_cases(order_id: OpaquePath, caller: CallerDep, service: ServiceDep) -> OrderCases:
    """An order's cases and whether its payout is held."""
    allow(caller, Role.SELLER_PORTAL, Role.BUYER_APP, Role.SUPPORT_CONSOLE)
    found = queries.order_state(service.store, order_id)
    theirs = found.cases and all(caller.may_read(row.seller_id, row.buyer_id) for row in found.cases)
    if not (caller.reads_every_case or theirs):  # an order with no case is no portal's or app's to read
        raise no_such_order(caller, order_id)
    return OrderCases(order_id=order_id, payout_state=found.payout_state, cases=[CaseSummary.of(row) for row in found.cases])
