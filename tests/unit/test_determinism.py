"""Workflow code must replay to the same commands: no wall clock, randomness, environment, I/O or
threads, and no state kept at module level (the worker imports modules once per process and runs
workflows outside the SDK's sandbox: see worker.WORKFLOW_RUNNER). This reads every module the
workflows import from cases/ and workflows/ and names each line that breaks the rule.

activities/ and store/ are imported by workflows only for their models and activity names; their
code runs in activities, where the clock and I/O belong."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_PACKAGES = ("cases", "workflows")

# Calls, by their dotted name as written, and modules whose import means I/O, threads or chance.
FORBIDDEN_CALLS = {
    "datetime.now", "datetime.utcnow", "datetime.today", "date.today", "datetime.datetime.now", "datetime.datetime.utcnow",
    "time.time", "time.time_ns", "time.monotonic", "time.perf_counter", "time.sleep",
    "uuid.uuid1", "uuid.uuid4", "uuid4", "uuid1", "os.getenv", "os.urandom", "open", "input", "print",
}  # fmt: skip
FORBIDDEN_ATTRIBUTES = {"os.environ"}
FORBIDDEN_MODULES = {"random", "secrets", "threading", "subprocess", "socket", "requests", "httpx", "sqlalchemy", "multiprocessing", "concurrent"}


def violations(source: str, filename: str = "<source>") -> list[str]:
    """Each line of `source` that breaks the rule, as "file:line: what"."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call) and _dotted(node.func) in FORBIDDEN_CALLS:
            found.append(f"{where}: calls {_dotted(node.func)}()")
        elif isinstance(node, ast.Attribute) and _dotted(node) in FORBIDDEN_ATTRIBUTES:
            found.append(f"{where}: reads {_dotted(node)}")
        elif isinstance(node, ast.Import):
            found += [f"{where}: imports {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
            found.append(f"{where}: imports from {node.module}")
        elif isinstance(node, ast.Global):
            found.append(f"{where}: keeps module-level state ({', '.join(node.names)})")
    return found


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def workflow_modules() -> list[Path]:
    """The files of every module in cases/ and workflows/ that the workflows import."""
    for name in ("workflows.refund_case", "workflows.webhook_delivery"):
        importlib.import_module(name)
    modules = [m for n, m in sorted(sys.modules.items()) if n.split(".")[0] in WORKFLOW_PACKAGES and getattr(m, "__file__", None)]
    return [Path(m.__file__) for m in modules]


def test_the_checked_modules_include_the_engine_and_the_workflow():
    names = {path.relative_to(ROOT).as_posix() for path in workflow_modules()}
    assert {"cases/engine.py", "cases/view.py", "workflows/refund_case.py", "workflows/webhook_delivery.py"} <= names


@pytest.mark.parametrize("path", workflow_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_workflow_code_is_deterministic(path):
    assert violations(path.read_text(), path.relative_to(ROOT).as_posix()) == []


@pytest.mark.parametrize(
    "line",
    [
        "at = datetime.now(UTC)",
        "at = datetime.datetime.utcnow()",
        "key = uuid.uuid4().hex",
        "import random",
        "from concurrent.futures import ThreadPoolExecutor",
        "url = os.environ['DATABASE_URL']",
        "text = open('policy.toml').read()",
        "def remember():\n    global SEEN",
    ],
)
def test_negative_control_each_kind_of_break_is_named(line):
    assert len(violations(line)) == 1


# ------------------------------------------------- no patches, no local activities in case workflows

# A running case meets new code through Worker Versioning (docs/changing-workflow-code.md), not through
# patches; and a local activity's result can reach the workflow in a later workflow task than replay
# hands it over (docs/nothing-lost.md), so case workflows run ordinary activities only.
FORBIDDEN_IN_WORKFLOWS = {
    "workflow.patched", "workflow.deprecate_patch", "workflow.execute_local_activity", "workflow.start_local_activity",
    "workflow.execute_local_activity_method", "workflow.start_local_activity_method",
    "workflow.execute_local_activity_class", "workflow.start_local_activity_class",
}  # fmt: skip


def replay_hazards(source: str, filename: str = "<source>") -> list[str]:
    return [
        f"{filename}:{node.lineno}: calls {_dotted(node.func)}()"
        for node in ast.walk(ast.parse(source, filename))
        if isinstance(node, ast.Call) and _dotted(node.func) in FORBIDDEN_IN_WORKFLOWS
    ]


@pytest.mark.parametrize("path", sorted((ROOT / "workflows").glob("*.py")), ids=lambda p: p.name)
def test_workflows_read_no_patch_and_run_no_local_activity(path):
    assert replay_hazards(path.read_text(), path.name) == []


@pytest.mark.parametrize(
    "method",
    [
        "def _notify(self):\n    if workflow.patched('notify-twice'):\n        pass",
        "async def _write(self, effects):\n    await workflow.execute_local_activity_method(CaseActivities.apply_effects, effects)",
    ],
)
def test_negative_control_a_patch_or_a_local_activity_is_named(method):
    assert len(replay_hazards(method)) == 1
