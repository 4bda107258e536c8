"""The chaos run, small: real dev server, two worker processes killed with SIGKILL every few seconds,
one server kill, a provider that fails. Nothing lost, nothing twice, no drift, nothing stuck; and the
same run with a provider that forgets its keys must find the refunds it paid twice."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.chaos


def _chaos(tmp_path, *flags: str) -> tuple[int, dict, str]:
    out = tmp_path / "chaos.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--workers", "2", "--out", str(out), *flags],
        capture_output=True,
        text=True,
        timeout=900,
    )
    return done.returncode, json.loads(out.read_text())["figures"], done.stdout + done.stderr


def test_a_small_chaos_run_loses_nothing_and_does_nothing_twice(tmp_path):
    code, figures, output = _chaos(tmp_path, "--cases", "16", "--kill-every", "1,2")  # a short run: kills close together
    assert code == 0, output
    assert figures["worker_kills"] >= 3 and figures["server_restarts"] == 1
    assert figures["commands_acknowledged"] >= 16 and figures["refunds_at_provider"] >= 8
    for bad in ("opens_lost", "commands_lost", "commands_duplicated", "refunds_duplicated", "refunds_without_decision",
                "refund_decisions_without_refund", "store_drift", "failed_or_terminated", "workflow_task_failures", "stuck"):  # fmt: skip
        assert figures[bad] == 0, (bad, output)


def test_negative_control_a_provider_that_forgets_its_keys_is_caught_paying_twice(tmp_path):
    code, figures, output = _chaos(tmp_path, "--cases", "8", "--sabotage")
    assert code == 1, output
    assert figures["refunds_duplicated"] * 2 >= figures["refunds_at_provider"] > 0, output  # every refund paid twice or more
    assert "moved money 2 times" in output
