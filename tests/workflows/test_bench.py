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
from cases.case import GENERATION

HISTORIES = Path(__file__).parent.parent / "histories" / f"generation-{GENERATION}"


def _history(name: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(name, json.loads((HISTORIES / name).read_text()))


def test_a_full_refund_costs_seven_actions():
    # The start; the opening's effects, the refund and the closing's effects (three activities); the
    # seller-window timer; the seller's update; the status upsert (the opening's attributes are set at start).
    history = _history("full_refund.json")
    assert _actions(history) == 7


def test_an_upsert_of_the_change_version_alone_is_exempt():
    history = _history("full_refund.json")
    upsert = next(e for e in history.events if e.HasField("upsert_workflow_search_attributes_event_attributes"))
    fields = upsert.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    fields.clear()
    fields["TemporalChangeVersion"].CopyFrom(Payload(data=b'["some-patch"]'))
    assert _actions(history) == 6


def test_markers_count_once_per_workflow_task():
    history = _history("full_refund.json")
    completed = next(e for e in history.events if e.HasField("workflow_task_completed_event_attributes"))
    for _ in range(2):  # two local activities in one task: one action
        marker = history.events.add()
        marker.marker_recorded_event_attributes.marker_name = "core_local_activity"
        marker.marker_recorded_event_attributes.workflow_task_completed_event_id = completed.event_id
    assert _actions(history) == 8


def test_retries_are_billed():
    history = _history("full_refund.json")
    started = next(e for e in history.events if e.HasField("activity_task_started_event_attributes"))
    started.activity_task_started_event_attributes.attempt = 3
    completed = next(e for e in history.events if e.HasField("workflow_task_completed_event_attributes"))
    completed.workflow_task_completed_event_attributes.metering_metadata.nonfirst_local_activity_execution_attempts = 2
    assert _actions(history) == 7 + 2 + 2


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
