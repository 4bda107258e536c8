"""Histories written while messages crowd in replay on the same code, and rebuild the state they recorded.

On a real dev server: two carrier facts reach a case in one workflow task, and a query (a portal
reading the case) comes with that task. The SDK answers the query when the task's commands are done;
where the transition's effects were a local activity that finished first, it ended the task with the
activity's marker and handed its result to the workflow only in the next task, while a replay finds the
result at once: the timer the case armed in between met another command on replay, and the history no
longer replayed (docs/nothing-lost.md). Case views here take 0.3 s to build, so the effects always
finish first."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.controls import EffectsInALocalActivity, SlowQueries
from cases.messages import ReturnDelivered, ReturnInspection, ReturnShipped, SellerResponse
from cases.model import Outcome, Resolution, Status
from config.settings import Settings
from replay.check import replay
from starter.client import CaseClient, NewCase
from store.database import Store
from testkit.world import settled
from tests.conftest import BIN
from tests.factories import CARRIER, SELLER, order
from worker import build_worker
from workflows import search_attributes
from workflows.refund_case import RefundCaseWorkflow, workflow_id

pytestmark = pytest.mark.e2e


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dev_server():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"), search_attributes=search_attributes.ALL, data_converter=pydantic_data_converter
    )
    yield env.client
    await env.shutdown()


async def crowded_case(client: Client, tmp_path, case_workflow: type) -> tuple[str, object]:
    """Plays the pattern on `case_workflow` and returns the case id and its history."""
    store = Store(f"sqlite:///{tmp_path}/cases-{uuid.uuid4().hex[:6]}.db")
    store.migrate()
    queue = f"crowd-{uuid.uuid4().hex[:8]}"
    settings = Settings(_env_file=None, temporal_task_queue=queue, database_url=str(store.engine.url), codec="off")
    slow = Client(**{**client.config(), "interceptors": [SlowQueries()]})
    cases = CaseClient(client, queue)
    now = datetime.now(UTC)
    bought = order(purchased_at=now - timedelta(days=2), estimated_delivery_at=now - timedelta(days=1))
    with ThreadPoolExecutor(max_workers=8) as pool:
        async with build_worker(slow, settings, store, pool, case_workflow=case_workflow):
            case_id = (await cases.open(NewCase(request_id=f"crowd-{uuid.uuid4()}", reason="defective", order=bought))).case_id
            await cases.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.REFUND_AFTER_RETURN))
            await settled(client, workflow_id(case_id))
        # No worker: both facts and the portal's query wait for the same workflow task.
        await cases.send(case_id, ReturnShipped(by=CARRIER, tracking_number="RET-10001"))
        await cases.send(case_id, ReturnDelivered(by=CARRIER))
        read = asyncio.create_task(cases.show(case_id))
        await asyncio.sleep(0.5)
        async with build_worker(slow, settings, store, pool, case_workflow=case_workflow):
            await read
            for _ in range(200):
                if (await cases.show(case_id)).status is Status.AWAITING_RETURN_INSPECTION:
                    break
                await asyncio.sleep(0.05)
            shown = await cases.send(case_id, ReturnInspection(by=SELLER, confirm=True))
            assert shown.outcome is Outcome.REFUNDED_FULL
            await client.get_workflow_handle(workflow_id(case_id)).result()
    store.engine.dispose()
    return case_id, await client.get_workflow_handle(workflow_id(case_id)).fetch_history()


async def test_two_carrier_facts_in_one_task_with_a_query_replay_and_rebuild_the_case(dev_server, tmp_path):
    _, history = await crowded_case(dev_server, tmp_path, RefundCaseWorkflow)
    signals = [e.event_id for e in history.events if e.HasField("workflow_execution_signaled_event_attributes")]
    tasks = [e.event_id for e in history.events if e.HasField("workflow_task_started_event_attributes")]
    assert len(signals) == 2 and not any(signals[0] < task < signals[1] for task in tasks)  # both in one task
    replayed = await replay(history)
    assert replayed.differences == [] and replayed.activities >= 5


async def test_negative_control_the_same_case_with_its_effects_in_a_local_activity_does_not_replay(dev_server, tmp_path):
    _, history = await crowded_case(dev_server, tmp_path, EffectsInALocalActivity)
    replayed = await replay(history, EffectsInALocalActivity)
    assert len(replayed.differences) == 1 and "Nondeterminism" in replayed.differences[0], replayed.differences
