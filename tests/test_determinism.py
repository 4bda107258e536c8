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

ROOT = Path(__file__).resolve().parent.parent
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


# ------------------------------------------------------------------ where a patch may be read

PATCH_READERS = {"__init__", "_current_code", "_takes"}
FOLDED_CHANGES = {"REMINDERS", "REOPENING", "SELLER_FLAGS", "AWAITING_SINCE", "REQUEST_IDS", "BOUNDED_REFUND_RETRIES", "EFFECTS_TOGETHER"}


def misplaced_patches(source: str, filename: str = "<source>") -> list[str]:
    """Each patch read the README's rule forbids ("Changing workflow code"): a new change gets a new
    code id read in `__init__`; `workflow.patched` is read nowhere else but in `_current_code` and
    `_takes`, and `_takes` serves only the changes CURRENT_CODE folded in. A patch read mid-run could
    follow a local activity into a later workflow task than on replay."""
    found = []
    for function in ast.walk(ast.parse(source, filename)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if not isinstance(node, ast.Call):
                continue
            name, where = _dotted(node.func), f"{filename}:{node.lineno}"
            if name in ("workflow.patched", "workflow.deprecate_patch") and function.name not in PATCH_READERS:
                found.append(f"{where}: {name} read in {function.name}(); give the change a new code id read in __init__")
            if name == "self._takes" and not (node.args and _dotted(node.args[0]) in FOLDED_CHANGES):
                found.append(f"{where}: _takes({ast.unparse(node.args[0]) if node.args else ''}) is not a change CURRENT_CODE folds in")
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "workflows").glob("*.py")), ids=lambda p: p.name)
def test_patches_are_read_only_where_the_rule_allows(path):
    assert misplaced_patches(path.read_text(), path.name) == []


@pytest.mark.parametrize(
    "method",
    [
        "def _notify(self):\n    if workflow.patched('notify-twice'):\n        pass",
        "def _notify(self):\n    if self._takes(NOTIFY_TWICE):\n        pass",
    ],
)
def test_negative_control_a_patch_read_mid_run_is_named(method):
    assert len(misplaced_patches(method)) == 1
