"""The compose topology run for real (cluster/): Temporal built from its Go module at the version the
compose file pins, its four services in processes of their own on PostgreSQL with more than one history
shard and PostgreSQL visibility, three of our workers, the API, the codec server and the UI server.
The README's tour goes through the HTTP API, the UI server shows the case, and the chaos run kills
every part of the server in turn."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx
import pytest
from temporalio.api.workflowservice.v1 import GetClusterInfoRequest
from temporalio.client import Client

from cluster.build import build
from cluster.compose import SERVER_IMAGE, Compose
from cluster.fleet import Fleet, Ports
from tests.browser.test_browser import CHROMIUM_FLAGS, chromium, shown_after_reloads
from tests.chaos.test_chaos import NEVER, chaos

pytestmark = pytest.mark.cluster

MUG = {"sku": "sku-mug", "unit_price": {"amount": 4000, "currency": "EUR"}}


@pytest.fixture(scope="module")
def fleet():
    running = Fleet(build(), Path(tempfile.mkdtemp(prefix="cluster-test-")), Ports.free())
    try:
        running.start(say=lambda _: None)
        yield running
    finally:
        running.stop()


async def test_the_four_services_run_apart_on_postgresql_with_many_shards(fleet):
    assert fleet.temporal is not None
    pids = {role: service.process.pid for role, service in fleet.temporal.services.items() if service.process and service.process.poll() is None}
    assert sorted(pids) == ["frontend", "history", "matching", "worker"] and len(set(pids.values())) == 4

    client = await Client.connect(fleet.temporal.address)
    described = await client.workflow_service.get_cluster_info(GetClusterInfoRequest())
    assert described.server_version == Compose.load().image_version(SERVER_IMAGE)
    assert described.history_shard_count > 1
    assert described.persistence_store == "postgres12" and described.visibility_store == "postgres12"
    assert fleet.exited() == []


def _post(fleet, path: str, caller: str, body: dict, expect: int) -> dict:
    answer = httpx.post(f"{fleet.api_url}{path}", json=body, headers={"Authorization": f"Bearer {fleet.token(caller)}"}, timeout=60)
    assert answer.status_code == expect, answer.text
    return answer.json()


def _case(fleet, case_id: str) -> dict:
    answer = httpx.get(f"{fleet.api_url}/v1/cases/{case_id}", headers={"Authorization": f"Bearer {fleet.token('dev-seller-portal')}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture(scope="module")
def toured(fleet):
    """The README's tour through the HTTP API: the order registered, a case opened, the item sent back,
    the seller confirms it, and the buyer is refunded."""
    order = {
        "order_id": "ord-1001", "seller_id": "seller-42", "buyer_id": "buyer-7", "currency": "EUR", "items": [MUG],
        "shipping_paid": {"amount": 500, "currency": "EUR"}, "purchased_at": "2026-11-28T10:00:00Z",
    }  # fmt: skip
    registered = httpx.put(
        f"{fleet.api_url}/v1/orders/ord-1001",
        json={"order": order},
        headers={"Authorization": f"Bearer {fleet.token('dev-order-system')}"},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    case_id = _post(fleet, "/v1/cases", "dev-buyer-app", {"request_id": "rr-1001", "reason": "not_as_described", "order_id": "ord-1001"}, 201)[
        "case_id"
    ]
    seller = {"party": "seller", "id": "seller-42"}
    carrier = {"party": "carrier", "id": "carrier-1"}
    answered = _post(
        fleet,
        f"/v1/cases/{case_id}/seller-response",
        "dev-seller-portal",
        {"by": seller, "resolution": "refund_after_return", "request_id": "p-1"},
        200,
    )
    assert answered["status"] == "awaiting_return_shipment"
    _post(fleet, f"/v1/cases/{case_id}/return-shipped", "dev-carrier", {"by": carrier, "tracking_number": "RET-123456", "request_id": "c-1"}, 202)
    _post(fleet, f"/v1/cases/{case_id}/return-delivered", "dev-carrier", {"by": carrier, "request_id": "c-2"}, 202)
    for _ in range(120):  # the facts are signals: the case moves once a worker has taken them
        if _case(fleet, case_id)["status"] == "awaiting_return_inspection":
            break
        time.sleep(0.25)
    closed = _post(fleet, f"/v1/cases/{case_id}/return-inspection", "dev-seller-portal", {"by": seller, "confirm": True, "request_id": "p-2"}, 200)
    return case_id, closed


def test_the_tour_through_the_api_closes_the_case_with_its_refund(toured):
    _, closed = toured
    assert closed["status"] == "closed" and closed["outcome"] == "refunded_full"
    assert closed["refunded"] == {"amount": 4500, "currency": "EUR"}
    assert closed["charged_to_seller"] == {"amount": 5150, "currency": "EUR"}  # price, shipping and the return label
    assert [refund["status"] for refund in closed["refunds"]] == ["settled"]


async def test_the_ui_server_shows_the_case_through_the_codec_server(fleet, toured):
    from playwright.async_api import async_playwright

    case_id, _ = toured
    settings = httpx.get(f"{fleet.ui_url}/api/v1/settings", timeout=10).json()
    assert settings["Codec"]["Endpoint"] == fleet.codec_url and settings["DisableWriteActions"] is True
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        await page.goto(f"{fleet.ui_url}/namespaces/default/workflows/case-{case_id}")
        # The input, stored encrypted, reads in clear: the UI fetched it through the codec server.
        await shown_after_reloads(page, "dev-buyer-app:rr-1001")
        await page.get_by_text("Completed").first.wait_for(timeout=30_000)  # the closed case's workflow
        await page.screenshot(path=str(fleet.home / "ui-case.png"))
        await browser.close()


def test_the_chaos_run_on_the_cluster_loses_nothing_while_every_part_of_the_server_restarts(tmp_path):
    code, figures, output = chaos(tmp_path, "--topology", "cluster", "--cases", "24", "--kill-every", "1,2")
    assert code == 0, output
    assert figures["restarts"] == {"history": 1, "matching": 1, "frontend": 1, "postgresql": 1}, output
    assert figures["worker_kills"] >= 3 and figures["refunds_at_provider"] >= 8, output
    for bad in NEVER:
        assert figures[bad] == 0, (bad, output)
    assert figures["histories_replayed"] == 24 and figures["problems"] == [], output
