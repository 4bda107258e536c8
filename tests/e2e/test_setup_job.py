"""deploy/temporal-namespace.sh, the compose setup job, run for real against a dev server: right after
it creates a namespace the server does not know it for a few seconds, and the job's earlier version
then registered nothing and exited 0."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from devserver.ports import free_port, wait_for_port
from tests.conftest import BIN
from workflows import search_attributes

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).parents[2] / "deploy" / "temporal-namespace.sh"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    ports = ["--port", str(port), "--http-port", str(free_port()), "--ui-port", str(free_port()), "--metrics-port", str(free_port())]
    process = subprocess.Popen(
        [str(BIN / "temporal"), "server", "start-dev", "--headless", "--ip", "127.0.0.1", *ports],
        cwd=tmp_path_factory.mktemp("setup-job"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    yield f"127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=20)


def setup_job(address: str, namespace: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": namespace, "WAIT_SECONDS": "60"}
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=180)


def custom_attributes(address: str, namespace: str) -> str:
    listed = [str(BIN / "temporal"), "operator", "search-attribute", "list", "--address", address, "--namespace", namespace, "-o", "json"]
    return subprocess.run(listed, capture_output=True, text=True, timeout=60, check=True).stdout


def test_a_new_namespace_gets_every_search_attribute_and_a_second_run_adds_nothing(server):
    first = setup_job(server, "refunds")
    assert first.returncode == 0, first.stderr + first.stdout
    listed = custom_attributes(server, "refunds")
    assert all(f'"{key.name}"' in listed for key in search_attributes.ALL)
    again = setup_job(server, "refunds")
    assert again.returncode == 0 and "have been added" not in again.stdout, again.stdout


def test_an_attribute_of_another_type_fails_the_job_loudly(server):
    operator = [str(BIN / "temporal"), "operator"]
    subprocess.run([*operator, "namespace", "create", "--address", server, "--namespace", "mistyped"], check=True, capture_output=True, timeout=60)
    for _ in range(100):  # the server knows the new namespace after a few seconds
        made = subprocess.run(
            [*operator, "search-attribute", "create", "--address", server, "--namespace", "mistyped", "--name", "CaseStatus", "--type", "Text"],
            capture_output=True,
            timeout=60,
        )
        if made.returncode == 0:
            break
        time.sleep(0.2)
    done = setup_job(server, "mistyped")
    assert done.returncode != 0
    assert "CaseStatus" in done.stderr
