"""The bench's count of billable actions follows Temporal Cloud's rules, on a recorded case; and the
floor's workflow takes a message that arrives in its first task."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.worker import Worker

from bench.baseline import BaselineCase, Shape, noop
from bench.cases_bench import _actions

HISTORIES = Path(__file__).parent / "histories"


def _history(name: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(name, json.loads((HISTORIES / name).read_text()))


def test_a_full_refund_costs_eight_actions():
    # The start; the first task's patch marker and local activity marker (one action for the task);
    # its TemporalChangeVersion upsert (exempt); two timers; the seller's update; the refund activity;
    # the status upsert; the closing task's local activity marker.
    history = _history("v8-full_refund.json")
    assert _actions(history) == 8
    events = sum(1 for e in history.events if e.HasField("marker_recorded_event_attributes") or e.HasField("upsert_workflow_search_attributes_event_attributes"))
    assert events == 5  # counted one by one, the markers and upserts alone would make it 10


def test_an_upsert_that_sets_more_than_the_change_version_is_billed():
    history = _history("v8-full_refund.json")
    upsert = next(e for e in history.events if e.HasField("upsert_workflow_search_attributes_event_attributes"))
    upsert.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields["CaseStatus"].CopyFrom(Payload(data=b'"open"'))
    assert _actions(history) == 9


def test_retries_are_billed():
    history = _history("v8-full_refund.json")
    started = next(e for e in history.events if e.HasField("activity_task_started_event_attributes"))
    started.activity_task_started_event_attributes.attempt = 3
    completed = next(e for e in history.events if e.HasField("workflow_task_completed_event_attributes"))
    completed.workflow_task_completed_event_attributes.metering_metadata.nonfirst_local_activity_execution_attempts = 2
    assert _actions(history) == 8 + 2 + 2


@pytest.mark.workflow
async def test_the_floors_message_in_its_first_task_waits_for_stage_zero(env):
    """The floor's update, sent before any worker runs, shares the first task with stage 0 (an activity
    here). It used to run its own stage beside stage 0, which then finished last, set `done` back to 0,
    and left the floor waiting a day for the message it had taken (a short `make bench` hung on it)."""
    queue = f"floor-{uuid.uuid4().hex[:8]}"
    shape = Shape(triggers=["update"], activities=[1, 0], local_activities=[0, 0], wait=timedelta(hours=72))
    handle = await env.client.start_workflow(BaselineCase.run, shape, id=f"floor-{uuid.uuid4().hex}", task_queue=queue)
    update = asyncio.create_task(handle.execute_update(BaselineCase.step))
    await asyncio.sleep(0.5)
    async with Worker(env.client, task_queue=queue, workflows=[BaselineCase], activities=[noop]):
        assert await asyncio.wait_for(update, 30) == 1
        assert await asyncio.wait_for(handle.result(), 30) == []
