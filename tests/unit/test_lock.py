"""The lock file is what `make` installs: it must hold every pin of pyproject.toml at the same version,
each package once. A pin changed in one place and not the other is caught (negative control)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def locked(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            found.setdefault(_name(name), []).append(version)
    return found


def pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *(d for extra in project["optional-dependencies"].values() for d in extra)]
    return {_name(re.sub(r"\[.*\]", "", d.split("==")[0])): d.split("==")[1] for d in wanted}


def lock_problems(lock_text: str) -> list[str]:
    found = locked(lock_text)
    problems = [f"{name}: locked {len(versions)} times" for name, versions in found.items() if len(versions) > 1]
    for name, version in pins().items():
        if found.get(name) != [version]:
            problems.append(f"{name}: pyproject.toml pins {version}, the lock has {found.get(name)}")
    return problems


def test_the_lock_holds_every_pin_once_at_its_version():
    assert lock_problems((ROOT / "requirements.lock").read_text()) == []


def test_negative_control_a_pin_out_of_step_with_the_lock_is_caught():
    text = (ROOT / "requirements.lock").read_text()
    moved = text.replace("temporalio==", "temporalio==0.0.0\n#", 1)
    assert any("temporalio" in problem for problem in lock_problems(moved))
    assert any("locked 2 times" in problem for problem in lock_problems(text + "alembic==0.1\n"))
