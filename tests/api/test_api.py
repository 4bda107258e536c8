"""The HTTP API against the time-skipping server: every endpoint, every role, idempotency keys replayed
and reused, and problem+json errors that name the field and the rule."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
from temporalio.service import RPCError

from api.app import create_app
from api.auth import Caller, Callers, Role, hash_token
from cases.model import Status
from config.settings import Settings
from starter.client import case_id_for
from store.schema import CaseRow
from tests.conftest import worker_for
from tests.factories import eur, order
from tests.workflows.test_hostile_input import settled_history
from workflows.refund_case import workflow_id

pytestmark = pytest.mark.workflow

SELLER, OTHER_SELLER, BUYER, OTHER_BUYER = "seller-7", "seller-8", "buyer-3", "buyer-4"
ROLES = {
    "seller": (Role.SELLER_PORTAL, {"seller_ids": [SELLER]}),
    "other-seller": (Role.SELLER_PORTAL, {"seller_ids": [OTHER_SELLER]}),
    "buyer": (Role.BUYER_APP, {"buyer_ids": [BUYER]}),
    "other-buyer": (Role.BUYER_APP, {"buyer_ids": [OTHER_BUYER]}),
    "support": (Role.SUPPORT_CONSOLE, {}),
    "carrier": (Role.CARRIER_WEBHOOK, {}),
    "payment": (Role.PAYMENT_WEBHOOK, {}),
    "order-system": (Role.ORDER_SYSTEM, {}),
    "admin": (Role.ADMIN, {}),
}
CALLERS = Callers([Caller(name=name, token_sha256=hash_token(f"token-{name}"), role=role, **ids) for name, (role, ids) in ROLES.items()])


def auth(name: str) -> dict:
    return {"Authorization": f"Bearer token-{name}"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(module_env, store):
    """The API over a worker on this module's own server (its tests leave dozens of cases open)."""
    async with worker_for(module_env, store) as harness:
        app = create_app(Settings(api_rate_limit="100000/second"), case_client=harness.client, store=store, callers=CALLERS)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
                http.harness = harness
                yield http


async def registered_order(http, **order_changes) -> dict:
    """An order the order system has just registered, as it sent it."""
    now = await http.harness.env.get_current_time()
    bought = order(purchased_at=now - timedelta(days=3), shipped_at=now - timedelta(days=2), **order_changes)
    registration = {"order": json.loads(bought.model_dump_json())}
    answer = await http.put(f"/v1/orders/{bought.order_id}", json=registration, headers=auth("order-system"))
    assert answer.status_code == 201, answer.text
    return registration


async def new_case_body(http, request_id: str | None = None, **order_changes) -> dict:
    """A case request on a freshly registered order: it names the order, never its content."""
    registration = await registered_order(http, **order_changes)
    return {"request_id": request_id or f"api-{uuid.uuid4().hex}", "reason": "defective", "order_id": registration["order"]["order_id"]}


async def opened_case(http, **order_changes) -> str:
    answer = await http.post("/v1/cases", json=await new_case_body(http, **order_changes), headers=auth("buyer"))
    assert answer.status_code == 201, answer.text
    case_id = answer.json()["case_id"]
    for _ in range(300):  # the read model follows the workflow's first activities
        if http.harness.store.get(CaseRow, case_id) is not None:
            return case_id
        await asyncio.sleep(0.02)
    raise AssertionError(f"case {case_id} never reached the store")


def seller_response(resolution: str = "full_refund", seller: str = SELLER, **fields) -> dict:
    return {"by": {"party": "seller", "id": seller}, "resolution": resolution, **fields}


async def history_length(http, case_id: str) -> int:
    return len(await settled_history(http.harness, case_id))


async def until(http, case_id: str, holds, what: str) -> dict:
    """Polls (bounded) until the signalled case's view satisfies `holds`."""
    for _ in range(300):
        shown = (await http.get(f"/v1/cases/{case_id}", headers=auth("support"))).json()
        if holds(shown):
            return shown
        await asyncio.sleep(0.02)
    raise AssertionError(f"case {case_id} never {what}")


