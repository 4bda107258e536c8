"""Outbound webhooks: a receiver on loopback verifies every signature, fails on purpose, and sees the
retries; a subscriber that never answers is given up after the bound."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from activities.webhooks import SIGNATURE_HEADER, sign, verify
from api.app import create_app
from store.schema import WebhookDeliveryRow
from tests.test_api import CALLERS, auth, new_case_body, seller_response
from workflows.webhook_delivery import GIVE_UP_AFTER
from workflows.webhook_delivery import workflow_id as delivery_workflow_id


@dataclass
class Receiver:
    """A subscriber's endpoint: checks each signature with `secret`, answers 500 to the first `fail` calls."""

    url: str = ""
    secret: str = ""
    fail: int = 0
    calls: list[tuple[str, bool, int]] = field(default_factory=list)  # (event, signature valid, status answered)


@pytest.fixture
def receiver():
    got = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            valid = verify(got.secret, self.headers[SIGNATURE_HEADER], body)
            status = 500 if got.fail > 0 else 200
            got.fail -= 1
            got.calls.append((self.headers["Refund-Cases-Event"], valid, status))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    got.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/refund-cases"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield got
    server.shutdown()


@asynccontextmanager
async def subscribed(harness, receiver: Receiver, events: list[str]):
    """The API, with `receiver` subscribed to `events` for the duration."""
    app = create_app(case_client=harness.client, store=harness.store, callers=CALLERS)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        http.harness = harness
        created = await http.post("/v1/webhooks", json={"url": receiver.url, "events": events}, headers=auth("admin"))
        assert created.status_code == 201, created.text
        receiver.secret = created.json()["secret"]
        try:
            yield http, created.json()["id"]
        finally:
            await http.delete(f"/v1/webhooks/{created.json()['id']}", headers=auth("admin"))


async def outcomes(harness, subscription: str, expected: int, skip: timedelta = timedelta(minutes=1)) -> dict[str, str]:
    """Waits for the subscription's deliveries to be written, lets `skip` pass on the time-skipping
    server (the retries' backoff), then reads each delivery workflow's result."""
    for _ in range(500):
        rows = harness.store.rows(WebhookDeliveryRow, subscription_id=subscription)
        if len(rows) >= expected and all(row.dispatched_at for row in rows):
            break
        await asyncio.sleep(0.02)
    while skip > timedelta(0):  # in steps: each sleep is one call, and a day of retries takes a while
        await harness.env.sleep(min(skip, timedelta(hours=4)))
        skip -= timedelta(hours=4)
    return {row.event: await harness.env.client.get_workflow_handle(delivery_workflow_id(row.id)).result() for row in rows}


def test_a_signature_checks_the_body_the_secret_and_the_time():
    body = b'{"type":"closed"}'
    now = int(time.time())
    header = sign("whsec_1", now, body)
    assert verify("whsec_1", header, body)
    assert not verify("whsec_2", header, body)
    assert not verify("whsec_1", header, body + b" ")
    assert not verify("whsec_1", sign("whsec_1", now - 3600, body), body)  # a replay from an hour ago
    assert not verify("whsec_1", "t=x,v1=y", body)


@pytest.mark.workflow
async def test_a_case_sends_signed_events_and_a_failing_receiver_gets_retries(cases, receiver):
    receiver.fail = 2
    events = ["case_opened", "waiting_on_party", "offer_made", "refunded", "closed"]
    async with subscribed(cases, receiver, events) as (http, subscription):
        opened = await http.post("/v1/cases", json=await new_case_body(http), headers=auth("buyer"))
        case_id = opened.json()["case_id"]
        answer = await http.post(f"/v1/cases/{case_id}/seller-response", json=seller_response(), headers=auth("seller"))
        assert answer.status_code == 200
        results = await outcomes(cases, subscription, expected=len(events))
        deliveries = (await http.get(f"/v1/webhooks/{subscription}/deliveries", headers=auth("admin"))).json()
    assert results == {event: "delivered" for event in events}
    assert sorted({event for event, _, _ in receiver.calls}) == sorted(events)
    assert all(valid for _, valid, _ in receiver.calls), "every delivery carried a valid signature"
    assert [status for _, _, status in receiver.calls].count(500) == 2
    assert sum(d["attempts"] for d in deliveries) == len(events) + 2
    assert all(d["status"] == "delivered" and d["case_id"] == case_id for d in deliveries)


@pytest.mark.workflow
async def test_a_receiver_that_never_answers_is_given_up_after_the_bound(quiet_cases, receiver):
    receiver.fail = 10**6
    async with subscribed(quiet_cases, receiver, ["case_opened"]) as (http, subscription):
        started = await quiet_cases.env.get_current_time()
        await http.post("/v1/cases", json=await new_case_body(http), headers=auth("buyer"))
        results = await outcomes(quiet_cases, subscription, expected=1, skip=GIVE_UP_AFTER + timedelta(hours=1))
        waited = await quiet_cases.env.get_current_time() - started
        deliveries = (await http.get(f"/v1/webhooks/{subscription}/deliveries", headers=auth("admin"))).json()
    assert results == {"case_opened": "given_up"}
    assert GIVE_UP_AFTER <= waited < GIVE_UP_AFTER * 2
    assert deliveries[0]["status"] == "given_up" and deliveries[0]["attempts"] > 10 and deliveries[0]["last_error"] == "HTTP 500"
