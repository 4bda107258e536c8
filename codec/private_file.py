"""Secrets at rest (key files, API tokens): files only their owner can read, from their first byte."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Writes `text` to `path`, made owner-only before anything is written: a file written first and
    made private after is readable by anyone in between."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # a file that already existed keeps its mode through O_CREAT
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
