"""Every recorded history replays on today's workflow code: running cases survive a deploy."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.refund_case import RefundCaseWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=[RefundCaseWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


def test_there_are_histories_to_replay():
    assert len(HISTORIES) >= 6
