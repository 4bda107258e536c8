"""State-checked replay: a case's history replayed on today's workflow code, and the state that replay
rebuilds set beside the state the history recorded.

A history records what the case decided at every step: each activity's input (every refund order, and
every transition's effects: ledger postings, notices, tickets, and the case view with its money,
refunds, ledger and timeline), and the case view it ended with or carried into its next run. A replay
that issues the same commands but decides anything differently (one minor unit, one ledger line, one
timeline entry) would rewrite a running case in memory without an error; here it is a difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.worker import (
    ContinueAsNewInput,
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    StartActivityInput,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from workflows.refund_case import RefundCaseWorkflow


@dataclass
class Decisions:
    """What a run decided, in order: each activity with its input, then how the run ended."""

    activities: list[tuple[str, Any]] = field(default_factory=list)
    ended: tuple[str, Any] | None = None  # ("completed", result) or ("continued", input)


@dataclass
class Replayed:
    history: str
    differences: list[str]
    activities: int

    @property
    def holds(self) -> bool:
        return not self.differences


async def replay(history: WorkflowHistory, workflow: type = RefundCaseWorkflow, converter: DataConverter = pydantic_data_converter) -> Replayed:
    """Replays `history` on `workflow` and names every difference between what the replay decided and
    what the history recorded; none means the case rebuilds exactly."""
    rebuilt = Decisions()
    replayer = Replayer(
        workflows=[workflow], data_converter=converter, workflow_runner=UnsandboxedWorkflowRunner(), interceptors=[_Recorder(rebuilt)]
    )
    outcome = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    recorded = await recorded_decisions(history, converter)
    if outcome.replay_failure is not None:
        return Replayed(history.workflow_id, [f"does not replay: {outcome.replay_failure}"], len(recorded.activities))
    rebuilt = await _as_json(rebuilt, converter)
    return Replayed(history.workflow_id, compare(recorded, rebuilt), len(recorded.activities))


async def replay_all(
    histories: Sequence[WorkflowHistory], workflow: type = RefundCaseWorkflow, converter: DataConverter = pydantic_data_converter
) -> list[Replayed]:
    return [await replay(history, workflow, converter) for history in histories]


def compare(recorded: Decisions, rebuilt: Decisions) -> list[str]:
    """Every difference, each naming the step and the first field where the two part."""
    found = []
    for number, (was, now) in enumerate(zip(recorded.activities, rebuilt.activities, strict=False), start=1):
        if was[0] != now[0]:
            found.append(f"activity {number}: history runs {was[0]}, replay {now[0]}")
        elif where := first_difference(was[1], now[1]):
            found.append(f"activity {number} ({was[0]}): {where}")
    if len(recorded.activities) != len(rebuilt.activities):
        found.append(f"history has {len(recorded.activities)} activities, replay {len(rebuilt.activities)}")
    if recorded.ended is not None:
        if rebuilt.ended is None or recorded.ended[0] != rebuilt.ended[0]:
            found.append(f"history {recorded.ended[0]}, replay {rebuilt.ended[0] if rebuilt.ended else 'did not end'}")
        elif where := first_difference(recorded.ended[1], rebuilt.ended[1]):
            found.append(f"{recorded.ended[0]} with: {where}")
    return found


def first_difference(was: Any, now: Any, path: str = "") -> str | None:
    """The first place two JSON values part, as "path: history X, replay Y"."""
    if isinstance(was, dict) and isinstance(now, dict):
        for key in sorted(set(was) | set(now), key=str):
            if key not in was or key not in now:
                return f"{path}{key}: {'only in the replay' if key not in was else 'only in the history'}"
            if where := first_difference(was[key], now[key], f"{path}{key}."):
                return where
        return None
    if isinstance(was, list) and isinstance(now, list):
        for index, (a, b) in enumerate(zip(was, now, strict=False)):
            if where := first_difference(a, b, f"{path}{index}."):
                return where
        if len(was) != len(now):
            return f"{path.rstrip('.') or 'list'}: history has {len(was)} items, replay {len(now)}"
        return None
    if was != now:
        return f"{path.rstrip('.') or 'value'}: history {was!r}, replay {now!r}"
    return None


async def recorded_decisions(history: WorkflowHistory, converter: DataConverter = pydantic_data_converter) -> Decisions:
    decisions = Decisions()
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attributes = event.activity_task_scheduled_event_attributes
            decisions.activities.append((attributes.activity_type.name, await _decoded(attributes.input.payloads, converter)))
        elif ended := _ending(event):
            decisions.ended = (ended[0], await _decoded(ended[1], converter))
    return decisions


def _ending(event: HistoryEvent):
    if event.HasField("workflow_execution_completed_event_attributes"):
        return "completed", event.workflow_execution_completed_event_attributes.result.payloads
    if event.HasField("workflow_execution_continued_as_new_event_attributes"):
        return "continued", event.workflow_execution_continued_as_new_event_attributes.input.payloads
    return None


async def _decoded(payloads, converter: DataConverter) -> Any:
    """Payloads as plain JSON values: decrypted if a codec sealed them, never turned into models, so
    the two sides are compared as stored."""
    values = await converter.decode(list(payloads))
    return values[0] if len(values) == 1 else values


async def _as_json(decisions: Decisions, converter: DataConverter) -> Decisions:
    """The replay's arguments as the history would store them (through the same converter)."""

    async def json(value: Any) -> Any:
        plain = DataConverter(payload_converter_class=converter.payload_converter_class)
        return (await plain.decode(await plain.encode([value])))[0]

    activities = [(name, await json(argument)) for name, argument in decisions.activities]
    ended = (decisions.ended[0], await json(decisions.ended[1])) if decisions.ended else None
    return Decisions(activities, ended)


class _Recorder(Interceptor):
    """Notes each activity a replaying run schedules, and how it ends."""

    def __init__(self, into: Decisions):
        self.into = into

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        into = self.into

        class Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput):
                into.activities.append((input.activity, input.args[0] if len(input.args) == 1 else list(input.args)))
                return super().start_activity(input)

            def continue_as_new(self, input: ContinueAsNewInput):
                into.ended = ("continued", input.args[0])
                return super().continue_as_new(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                result = await super().execute_workflow(input)
                into.ended = ("completed", result)
                return result

        return Inbound
