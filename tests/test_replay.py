"""Every recorded history replays on today's workflow code: running cases survive a deploy. And the
check can fail: a change that alters what a case records, made without a patch, is caught."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from activities.case_activities import Effects
from cases import engine
from cases.messages import OpenCase
from cases.view import CaseView
from workflows.refund_case import RefundCaseWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
# tests/histories/record.py's scenarios: the newest tag holds every one of them.
SCENARIOS = 11


def _history(name: str) -> WorkflowHistory:
    path = Path(__file__).parent / "histories" / f"{name}.json"
    return WorkflowHistory.from_json(name, path.read_text())


async def _replay(history: WorkflowHistory, workflow_class=RefundCaseWorkflow) -> None:
    replayer = Replayer(workflows=[workflow_class], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path):
    await _replay(WorkflowHistory.from_json(path.stem, path.read_text()))


def test_every_scenario_is_recorded_on_the_newest_code():
    newest = max(p.stem.split("-", 1)[0] for p in HISTORIES)
    assert len([p for p in HISTORIES if p.stem.startswith(f"{newest}-")]) == SCENARIOS


# ------------------------------------------------------------------------------ negative controls


@workflow.defn(name="RefundCase", sandboxed=False)  # defined in a test module, which the sandbox would re-import
class WithoutTheReadModelWrite(RefundCaseWorkflow):
    """A plausible refactor: the read model written some other way, one activity fewer a transition."""

    @workflow.run
    async def run(self, request: OpenCase) -> CaseView:
        return await super().run(request)

    async def _record(self) -> None:
        self._recorded = len(self.case.timeline)


async def test_negative_control_an_unguarded_change_of_commands_fails_the_replay():
    with pytest.raises(workflow.NondeterminismError):
        await _replay(_history("v6-full_refund"), WithoutTheReadModelWrite)


async def test_negative_control_removing_the_request_id_guard_fails_the_replay(monkeypatch):
    """Without `commands-act-once-per-request-id`, the retried full refund would act a second time."""
    await _replay(_history("v6-retried_commands_act_once"))
    monkeypatch.setattr(engine, "is_repeat", lambda case, message: False)
    with pytest.raises(workflow.NondeterminismError):
        await _replay(_history("v6-retried_commands_act_once"))


@workflow.defn(name="RefundCase", sandboxed=False)
class EffectsTogetherUnguarded(RefundCaseWorkflow):
    """The one-activity step without its patch: every case, old or new, takes it."""

    @workflow.run
    async def run(self, request: OpenCase) -> CaseView:
        return await super().run(request)

    async def _carry_out(self, transition: engine.Transition) -> None:
        effects = Effects(case_id=self.case.case_id)
        await self._decide(transition, effects)
        await self._apply(effects, local=False)


@workflow.defn(name="RefundCase", sandboxed=False)
class EffectsOneByOneOnly(RefundCaseWorkflow):
    """The code from before the patch, as a worker not yet upgraded would run it."""

    @workflow.run
    async def run(self, request: OpenCase) -> CaseView:
        return await super().run(request)

    async def _carry_out(self, transition: engine.Transition) -> None:
        await self._carry_out_one_by_one(transition)


async def test_negative_control_the_effects_step_needs_its_guard_both_ways():
    """A case recorded one activity per command must not switch to the local activity halfway, and a
    case recorded with it cannot be taken by a worker that lacks it."""
    await _replay(_history("v6-full_refund"), EffectsOneByOneOnly)
    with pytest.raises(workflow.NondeterminismError):
        await _replay(_history("v6-full_refund"), EffectsTogetherUnguarded)
    with pytest.raises(workflow.NondeterminismError):
        await _replay(_history("v7-full_refund"), EffectsOneByOneOnly)


@workflow.defn(name="RefundCase", sandboxed=False)
class BeforeCurrentCode(RefundCaseWorkflow):
    """The code from before `case-code-2026-12`: each change read on its own patch, effects in an
    ordinary activity."""

    @workflow.run
    async def run(self, request: OpenCase) -> CaseView:
        return await super().run(request)

    def _current_code(self) -> bool:
        return False


@workflow.defn(name="RefundCase", sandboxed=False)
class CurrentCodeUnguarded(RefundCaseWorkflow):
    """Today's code for every case, without the patch that tells old cases from new."""

    @workflow.run
    async def run(self, request: OpenCase) -> CaseView:
        return await super().run(request)

    def _current_code(self) -> bool:
        return True


@pytest.mark.parametrize("scenario", ["full_refund", "silent_seller_escalated_then_reminded_then_denied", "reopened_by_support_then_final"])
async def test_negative_control_the_current_code_needs_its_guard_both_ways(scenario):
    """A case recorded before `case-code-2026-12` must keep its own patches and ordinary activities, and
    a case recorded on it (one marker, a local activity) cannot be taken by a worker that lacks it."""
    await _replay(_history(f"v7-{scenario}"), BeforeCurrentCode)
    with pytest.raises(workflow.NondeterminismError):
        await _replay(_history(f"v7-{scenario}"), CurrentCodeUnguarded)
    with pytest.raises(workflow.NondeterminismError):
        await _replay(_history(f"v8-{scenario}"), BeforeCurrentCode)
