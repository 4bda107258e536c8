"""What a route depends on: the caller the gate found (api/gate.py), the role it must have, and the
service's parts the app's lifespan composed once from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Caller, Callers, Role
from api.problem import Problem
from config.settings import Settings
from starter.client import CaseClient
from store.database import Store
from store.evidence import EvidenceFiles

bearer = HTTPBearer(auto_error=False, description="A token per calling service; its role decides what it may do.")


@dataclass
class Service:
    """The parts every route may use, made once per app."""

    settings: Settings
    store: Store
    client: CaseClient
    callers: Callers
    evidence: EvidenceFiles


def service(request: Request) -> Service:
    found: Service = request.app.state.service
    return found


def authenticate(request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    """The caller the gate found: the token is checked before the body is read."""
    caller: Caller = request.state.caller
    return caller


CallerDep = Annotated[Caller, Depends(authenticate)]
ServiceDep = Annotated[Service, Depends(service)]


def allow(caller: Caller, *roles: Role) -> None:
    """403 unless the caller has one of `roles` (admin has them all; no roles: admin only)."""
    if caller.role not in roles and caller.role is not Role.ADMIN:
        names = ", ".join(r.value for r in roles) or "admin"
        raise Problem(403, "Not allowed for this caller's role", "Authorization", f"role {caller.role.value} may not do this; {names} may")


def no_such_order(caller: Caller, order_id: str) -> Problem:
    """One answer for an order that does not exist and one that is not the caller's: ids tell nothing."""
    return Problem(404, "No such order", "order_id", f"{caller.name} has no order {order_id}")
