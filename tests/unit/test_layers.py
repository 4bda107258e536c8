"""The layering, held: each package imports only the layers below it. Rules and configuration at the
bottom; the store over the rules; activities over the store; the durable flow over the activities; the
client and CLI over all of those; the HTTP API over the client; entry points and tools on top. An
import that runs against it fails here, naming the file and the import."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]

# What each package may import of the others (its own modules aside).
MAY_IMPORT: dict[str, set[str]] = {
    "cases": set(),
    "config": set(),
    "telemetry": {"config"},
    "codec": {"config"},
    "store": {"cases"},
    "activities": {"cases", "store"},
    "workflows": {"cases", "activities"},
    "starter": {"cases", "config", "telemetry", "codec", "store", "activities", "workflows"},
    "api": {"cases", "config", "telemetry", "codec", "store", "activities", "starter"},
    "worker": {"cases", "config", "telemetry", "codec", "store", "activities", "workflows", "starter"},
    "replay": {"cases", "workflows"},
    "testkit": {"cases", "config", "telemetry", "codec", "store", "activities", "workflows", "starter", "worker"},
    "devserver": {"cases", "config", "telemetry", "codec", "store", "activities", "workflows", "starter", "api"},
    "cluster": {"api", "devserver"},
    "bench": {
        "cases",
        "config",
        "telemetry",
        "codec",
        "store",
        "activities",
        "workflows",
        "starter",
        "api",
        "devserver",
        "cluster",
        "replay",
        "worker",
    },
}


# The command line is the composition root of `refund-cases`: for `policy simulate` it also composes the
# testing kit, which sits above the client it uses.
ALSO: dict[str, set[str]] = {"starter/cli.py": {"testkit"}}


def _imported(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def against_the_layers(root: Path) -> list[str]:
    """Every import of a package the importer's layer may not use, as `file:line imports module`."""
    problems = []
    for package, allowed in MAY_IMPORT.items():
        files = [root / f"{package}.py"] if (root / f"{package}.py").exists() else sorted((root / package).rglob("*.py"))
        for path in files:
            for line, module in _imported(path):
                top = module.split(".")[0]
                also = ALSO.get(path.relative_to(root).as_posix(), set())
                if top in MAY_IMPORT and top != package and top not in allowed | also:
                    problems.append(f"{path.relative_to(root)}:{line} imports {module}")
    return problems


def test_no_import_runs_against_the_layers():
    assert against_the_layers(ROOT) == []


def test_every_package_has_its_place_in_the_layers():
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "refund_cases.egg-info"}
    assert packages <= set(MAY_IMPORT), f"give {sorted(packages - set(MAY_IMPORT))} a place in MAY_IMPORT"


def test_an_import_against_the_layers_is_named(tmp_path):
    """Negative control: the two arrows that once ran against the layering, put back in a copy."""
    for package in MAY_IMPORT:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "config" / "settings.py").write_text("from api.auth import Callers\n")
    (tmp_path / "codec" / "server.py").write_text("def main():\n    from starter.settings import Settings\n")
    (tmp_path / "store" / "fine.py").write_text("from cases.model import Status\nimport sqlalchemy\n")
    assert against_the_layers(tmp_path) == ["config/settings.py:1 imports api.auth", "codec/server.py:2 imports starter.settings"]


def test_the_installed_packages_are_every_package_the_service_runs_on():
    """A package missing from pyproject's list works in a checkout and is absent from the image. The
    benchmarks and `make cluster` run from a checkout only."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    service = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for package in set(MAY_IMPORT) - {"bench", "cluster"}
        for path in (ROOT / package).rglob("__init__.py")
    }
    assert service == listed
