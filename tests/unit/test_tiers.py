"""The fast tier's guard can fail: a test that starts a server, uses the store or carries a slower
marker is named, with the folder it belongs in."""

from __future__ import annotations

from tests.unit.conftest import misplaced


def test_a_test_needing_the_time_skipping_server_is_sent_to_workflows():
    assert misplaced(["request", "env"], set()) == "it uses the env fixture: move it to tests/workflows/"


def test_a_test_on_the_case_store_is_sent_to_store():
    assert misplaced(["db"], set()) == "it uses the db fixture: move it to tests/store/"


def test_a_test_marked_for_a_slower_tier_is_refused():
    assert misplaced([], {"parametrize", "e2e"}) == "it is marked e2e: move it to that tier's folder"


def test_a_pure_test_is_welcome():
    assert misplaced(["tmp_path", "monkeypatch"], {"parametrize"}) is None
