"""`CaseClient`: what a Python backend imports to open cases, act on them and read them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest, DescribeWorkflowExecutionResponse
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.converter import PayloadConverter
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from activities.webhooks import WebhookDelivery
from cases import engine, policies
from cases.abuse import BuyerRecord, judged, suspicion
from cases.case import Case
from cases.evidence import MAX_ATTACHMENTS, Attachment, EvidenceKind
from cases.messages import FACT_KINDS, REQUEST_ID_LENGTH, Decision, Fact, OpenCase, PartyMessage, Reopening
from cases.model import MAX_ITEMS, CaseKind, CaseLine, Order, Reason, Status
from cases.orders import RegisteredOrder, policy_for
from cases.policy import Policy
from cases.refusal import Refusal
from cases.strict import Strict, field_rules, named
from cases.view import CaseView, static_details, static_summary, view
from codec.encryption import Keyring, data_converter
from config.settings import Settings
from store import queries
from store.database import Store
from store.evidence import EvidenceFiles
from store.unit_holds import Holding
from telemetry.setup import tracing_interceptors
from workflows import search_attributes
from workflows.refund_case import RefundCaseWorkflow, workflow_id
from workflows.webhook_delivery import WebhookDeliveryWorkflow
from workflows.webhook_delivery import workflow_id as delivery_workflow_id

# A buyer's refund behaviour: (buyer id, the order about to get a case, since when) -> what they did.
BuyerRecords = Callable[[str, str, datetime], BuyerRecord]

CASE_NAMESPACE = uuid.UUID("6f1d2c1e-4b8a-4f4e-9a52-2f0c5f6b7e10")


class NewCase(Strict):
    """What a backend sends to open a case. `request_id` makes opening idempotent."""

    request_id: str = Field(min_length=1, max_length=REQUEST_ID_LENGTH)
    reason: Reason
    order: Order
    lines: list[CaseLine] | None = Field(default=None, max_length=MAX_ITEMS, description="The lines concerned; every unit of the order when None.")
    kind: CaseKind = CaseKind.REFUND_REQUEST
    policy: str = "direct_service"
    buyer_flagged_for_fraud: bool = False
    note: str | None = Field(default=None, max_length=2000)
    evidence: list[Attachment] = Field(default=[], max_length=MAX_ATTACHMENTS, description="The buyer's files, uploaded first (CaseClient.attach).")


def case_on(
    registered: RegisteredOrder,
    request_id: str,
    reason: Reason,
    kind: CaseKind,
    lines: list[CaseLine] | None = None,
    note: str | None = None,
    evidence: Sequence[Attachment] = (),
) -> NewCase:
    """A case on a registered order: the order, its lines and amounts, the policy and the fraud flag all
    come from the registration (cases.orders); the claimant only names the lines and units."""
    return NewCase(
        request_id=request_id,
        reason=reason,
        kind=kind,
        order=registered.order,
        lines=lines,
        policy=policy_for(registered, kind),
        buyer_flagged_for_fraud=registered.buyer_flagged_for_fraud,
        note=note,
        evidence=list(evidence),
    )


@dataclass
class Opened:
    case_id: str
    workflow_id: str
    created: bool


class CaseRefused(Exception):
    """A command refused, by its model (`checked`) or by the case's rules: `field` and `rule` say which
    and why, `problems` every (field, rule) found; nothing changed."""

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None):
        self.field, _, self.rule = message.partition(": ")
        self.problems = problems or [(self.field, self.rule)]
        super().__init__(message)


M = TypeVar("M", bound=BaseModel)


def checked(model: type[M], **fields: Any) -> M:
    """`model(**fields)`, or CaseRefused naming the first field that fails it and its rule: one error
    type for a command whether its input or the rules refuse it."""
    try:
        return model(**fields)
    except ValidationError as invalid:
        problems = [named(field, rule) for field, rule in field_rules(invalid)]
        raise CaseRefused(": ".join(problems[0]), problems) from None


def case_id_for(request_id: str) -> str:
    """The same request id always names the same case, so a retried open finds the first one."""
    return str(uuid.uuid5(CASE_NAMESPACE, request_id))


def update_id(message: Decision | PartyMessage | Fact) -> str | None:
    """The update's id: its request id, bound to its sender and kind as the case binds it
    (engine.is_repeat), so that the server answers a retry with the first outcome and never answers
    one sender's command with another's."""
    if message.request_id is None:
        return None
    return f"{message.kind}/{message.by}/{message.request_id}"


async def connect(settings: Settings, interceptors: Sequence = ()) -> Client:
    """`interceptors` join the tracing ones (the replay checks' negative controls add theirs)."""
    tls: TLSConfig | bool = False
    if settings.temporal_tls_cert or settings.temporal_tls_ca:
        tls = TLSConfig(
            server_root_ca_cert=settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None,
            client_cert=settings.temporal_tls_cert.read_bytes() if settings.temporal_tls_cert else None,
            client_private_key=settings.temporal_tls_key.read_bytes() if settings.temporal_tls_key else None,
        )
    elif settings.temporal_api_key:
        tls = True
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
        tls=tls,
        data_converter=data_converter(Keyring.configured(settings)),
        interceptors=[*tracing_interceptors(settings), *interceptors],
    )


