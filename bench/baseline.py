"""Temporal's floor for a case path: a workflow with no business logic that takes the same updates,
signals and timers as a refund case and runs the same number of activities after each, as no-ops.

Its shape is read from a history of the real workflow (`shape_of`), so the comparison stays fair when
the case workflow changes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial
from typing import Literal

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory


class Shape(BaseModel):
    """What moved the case each time (after its start) and how many activities followed."""

    triggers: list[Literal["update", "signal", "timer"]]
    activities: list[int]  # activities[0] after the start, then one entry per trigger
    local_activities: list[int] = []  # the same, for local activities (empty: none)
    wait: timedelta  # how long the case waits before a timer trigger fires (a message is awaited a day)


LOCAL_ACTIVITY_MARKER = "core_local_activity"  # the SDK core's marker for a local activity's result


@activity.defn(name="baseline_noop")
async def noop(stage: int) -> int:
    return stage


@workflow.defn(name="BaselineCase")
class BaselineCase:
    @workflow.init
    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.lock = asyncio.Lock()
        self.done = 0
        self.opened = False
        self.timer_lateness_s: list[float] = []

    def _reached(self, stage: int) -> bool:
        return self.done >= stage

    @workflow.run
    async def run(self, shape: Shape) -> list[float]:
        """Returns how late each timer stage began, in seconds (measured as a case measures its
        deadlines: the time of the task that acts, less the time due)."""
        await self._stage(0)
        self.opened = True
        for stage, trigger in enumerate(shape.triggers, start=1):
            wait = shape.wait if trigger == "timer" else timedelta(days=1)
            due = workflow.now() + wait
            try:
                await workflow.wait_condition(partial(self._reached, stage), timeout=wait)
            except TimeoutError:
                if trigger != "timer":
                    raise
                self.timer_lateness_s.append((workflow.now() - due).total_seconds())
                async with self.lock:
                    await self._stage(stage)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.timer_lateness_s

    @workflow.query(name="done")
    def stages_done(self) -> int:
        return self.done

    @workflow.update(name="step")
    async def step(self) -> int:
        return await self._message()

    @workflow.signal(name="step")
    async def step_signal(self) -> None:
        await self._message()

    async def _message(self) -> int:
        # As a case's messages wait for its opening: a message in the first task would otherwise run its
        # stage beside stage 0, which could then set `done` back to 0 and leave the run waiting a day.
        await workflow.wait_condition(lambda: self.opened)
        async with self.lock:
            stage = self.done + 1
            await self._stage(stage)
            return stage

    async def _stage(self, stage: int) -> None:
        for _ in range(self.shape.activities[stage]):
            await workflow.execute_activity(noop, stage, start_to_close_timeout=timedelta(seconds=30))
        for _ in range(self.shape.local_activities[stage] if self.shape.local_activities else 0):
            await workflow.execute_local_activity(noop, stage, start_to_close_timeout=timedelta(seconds=30))
        self.done = stage


def shape_of(history: WorkflowHistory, wait: timedelta) -> Shape:
    """Reads a case's triggers (accepted updates, signals, fired timers) and the activities and local
    activities that followed each one from its history."""
    triggers: list[str] = []
    activities, local = [0], [0]
    for event in history.events:
        kind = _trigger(event)
        if kind is not None:
            triggers.append(kind)
            activities.append(0)
            local.append(0)
        elif event.HasField("activity_task_scheduled_event_attributes"):
            activities[-1] += 1
        elif event.HasField("marker_recorded_event_attributes") and event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER:
            local[-1] += 1
    return Shape(triggers=triggers, activities=activities, local_activities=local, wait=wait)


def _trigger(event: HistoryEvent) -> str | None:
    if event.HasField("workflow_execution_update_accepted_event_attributes"):
        return "update"
    if event.HasField("workflow_execution_signaled_event_attributes"):
        return "signal"
    if event.HasField("timer_fired_event_attributes"):
        return "timer"
    return None


async def _serve() -> None:
    """`python -m bench.baseline`: a worker for BaselineCase on the task queue "baseline"."""
    import os

    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Worker

    client = await Client.connect(os.environ["TEMPORAL_ADDRESS"], data_converter=pydantic_data_converter)
    async with Worker(client, task_queue="baseline", workflows=[BaselineCase], activities=[noop]):
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve())
