"""Evidence and item scoping through the HTTP API, as its callers and an attacker meet it: upload
(multipart), attach, download by role; refusals by size, type, role and ownership; one report opening
an issue per item."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio

from api.app import create_app
from api.auth import Caller, Callers, Role, hash_token
from cases.model import OrderItem
from codec.encryption import Keyring
from config.settings import Settings
from starter.client import CaseClient
from store.evidence import EvidenceFiles, FolderBlobs
from tests.conftest import worker_for
from tests.factories import eur, gif, jpeg, order, pdf

pytestmark = pytest.mark.workflow

SELLER, BUYER, OTHER_BUYER = "seller-7", f"buyer-ev-{uuid.uuid4().hex[:6]}", f"buyer-ev-{uuid.uuid4().hex[:6]}"
ROLES = {
    "seller": (Role.SELLER_PORTAL, {"seller_ids": [SELLER]}),
    "buyer": (Role.BUYER_APP, {"buyer_ids": [BUYER]}),
    "other-buyer": (Role.BUYER_APP, {"buyer_ids": [OTHER_BUYER]}),
    "support": (Role.SUPPORT_CONSOLE, {}),
    "carrier": (Role.CARRIER_WEBHOOK, {}),
    "order-system": (Role.ORDER_SYSTEM, {}),
}
CALLERS = Callers([Caller(name=name, token_sha256=hash_token(f"token-{name}"), role=role, **ids) for name, (role, ids) in ROLES.items()])
MAX_BYTES = 300_000


def auth(name: str) -> dict:
    return {"Authorization": f"Bearer token-{name}"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(module_env, store, tmp_path_factory):
    """The API with an evidence store of its own (a folder, sealed with a key), over a client that holds
    units in the case store, as `python -m api` composes it."""
    keys = Keyring.parse(f"k1={base64.b64encode(secrets.token_bytes(32)).decode()}")
    files = EvidenceFiles(FolderBlobs(tmp_path_factory.mktemp("evidence")), keys, store, MAX_BYTES)
    async with worker_for(module_env, store) as harness:
        client = CaseClient(harness.env.client, harness.client.task_queue, clock=harness.env.get_current_time).use_store(store).use_evidence(files)
        settings = Settings(api_rate_limit="100000/second", evidence_max_bytes=MAX_BYTES)
        app = create_app(settings, case_client=client, store=store, callers=CALLERS, evidence=files)
        async with app.router.lifespan_context(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
            http.harness = harness
            yield http


async def registered(http, buyer: str = BUYER) -> str:
    now = await http.harness.env.get_current_time()
    items = [OrderItem(sku="lamp", unit_price=eur(4000)), OrderItem(sku="mug", unit_price=eur(1500), quantity=3)]
    bought = order(items=items, buyer_id=buyer, purchased_at=now - timedelta(days=3), shipped_at=now - timedelta(days=2))
    answer = await http.put(f"/v1/orders/{bought.order_id}", json={"order": json.loads(bought.model_dump_json())}, headers=auth("order-system"))
    assert answer.status_code == 201, answer.text
    return bought.order_id


async def upload(http, content: bytes, caller: str = "buyer", name: str = "photo.jpg") -> httpx.Response:
    return await http.post("/v1/evidence", files={"file": (name, content, "application/octet-stream")}, headers=auth(caller))


def problem(answer: httpx.Response, status: int, field: str) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["field"] == field and body["rule"], body
    return body


async def test_photos_on_both_sides_reach_support_and_each_party_downloads_them(api):
    photo, packing = jpeg(120_000), pdf(40_000)
    mine = (await upload(api, photo)).json()
    assert mine["media_type"] == "image/jpeg" and mine["size"] == 120_000
    opening = {"request_id": f"ev-{uuid.uuid4().hex}", "reason": "defective", "order_id": await registered(api)}
    opening["evidence"] = [{"digest": mine["digest"], "kind": "photo", "caption": "cracked on arrival"}]
    case_id = (await api.post("/v1/cases", json=opening, headers=auth("buyer"))).json()["case_id"]
    theirs = (await upload(api, packing, "seller", "packing.pdf")).json()
    decline = {
        "by": {"party": "seller", "id": SELLER},
        "resolution": "decline",
        "note": "packed well",
        "evidence": [{"digest": theirs["digest"], "kind": "document"}],
    }
    shown = (await api.post(f"/v1/cases/{case_id}/seller-response", json=decline, headers=auth("seller"))).json()
    assert [(e["added_by"]["party"], e["kind"], e["media_type"], e["size"]) for e in shown["evidence"]] == [
        ("buyer", "photo", "image/jpeg", 120_000),
        ("seller", "document", "application/pdf", 40_000),
    ]
    assert base64.b64encode(photo[:48]).decode() not in json.dumps(shown) and photo[:48].hex() not in json.dumps(shown), "references, never contents"
    for caller in ("buyer", "seller", "support"):
        got = await api.get(f"/v1/cases/{case_id}/evidence/{theirs['digest']}", headers=auth(caller))
        assert got.status_code == 200 and got.content == packing and got.headers["content-type"] == "application/pdf"
        assert got.headers["x-content-type-options"] == "nosniff"
    escalated = (await api.post(f"/v1/cases/{case_id}/escalation", json={"by": {"party": "buyer", "id": BUYER}}, headers=auth("buyer"))).json()
    assert escalated["status"] == "awaiting_support"
    decided = (
        await api.post(
            f"/v1/cases/{case_id}/support-decision", json={"by": {"party": "support", "id": "agent-1"}, "decision": "deny"}, headers=auth("support")
        )
    ).json()
    (decision,) = [entry["summary"] for entry in decided["timeline"] if entry["kind"] == "support_decision"]
    assert decision == "support decided deny, on the evidence given: buyer 1 (photo); seller 1 (document)"


async def test_uploads_are_refused_by_size_type_and_role(api):
    problem(await upload(api, jpeg(MAX_BYTES + 1)), 413, "file")
    problem(await upload(api, b"#!/bin/sh\necho not a photo\n", name="photo.jpg"), 422, "file")
    problem(await upload(api, jpeg(), caller="carrier"), 403, "Authorization")
    problem(
        await api.post(
            "/v1/evidence", content=b"x" * (MAX_BYTES + 70_000), headers={"Content-Type": "multipart/form-data; boundary=b", **auth("buyer")}
        ),
        413,
        "body",
    )


async def test_a_file_is_attached_only_by_its_uploader_and_only_of_a_type_the_policy_takes(api):
    order_id = await registered(api)
    sellers = (await upload(api, jpeg(), "seller")).json()
    opening = {
        "request_id": f"ev-{uuid.uuid4().hex}",
        "reason": "defective",
        "order_id": order_id,
        "evidence": [{"digest": sellers["digest"], "kind": "photo"}],
    }
    problem(await api.post("/v1/cases", json=opening, headers=auth("buyer")), 422, "evidence[0].digest")
    animation = (await upload(api, gif())).json()
    opening["evidence"] = [{"digest": animation["digest"], "kind": "photo"}]
    refused = problem(await api.post("/v1/cases", json=opening, headers=auth("buyer")), 422, "evidence[0].media_type")
    assert "image/gif is not a type policy direct_service takes" in refused["rule"]
    opening["evidence"] = [{"digest": animation["digest"], "kind": "photo", "media_type": "image/jpeg", "size": 10}]
    problem(
        await api.post("/v1/cases", json=opening, headers=auth("buyer")), 422, "evidence[0].media_type"
    )  # what it says of itself counts for nothing


async def test_files_are_read_only_by_the_cases_own_parties_and_support(api):
    own = (await upload(api, jpeg())).json()
    opening = {
        "request_id": f"ev-{uuid.uuid4().hex}",
        "reason": "defective",
        "order_id": await registered(api),
        "evidence": [{"digest": own["digest"], "kind": "photo"}],
    }
    case_id = (await api.post("/v1/cases", json=opening, headers=auth("buyer"))).json()["case_id"]
    path = f"/v1/cases/{case_id}/evidence/{own['digest']}"
    problem(await api.get(path, headers=auth("other-buyer")), 404, "digest")
    problem(await api.get(path, headers=auth("carrier")), 403, "Authorization")
    other = (await upload(api, jpeg(), "other-buyer")).json()
    problem(await api.get(f"/v1/cases/{case_id}/evidence/{other['digest']}", headers=auth("support")), 404, "digest")  # not this case's file
    assert (await api.get(path, headers=auth("support"))).status_code == 200


async def test_one_report_opens_an_issue_per_item_and_no_unit_twice(api):
    order_id = await registered(api)
    photo = (await upload(api, jpeg())).json()
    report = {
        "request_id": f"rep-{uuid.uuid4().hex}",
        "issues": [
            {"lines": ["lamp"], "reason": "defective", "evidence": [{"digest": photo["digest"], "kind": "photo"}]},
            {"lines": [{"sku": "mug", "quantity": 2}], "reason": "missing_item"},
        ],
    }
    answer = await api.post(f"/v1/orders/{order_id}/issues", json=report, headers=auth("buyer"))
    assert answer.status_code == 201, answer.text
    lamp, mugs = answer.json()
    again = await api.post(f"/v1/orders/{order_id}/issues", json=report, headers=auth("buyer"))
    assert again.status_code == 200 and [one["case_id"] for one in again.json()] == [lamp["case_id"], mugs["case_id"]]
    shown = (await api.get(f"/v1/cases/{mugs['case_id']}", headers=auth("buyer"))).json()
    assert (shown["covered"], shown["lines"]) == ({"amount": 3000, "currency": "EUR"}, [{"sku": "mug", "quantity": 2}])
    overlap = {"request_id": f"rep-{uuid.uuid4().hex}", "issues": [{"lines": ["lamp"], "reason": "wrong_item"}]}
    refused = problem(await api.post(f"/v1/orders/{order_id}/issues", json=overlap, headers=auth("buyer")), 422, "lines[0].quantity")
    assert "1 of the 1 unit(s) of line lamp are in another case" in refused["rule"]
    two = {
        "request_id": f"rep-{uuid.uuid4().hex}",
        "issues": [{"lines": [{"sku": "mug", "quantity": 1}], "reason": "defective"}, {"lines": ["lamp"], "reason": "defective"}],
    }
    problem(await api.post(f"/v1/orders/{order_id}/issues", json=two, headers=auth("buyer")), 422, "issues[1].lines[0].quantity")
    sellers = (await upload(api, jpeg(), "seller")).json()
    not_mine = {
        "request_id": f"rep-{uuid.uuid4().hex}",
        "issues": [
            {"lines": ["mug"], "reason": "defective"},
            {"lines": ["mug"], "reason": "defective", "evidence": [{"digest": sellers["digest"], "kind": "photo"}]},
        ],
    }
    problem(await api.post(f"/v1/orders/{order_id}/issues", json=not_mine, headers=auth("buyer")), 422, "issues[1].evidence[0].digest")
    problem(await api.post(f"/v1/orders/{order_id}/issues", json=report, headers=auth("other-buyer")), 404, "order_id")
    problem(await api.post(f"/v1/orders/{order_id}/issues", json=report, headers=auth("seller")), 403, "Authorization")