WORKFLOW_EXECUTION_STATUS_RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING


async def wall_clock() -> datetime:
    return datetime.now(UTC)


class CaseClient:
    def __init__(
        self,
        client: Client,
        task_queue: str = "refund-cases",
        clock: Callable[[], Awaitable[datetime]] = wall_clock,
        extra_policies: dict[str, Policy] | None = None,
    ):
        """`clock` serves the eligibility pre-check; tests pass the time-skipping server's clock.
        `extra_policies` adds policies beside the presets (the chaos run's short test policies).
        What only the case store knows comes with `use_store`."""
        self.client = client
        self.task_queue = task_queue
        self.clock = clock
        self.extra_policies = extra_policies or {}
        self.buyer_records: BuyerRecords | None = None
        self.closed_cases: Callable[[str], Case | None] | None = None
        self.units: Callable[[Order, list[Holding]], None] | None = None
        self.evidence: EvidenceFiles | None = None

    def use_store(self, store: Store) -> CaseClient:
        """Reads what only the case store knows: a buyer's refund behaviour (the abuse rules, at
        opening), the units the order's other cases hold, and the state a closed case ended with (a
        reopening, once its workflow has ended)."""
        self.buyer_records = partial(queries.buyer_record, store)
        self.closed_cases = store.closed_case
        self.units = store.hold_units
        return self

    def use_evidence(self, files: EvidenceFiles) -> CaseClient:
        """Attaches files from the evidence store: `attach` uploads one, and every message's and
        opening's attachments get their media type and size from the store."""
        self.evidence = files
        return self

    async def attach(self, content: bytes, kind: EvidenceKind, caption: str | None = None, uploader: str = "client") -> Attachment:
        """Uploads a file to the evidence store and returns the reference a message carries. Raises
        CaseRefused naming `file` (empty, too large, a type no policy takes)."""
        if self.evidence is None:
            raise CaseRefused("evidence: attaching files needs the evidence store (CaseClient.use_evidence)")
        try:
            stored = await asyncio.to_thread(self.evidence.upload, content, uploader, await self.clock())
        except Refusal as refusal:
            raise CaseRefused(str(refusal)) from None
        return Attachment(digest=stored.digest, kind=kind, caption=caption, media_type=stored.media_type, size=stored.size)

    async def file_of(self, case_id: str, digest: str) -> tuple[bytes, str] | None:
        """A file the case holds, and its media type; None for one it does not hold."""
        shown = await self.show(case_id)
        if self.evidence is None or not any(item.digest == digest for item in shown.evidence):
            return None
        return await asyncio.to_thread(self.evidence.read, digest)

    async def _described(self, attachments: list[Attachment], where: str = "") -> list[Attachment]:
        """The attachments as the evidence store describes their files (media type and size from their
        bytes); CaseRefused names the file (`where`: the issue of a report, `issues[1].`)."""
        if not attachments or self.evidence is None:
            return attachments
        try:
            return await asyncio.to_thread(self.evidence.attached, attachments, None)
        except Refusal as refusal:
            raise CaseRefused(f"{where}{refusal}") from None

    @classmethod
    async def connect(cls, settings: Settings) -> CaseClient:
        return cls(await connect(settings), settings.temporal_task_queue)

    async def open(self, new: NewCase) -> Opened:
        """Opens the case, or finds the one this request id already opened. Raises CaseRefused."""
        (opened,) = await self.report([new])
        return opened

    async def report(self, issues: Sequence[NewCase]) -> list[Opened]:
        """Opens several cases on one order at once, one per issue, each on its own lines (seed 002:
        several issues on one order, each with its reason): all of them or, when one is refused, none.
        Raises CaseRefused naming the issue (`issues[1].lines[0].quantity`) when there are several."""
        if len({issue.order.order_id for issue in issues}) > 1:
            raise CaseRefused("issues: the issues of one report concern one order")
        where = (lambda n: f"issues[{n}].") if len(issues) > 1 else (lambda n: "")
        requests = [await self._request(issue, where(n)) for n, issue in enumerate(issues)]
        previews = [engine.open_case(request, request.requested_at or await self.clock()).case for request in requests]
        await self._hold_units(previews, where)
        opened = []
        for request, preview in zip(requests, previews, strict=True):
            created = await self._start(request, preview, WorkflowIDReusePolicy.REJECT_DUPLICATE)
            opened.append(Opened(request.case_id, workflow_id(request.case_id), created=created))
        return opened

    async def _request(self, new: NewCase, where: str) -> OpenCase:
        """The opening a new case starts with, checked by the rules; CaseRefused names the field."""
        try:
            policy = self.extra_policies.get(new.policy) or policies.load(new.policy)
        except policies.PolicyError as err:
            raise CaseRefused(f"{where}{err}") from None
        case_id = case_id_for(new.request_id)
        new = new.model_copy(update={"evidence": await self._described(new.evidence, where)})
        now = await self.clock()
        abuse = await self._abuse_suspected(new, policy, now)
        request = OpenCase(case_id=case_id, policy=policy, requested_at=now, abuse_suspected=abuse, **new.model_dump(exclude={"policy"}))
        try:
            engine.check_open(request, now)
        except Refusal as refusal:
            raise CaseRefused(f"{where}{refusal}") from None
        return request

    async def _hold_units(self, previews: list[Case], where: Callable[[int], str]) -> None:
        """Holds the units each refund request concerns, in the case store (store.unit_holds): two
        cases of one order never cover the same unit. Without the store, only the order budget guards."""
        if self.units is None:
            return
        holdings = [(case.case_id, case.lines, f"{where(n)}lines") for n, case in enumerate(previews) if case.kind is CaseKind.REFUND_REQUEST]
        if holdings:
            try:
                await asyncio.to_thread(self.units, previews[0].order, holdings)
            except Refusal as refusal:
                raise CaseRefused(str(refusal)) from None

    async def _start(self, request: OpenCase, case: Case, reuse: WorkflowIDReusePolicy) -> bool:
        """Starts the case's workflow, findable from its first event; False if a run of it already
        runs (or, for an opening, ever ran: a case id opens once)."""
        try:
            await self.client.start_workflow(
                "RefundCase",  # by name: its run takes the raw opening, to refuse a bad one by field
                request,
                id=workflow_id(request.case_id),
                task_queue=self.task_queue,
                id_reuse_policy=reuse,
                static_summary=static_summary(request),
                static_details=static_details(request),
                search_attributes=search_attributes.initial(case),
            )
        except WorkflowAlreadyStartedError:
            return False
        return True

    async def _abuse_suspected(self, new: NewCase, policy: Policy, now: datetime) -> str | None:
        if self.buyer_records is None or not judged(new.kind):
            return None  # a protection opens at checkout on every order that has one: no store read for it
        since = now - policy.hours(policy.abuse.within_hours)
        record = await asyncio.to_thread(self.buyer_records, new.order.buyer_id, new.order.order_id, since)
        return suspicion(policy.abuse, new.kind, record)

    async def send(self, case_id: str, message: Decision | PartyMessage | Fact, *, wait: bool = True) -> CaseView | None:
        """Delivers a message. People's decisions are updates (a yes or no now) unless wait=False;
        carrier and payment facts are always signals. Raises CaseRefused on a refused update."""
        if isinstance(message, Reopening) and (reopened := await self._reopen(case_id, message)) is not None:
            return reopened
        message = message.model_copy(update={"evidence": await self._described(message.evidence)})
        handle = self.client.get_workflow_handle(workflow_id(case_id))
        try:
            if not wait or message.kind in FACT_KINDS:
                await handle.signal(message.kind, message)
                return None
            return await handle.execute_update(message.kind, message, id=update_id(message), result_type=CaseView)
        except WorkflowUpdateFailedError as err:
            if isinstance(err.cause, ApplicationError):
                raise CaseRefused(err.cause.message) from None
            raise
        except RPCError as err:
            # A reopening that met the closed case's workflow as it ended: start it again.
            if isinstance(message, Reopening) and (reopened := await self._reopen(case_id, message)) is not None:
                return reopened
            await self._explain(case_id, err)
            raise

    async def _reopen(self, case_id: str, reopening: Reopening) -> CaseView | None:
        """A closed case's workflow has ended: starts it again from the state the case store kept, to
        take the reopening first (the same rules judge it here, then in the workflow). None while its
        workflow still runs, or with no store: the update then goes to the running case as usual."""
        closed = await self._closed(case_id)
        if closed is None:
            return None
        try:
            engine.check(closed, reopening, await self.clock())
        except Refusal as refusal:
            raise CaseRefused(str(refusal)) from None
        if engine.is_repeat(closed, reopening):
            return view(closed)
        request = OpenCase(
            case_id=case_id, request_id=closed.request_id, kind=closed.kind, reason=closed.reason, order=closed.order,
            policy=closed.policy, continued=closed, reopening=reopening,
        )  # fmt: skip
        if not await self._start(request, closed, WorkflowIDReusePolicy.ALLOW_DUPLICATE):
            return None  # another reopening started it first: the update goes to that run
        shown = await self._past(case_id, closed.version)
        if shown.status is Status.CLOSED:  # refused in the workflow after all (a limit passed meanwhile)
            raise CaseRefused(shown.timeline[-1].summary)
        return shown

    async def _closed(self, case_id: str) -> Case | None:
        """The state of a closed case whose workflow has ended, or None."""
        if self.closed_cases is None:
            return None
        try:
            if await self.is_running(case_id):
                return None
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            # Past the namespace's retention the server has forgotten the case; the store has not.
        return await self._stored_closed(case_id)

    async def _stored_closed(self, case_id: str) -> Case | None:
        return None if self.closed_cases is None else await asyncio.to_thread(self.closed_cases, case_id)

    async def _past(self, case_id: str, version: int, seconds: float = 30) -> CaseView:
        """The case view once the case has moved past `version`."""
        for _ in range(int(seconds * 20)):
            shown = await self.show(case_id)
            if shown.version > version:
                return shown
            await asyncio.sleep(0.05)
        raise TimeoutError(f"case {case_id} did not take its reopening within {seconds} s")

    async def _explain(self, case_id: str, err: RPCError) -> None:
        """Turns "not found" from the server into the rule it means: no such case, or a closed one."""
        try:
            running = await self.is_running(case_id)
        except RPCError as missing:
            if missing.status is RPCStatusCode.NOT_FOUND:
                raise CaseRefused(f"case_id: there is no case {case_id}") from None
            raise err from None
        if not running:
            closed = await self._closed(case_id)
            if closed is not None and closed.policy.support_may_reopen:
                raise CaseRefused("status: the case is closed; only support may reopen it") from None
            if closed is None and self.closed_cases is None:
                raise CaseRefused("status: the case is closed; a reopening needs the case store (CaseClient.use_store)") from None
            raise CaseRefused("status: the case is closed; nothing more can be done") from None

    async def is_running(self, case_id: str) -> bool:
        """Whether the case's workflow still runs: it runs while the case is open."""
        return await workflow_running(self.client, workflow_id(case_id))

    async def parties(self, case_id: str) -> tuple[str, str] | None:
        """The case's seller and buyer, or None when there is no such case: read from the server's
        record of the workflow (the ids set at its start), without asking a worker, so that an API can
        decide who may act or read before anything reaches the case."""
        try:
            described = await describe(self.client, workflow_id(case_id))
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            closed = await self._stored_closed(case_id)  # a closed case the server no longer keeps
            return None if closed is None else (closed.order.seller_id, closed.order.buyer_id)
        fields = described.workflow_execution_info.search_attributes.indexed_fields
        keys = (search_attributes.SELLER_ID.name, search_attributes.BUYER_ID.name)
        if not all(key in fields for key in keys):
            return None
        seller, buyer = (PayloadConverter.default.from_payload(fields[key], str) for key in keys)
        return seller, buyer

    async def show(self, case_id: str) -> CaseView:
        return await self.client.get_workflow_handle(workflow_id(case_id)).query(RefundCaseWorkflow.case_view)

    async def list(self, query: str = "", limit: int = 50) -> list[dict]:
        """Cases from Temporal visibility, newest first; `query` is a visibility filter. A case that
        continued as new or was reopened has several runs: it is listed once, as its newest run says."""
        base = "WorkflowType = 'RefundCase'"
        rows, seen = [], set()
        async for execution in self.client.list_workflows(f"{base} AND ({query})" if query else base, limit=limit):
            if execution.id in seen:
                continue
            seen.add(execution.id)
            attrs = execution.typed_search_attributes
            row = {"case_id": execution.id.removeprefix("case-"), "opened_at": execution.start_time}
            row.update({key.name: attrs.get(key) for key in search_attributes.ALL})
            rows.append(row)
        return rows


async def describe(client: Client, workflow_id: str) -> DescribeWorkflowExecutionResponse:
    """The workflow's latest run, as the server records it. The raw call, because the SDK's describe()
    cannot decode an unset Datetime search attribute on every server."""
    request = DescribeWorkflowExecutionRequest(namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id))
    return await client.workflow_service.describe_workflow_execution(request)


async def workflow_running(client: Client, workflow_id: str) -> bool:
    """Whether the workflow's latest run is open."""
    described = await describe(client, workflow_id)
    return described.workflow_execution_info.status == WORKFLOW_EXECUTION_STATUS_RUNNING


async def start_delivery(client: Client, task_queue: str, delivery_id: str) -> bool:
    """Starts the WebhookDelivery workflow of one outbox delivery, under the delivery's id; whether a new
    run started (False: one is still open). A start after a run closed (a redelivery) is a new run. Only
    a delivery the store holds as pending is sent, so a start repeated after a delivery sends nothing twice."""
    try:
        await client.start_workflow(
            WebhookDeliveryWorkflow.run,
            WebhookDelivery(delivery_id=delivery_id),
            id=delivery_workflow_id(delivery_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True
