"""Secrets at rest are owner-only from their first byte: dev tokens and key files were once written
with the default mode and made private after."""

from __future__ import annotations

import os
import stat

from api.auth import write_dev_tokens
from codec.encryption import Keyring
from codec.private_file import write_private


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_private_file_is_owner_only_while_it_is_written(tmp_path, monkeypatch):
    seen = []
    real_fdopen = os.fdopen

    def watching(descriptor, *args, **kwargs):
        seen.append(stat.S_IMODE(os.fstat(descriptor).st_mode))  # the file exists, nothing written yet
        return real_fdopen(descriptor, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", watching)
    old = os.umask(0)
    try:
        path = tmp_path / "secret"
        path.write_text("old")
        path.chmod(0o644)
        write_private(path, "new")
    finally:
        os.umask(old)
    assert seen == [0o600] and _mode(path) == 0o600 and path.read_text() == "new"


def test_dev_tokens_and_key_files_are_private(tmp_path):
    write_dev_tokens(tmp_path / "tokens.json", tmp_path / "plain")
    Keyring.create(tmp_path / "keys.json")
    files = [tmp_path / "tokens.json", tmp_path / "keys.json", *(tmp_path / "plain").iterdir()]
    assert len(files) > 3 and {_mode(f) for f in files} == {0o600}
