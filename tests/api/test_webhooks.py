"""Outbound webhooks: a receiver on loopback verifies every signature, fails on purpose, and sees the
retries; a subscriber that never answers is given up after the bound; a URL that reaches a non-public
address is refused at each delivery, unless private targets are allowed."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.webhooks import SIGNATURE_HEADER, TargetRefused, WebhookActivities, WebhookDelivery, checked_addresses, sign, verify
from api.app import create_app
from config.settings import Settings
from store.database import DeliveryRefused, Store
from store.schema import WebhookDeliveryRow, WebhookSubscriptionRow
from testkit.world import settled
from tests.api.test_api import CALLERS, SELLER, auth, new_case_body, seller_response
from tests.conftest import result_when_done, worker_for
from workflows.refund_case import workflow_id
from workflows.webhook_delivery import GIVE_UP_AFTER, WebhookDeliveryWorkflow
from workflows.webhook_delivery import workflow_id as delivery_workflow_id


@dataclass
class Receiver:
    """A subscriber's endpoint: checks each signature with `secret`, answers 500 to the first `fail` calls."""

    url: str = ""
    secret: str = ""
    fail: int = 0
    calls: list[tuple[str, bool, int]] = field(default_factory=list)  # (event, signature valid, status answered)
    hosts: list[str] = field(default_factory=list)  # each call's Host header


@pytest.fixture
def receiver():
    got = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            valid = verify(got.secret, self.headers[SIGNATURE_HEADER], body)
            status = 500 if got.fail > 0 else 200
            got.fail -= 1
            got.calls.append((self.headers["Refund-Cases-Event"], valid, status))
            got.hosts.append(self.headers["Host"])
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
async def subscribed(harness, receiver: Receiver, events: list[str], **scope):
    """The API, with `receiver` subscribed to `events` (and `scope`: seller_ids) for the duration."""
    app = create_app(Settings(webhook_private_targets=True), case_client=harness.client, store=harness.store, callers=CALLERS)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        http.harness = harness
        created = await http.post("/v1/webhooks", json={"url": receiver.url, "events": events, **scope}, headers=auth("admin"))
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
    return {row.event: await result_when_done(harness.env, delivery_workflow_id(row.id)) for row in rows}


def test_only_public_addresses_are_delivered_to_unless_private_targets_are_allowed():
    assert checked_addresses("https://8.8.8.8/hook", private_allowed=False) == ["8.8.8.8"]
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://localhost/hook",
    ]:
        with pytest.raises(TargetRefused, match="not a public address"):
            checked_addresses(url, private_allowed=False)
    assert checked_addresses("http://127.0.0.1:9/hook", private_allowed=True) == ["127.0.0.1"]


@pytest.mark.parametrize(
    "address",
    ["::127.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::808:808", "2002:7f00:1::", "::ffff:0:7f00:1", "::ffff:0:a00:5"],
)
def test_ipv6_addresses_that_carry_a_private_ipv4_address_are_refused(address):
    """IPv4-compatible, NAT64 (well-known and local-use), 6to4 and IPv4-translated addresses once
    passed the check while reaching loopback or the metadata service."""
    with pytest.raises(TargetRefused, match="not a public address"):
        checked_addresses(f"http://[{address}]/hook", private_allowed=False)


def test_an_ipv6_address_that_carries_a_public_ipv4_address_is_public():
    assert checked_addresses("http://[64:ff9b::808:808]/hook", private_allowed=False) == ["64:ff9b::808:808"]


@pytest.fixture
def own_store(tmp_path):
    """A store of these tests' own: their subscriptions must not collect the shared cases' events."""
    store = Store(f"sqlite:///{tmp_path}/cases.db")
    store.migrate()
    return store


def pending_delivery(store, url: str) -> WebhookDelivery:
    """A subscription to `url` and one delivery waiting for it, as a case's outbox writes them."""
    now = datetime.now(UTC)
    key = uuid.uuid4().hex[:8]
    store.insert_once(
        WebhookSubscriptionRow(id=f"wh_{key}", url=url, events=["closed"], secret="whsec_t", created_by="test", created_at=now, active=True)
    )
    store.insert_once(
        WebhookDeliveryRow(id=f"d_{key}", subscription_id=f"wh_{key}", case_id="c", event="closed", payload={}, status="pending", created_at=now)
    )
    return WebhookDelivery(delivery_id=f"d_{key}")


