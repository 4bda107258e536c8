"""Scenario files, as a policy's author without Python runs them: every preset's example in
examples/scenarios/ reaches what it expects, and a wrong expectation, a step that goes otherwise or a
bad file each fail with a line that says what."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cases import policies

ROOT = Path(__file__).parents[2]
SCENARIOS = ROOT / "examples" / "scenarios"
CLI = str(Path(sys.executable).parent / "refund-cases")


def simulate(policy: str, scenario: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "policy", "simulate", policy, str(scenario), "--expect"], capture_output=True, text=True, timeout=120)


def test_every_preset_has_an_example_scenario():
    assert sorted(path.stem for path in SCENARIOS.glob("*.toml")) == sorted(policies.names())


@pytest.mark.parametrize("preset", sorted(policies.names()))
def test_the_presets_example_goes_as_it_says(preset):
    done = simulate(preset, SCENARIOS / f"{preset}.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "as expected" in done.stdout and "told: " in done.stdout


def test_a_wrong_expectation_exits_1_and_says_what_differed(tmp_path):
    wrong = tmp_path / "wrong.toml"
    wrong.write_text((SCENARIOS / "marketplace_case.toml").read_text().replace("refunded = 4500", "refunded = 4000"))
    done = simulate("marketplace_case", wrong)
    assert done.returncode == 1 and "expected refunded: expected 4000, got 4500" in done.stderr


def test_a_step_that_goes_otherwise_exits_1(tmp_path):
    otherwise = tmp_path / "otherwise.toml"
    otherwise.write_text((SCENARIOS / "reported_issue.toml").read_text().replace("refused = true\n", ""))
    done = simulate("reported_issue", otherwise)
    assert done.returncode == 1 and "step 2: seller_response was refused: kind: seller_response is not possible" in done.stderr


def test_a_bad_file_names_the_field_and_changes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('title = "x"\n[[step]]\nafter = "2 hours"\n')
    done = simulate("direct_service", bad)
    assert done.returncode == 2 and "step 1: after: '2 hours': a duration" in done.stderr and "a duration is a whole number" in done.stderr
