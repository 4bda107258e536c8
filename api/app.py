"""The HTTP API over CaseClient and the case store: the composition of its routers (api/routes/), the
gate every /v1/ call passes (api/gate.py), and the one form of error, problem+json naming the field and
the rule. Every route checks the caller's role before it touches a workflow."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Callers
from api.dependencies import Service
from api.gate import Gate
from api.problem import Problem
from api.routes import cases, orders, reports, sellers, webhooks
from api.routes import evidence as evidence_routes
from config.settings import Settings
from starter.client import CaseClient, CaseRefused
from starter.command_context import evidence_files
from store.database import Store
from store.evidence import EvidenceFiles


def create_app(
    settings: Settings,
    *,
    case_client: CaseClient | None = None,
    store: Store | None = None,
    callers: Callers | None = None,
    evidence: EvidenceFiles | None = None,
) -> FastAPI:
    """The app, from the settings its entry point read (`python -m api`). Tests pass their own client,
    store, callers and evidence store."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_store = store or Store(settings.database_url)
        if store is None:
            own_store.migrate()
        files = evidence or evidence_files(settings, own_store)
        client = case_client or (await CaseClient.connect(settings)).use_store(own_store)
        if client.evidence is None:
            client.use_evidence(files)
        app.state.service = Service(settings, own_store, client, callers or Callers.configured(settings), files)
        yield

    app = FastAPI(
        title="Refund Cases",
        version="1",
        description="Open refund cases, act on them as each party, read them, and subscribe to their events.",
        lifespan=lifespan,
    )
    upload = {evidence_routes.UPLOAD_PATH: settings.evidence_max_bytes + evidence_routes.MULTIPART_OVERHEAD}
    app.add_middleware(Gate, callers=lambda: app.state.service.callers, rate_limit=settings.api_rate_limit, caps=upload)
    _answer_errors_as_problems(app)
    _count_requests(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    for routes in (orders, cases, evidence_routes, sellers, reports, webhooks):
        app.include_router(routes.router)
    return app


def _refusal(refused: CaseRefused) -> Problem:
    """The rules' refusal, as HTTP: no such case 404; not this caller's case 403; not now 409; else 422."""
    if refused.field == "case_id":
        return Problem(404, "No such case", refused.field, refused.rule)
    if refused.field in ("by.party", "by.id"):
        return Problem(403, "Not this sender's case", refused.field, refused.rule)
    if refused.field in ("status", "kind"):
        return Problem(409, "Not possible in the case's current state", refused.field, refused.rule)
    return Problem(422, "Refused by the case's rules", refused.field, refused.rule)


def _answer_errors_as_problems(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, problem: Problem) -> JSONResponse:
        return problem.response()

    @app.exception_handler(CaseRefused)
    async def _refused(_: Request, refused: CaseRefused) -> JSONResponse:
        return _refusal(refused).response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, invalid: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(part) for part in e["loc"] if part != "body") or "body", "rule": e["msg"]} for e in invalid.errors()]
        first = errors[0] if errors else {"field": "body", "rule": "invalid"}
        body = Problem(422, "Invalid request", first["field"], first["rule"]).response()
        content = json.loads(bytes(body.body)) | {"errors": errors}
        return JSONResponse(content, status_code=422, media_type="application/problem+json")

    @app.exception_handler(RPCError)
    async def _temporal(_: Request, error: RPCError) -> JSONResponse:
        if error.status is RPCStatusCode.NOT_FOUND:
            return Problem(404, "No such case", "case_id", "there is no case with this id").response()
        return Problem(503, "The case service is unavailable; retry with the same Idempotency-Key or request_id").response()


def _count_requests(app: FastAPI) -> None:
    requests = Runtime.default().metric_meter.create_counter("refund_cases_api_requests", "HTTP API requests, by route and status.")

    @app.middleware("http")
    async def _count(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Any:
        """Labels carry the route's template (/v1/cases/{case_id}), never the ids in the path."""
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        requests.add(1, {"route": route, "method": request.method, "status": str(response.status_code)})
        return response
