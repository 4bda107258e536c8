"""Logs as operators read them: JSON, one object per line, with the case id lifted out of the SDK's
activity context, and the context itself (with its run ids and task queue) left out."""

from __future__ import annotations

import json
import logging

import pytest

from config.settings import Settings
from telemetry.setup import configure_logging


@pytest.fixture
def restored_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_logs_carry_the_case_id_and_nothing_else_of_the_context(capsys, restored_logging):
    configure_logging(Settings(log_format="json"))
    context = {"workflow_id": "case-7f3a", "activity_type": "apply_effects", "workflow_run_id": "run-1"}
    logging.getLogger("refund_cases.activities").info("notify to=%s event=%s", "seller", "case_opened", extra={"temporal_activity": context})
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["case_id"] == "7f3a" and line["level"] == "INFO" and line["logger"] == "refund_cases.activities"
    assert line["message"] == "notify to=seller event=case_opened"
    assert "temporal_activity" not in line and "time" in line


def test_text_logs_stay_one_line_per_record(capsys, restored_logging):
    configure_logging(Settings(log_format="text"))
    logging.getLogger("refund_cases.worker").warning("shutting down")
    assert capsys.readouterr().err.strip().endswith("WARNING refund_cases.worker shutting down")
