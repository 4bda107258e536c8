"""The chaos run, small: real dev server, two worker processes killed with SIGKILL every few seconds,
one server kill, a provider that fails, carrier facts that arrive together with a portal reading the
case. Nothing lost, nothing twice, no drift, nothing stuck, every history replayed with the state it
recorded; and the checks can fail: a provider that forgets its keys is caught paying twice, and a
workflow whose commands depend on when a local activity's result arrives is caught unreplayable."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.chaos
# What a clean run counts none of.
NEVER = (
    "opens_lost", "commands_lost", "commands_duplicated", "refunds_duplicated", "refunds_without_decision",
    "refund_decisions_without_refund", "store_drift", "failed_or_terminated", "workflow_task_failures", "stuck",
    "driver_errors", "queries_failed", "histories_not_replayable",
)  # fmt: skip


def chaos(tmp_path, *flags: str) -> tuple[int, dict, str]:
    out = tmp_path / "chaos.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--workers", "2", "--out", str(out), *flags],
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = done.stdout + done.stderr
    assert out.exists(), f"the chaos run wrote no figures (exit {done.returncode}):\n{output[-4000:]}"
    return done.returncode, json.loads(out.read_text())["figures"], output


def test_a_small_chaos_run_loses_nothing_and_does_nothing_twice(tmp_path):
    code, figures, output = chaos(tmp_path, "--cases", "16", "--kill-every", "1,2")  # a short run: kills close together
    assert code == 0, output
    assert figures["worker_kills"] >= 3 and figures["server_restarts"] == 1
    assert figures["commands_acknowledged"] >= 16 and figures["refunds_at_provider"] >= 8
    for bad in NEVER:
        assert figures[bad] == 0, (bad, output)
    assert figures["histories_replayed"] == 16 and figures["problems"] == [] and figures["budget_ran_out_in"] is None


def test_negative_control_a_provider_that_forgets_its_keys_is_caught_paying_twice(tmp_path):
    code, figures, output = chaos(tmp_path, "--cases", "8", "--sabotage")
    assert code == 1, output
    assert figures["refunds_duplicated"] * 2 >= figures["refunds_at_provider"] > 0, output  # every refund paid twice or more
    assert "moved money 2 times" in output


def test_negative_control_effects_in_a_local_activity_are_caught_unreplayable(tmp_path):
    """The design before 1.0, on the carrier path alone: its histories must be found unreplayable."""
    code, figures, output = chaos(tmp_path, "--cases", "12", "--only", "refund_after_return", "--control", "local-effects")
    assert code == 1, output
    assert figures["histories_replayed"] == 12 and figures["histories_not_replayable"] >= 1, output
    assert "does not hold on replay: does not replay" in output and "Nondeterminism" in output


def test_a_run_out_of_budget_names_the_step_and_is_not_clean(tmp_path):
    code, figures, output = chaos(tmp_path, "--cases", "4", "--server-restarts", "0", "--budget", "3")
    assert code == 1, output
    assert figures["budget_ran_out_in"] in ("start", "play") and "ran out during" in output
