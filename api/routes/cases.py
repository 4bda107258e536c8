"""Cases: opened on a registered order, read, and acted on by each party. A route per message kind a
party or a carrier sends, made from the registry of message kinds (cases.engine.RULES via the message
unions): a kind added there is routed here with no edit.

No `from __future__ import annotations` here: the action routes are made in a loop, and FastAPI reads
each one's body model from its live annotation."""

from collections.abc import Callable
from typing import Annotated, Any, cast, get_args

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api import idempotency
from api.auth import Caller, Role
from api.bodies import Accepted, Opened
from api.dependencies import CallerDep, Service, ServiceDep, allow, no_such_order
from api.parameters import CaseId, IdempotencyKey, OpaquePath
from api.problem import Problem
from api.routes.evidence import owned
from cases.messages import Decision, Fact, PartyMessage, Sent, kind_of
from cases.model import CaseKind
from cases.orders import CaseRequest, IssueReport, RegisteredOrder
from cases.refusal import Refusal
from cases.view import CaseView, seen_by
from starter.client import CaseRefused, NewCase, case_on

router = APIRouter()


def action_path(model: type[Sent]) -> str:
    """A message kind's path under /v1/cases/{case_id}/: its kind with dashes; a party's message is `messages`."""
    return "messages" if model is PartyMessage else kind_of(model).replace("_", "-")


# Decisions are updates (200 with the case view, or 202 with ?wait=false); carrier and payment facts are
# signals (202).
DECISIONS: dict[str, type[Sent]] = {action_path(model): model for model in (*get_args(Decision), PartyMessage)}
FACTS: dict[str, type[Sent]] = {action_path(model): model for model in get_args(Fact)}


@router.post("/v1/cases", status_code=201, response_model=Opened, tags=["cases"], responses={200: {"model": Opened}})
async def open_case(asked: CaseRequest, caller: CallerDep, service: ServiceDep, response: Response, idempotency_key: IdempotencyKey = None) -> Any:
    """Opens a case on a registered order, or finds the one its `request_id` already opened (201 the
    first time, 200 after). The order, its lines and amounts, the policy and the fraud flag come
    from the order's registration, never from the caller; the caller names the lines and units. With
    an Idempotency-Key, a replay gets the first answer; the same key with another body is a 409."""

    def cases(registered: RegisteredOrder) -> list[NewCase]:
        request_id = idempotency.scoped_id(caller, asked.request_id)
        return [case_on(registered, request_id, asked.reason, asked.kind, asked.lines, asked.note, asked.evidence)]

    opened = await _open(service, caller, asked.order_id, asked, cases, response, idempotency_key)
    return opened if isinstance(opened, JSONResponse) else opened[0]


@router.post("/v1/orders/{order_id}/issues", status_code=201, response_model=list[Opened], tags=["cases"], responses={200: {"model": list[Opened]}})
async def report_issues(
    order_id: OpaquePath, asked: IssueReport, caller: CallerDep, service: ServiceDep, response: Response, idempotency_key: IdempotencyKey = None
) -> Any:
    """Reports several issues on one order at once (seed 002): a refund request each, on its own lines
    and with its own reason, all opened or (one refused, naming `issues[n]…`) none. 201 when this
    call opened them, 200 when its `request_id` had."""

    def cases(registered: RegisteredOrder) -> list[NewCase]:
        scoped = idempotency.scoped_id(caller, asked.request_id)
        return [
            case_on(registered, f"{scoped}/{n + 1}", issue.reason, CaseKind.REFUND_REQUEST, issue.lines, issue.note, issue.evidence)
            for n, issue in enumerate(asked.issues)
        ]

    return await _open(service, caller, order_id, asked, cases, response, idempotency_key)


