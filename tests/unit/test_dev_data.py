"""`make run` on a .data/ written by older code moves it aside, whole, and says so; today's is kept."""

import runpy
from datetime import UTC, datetime

from cases.case import GENERATION
from devserver.supervisor import WRITTEN_BY, set_aside_older_data

AT = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)


def test_a_fresh_machine_gets_a_marked_data_folder(tmp_path):
    data = tmp_path / ".data"
    assert set_aside_older_data(data, AT) is None
    assert (data / WRITTEN_BY).read_text() == f"refund-cases generation {GENERATION}\n"


def test_a_folder_from_before_1_0_is_moved_aside_with_everything_in_it(tmp_path):
    data = tmp_path / ".data"
    data.mkdir()
    (data / "temporal.db").write_text("old cases")
    moved = set_aside_older_data(data, AT)
    assert moved == tmp_path / ".data.before-1.0-20261201T130000"
    assert (moved / "temporal.db").read_text() == "old cases" and not (data / "temporal.db").exists()
    assert (data / WRITTEN_BY).exists()


def test_a_folder_of_another_generation_is_moved_aside(tmp_path):
    data = tmp_path / ".data"
    data.mkdir()
    (data / WRITTEN_BY).write_text(f"refund-cases generation {GENERATION + 1}\n")
    assert set_aside_older_data(data, AT) == tmp_path / f".data.generation-{GENERATION + 1}-20261201T130000"


def test_todays_folder_is_kept(tmp_path):
    data = tmp_path / ".data"
    set_aside_older_data(data, AT)
    (data / "temporal.db").write_text("today's cases")
    assert set_aside_older_data(data, AT) is None
    assert (data / "temporal.db").read_text() == "today's cases"


def test_make_run_runs_the_supervisor_to_its_end(monkeypatch):
    """`python -m devserver` once called the coroutine without running it, and make run did nothing."""
    ran = []

    async def supervisor() -> None:
        ran.append(True)

    monkeypatch.setattr("devserver.supervisor.main", supervisor)
    runpy.run_module("devserver", run_name="__main__")
    assert ran == [True]