def test_a_delivery_to_a_private_address_is_refused_for_good_and_sends_nothing(own_store, receiver):
    delivery = pending_delivery(own_store, receiver.url)
    with pytest.raises(ApplicationError, match="127.0.0.1 is 127.0.0.1, not a public address") as refused:
        WebhookActivities(own_store, private_targets=False).deliver_webhook(delivery)
    assert refused.value.non_retryable and receiver.calls == []
    row = own_store.rows(WebhookDeliveryRow, id=delivery.delivery_id)[0]
    assert (row.attempts, row.status) == (0, "pending") and "not a public address" in row.last_error


def test_a_delivery_is_sent_again_only_when_given_up_or_never_dispatched(own_store):
    delivery = pending_delivery(own_store, "http://127.0.0.1:9/hook")
    subscription = own_store.rows(WebhookDeliveryRow, id=delivery.delivery_id)[0].subscription_id
    assert own_store.redeliver(subscription, delivery.delivery_id).status == "pending"  # a crash left it undispatched
    own_store.update_delivery(delivery.delivery_id, dispatched_at=datetime.now(UTC))
    with pytest.raises(DeliveryRefused, match="status: only a given-up delivery is sent again; this one is pending"):
        own_store.redeliver(subscription, delivery.delivery_id)
    own_store.update_delivery(delivery.delivery_id, status="given_up")
    row = own_store.redeliver(subscription, delivery.delivery_id)
    assert (row.status, row.dispatched_at) == ("pending", None)
    with pytest.raises(LookupError):
        own_store.redeliver("wh_other", delivery.delivery_id)
    own_store.update_delivery(delivery.delivery_id, status="given_up")
    own_store.deactivate_subscription(subscription)
    with pytest.raises(DeliveryRefused, match="subscription_id: the subscription was removed"):
        own_store.redeliver(subscription, delivery.delivery_id)


@pytest.mark.workflow
async def test_a_refused_delivery_is_given_up_at_once_with_the_reason(env, own_store):
    delivery = pending_delivery(own_store, "http://169.254.169.254/latest/meta-data")
    async with worker_for(env, own_store, webhook_private_targets=False) as h:
        outcome = await env.client.execute_workflow(
            WebhookDeliveryWorkflow.run, delivery, id=delivery_workflow_id(delivery.delivery_id), task_queue=h.client.task_queue
        )
    row = own_store.rows(WebhookDeliveryRow, id=delivery.delivery_id)[0]
    assert (outcome, row.status, row.attempts) == ("given_up", "given_up", 0)
    assert row.last_error.startswith("169.254.169.254 is 169.254.169.254, not a public address")


def test_a_delivery_connects_to_the_addresses_it_checked_in_turn_and_keeps_the_name(own_store, receiver, monkeypatch):
    resolve, answers = socket.getaddrinfo, [("127.0.0.2", "127.0.0.1")]

    def dns(host, *args, **kwargs):
        """Nothing listens on the name's first address; asked again, the name moves there (rebinding)."""
        if host != "receiver.test":
            return resolve(host, *args, **kwargs)
        addresses = answers.pop() if answers else ("127.0.0.2",)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0)) for address in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", dns)
    by_name = receiver.url.replace("127.0.0.1", "receiver.test")
    delivery = pending_delivery(own_store, by_name)
    WebhookActivities(own_store, private_targets=True).deliver_webhook(delivery)
    assert receiver.hosts == [httpx.URL(by_name).netloc.decode()]
    assert own_store.rows(WebhookDeliveryRow, id=delivery.delivery_id)[0].status == "delivered"


def test_a_subscribers_endless_answer_is_not_read(own_store):
    """A subscriber's whole answer was once buffered: a 400 MiB body added about 800 MB to the worker."""
    written = []

    class Endless(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(400 * 2**20))
            self.end_headers()
            try:
                for _ in range(400):
                    self.wfile.write(b"x" * 2**20)
                    written.append(1)
            except OSError:
                pass  # the deliverer hung up, as it should

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        delivery = pending_delivery(own_store, f"http://127.0.0.1:{server.server_address[1]}/hook")
        WebhookActivities(own_store, private_targets=True).deliver_webhook(delivery)
    finally:
        server.shutdown()
    assert own_store.rows(WebhookDeliveryRow, id=delivery.delivery_id)[0].status == "delivered"
    assert len(written) < 100, f"{len(written)} MiB of the answer were taken in"


def test_a_signature_checks_the_body_the_secret_and_the_time():
    body = b'{"type":"closed"}'
    now = int(time.time())
    header = sign("whsec_1", now, body)
    assert verify("whsec_1", header, body)
    assert not verify("whsec_2", header, body)
    assert not verify("whsec_1", header, body + b" ")
    assert not verify("whsec_1", sign("whsec_1", now - 3600, body), body)  # a replay from an hour ago
    assert not verify("whsec_1", "t=x,v1=y", body)
    assert not verify("whsec_1", f"t={now},v1=é€", body)  # once a TypeError


