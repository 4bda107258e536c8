"""The HTTP API over CaseClient and the case store. Every route checks the caller's role (api/auth.py)
before it touches a workflow; errors are problem+json naming the field and the rule.

No `from __future__ import annotations` here: the action routes are made in a loop, and FastAPI reads
each one's body model from its live annotation.
"""

import asyncio
import hashlib
import json
import secrets
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, HttpUrl
from sqlalchemy import select
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from activities.webhooks import TargetRefused, checked_addresses
from api.auth import Caller, Callers, Role
from api.gate import Gate
from api.problem import Problem
from cases.engine import Refusal
from cases.events import CaseEvent
from cases.messages import (
    REQUEST_ID_LENGTH,
    Appeal,
    BuyerAnswer,
    Escalation,
    PartyMessage,
    ProtectionFeedback,
    RefundConfirmation,
    RefundFailed,
    RefundSettled,
    Reopening,
    ResolutionConfirmed,
    ReturnDelivered,
    ReturnInspection,
    ReturnShipped,
    SellerResponse,
    Sent,
    SupportDecision,
    Withdrawal,
)
from cases.model import OPAQUE_PATTERN, OpaqueId
from cases.money import Money
from cases.orders import CaseRequest, RegisteredOrder
from cases.strict import Strict
from cases.view import CaseView, seen_by
from starter.client import CaseClient, CaseRefused, case_on, start_delivery
from starter.settings import Settings
from store import queries
from store.database import DeliveryRefused, Store
from store.schema import ApiIdempotencyRow, CaseRow, WebhookDeliveryRow, WebhookSubscriptionRow

# The path of each action, and the message it takes. Decisions are updates (200 with the case view, or
# 202 with ?wait=false); carrier and payment facts are signals (202).
DECISIONS = {
    "seller-response": SellerResponse,
    "buyer-answer": BuyerAnswer,
    "refund-confirmation": RefundConfirmation,
    "return-inspection": ReturnInspection,
    "protection-feedback": ProtectionFeedback,
    "resolution-confirmed": ResolutionConfirmed,
    "escalation": Escalation,
    "withdrawal": Withdrawal,
    "support-decision": SupportDecision,
    "appeal": Appeal,
    "reopening": Reopening,
    "messages": PartyMessage,
}
FACTS = {
    "return-shipped": ReturnShipped,
    "return-delivered": ReturnDelivered,
    "refund-settled": RefundSettled,
    "refund-failed": RefundFailed,
}

CaseId = Annotated[str, Path(pattern=OPAQUE_PATTERN, max_length=64, description="The case id.")]
OpaquePath = Annotated[str, Path(pattern=OPAQUE_PATTERN, max_length=64)]
DeliveryPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")]  # case:version:event:subscription
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$", description="Makes the call safe to retry."),
]


def _no_such_order(caller: Caller, order_id: str) -> Problem:
    """One answer for an order that does not exist and one that is not the caller's: ids tell nothing."""
    return Problem(404, "No such order", "order_id", f"{caller.name} has no order {order_id}")


def _refusal(refused: CaseRefused) -> Problem:
    """The rules' refusal, as HTTP: no such case 404; not this caller's case 403; not now 409; else 422."""
    if refused.field == "case_id":
        return Problem(404, "No such case", refused.field, refused.rule)
    if refused.field in ("by.party", "by.id"):
        return Problem(403, "Not this sender's case", refused.field, refused.rule)
    if refused.field in ("status", "kind"):
        return Problem(409, "Not possible in the case's current state", refused.field, refused.rule)
    return Problem(422, "Refused by the case's rules", refused.field, refused.rule)


class Opened(BaseModel):
    case_id: str
    workflow_id: str
    created: bool


class Accepted(BaseModel):
    """A fire-and-forget command the case has durably received; its effect shows in the case view."""

    case_id: str
    accepted: bool = True


class CaseSummary(BaseModel):
    case_id: str
    status: str
    outcome: str | None
    awaiting: str
    due_at: datetime | None
    reason: str
    policy: str
    order_id: str
    seller_id: str
    buyer_id: str
    total_paid: Money
    refunded: Money
    opened_at: datetime
    closed_at: datetime | None
    version: int

    @classmethod
    def of(cls, row: CaseRow) -> "CaseSummary":
        money = lambda amount: Money(amount=amount, currency=row.currency)  # noqa: E731
        fields = {name: getattr(row, name) for name in cls.model_fields if name not in ("total_paid", "refunded")}
        return cls(**fields, total_paid=money(row.total_paid), refunded=money(row.refunded))