async def reaches(http, case_id: str, status: str, refused_entry: str | None = None) -> dict:
    """Until the case shows `status` (and, if given, a refused timeline entry of that kind)."""

    def holds(shown: dict) -> bool:
        refused = refused_entry is None or any(e["refused"] and e["kind"] == refused_entry for e in shown["timeline"])
        return shown["status"] == status and refused

    return await until(http, case_id, holds, f"reached {status}")


def problem(answer: httpx.Response, status: int, field: str) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["status"] == status and body["field"] == field and body["rule"], body
    return body


# -------------------------------------------------------------------------------------- opening


async def test_opening_with_an_idempotency_key_replays_the_first_answer_and_refuses_another_body(api):
    body = await new_case_body(api)
    key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}", **auth("buyer")}
    first = await api.post("/v1/cases", json=body, headers=key)
    again = await api.post("/v1/cases", json=body, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = {**body, "reason": "wrong_item"}
    problem(await api.post("/v1/cases", json=other, headers=key), 409, "Idempotency-Key")
    # without a key, the request id still names the same case
    plain = await api.post("/v1/cases", json=body, headers=auth("buyer"))
    assert plain.status_code == 200 and plain.json() == {**first.json(), "created": False}


@pytest.mark.parametrize("caller", ["seller", "carrier", "payment"])
async def test_roles_that_may_not_open_are_refused_before_any_workflow_starts(api, caller):
    body = await new_case_body(api)
    problem(await api.post("/v1/cases", json=body, headers=auth(caller)), 403, "Authorization")
    with pytest.raises(RPCError):
        await api.harness.env.client.get_workflow_handle(workflow_id(case_id_for(f"{caller}:{body['request_id']}"))).describe()


async def test_a_buyer_app_opens_only_for_its_own_buyers(api):
    body = await new_case_body(api, buyer_id="buyer-9")
    problem(await api.post("/v1/cases", json=body, headers=auth("buyer")), 404, "order_id")
    assert (await api.post("/v1/cases", json=body, headers=auth("support"))).status_code == 201


async def test_calls_without_a_known_token_get_401(api):
    problem(await api.get("/v1/cases/nope"), 401, "Authorization")
    problem(await api.get("/v1/cases/nope", headers={"Authorization": "Bearer guess"}), 401, "Authorization")


async def test_an_invalid_body_is_a_422_naming_the_field(api):
    registration = {"order": json.loads(order(buyer_id="buyer-3").model_dump_json())}
    registration["order"]["buyer_id"] = "someone@example.com"
    path = f"/v1/orders/{registration['order']['order_id']}"
    found = problem(await api.put(path, json=registration, headers=auth("order-system")), 422, "order.buyer_id")
    assert "opaque id" in found["rule"] and "example.com" not in json.dumps(found)
    body = await new_case_body(api)
    problem(await api.post("/v1/cases", json={**body, "order_id": "a@b.c"}, headers=auth("support")), 422, "order_id")


async def test_an_ineligible_opening_is_a_422_from_the_rules(api):
    body = await new_case_body(api)
    body["kind"] = "cancellation"  # the order has shipped
    problem(await api.post("/v1/cases", json=body, headers=auth("buyer")), 422, "kind")


# ------------------------------------------------------------------------------------- reading


async def test_reading_a_case_by_role(api):
    case_id = await opened_case(api)
    for caller in ("seller", "buyer", "support", "admin"):
        answer = await api.get(f"/v1/cases/{case_id}", headers=auth(caller))
        assert answer.status_code == 200 and answer.json()["case_id"] == case_id
    for caller in ("carrier", "payment"):
        problem(await api.get(f"/v1/cases/{case_id}", headers=auth(caller)), 403, "Authorization")
    problem(await api.get("/v1/cases/no-such-case", headers=auth("support")), 404, "case_id")


async def test_anothers_case_and_no_case_look_the_same_to_a_stranger(api):
    """404 for a missing case against 403 for another's once told which ids exist; a stranger's action
    once met the case's state checks (409 with its status) before its sender was checked."""
    case_id = await opened_case(api)
    before = await history_length(api, case_id)
    theirs = problem(await api.get(f"/v1/cases/{case_id}", headers=auth("other-seller")), 404, "case_id")
    missing = problem(await api.get("/v1/cases/no-such-case", headers=auth("other-seller")), 404, "case_id")
    assert theirs["title"] == missing["title"]
    acted = await api.post(f"/v1/cases/{case_id}/seller-response", json=seller_response(seller=OTHER_SELLER), headers=auth("other-seller"))
    problem(acted, 404, "case_id")  # not 409 with the case's status: a stranger learns nothing of it
    assert await history_length(api, case_id) == before


# -------------------------------------------------------------------------------------- acting


async def test_the_seller_answers_and_the_case_refunds(api):
    case_id = await opened_case(api)
    answer = await api.post(f"/v1/cases/{case_id}/seller-response", json=seller_response(), headers=auth("seller"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "closed" and answer.json()["refunded"] == {"amount": 4500, "currency": "EUR"}


async def test_acting_for_someone_the_token_does_not_cover_is_403_and_leaves_no_trace(api):
    case_id = await opened_case(api)
    before = await history_length(api, case_id)
    as_other = seller_response(seller=OTHER_SELLER)
    problem(await api.post(f"/v1/cases/{case_id}/seller-response", json=as_other, headers=auth("seller")), 403, "by")
    as_buyer = {"by": {"party": "buyer", "id": BUYER}}
    problem(await api.post(f"/v1/cases/{case_id}/withdrawal", json=as_buyer, headers=auth("seller")), 403, "by")
    carrier_fact = {"by": {"party": "carrier", "id": "dhl-hook"}, "tracking_number": "RET-12345"}
    problem(await api.post(f"/v1/cases/{case_id}/return-shipped", json=carrier_fact, headers=auth("payment")), 403, "by")
    assert await history_length(api, case_id) == before


async def test_the_rules_refusals_map_to_403_409_and_422(api):
    case_id = await opened_case(api)
    # admin may speak for anyone: the rules refuse a sender who is not this case's
    problem(await api.post(f"/v1/cases/{case_id}/seller-response", json=seller_response(seller=OTHER_SELLER), headers=auth("admin")), 403, "by.id")
    problem(
        await api.post(f"/v1/cases/{case_id}/buyer-answer", json={"by": {"party": "buyer", "id": BUYER}, "accept": True}, headers=auth("buyer")),
        409,
        "kind",
    )
    too_much = seller_response("partial_refund", amount={"amount": 99_999, "currency": "EUR"})
    problem(await api.post(f"/v1/cases/{case_id}/seller-response", json=too_much, headers=auth("seller")), 422, "amount")
    problem(await api.post("/v1/cases/no-such-case/seller-response", json=seller_response(), headers=auth("seller")), 404, "case_id")


async def test_a_decision_sent_twice_with_one_idempotency_key_acts_once(api):
    case_id = await opened_case(api)
    message = {"by": {"party": "buyer", "id": BUYER}, "text": "photos attached"}
    key = {"Idempotency-Key": f"msg-{uuid.uuid4().hex}", **auth("buyer")}
    first = await api.post(f"/v1/cases/{case_id}/messages", json=message, headers=key)
    again = await api.post(f"/v1/cases/{case_id}/messages", json=message, headers=key)
    assert first.status_code == again.status_code == 200
    assert again.json()["version"] == first.json()["version"]


async def test_a_strangers_refused_signal_gives_no_request_id_to_read_the_case_by(api):
    """buyer-4's app sent a withdrawal to buyer-3's case as a signal with request id X, then the same as
    an update, and got buyer-3's whole case view back as the answer to a repeat."""
    case_id = await opened_case(api)
    before = await history_length(api, case_id)
    withdrawal = {"by": {"party": "buyer", "id": OTHER_BUYER}, "request_id": "x-1"}
    problem(await api.post(f"/v1/cases/{case_id}/withdrawal?wait=false", json=withdrawal, headers=auth("other-buyer")), 404, "case_id")
    problem(await api.post(f"/v1/cases/{case_id}/withdrawal", json=withdrawal, headers=auth("other-buyer")), 404, "case_id")
    assert await history_length(api, case_id) == before


async def test_one_idempotency_key_from_two_callers_is_two_commands(api):
    """The carrier's return-shipped with key portal-7731 made the seller's decline with the same key a
    repeat: answered 200, and dropped."""
    case_id = await opened_case(api)
    key = f"portal-{uuid.uuid4().hex[:8]}"
    shipped = {"by": {"party": "carrier", "id": "dhl-hook"}, "tracking_number": "RET-12345"}
    assert (
        await api.post(f"/v1/cases/{case_id}/return-shipped", json=shipped, headers={"Idempotency-Key": key, **auth("carrier")})
    ).status_code == 202
    await reaches(api, case_id, "awaiting_seller_response", refused_entry="return_shipped")
    declined = await api.post(
        f"/v1/cases/{case_id}/seller-response", json=seller_response("decline"), headers={"Idempotency-Key": key, **auth("seller")}
    )
    assert declined.status_code == 200 and declined.json()["status"] == "declined", declined.text
    assert [e["kind"] for e in declined.json()["timeline"] if e["actor"]["party"] == "seller"] == ["seller_response"]


async def test_one_request_id_from_two_buyer_apps_opens_two_cases(api):
    """buyer-4's app opened rr-6001 first; buyer-3's own rr-6001 then answered 200 created:false with
    buyer-4's case, which buyer-3 may not read."""
    request_id = f"rr-{uuid.uuid4().hex[:8]}"
    squatted = await api.post("/v1/cases", json=await new_case_body(api, request_id, buyer_id=OTHER_BUYER), headers=auth("other-buyer"))
    own = await api.post("/v1/cases", json=await new_case_body(api, request_id), headers=auth("buyer"))
    assert (squatted.status_code, own.status_code) == (201, 201), own.text
    assert own.json()["case_id"] != squatted.json()["case_id"] and own.json()["created"]
    again = await api.post("/v1/cases", json=await new_case_body(api, request_id), headers=auth("buyer"))
    assert again.status_code == 200 and again.json()["case_id"] == own.json()["case_id"]


async def test_a_request_id_too_long_with_its_callers_name_is_refused_naming_the_field(api):
    body = await new_case_body(api, "r" * 128)
    found = problem(await api.post("/v1/cases", json=body, headers=auth("buyer")), 422, "request_id")
    assert found["rule"] == "at most 122 characters for the caller buyer"


async def test_fire_and_forget_decisions_and_carrier_facts_are_202(api):
    case_id = await opened_case(api)
    answer = await api.post(f"/v1/cases/{case_id}/seller-response?wait=false", json=seller_response("refund_after_return"), headers=auth("seller"))
    assert answer.status_code == 202 and answer.json() == {"case_id": case_id, "accepted": True}
    shipped = {"by": {"party": "carrier", "id": "dhl-hook"}, "tracking_number": "RET-12345"}
    assert (await api.post(f"/v1/cases/{case_id}/return-shipped", json=shipped, headers=auth("carrier"))).status_code == 202
    await reaches(api, case_id, "return_in_transit")


async def test_payment_facts_come_from_the_payment_webhook(api):
    case_id = await opened_case(api)
    settled = {"by": {"party": "payment", "id": "psp-hook"}, "refund_number": 1}
    assert (await api.post(f"/v1/cases/{case_id}/refund-settled", json=settled, headers=auth("payment"))).status_code == 202
    await reaches(api, case_id, "awaiting_seller_response", refused_entry="refund_settled")  # no refund 1 yet: refused
    problem(await api.post(f"/v1/cases/{case_id}/refund-settled", json=settled, headers=auth("carrier")), 403, "by")


async def test_support_escalates_decides_and_the_seller_appeals(api):
    case_id = await opened_case(api)
    steps = [
        ("escalation", {"by": {"party": "support", "id": "agent-1"}}, "support", "awaiting_support"),
        ("support-decision", {"by": {"party": "support", "id": "agent-1"}, "decision": "refund_charged_to_seller"}, "support", "appeal_open"),
        ("appeal", {"by": {"party": "seller", "id": SELLER}}, "seller", "awaiting_support"),
        ("support-decision", {"by": {"party": "support", "id": "agent-1"}, "decision": "uphold"}, "support", "closed"),
    ]
    for path, body, caller, status in steps:
        answer = await api.post(f"/v1/cases/{case_id}/{path}", json=body, headers=auth(caller))
        assert answer.status_code == 200 and answer.json()["status"] == status, answer.text


# --------------------------------------------------------------------------------------- lists


async def test_a_sellers_cases_page_by_cursor_and_only_for_its_portal(api):
    seller = f"seller-{uuid.uuid4().hex[:8]}"
    portal = Caller(name="portal-x", token_sha256=hash_token("token-portal-x"), role=Role.SELLER_PORTAL, seller_ids=[seller])
    for _ in range(3):
        await opened_case(api, seller_id=seller)
    CALLERS.callers.append(portal)  # a portal of this test's own seller, whose queue holds only these cases
    try:
        first = await api.get(f"/v1/sellers/{seller}/cases?limit=2", headers=auth("portal-x"))
        assert first.status_code == 200, first.text
        page = first.json()
        assert len(page["cases"]) == 2 and page["next_cursor"]
        rest = (await api.get(f"/v1/sellers/{seller}/cases", params={"limit": 2, "cursor": page["next_cursor"]}, headers=auth("portal-x"))).json()
        assert len(rest["cases"]) == 1 and rest["next_cursor"] is None
        seen = {c["case_id"] for c in page["cases"] + rest["cases"]}
        assert len(seen) == 3 and all(c["awaiting"] == "seller" for c in page["cases"])
        problem(await api.get(f"/v1/sellers/{seller}/cases?cursor=garbage", headers=auth("portal-x")), 422, "cursor")
        problem(await api.get(f"/v1/sellers/{seller}/cases", headers=auth("seller")), 403, "seller_id")
        problem(await api.get(f"/v1/sellers/{seller}/cases", headers=auth("buyer")), 403, "Authorization")
    finally:
        CALLERS.callers.remove(portal)


async def test_an_orders_cases_and_payout_state(api):
    order_id = f"ord-{uuid.uuid4().hex[:10]}"
    case_id = await opened_case(api, order_id=order_id)
    for caller in ("seller", "buyer", "support"):
        answer = await api.get(f"/v1/orders/{order_id}/cases", headers=auth(caller))
        assert answer.status_code == 200, answer.text
        assert answer.json()["payout_state"] == "held" and [c["case_id"] for c in answer.json()["cases"]] == [case_id]
    problem(await api.get(f"/v1/orders/{order_id}/cases", headers=auth("other-seller")), 404, "order_id")


async def test_an_order_with_no_case_is_read_by_support_only(api):
    """Any seller portal or buyer app once read the payout state of an order with no cases."""
    order_id = f"ord-{uuid.uuid4().hex[:10]}"
    for caller in ("seller", "other-seller", "buyer"):
        problem(await api.get(f"/v1/orders/{order_id}/cases", headers=auth(caller)), 404, "order_id")
    answer = await api.get(f"/v1/orders/{order_id}/cases", headers=auth("support"))
    assert answer.status_code == 200 and answer.json()["cases"] == []


async def test_the_kpi_report_is_for_support_and_admin(api):
    await opened_case(api)
    report = await api.get("/v1/reports/kpi?days=30", headers=auth("support"))
    assert report.status_code == 200 and report.json()["opened"] >= 1
    problem(await api.get("/v1/reports/kpi", headers=auth("seller")), 403, "Authorization")
    problem(await api.get("/v1/reports/kpi?days=0", headers=auth("admin")), 422, "query.days")


async def test_webhook_subscriptions_are_for_admin(api):
    hook = {"url": "https://hooks.example.invalid/refund-cases", "events": ["closed"]}  # not resolvable yet: each delivery checks
    created = await api.post("/v1/webhooks", json=hook, headers=auth("admin"))
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    subscription = created.json()["id"]
    listed = (await api.get("/v1/webhooks", headers=auth("admin"))).json()
    assert subscription in {s["id"] for s in listed} and all("secret" not in s for s in listed)
    assert (await api.get(f"/v1/webhooks/{subscription}/deliveries", headers=auth("admin"))).json() == []
    problem(await api.post("/v1/webhooks", json=hook, headers=auth("support")), 403, "Authorization")
    problem(await api.post("/v1/webhooks", json={"url": "not a url", "events": []}, headers=auth("admin")), 422, "url")
    inside = ["http://127.0.0.1:9/hook", "http://169.254.169.254/latest/meta-data", "http://[::1]/hook", "http://localhost/hook"]
    for url in inside:
        refused = problem(await api.post("/v1/webhooks", json={**hook, "url": url}, headers=auth("admin")), 422, "url")
        assert "not a public address" in refused["rule"]
    assert not {s["url"] for s in (await api.get("/v1/webhooks", headers=auth("admin"))).json()} & set(inside)
    assert (await api.delete(f"/v1/webhooks/{subscription}", headers=auth("admin"))).status_code == 204
    problem(await api.delete(f"/v1/webhooks/{subscription}", headers=auth("admin")), 404, "subscription_id")


async def test_the_openapi_document_lists_every_action(api):
    spec = (await api.get("/openapi.json")).json()
    paths = set(spec["paths"])
    for action in ("seller-response", "buyer-answer", "support-decision", "return-delivered", "refund-failed", "messages"):
        assert f"/v1/cases/{{case_id}}/{action}" in paths
    assert {"/v1/cases", "/v1/sellers/{seller_id}/cases", "/v1/orders/{order_id}/cases", "/v1/reports/kpi", "/v1/webhooks"} <= paths


BODIES = {
    "seller-response": ("seller", seller_response("decline")),
    "buyer-answer": ("buyer", {"by": {"party": "buyer", "id": BUYER}, "accept": True}),
    "return-inspection": ("seller", {"by": {"party": "seller", "id": SELLER}, "confirm": True}),
    "protection-feedback": ("buyer", {"by": {"party": "buyer", "id": BUYER}, "option": "not_received"}),
    "resolution-confirmed": ("buyer", {"by": {"party": "buyer", "id": BUYER}}),
    "escalation": ("support", {"by": {"party": "support", "id": "agent-1"}}),
    "withdrawal": ("buyer", {"by": {"party": "buyer", "id": BUYER}}),
    "support-decision": ("support", {"by": {"party": "support", "id": "agent-1"}, "decision": "deny"}),
    "appeal": ("seller", {"by": {"party": "seller", "id": SELLER}}),
    "reopening": ("support", {"by": {"party": "support", "id": "agent-1"}}),
    "messages": ("seller", {"by": {"party": "seller", "id": SELLER}, "text": "hello"}),
    "return-shipped": ("carrier", {"by": {"party": "carrier", "id": "dhl-hook"}, "tracking_number": "RET-12345"}),
    "return-delivered": ("carrier", {"by": {"party": "carrier", "id": "dhl-hook"}}),
    "refund-settled": ("payment", {"by": {"party": "payment", "id": "psp-hook"}, "refund_number": 1}),
    "refund-failed": ("payment", {"by": {"party": "payment", "id": "psp-hook"}, "refund_number": 1, "failure": "declined"}),
}


@pytest.mark.parametrize("action", sorted(BODIES))
async def test_every_action_reaches_its_own_update_or_signal(api, action):
    """On a case waiting for the seller, each action is taken, or refused by the rules by its own name."""
    caller, body = BODIES[action]
    case_id = await opened_case(api)
    answer = await api.post(f"/v1/cases/{case_id}/{action}", json=body, headers=auth(caller))
    kind = {"messages": "message"}.get(action, action.replace("-", "_"))
    if answer.status_code == 409:
        assert kind in answer.json()["rule"], answer.text
    elif answer.status_code == 202:  # a signal: the case takes it, or records it as refused under its name
        await until(api, case_id, lambda shown: any(e["kind"] == kind for e in shown["timeline"]), f"took {kind}")
    else:
        assert answer.status_code == 200, answer.text
        assert any(entry["kind"] == kind for entry in answer.json()["timeline"])


# ------------------------------------------------------------------------------------ the gate


async def test_a_large_body_without_a_token_is_refused_before_it_is_read(api):
    """A 24.8 MB POST /v1/cases without a token was read and parsed before its 401."""
    read = []

    async def body():
        for _ in range(25):
            read.append(1)
            yield b"x" * 2**20

    problem(await api.post("/v1/cases", content=body()), 401, "Authorization")
    assert len(read) <= 1, f"{len(read)} MiB were read"


async def test_a_body_over_the_cap_is_refused_with_a_token_too_whether_or_not_it_says_its_length(api):
    big = json.dumps({"request_id": "r", "reason": "defective", "note": "x" * 300_000}).encode()
    found = problem(await api.post("/v1/cases", content=big, headers={"Content-Type": "application/json", **auth("buyer")}), 413, "body")
    assert found["rule"] == "at most 262144 bytes"

    async def unsaid():
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    problem(await api.post("/v1/cases", content=unsaid(), headers={"Content-Type": "application/json", **auth("buyer")}), 413, "body")


async def test_an_order_has_at_most_200_items(api):
    registration = {"order": json.loads(order().model_dump_json())}
    registration["order"]["items"] = [{**registration["order"]["items"][0], "sku": f"sku-{n}"} for n in range(201)]
    path = f"/v1/orders/{registration['order']['order_id']}"
    problem(await api.put(path, json=registration, headers=auth("order-system")), 422, "order.items")


async def test_a_token_past_its_rate_limit_gets_429_and_others_are_not_held_back(api):
    """One carrier token once sent 3,000 signals to one case in 25 s."""
    limited = Callers(
        [*CALLERS.callers, Caller(name="busy", token_sha256=hash_token("token-busy"), role=Role.CARRIER_WEBHOOK, rate_limit="5/minute")]
    )
    app = create_app(Settings(api_rate_limit="100000/second"), case_client=api.harness.client, store=api.harness.store, callers=limited)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        case_id = await opened_case(api)
        delivered = {"by": {"party": "carrier", "id": "dhl-hook"}}
        answers = [await http.post(f"/v1/cases/{case_id}/return-delivered", json=delivered, headers=auth("busy")) for _ in range(8)]
        assert [a.status_code for a in answers] == [202] * 5 + [429] * 3
        late = problem(answers[-1], 429, "Authorization")
        assert late["rule"] == "busy may make 5/minute calls" and 1 <= int(answers[-1].headers["Retry-After"]) <= 60
        assert (await http.post(f"/v1/cases/{case_id}/return-delivered", json=delivered, headers=auth("carrier"))).status_code == 202


def test_a_rate_limit_in_another_notation_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="rate_limit"):
        Caller(name="x", token_sha256="0" * 64, role=Role.CARRIER_WEBHOOK, rate_limit="lots")
    with pytest.raises(ValueError, match="api_rate_limit"):
        Settings(api_rate_limit="5 a second")


# ---------------------------------------------------------------------------- registered orders


async def test_a_claimant_sends_no_amount_party_policy_or_fraud_flag(api):
    """A buyer app once sent the whole order: 99,999,999.00 EUR against seller-42 was refunded and
    charged to the seller; and its own policy, kind and fraud flag."""
    body = await new_case_body(api)
    for extra in (
        {"order": {"order_id": body["order_id"], "items": [{"sku": "x", "unit_price": {"amount": 9_999_999_900, "currency": "EUR"}}]}},
        {"policy": "marketplace_case"},
        {"buyer_flagged_for_fraud": False},
        {"seller_id": OTHER_SELLER},
    ):
        problem(await api.post("/v1/cases", json={**body, **extra}, headers=auth("buyer")), 422, next(iter(extra)))
    case_id = (await api.post("/v1/cases", json=body, headers=auth("buyer"))).json()["case_id"]
    refunded = await api.post(f"/v1/cases/{case_id}/seller-response", json=seller_response(), headers=auth("seller"))
    assert refunded.json()["refunded"] == {"amount": 4500, "currency": "EUR"}  # the registered 40.00 + 5.00


async def test_an_order_belongs_to_its_registered_buyer_and_seller(api):
    """buyer-8 once opened a case on ord-4001 (seller-42's, 0.01 EUR claimed) and had it refunded; buyer-7's
    real case then failed its refund, and buyer-7 got 403 reading the order's cases."""
    body = await new_case_body(api)
    problem(await api.post("/v1/cases", json=body, headers=auth("other-buyer")), 404, "order_id")
    case_id = (await api.post("/v1/cases", json=body, headers=auth("buyer"))).json()["case_id"]
    refunded = await api.post(f"/v1/cases/{case_id}/seller-response", json=seller_response(), headers=auth("seller"))
    assert refunded.json()["refunded"] == {"amount": 4500, "currency": "EUR"}
    answer = await api.get(f"/v1/orders/{body['order_id']}/cases", headers=auth("buyer"))
    assert answer.status_code == 200 and [c["case_id"] for c in answer.json()["cases"]] == [case_id]


async def test_an_order_is_registered_by_the_order_system_once_and_only_its_dates_move(api):
    registration = await registered_order(api)
    path = f"/v1/orders/{registration['order']['order_id']}"
    for caller in ("buyer", "seller", "support", "carrier"):
        problem(await api.put(path, json=registration, headers=auth(caller)), 403, "Authorization")
    again = await api.put(path, json=registration, headers=auth("order-system"))
    assert again.status_code == 200
    delivered = {**registration, "order": {**registration["order"], "delivered_at": registration["order"]["shipped_at"]}}
    assert (await api.put(path, json=delivered, headers=auth("order-system"))).status_code == 200
    for field, value in (("seller_id", OTHER_SELLER), ("buyer_id", OTHER_BUYER), ("shipping_paid", {"amount": 1, "currency": "EUR"})):
        moved = {**registration, "order": {**registration["order"], field: value}}
        problem(await api.put(path, json=moved, headers=auth("order-system")), 409, f"order.{field}")
    elsewhere = {**registration, "order": {**registration["order"], "order_id": "ord-elsewhere"}}
    problem(await api.put(path, json=elsewhere, headers=auth("order-system")), 422, "order.order_id")
    assert api.harness.store.registered_order(registration["order"]["order_id"]).order.delivered_at is not None


async def test_a_case_on_some_lines_refunds_those_lines_and_not_the_shipping(api):
    first = order().items[0]
    two_lines = [first, first.model_copy(update={"sku": "sku-2", "unit_price": eur(1500)})]
    body = await new_case_body(api, items=two_lines)
    problem(await api.post("/v1/cases", json={**body, "lines": ["sku-9"]}, headers=auth("buyer")), 422, "lines[0].sku")
    case_id = (await api.post("/v1/cases", json={**body, "lines": ["sku-2"]}, headers=auth("buyer"))).json()["case_id"]
    refunded = await api.post(f"/v1/cases/{case_id}/seller-response", json=seller_response(), headers=auth("seller"))
    assert refunded.json()["refunded"] == {"amount": 1500, "currency": "EUR"}


async def test_only_support_reinstates_a_seller_and_only_once_its_flagging_cases_are_resolved(api):
    """Tried as a seller would: its own portal may not lift its flag; support may, once the case is
    resolved (seed 001), and not while it is open."""
    seller = f"seller-flagged-{uuid.uuid4().hex[:6]}"
    case_id = await opened_case(api, seller_id=seller)
    store, at = api.harness.store, await api.harness.env.get_current_time()
    shown = await api.harness.client.show(case_id)
    flagged = shown.model_copy(update={"seller_flagged": True, "seller_flagged_at": at, "version": shown.version + 10})
    store.record_case(flagged, [])
    path = f"/v1/sellers/{seller}/reinstatement"
    for caller in ("seller", "buyer", "carrier", "order-system"):
        problem(await api.post(path, headers=auth(caller)), 403, "Authorization")
    still_open = problem(await api.post(path, headers=auth("support")), 409, "seller_id")
    assert f"case(s) {case_id} flagging {seller} are not resolved yet" in still_open["rule"]
    store.record_case(flagged.model_copy(update={"status": Status.CLOSED, "version": flagged.version + 1}), [])
    lifted = await api.post(path, headers=auth("support"))
    assert lifted.status_code == 200 and lifted.json() == {"seller_id": seller, "lifted_cases": [case_id]}
    problem(await api.post(path, headers=auth("support")), 409, "seller_id")  # nothing left to lift