async def _open(
    service: Service,
    caller: Caller,
    order_id: str,
    asked: BaseModel,
    cases: Callable[[RegisteredOrder], list[NewCase]],
    response: Response,
    idempotency_key: str | None,
) -> list[Opened] | JSONResponse:
    """Opens the cases `cases` makes from the registered order, for a buyer's app on its own orders or
    for support; a policy's refusal is a 422 naming the field."""
    allow(caller, Role.BUYER_APP, Role.SUPPORT_CONSOLE)
    registered = service.store.registered_order(order_id)
    if registered is None or (caller.role is Role.BUYER_APP and registered.order.buyer_id not in caller.buyer_ids):
        raise no_such_order(caller, order_id)
    replayed = idempotency.remembered(service.store, caller, idempotency_key, asked)
    if replayed is not None:
        return replayed
    made = cases(registered)
    where = (lambda n: f"issues[{n}].") if isinstance(asked, IssueReport) else (lambda n: "")
    news = [new.model_copy(update={"evidence": await owned(service.evidence, caller, new.evidence, where(n))}) for n, new in enumerate(made)]
    try:
        opened = await service.client.report(news)
    except (Refusal, CaseRefused) as refused:  # no case exists yet to conflict with: the request is what is wrong
        raise Problem(422, "Refused by the policy", refused.field, refused.rule) from None
    answers = [Opened(case_id=one.case_id, workflow_id=one.workflow_id, created=one.created) for one in opened]
    response.status_code = 201 if any(one.created for one in opened) else 200
    if idempotency_key is not None:
        answer: Any = answers[0].model_dump() if isinstance(asked, CaseRequest) else [one.model_dump() for one in answers]
        idempotency.remember(service.store, caller, idempotency_key, asked, response.status_code, answer)
    return answers


async def _check_case(service: Service, caller: Caller, case_id: str, reading: bool) -> None:
    """Whether the case exists and the caller may act on it (or read it), from the server's record of
    the case, before anything reaches the case. A case that does not exist and one that is not the
    caller's get the same answer, so that ids tell nothing."""
    parties = await service.client.parties(case_id)
    if parties is None or not (caller.may_read(*parties) if reading else caller.may_act_on(*parties)):
        raise Problem(404, "No such case", "case_id", f"{caller.name} has no case {case_id}")


@router.get("/v1/cases/{case_id}", response_model=CaseView, tags=["cases"])
async def show_case(case_id: CaseId, caller: CallerDep, service: ServiceDep) -> CaseView:
    """The case view, as the workflow's `case` query returns it."""
    allow(caller, Role.SELLER_PORTAL, Role.BUYER_APP, Role.SUPPORT_CONSOLE)
    await _check_case(service, caller, case_id, reading=True)
    return seen_by(await service.client.show(case_id), caller.reads_every_case)


async def _act(service: Service, case_id: str, message: Sent, caller: Caller, wait: bool, idempotency_key: str | None) -> Any:
    if not caller.may_speak_for(message.by.party, message.by.id):
        raise Problem(403, "Not allowed to speak for this sender", "by", f"{caller.name} ({caller.role.value}) may not act as {message.by}")
    await _check_case(service, caller, case_id, reading=False)
    scoped = idempotency.scoped(caller, message.request_id or idempotency_key)
    message = message.model_copy(update={"request_id": scoped, "evidence": await owned(service.evidence, caller, message.evidence)})
    shown = await service.client.send(case_id, cast(Decision | PartyMessage | Fact, message), wait=wait)  # a route per kind of these
    if shown is None or not caller.may_read(shown.seller_id, shown.buyer_id):
        return JSONResponse(Accepted(case_id=case_id).model_dump(), status_code=202)
    return seen_by(shown, caller.reads_every_case)


def _action_route(path: str, model: type[Sent], is_fact: bool) -> None:
    kind = kind_of(model)

    async def act(
        case_id: CaseId,
        message: Annotated[model, Body()],  # type: ignore[valid-type]
        caller: CallerDep,
        service: ServiceDep,
        idempotency_key: IdempotencyKey = None,
        wait: Annotated[bool, Query(description="false: send as a signal and answer 202 at once.")] = True,
    ) -> Any:
        return await _act(service, case_id, message, caller, wait and not is_fact, idempotency_key)

    act.__doc__ = (model.__doc__ or kind).strip().split("\n")[0]
    responses: dict[int | str, dict[str, Any]] = {202: {"model": Accepted}} if not is_fact else {}
    router.post(
        f"/v1/cases/{{case_id}}/{path}",
        name=kind,
        tags=["facts" if is_fact else "decisions"],
        status_code=202 if is_fact else 200,
        response_model=Accepted if is_fact else CaseView,
        responses=responses,
    )(act)


for _path, _model in DECISIONS.items():
    _action_route(_path, _model, is_fact=False)
for _path, _model in FACTS.items():
    _action_route(_path, _model, is_fact=True)
