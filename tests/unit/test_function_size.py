"""No function outside the tests and the migrations runs over 60 lines: a longer one is split into
helpers named for what they do. The check names each function over, with its length."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
LONGEST = 60
SKIPPED = ("tests", "store/migrations", ".venv", "build")


def too_long(root: Path, longest: int = LONGEST) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(SKIPPED) or "/." in f"/{relative}":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > longest:
                    found.append(f"{relative}:{node.lineno} {node.name} has {lines} lines")
    return found


def test_no_function_runs_over_60_lines():
    assert too_long(ROOT) == []


def test_a_long_function_is_named(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    (tmp_path / "app.py").write_text(f"def short():\n    return 1\n\n\nasync def long():\n{body}\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(f"def test_long():\n{body}\n")
    assert too_long(tmp_path) == ["app.py:5 long has 62 lines"]
