"""The kit as a policy's author meets it: docs/testing-your-policy.md's example, the very files, copied
into an empty folder and run with pytest and nothing else; and the kit's helpers can fail."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from cases.messages import Reopening, Withdrawal
from cases.model import Reason, Status
from starter.client import CaseClient, CaseRefused
from testkit import KitError
from tests.factories import BUYER, SUPPORT
from tests.workflows.test_workflow import open_case

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "testing"
PAGE = ROOT / "docs" / "testing-your-policy.md"


def test_the_page_shows_the_example_as_it_is():
    blocks = re.findall(r"```(?:toml|python)\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert blocks == [(EXAMPLE / "policies" / "quick_sellers.toml").read_text(), (EXAMPLE / "test_quick_sellers.py").read_text()]


def test_the_example_passes_in_an_empty_folder_with_pytest_alone(tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "mine")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp_path / "mine", capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_a_wrong_expectation_in_the_example_fails_it(tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "mine")
    test = tmp_path / "mine" / "test_quick_sellers.py"
    test.write_text(test.read_text().replace("timedelta(hours=48)", "timedelta(hours=72)"))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp_path / "mine", capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1 and "1 failed, 1 passed" in done.stdout


@pytest.mark.workflow
async def test_the_helpers_refuse_what_they_cannot_do(cases):
    case_id = await open_case(cases)
    with pytest.raises(KitError, match="give exactly one of before= and after="):
        await cases.skip_to_deadline(case_id)
    with pytest.raises(KitError, match="give a status or closed=True"):
        await cases.wait_for(case_id)
    with pytest.raises(KitError, match=f"case {case_id} is awaiting_seller_response, not closed"):
        await cases.wait_for(case_id, closed=True, seconds=0.2)
    shown = await cases.skip_to_deadline(case_id, after=timedelta(seconds=1))
    assert shown.status is Status.AWAITING_SUPPORT


@pytest.mark.workflow
async def test_a_reopening_refused_says_the_precise_rule(cases):
    case_id = await open_case(cases, reason=Reason.NOT_RECEIVED, policy="marketplace_case")
    await cases.client.send(case_id, Withdrawal(by=BUYER))
    await cases.wait_for(case_id, closed=True)
    bare = CaseClient(cases.env.client, cases.client.task_queue, clock=cases.env.get_current_time)  # no case store
    with pytest.raises(CaseRefused) as refused:
        await bare.send(case_id, Reopening(by=SUPPORT))
    assert (refused.value.field, refused.value.rule) == ("status", "the case is closed; a reopening needs the case store (CaseClient.use_store)")
    with pytest.raises(CaseRefused) as refused:
        await cases.client.send(case_id, Reopening(by=BUYER))
    assert refused.value.field == "by.party" and refused.value.rule == "only the support may send reopening"


@pytest.mark.workflow
async def test_the_fixture_gives_a_world_on_skipped_time_with_case_time_stamps(case_world):
    case_id = await open_case(case_world)
    opened_at = (await case_world.client.show(case_id)).opened_at
    await case_world.skip(timedelta(hours=60))
    reminded = [n for n in case_world.notices(case_id) if n.event == "reminder"]
    assert reminded and opened_at + timedelta(hours=48) <= reminded[0].created_at < opened_at + timedelta(hours=60)
    after = await case_world.skip_to_deadline(case_id, after=timedelta(seconds=1))
    assert after.status is Status.AWAITING_SUPPORT and case_world.settings.codec == "off"
