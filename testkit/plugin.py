"""The pytest plugin the package registers (entry point `pytest11`): a `case_world` fixture per test.
Policies come from the files the `refund_cases_policies` ini option names (globs, relative to the
rootdir), or from `policies/*.toml` beside the rootdir when it is unset."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from testkit.world import CaseWorld
from testkit.world import case_world as open_world


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("refund_cases_policies", "Policy files (globs) the case_world fixture loads", type="linelist", default=["policies/*.toml"])


def _policy_files(config: pytest.Config) -> list[Path]:
    root = Path(config.rootpath)
    return sorted(path for pattern in config.getini("refund_cases_policies") for path in root.glob(pattern))


@pytest_asyncio.fixture
async def case_world(request: pytest.FixtureRequest) -> AsyncIterator[CaseWorld]:
    """A time-skipping server, a worker on a fresh store and a client on the server's clock."""
    async with open_world(policies=_policy_files(request.config)) as world:
        yield world
