"""The fast tier (`make test-fast`): tests that need nothing but Python. One that asks for a server,
the case store or a marker of a slower tier fails here, naming the folder it belongs in."""

from __future__ import annotations

import pytest

# The fixtures that start something (tests/conftest.py), and the folder of the tier that has them.
NEEDS = {
    "env": "workflows",
    "module_env": "workflows",
    "cases": "workflows",
    "pending_cases": "workflows",
    "flaky_cases": "workflows",
    "quiet_cases": "workflows",
    "store": "store",
    "db": "store",
    "postgres": "store",
}
SLOWER_MARKERS = {"workflow", "e2e", "proof", "postgres", "browser", "chaos"}


def misplaced(fixtures: list[str], markers: set[str]) -> str | None:
    """Why a test does not belong in the fast tier, or None."""
    for name in fixtures:
        if name in NEEDS:
            return f"it uses the {name} fixture: move it to tests/{NEEDS[name]}/"
    if slower := sorted(markers & SLOWER_MARKERS):
        return f"it is marked {slower[0]}: move it to that tier's folder"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    why = misplaced(list(getattr(item, "fixturenames", [])), {mark.name for mark in item.iter_markers()})
    if why is not None:
        pytest.fail(f"{item.nodeid} is in the fast tier, but {why}", pytrace=False)