@pytest.mark.workflow
async def test_a_redelivery_waits_for_the_last_round_to_close(module_env, own_store, receiver):
    """On a server of its own: a run left on a queue nobody polls keeps the server from skipping time."""
    async with worker_for(module_env, own_store) as h, subscribed(h, receiver, ["closed"]) as (http, subscription):
        delivery_id = f"c-1:1:closed:{subscription}"
        own_store.insert_once(
            WebhookDeliveryRow(
                id=delivery_id,
                subscription_id=subscription,
                case_id="c-1",
                event="closed",
                payload={},
                status="given_up",
                created_at=datetime.now(UTC),
            )
        )
        last_round = await module_env.client.start_workflow(
            WebhookDeliveryWorkflow.run, WebhookDelivery(delivery_id=delivery_id), id=delivery_workflow_id(delivery_id), task_queue="nobody"
        )
        again = f"/v1/webhooks/{subscription}/deliveries/{delivery_id}/redeliver"
        closing = await http.post(again, headers=auth("admin"))
        assert (closing.status_code, closing.json()["rule"]) == (409, "its last round is still closing: send it again in a moment")
        await last_round.terminate()
        assert (await http.post(again, headers=auth("admin"))).status_code == 202
        assert await module_env.client.get_workflow_handle(delivery_workflow_id(delivery_id)).result() == "delivered"
    assert receiver.calls == [("closed", True, 200)]


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
async def test_a_sellers_subscription_hears_of_its_own_cases_only(cases, receiver):
    """Every subscription once received every seller's events."""
    async with subscribed(cases, receiver, ["case_opened"], seller_ids=["seller-elsewhere"]) as (http, subscription):
        listed = (await http.get("/v1/webhooks", headers=auth("admin"))).json()
        assert [s["seller_ids"] for s in listed if s["id"] == subscription] == [["seller-elsewhere"]]
        opened = await http.post("/v1/cases", json=await new_case_body(http), headers=auth("buyer"))
        assert opened.status_code == 201
        await settled(cases.env.client, workflow_id(opened.json()["case_id"]))
        assert cases.store.rows(WebhookDeliveryRow, subscription_id=subscription) == []
    async with subscribed(cases, receiver, ["case_opened"], seller_ids=[SELLER]) as (http, subscription):
        await http.post("/v1/cases", json=await new_case_body(http), headers=auth("buyer"))
        assert await outcomes(cases, subscription, expected=1) == {"case_opened": "delivered"}


@pytest.mark.workflow
async def test_a_receiver_that_never_answers_is_given_up_after_the_bound_and_sent_again_once_back(quiet_cases, receiver):
    receiver.fail = 10**6
    async with subscribed(quiet_cases, receiver, ["case_opened"]) as (http, subscription):
        started = await quiet_cases.env.get_current_time()
        await http.post("/v1/cases", json=await new_case_body(http), headers=auth("buyer"))
        results = await outcomes(quiet_cases, subscription, expected=1, skip=GIVE_UP_AFTER + timedelta(hours=1))
        waited = await quiet_cases.env.get_current_time() - started
        deliveries = (await http.get(f"/v1/webhooks/{subscription}/deliveries", headers=auth("admin"))).json()
        assert results == {"case_opened": "given_up"}
        assert GIVE_UP_AFTER <= waited < GIVE_UP_AFTER * 2
        given_up = deliveries[0]
        assert given_up["status"] == "given_up" and given_up["attempts"] > 10 and given_up["last_error"] == "HTTP 500"

        receiver.fail, receiver.calls = 0, []  # the subscriber is back: an admin sends the delivery again
        again = f"/v1/webhooks/{subscription}/deliveries/{given_up['id']}/redeliver"
        sent = await http.post(again, headers=auth("admin"))
        assert (sent.status_code, sent.json()["status"]) == (202, "pending")
        assert await outcomes(quiet_cases, subscription, expected=1) == {"case_opened": "delivered"}
        after = (await http.get(f"/v1/webhooks/{subscription}/deliveries", headers=auth("admin"))).json()[0]
        assert (after["status"], after["attempts"]) == ("delivered", given_up["attempts"] + 1)
        assert receiver.calls == [("case_opened", True, 200)]
        twice = await http.post(again, headers=auth("admin"))
        assert (twice.status_code, twice.json()["rule"]) == (409, "only a given-up delivery is sent again; this one is delivered")
        unknown = await http.post(f"/v1/webhooks/{subscription}/deliveries/nope/redeliver", headers=auth("admin"))
        assert (unknown.status_code, unknown.json()["field"]) == (404, "delivery_id")
        assert (await http.post(again, headers=auth("support"))).status_code == 403
