"""Schema-driven fuzz of the HTTP API (schemathesis): every operation of the OpenAPI document, with valid
and invalid requests, against the API served by uvicorn on loopback and a worker on the time-skipping
server. Whatever is sent, the answer is never a 500."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from devserver.ports import free_port
from store.database import Store
from tests.api.test_api import CALLERS, auth
from tests.conftest import worker_for

pytestmark = pytest.mark.workflow

EXAMPLES_PER_OPERATION = 15


class Served:
    """The API in a process of its own (`python -m api`), as `make run` starts it."""

    def __init__(self, **env: str):
        self.port = free_port()
        self.metrics_port = free_port()
        callers = json.dumps([caller.model_dump(mode="json") for caller in CALLERS.callers])
        environment = {
            **os.environ,
            "API_RATE_LIMIT": "100000/second",
            **env,
            "API_PORT": str(self.port),
            "API_METRICS_PORT": str(self.metrics_port),
            "API_TOKENS": callers,
            "CODEC": "off",
        }
        self.process = subprocess.Popen([sys.executable, "-m", "api"], env=environment)

    def __enter__(self) -> str:
        for _ in range(400):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return f"http://127.0.0.1:{self.port}"
            if self.process.poll() is not None:
                raise AssertionError(f"the API exited with {self.process.returncode}")
            time.sleep(0.025)
        raise AssertionError("the API did not start")

    def __exit__(self, *_) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


async def test_no_request_makes_the_api_answer_500(module_env, tmp_path):
    env = module_env
    store = Store(f"sqlite:///{tmp_path}/fuzz.db")  # its own: nothing the fuzz writes reaches other tests
    store.migrate()
    async with worker_for(env, store) as harness:
        served = Served(
            TEMPORAL_ADDRESS=env.client.service_client.config.target_host,
            TEMPORAL_TASK_QUEUE=harness.client.task_queue,
            DATABASE_URL=str(store.engine.url),
        )
        with served as base_url:
            tried = await asyncio.to_thread(_fuzz, base_url)
            metrics = httpx.get(f"http://127.0.0.1:{served.metrics_port}/metrics", timeout=10).text
    print(f"API fuzz: {tried}")
    assert tried["requests"] >= EXAMPLES_PER_OPERATION * 10 and tried["2xx"] and tried["4xx"]
    # Its Prometheus endpoint counted every request, by route template: no case id in a label.
    counted = [line for line in metrics.splitlines() if line.startswith("refund_cases_api_requests_total{")]
    assert sum(float(line.rpartition(" ")[2]) for line in counted) >= tried["requests"]
    assert any('route="/v1/cases/{case_id}"' in line for line in counted)
    assert not any(tried["case_id"] in line for line in counted)


def _fuzz(base_url: str) -> dict:
    http = httpx.Client(base_url=base_url, timeout=30)
    registration = _registration()
    order_id = registration["order"]["order_id"]
    assert http.put(f"/v1/orders/{order_id}", json=registration, headers=auth("order-system")).status_code == 201
    opening = {"request_id": f"fuzz-{uuid.uuid4().hex}", "reason": "defective", "order_id": order_id}
    real = http.post("/v1/cases", json=opening, headers=auth("admin")).json()["case_id"]
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    tried = {"requests": 0, "operations": 0, "2xx": 0, "4xx": 0, "case_id": real}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() == "POST" and operation.path == "/v1/webhooks":
            continue  # a subscription to a generated URL would send deliveries off this machine
        tried["operations"] += 1
        strategies = [operation.as_strategy(generation_mode=mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
        if "{case_id}" in operation.path:  # half of them aim at a case that exists, to get past the 404
            strategies.append(operation.as_strategy(path_parameters={"case_id": real}))

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=st.one_of(strategies), caller=st.sampled_from(["admin", "admin", "seller", "buyer", "support", "carrier", "order-system", None]))
        def check(case, caller):
            headers = {**(case.headers or {}), **(auth(caller) if caller else {})}
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            tried["requests"] += 1
            tried[f"{response.status_code // 100}xx"] = tried.get(f"{response.status_code // 100}xx", 0) + 1
            assert response.status_code < 500, f"{case.as_curl_command()}\n→ {response.status_code} {response.text}"

        check()
    return tried


def _registration() -> dict:
    return {
        "order": {
            "order_id": f"ord-{uuid.uuid4().hex[:10]}",
            "seller_id": "seller-7",
            "buyer_id": "buyer-3",
            "currency": "EUR",
            "items": [{"sku": "sku-1", "unit_price": {"amount": 4000, "currency": "EUR"}}],
            "shipping_paid": {"amount": 500, "currency": "EUR"},
            "purchased_at": "2020-01-01T00:00:00Z",
        },
    }
