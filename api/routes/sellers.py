"""Sellers: the queue of cases waiting on one, and support's reinstatement of a flagged one."""

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import Role
from api.bodies import CaseSummary, Reinstated, SellerCases
from api.dependencies import CallerDep, ServiceDep, allow
from api.parameters import OpaquePath
from api.problem import Problem
from cases.refusal import Refusal
from store import queries

router = APIRouter()


@router.post("/v1/sellers/{seller_id}/reinstatement", response_model=Reinstated, tags=["sellers"])
async def reinstate_seller(seller_id: OpaquePath, caller: CallerDep, service: ServiceDep) -> Reinstated:
    """Support reinstates a seller flagged by cases left unresolved too long, once every such case is
    resolved (resolving a case does not lift its flag: seed 001). 409 while one is open, or if the
    seller is not flagged."""
    allow(caller, Role.SUPPORT_CONSOLE)
    try:
        lifted = await asyncio.to_thread(service.store.reinstate_seller, seller_id, f"support:{caller.name}", datetime.now(UTC))
    except Refusal as refusal:
        raise Problem(409, "Not possible now", refusal.field, refusal.rule) from None
    return Reinstated(seller_id=seller_id, lifted_cases=lifted)


@router.get("/v1/sellers/{seller_id}/cases", response_model=SellerCases, tags=["reads"])
async def seller_cases(
    seller_id: OpaquePath,
    caller: CallerDep,
    service: ServiceDep,
    status: Annotated[str | None, Query(max_length=40)] = None,
    reason: Annotated[str | None, Query(max_length=40)] = None,
    policy: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
) -> SellerCases:
    """The cases waiting on a seller, soonest due first, a page at a time."""
    allow(caller, Role.SELLER_PORTAL, Role.SUPPORT_CONSOLE)
    if caller.role is Role.SELLER_PORTAL and seller_id not in caller.seller_ids:
        raise Problem(403, "Not this caller's seller", "seller_id", f"{caller.name} may not read the cases of {seller_id}")
    page = queries.seller_queue(service.store, seller_id, status=status, reason=reason, policy=policy, after=_cursor(cursor), limit=limit)
    after = page.next_after
    next_cursor = f"{after[0].isoformat()}~{after[1]}" if after else None
    return SellerCases(cases=[CaseSummary.of(row) for row in page.cases], next_cursor=next_cursor)


def _cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    due, sep, case_id = cursor.partition("~")
    try:
        moment = datetime.fromisoformat(due)
    except ValueError:
        moment = None
    if not sep or moment is None or moment.tzinfo is None or not case_id:
        raise Problem(422, "Invalid cursor", "cursor", "pass back next_cursor from the previous page unchanged")
    return moment, case_id