class SellerCases(BaseModel):
    cases: list[CaseSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; absent on the last.")


class OrderCases(BaseModel):
    order_id: str
    payout_state: str
    cases: list[CaseSummary]


class NewSubscription(Strict):
    url: HttpUrl
    events: list[CaseEvent] = Field(min_length=1)
    seller_ids: list[OpaqueId] | None = Field(
        default=None, min_length=1, description="Only these sellers' cases (a seller's own systems); every seller's when absent."
    )


class Subscription(BaseModel):
    id: str
    url: str
    events: list[CaseEvent]
    seller_ids: list[str] | None = None
    created_at: datetime


class CreatedSubscription(Subscription):
    secret: str = Field(description="Shown once: verify each delivery's Refund-Cases-Signature with it.")


class Delivery(BaseModel):
    id: str
    event: str
    case_id: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class Reinstated(BaseModel):
    seller_id: str
    lifted_cases: list[str] = Field(description="The cases whose flags on the seller were lifted.")


def create_app(
    settings: Settings | None = None,
    *,
    case_client: CaseClient | None = None,
    store: Store | None = None,
    callers: Callers | None = None,
) -> FastAPI:
    """The app. Tests pass their own client, store and callers; `python -m api` reads the settings."""
    settings = settings or Settings()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        state["callers"] = callers or settings.api_callers()
        state["store"] = store or Store(settings.database_url)
        if store is None:
            state["store"].migrate()
        state["client"] = case_client or (await CaseClient.connect(settings)).use_store(state["store"])
        yield

    app = FastAPI(
        title="Refund Cases",
        version="1",
        description="Open refund cases, act on them as each party, read them, and subscribe to their events.",
        lifespan=lifespan,
    )
    bearer = HTTPBearer(auto_error=False, description="A token per calling service; its role decides what it may do.")

    app.add_middleware(Gate, callers=lambda: state["callers"], rate_limit=settings.api_rate_limit)

    def authenticate(request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
        """The caller the gate found (api/gate.py): the token is checked before the body is read."""
        return request.state.caller

    def allow(caller: Caller, *roles: Role) -> None:
        if caller.role not in roles and caller.role is not Role.ADMIN:
            names = ", ".join(r.value for r in roles) or "admin"
            raise Problem(403, "Not allowed for this caller's role", "Authorization", f"role {caller.role.value} may not do this; {names} may")

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
        content = json.loads(body.body) | {"errors": errors}
        return JSONResponse(content, status_code=422, media_type="application/problem+json")

    @app.exception_handler(RPCError)
    async def _temporal(_: Request, error: RPCError) -> JSONResponse:
        if error.status is RPCStatusCode.NOT_FOUND:
            return Problem(404, "No such case", "case_id", "there is no case with this id").response()
        return Problem(503, "The case service is unavailable; retry with the same Idempotency-Key or request_id").response()

    requests = Runtime.default().metric_meter.create_counter("refund_cases_api_requests", "HTTP API requests, by route and status.")

    @app.middleware("http")
    async def _count(request: Request, call_next):
        """Labels carry the route's template (/v1/cases/{case_id}), never the ids in the path."""
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        requests.add(1, {"route": route, "method": request.method, "status": str(response.status_code)})
        return response

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"ok": True}

    # ------------------------------------------------------------------------------------ cases

    @app.put("/v1/orders/{order_id}", status_code=201, response_model=RegisteredOrder, tags=["orders"], responses={200: {"model": RegisteredOrder}})
    async def register_order(
        order_id: OpaquePath, registered: RegisteredOrder, caller: Annotated[Caller, Depends(authenticate)], response: Response
    ) -> RegisteredOrder:
        """Registers an order as the marketplace sold it (201), or again with its dates moved (200): the
        only source of a case's parties, lines and amounts. What the sale fixed never changes (409)."""
        allow(caller, Role.ORDER_SYSTEM)
        if registered.order.order_id != order_id:
            raise Problem(422, "Invalid request", "order.order_id", f"must be the order id of the path, {order_id}")
        try:
            created = state["store"].register_order(registered, datetime.now(UTC))
        except Refusal as refusal:
            raise Problem(409, "The order is registered otherwise", refusal.field, refusal.rule) from None
        response.status_code = 201 if created else 200
        return registered

    @app.post("/v1/cases", status_code=201, response_model=Opened, tags=["cases"], responses={200: {"model": Opened}})
    async def open_case(
        asked: CaseRequest,
        caller: Annotated[Caller, Depends(authenticate)],
        response: Response,
        idempotency_key: IdempotencyKey = None,
    ) -> Any:
        """Opens a case on a registered order, or finds the one its `request_id` already opened (201 the
        first time, 200 after). The order, its lines and amounts, the policy and the fraud flag come
        from the order's registration, never from the caller. With an Idempotency-Key, a replay gets
        the first answer; the same key with another body is a 409."""
        allow(caller, Role.BUYER_APP, Role.SUPPORT_CONSOLE)
        registered = state["store"].registered_order(asked.order_id)
        if registered is None or (caller.role is Role.BUYER_APP and registered.order.buyer_id not in caller.buyer_ids):
            raise _no_such_order(caller, asked.order_id)
        remembered = _remembered(caller, idempotency_key, asked)
        if remembered is not None:
            return remembered
        try:
            new = case_on(registered, _scoped(caller, asked.request_id), asked.reason, asked.kind, asked.lines, asked.note)
            opened = await state["client"].open(new)
        except Refusal as refusal:
            raise Problem(422, "Refused by the policy", refusal.field, refusal.rule) from None
        except CaseRefused as refused:  # no case exists yet to conflict with: the request is what is wrong
            raise Problem(422, "Refused by the policy", refused.field, refused.rule) from None
        answer = Opened(case_id=opened.case_id, workflow_id=opened.workflow_id, created=opened.created)
        status = 201 if opened.created else 200
        response.status_code = status
        if idempotency_key is not None:
            _remember(caller, idempotency_key, asked, status, answer.model_dump())
        return answer

    def _request_hash(body: BaseModel) -> str:
        return hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()

    def _remembered(caller: Caller, key: str | None, body: BaseModel) -> JSONResponse | None:
        if key is None:
            return None
        row = state["store"].get(ApiIdempotencyRow, f"{caller.name}:{key}")
        if row is None:
            return None
        if row.request_hash != _request_hash(body):
            raise Problem(
                409, "Idempotency-Key reused with another request", "Idempotency-Key", "a key names one request; use a new key for a new request"
            )
        return JSONResponse(row.response, status_code=row.status_code, headers={"Idempotent-Replayed": "true"})

    def _remember(caller: Caller, key: str, body: BaseModel, status: int, answer: dict) -> None:
        row = ApiIdempotencyRow(
            key=f"{caller.name}:{key}", request_hash=_request_hash(body), status_code=status, response=answer, created_at=datetime.now(UTC)
        )
        state["store"].insert_once(row)

    def _scoped(caller: Caller, request_id: str | None) -> str | None:
        """A request id as the case sees it: the caller's name before it, so that no caller's id can
        find another caller's case or command (the same id from two callers is two requests)."""
        if request_id is None:
            return None
        scoped = f"{caller.name}:{request_id}"
        if len(scoped) > REQUEST_ID_LENGTH:
            rule = f"at most {REQUEST_ID_LENGTH - len(caller.name) - 1} characters for the caller {caller.name}"
            raise Problem(422, "Request id too long", "request_id", rule)
        return scoped

    async def _check_case(caller: Caller, case_id: str, reading: bool) -> None:
        """Whether the case exists and the caller may act on it (or read it), from the server's record of
        the case, before anything reaches the case. A case that does not exist and one that is not the
        caller's get the same answer, so that ids tell nothing."""
        parties = await state["client"].parties(case_id)
        if parties is None or not (caller.may_read(*parties) if reading else caller.may_act_on(*parties)):
            raise Problem(404, "No such case", "case_id", f"{caller.name} has no case {case_id}")

    @app.get("/v1/cases/{case_id}", response_model=CaseView, tags=["cases"])
    async def show_case(case_id: CaseId, caller: Annotated[Caller, Depends(authenticate)]) -> CaseView:
        """The case view, as the workflow's `case` query returns it."""
        allow(caller, Role.SELLER_PORTAL, Role.BUYER_APP, Role.SUPPORT_CONSOLE)
        await _check_case(caller, case_id, reading=True)
        return seen_by(await state["client"].show(case_id), caller.reads_every_case)

    async def _act(case_id: str, message: Sent, caller: Caller, wait: bool, idempotency_key: str | None) -> Any:
        if not caller.may_speak_for(message.by.party, message.by.id):
            raise Problem(403, "Not allowed to speak for this sender", "by", f"{caller.name} ({caller.role.value}) may not act as {message.by}")
        await _check_case(caller, case_id, reading=False)
        message = message.model_copy(update={"request_id": _scoped(caller, message.request_id or idempotency_key)})
        shown = await state["client"].send(case_id, message, wait=wait)
        if shown is None or not caller.may_read(shown.seller_id, shown.buyer_id):
            return JSONResponse(Accepted(case_id=case_id).model_dump(), status_code=202)
        return seen_by(shown, caller.reads_every_case)

    def _action_route(path: str, model: type[Sent], is_fact: bool) -> None:
        kind = model.model_fields["kind"].default

        async def act(
            case_id: CaseId,
            message: Annotated[model, Body()],  # type: ignore[valid-type]
            caller: Annotated[Caller, Depends(authenticate)],
            idempotency_key: IdempotencyKey = None,
            wait: Annotated[bool, Query(description="false: send as a signal and answer 202 at once.")] = True,
        ) -> Any:
            return await _act(case_id, message, caller, wait and not is_fact, idempotency_key)

        act.__doc__ = (model.__doc__ or kind).strip().split("\n")[0]
        responses = {202: {"model": Accepted}} if not is_fact else {}
        status = 202 if is_fact else 200
        app.post(
            f"/v1/cases/{{case_id}}/{path}",
            name=kind,
            tags=["facts" if is_fact else "decisions"],
            status_code=status,
            response_model=Accepted if is_fact else CaseView,
            responses=responses,
        )(act)

    for path, model in DECISIONS.items():
        _action_route(path, model, is_fact=False)
    for path, model in FACTS.items():
        _action_route(path, model, is_fact=True)

    # ------------------------------------------------------------------------------------ reads

    @app.post("/v1/sellers/{seller_id}/reinstatement", response_model=Reinstated, tags=["sellers"])
    async def reinstate_seller(seller_id: OpaquePath, caller: Annotated[Caller, Depends(authenticate)]) -> Reinstated:
        """Support reinstates a seller flagged by cases left unresolved too long, once every such case is
        resolved (resolving a case does not lift its flag: seed 001). 409 while one is open, or if the
        seller is not flagged."""
        allow(caller, Role.SUPPORT_CONSOLE)
        try:
            lifted = await asyncio.to_thread(state["store"].reinstate_seller, seller_id, f"support:{caller.name}", datetime.now(UTC))
        except Refusal as refusal:
            raise Problem(409, "Not possible now", refusal.field, refusal.rule) from None
        return Reinstated(seller_id=seller_id, lifted_cases=lifted)

    @app.get("/v1/sellers/{seller_id}/cases", response_model=SellerCases, tags=["reads"])
    async def seller_cases(
        seller_id: OpaquePath,
        caller: Annotated[Caller, Depends(authenticate)],
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
        page = queries.seller_queue(state["store"], seller_id, status=status, reason=reason, policy=policy, after=_cursor(cursor), limit=limit)
        after = page.next_after
        next_cursor = f"{after[0].isoformat()}~{after[1]}" if after else None
        return SellerCases(cases=[CaseSummary.of(row) for row in page.cases], next_cursor=next_cursor)

    @app.get("/v1/orders/{order_id}/cases", response_model=OrderCases, tags=["reads"])
    async def order_cases(order_id: OpaquePath, caller: Annotated[Caller, Depends(authenticate)]) -> OrderCases:
        """An order's cases and whether its payout is held."""
        allow(caller, Role.SELLER_PORTAL, Role.BUYER_APP, Role.SUPPORT_CONSOLE)
        found = queries.order_state(state["store"], order_id)
        theirs = found.cases and all(caller.may_read(row.seller_id, row.buyer_id) for row in found.cases)
        if not (caller.reads_every_case or theirs):  # an order with no case is no portal's or app's to read
            raise _no_such_order(caller, order_id)
        return OrderCases(order_id=order_id, payout_state=found.payout_state, cases=[CaseSummary.of(row) for row in found.cases])

    @app.get("/v1/reports/kpi", tags=["reads"])
    async def kpi_report(caller: Annotated[Caller, Depends(authenticate)], days: Annotated[int, Query(ge=1, le=366)] = 30) -> dict:
        """Resolution rate, time to resolve, reasons, issue rate per seller, sellers past their deadlines."""
        allow(caller, Role.SUPPORT_CONSOLE)
        now = datetime.now(UTC)
        return jsonable_encoder(queries.report(state["store"], now - timedelta(days=days), now, now).as_dict())

    # --------------------------------------------------------------------------------- webhooks

    @app.post("/v1/webhooks", status_code=201, response_model=CreatedSubscription, tags=["webhooks"])
    async def subscribe(subscription: NewSubscription, caller: Annotated[Caller, Depends(authenticate)]) -> CreatedSubscription:
        """Registers a URL for some case events. Deliveries are signed with the secret returned here."""
        allow(caller)
        try:
            await asyncio.to_thread(checked_addresses, str(subscription.url), settings.webhook_private_targets)
        except TargetRefused as refused:
            raise Problem(422, "Webhook URL refused", "url", str(refused)) from None
        except OSError:
            pass  # the host does not resolve yet: each delivery checks it again
        row = WebhookSubscriptionRow(
            id=f"wh_{secrets.token_hex(8)}",
            url=str(subscription.url),
            events=[e.value for e in subscription.events],
            seller_ids=subscription.seller_ids,
            secret=f"whsec_{secrets.token_urlsafe(24)}",
            created_by=caller.name,
            created_at=datetime.now(UTC),
            active=True,
        )
        state["store"].insert_once(row)
        return CreatedSubscription(id=row.id, url=row.url, events=row.events, seller_ids=row.seller_ids, created_at=row.created_at, secret=row.secret)

    @app.get("/v1/webhooks", response_model=list[Subscription], tags=["webhooks"])
    async def subscriptions(caller: Annotated[Caller, Depends(authenticate)]) -> list[Subscription]:
        allow(caller)
        rows = state["store"].rows(WebhookSubscriptionRow, active=True)
        return [Subscription(id=r.id, url=r.url, events=r.events, seller_ids=r.seller_ids, created_at=r.created_at) for r in rows]

    @app.delete("/v1/webhooks/{subscription_id}", status_code=204, tags=["webhooks"])
    async def unsubscribe(subscription_id: OpaquePath, caller: Annotated[Caller, Depends(authenticate)]) -> Response:
        allow(caller)
        if not state["store"].deactivate_subscription(subscription_id):
            raise Problem(404, "No such subscription", "subscription_id", f"there is no subscription {subscription_id}")
        return Response(status_code=204)

    @app.get("/v1/webhooks/{subscription_id}/deliveries", response_model=list[Delivery], tags=["webhooks"])
    async def deliveries(
        subscription_id: OpaquePath, caller: Annotated[Caller, Depends(authenticate)], limit: Annotated[int, Query(ge=1, le=500)] = 100
    ) -> list[Delivery]:
        """The subscription's deliveries, newest first: pending, delivered, or given up, with attempts."""
        allow(caller)
        with state["store"].sessions() as session:
            query = (
                select(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.subscription_id == subscription_id)
                .order_by(WebhookDeliveryRow.created_at.desc())
                .limit(limit)
            )
            rows = list(session.scalars(query))
        return [Delivery.model_validate(row, from_attributes=True) for row in rows]

    @app.post("/v1/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver", status_code=202, response_model=Delivery, tags=["webhooks"])
    async def redeliver(subscription_id: OpaquePath, delivery_id: DeliveryPath, caller: Annotated[Caller, Depends(authenticate)]) -> Delivery:
        """Sends a given-up delivery again, say after the subscriber's long outage: a new round of
        attempts with the same event id, on which the subscriber deduplicates."""
        allow(caller)
        try:
            row = state["store"].redeliver(subscription_id, delivery_id)
        except LookupError:
            raise Problem(404, "No such delivery", "delivery_id", f"subscription {subscription_id} has no delivery {delivery_id}") from None
        except DeliveryRefused as refused:
            raise Problem(409, "Not possible in the delivery's current state", refused.field, refused.rule) from None
        client = state["client"]
        if not await start_delivery(client.client, client.task_queue, delivery_id):  # left undispatched: a retry takes it
            raise Problem(409, "Not possible in the delivery's current state", "status", "its last round is still closing: send it again in a moment")
        state["store"].update_delivery(delivery_id, dispatched_at=datetime.now(UTC))
        return Delivery.model_validate(row, from_attributes=True)

    return app


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
