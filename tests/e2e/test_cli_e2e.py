"""The `refund-cases` command against a real Temporal dev server and worker, as a user runs it."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import delete, update
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from cases.policies import names as policy_names
from codec.encryption import Keyring, data_converter
from config.settings import Settings
from devserver.ports import free_port
from starter.client import case_id_for
from starter.demo import SCENARIOS, TWO_ISSUES
from store.database import Store
from store.schema import CaseRow, GatewayRefundRow, LedgerRow, SellerFlagRow
from tests.identity_provider import access_token, identity_provider, oidc_env
from worker import build_worker
from workflows import search_attributes

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
KEYS = f"e2e={base64.b64encode(bytes(range(32))).decode()}"


@pytest_asyncio.fixture(scope="module")
async def dev_server(tmp_path_factory):
    """A real dev server with the contract's search attributes, and our worker beside it."""
    data = tmp_path_factory.mktemp("e2e")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        search_attributes=search_attributes.ALL,
        data_converter=pydantic_data_converter,
    )
    settings = Settings(database_url=f"sqlite:///{data}/cases.db", temporal_task_queue="refund-cases", codec="off")
    store = Store(settings.database_url)
    store.migrate()
    target = env.client.service_client.config.target_host
    # Everything runs encrypted, as under `make run`: the worker and the CLI hold the key.
    sealed = await Client.connect(target, data_converter=data_converter(Keyring.parse(KEYS)))
    port = free_port()
    # The codec server as in production: it serves operators the identity provider signed in.
    with identity_provider() as issuer:
        codec_server = subprocess.Popen(
            [sys.executable, "-m", "codec.server"],
            env={**os.environ, "CODEC_KEYS": KEYS, **oidc_env(issuer), "CODEC_SERVER_PORT": str(port)},
        )
        await _listening(port)
        cli_env = {
            "TEMPORAL_ADDRESS": target,
            "DATABASE_URL": settings.database_url,
            "CODEC_KEYS": KEYS,
            "CODEC": "on",
            "TEMPORAL_CODEC_ENDPOINT": f"http://127.0.0.1:{port}",
            "TEMPORAL_CODEC_AUTH": f"Bearer {access_token(issuer, exp=int(time.time()) + 3600)}",
        }
        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                async with build_worker(sealed, settings, store, pool):
                    yield cli_env, store, env.client
        finally:
            codec_server.terminate()
            codec_server.wait(timeout=10)
            await env.shutdown()


async def _listening(port: int) -> None:
    for _ in range(200):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"codec server did not listen on {port}")


async def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    """Runs the command in a thread: the worker shares this event loop and must keep running."""
    return await asyncio.to_thread(
        subprocess.run,
        [str(BIN / "refund-cases"), *args],
        env={**os.environ, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def case_metadata(case_id: str, env: dict) -> subprocess.CompletedProcess:
    """`temporal workflow metadata`, which asks the codec server to open what it shows."""
    inherited = {key: value for key, value in os.environ.items() if key != "TEMPORAL_CODEC_AUTH"}
    return await asyncio.to_thread(
        subprocess.run,
        [str(BIN / "temporal"), "workflow", "metadata", "-w", f"case-{case_id}", "--address", env["TEMPORAL_ADDRESS"]],
        capture_output=True,
        text=True,
        timeout=60,
        env={**inherited, **env},
    )


async def ok(env: dict, *args: str) -> str:
    done = await cli(env, *args)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def order_args(order_id: str) -> list[str]:
    """An order on the command line. Each case gets an order of its own: two cases of one order never
    cover the same unit (store/unit_holds.py)."""
    return ["--order", order_id, "--seller", "seller-e2e", "--buyer", "buyer-e2e", "--item", "sku-9:general:40.00", "--shipping", "5.00"]


ORDER = order_args("ord-e2e-1")


async def test_the_tour_open_answer_ship_confirm_refund_and_charge(dev_server):
    env, store, _ = dev_server
    opened = json.loads(await ok(env, "open", *ORDER, "--reason", "not_as_described", "--request-id", "tour-1", "--json"))
    case_id = opened["case_id"]
    assert opened["created"] is True
    again = json.loads(await ok(env, "open", *ORDER, "--reason", "not_as_described", "--request-id", "tour-1", "--json"))
    assert (again["case_id"], again["created"]) == (case_id, False)

    # The codec server decrypts the UI's summary and details for the Temporal CLI too, given a token.
    metadata = await case_metadata(case_id, env)
    assert "Waiting for the seller's response until" in metadata.stdout  # the UI's current details
    refused = await case_metadata(case_id, {key: value for key, value in env.items() if key != "TEMPORAL_CODEC_AUTH"})
    assert refused.returncode != 0 and "Unauthorized" in refused.stderr  # without a token it serves nobody
    assert "Waiting for the seller's response until" not in refused.stdout + refused.stderr
    assert "The seller's resolution" in metadata.stdout  # update descriptions

    assert "awaiting_return_shipment" in await ok(env, "seller", "respond", case_id, "--resolution", "refund_after_return")
    assert "return_in_transit" in await ok(env, "carrier", "shipped", case_id, "--tracking", "RET-4242")
    assert "awaiting_return_inspection" in await ok(env, "carrier", "delivered", case_id)
    await ok(env, "seller", "inspect", case_id, "--confirm")

    shown = json.loads(await ok(env, "show", case_id, "--json"))
    assert (shown["status"], shown["outcome"]) == ("closed", "refunded_full")
    assert shown["refunded"] == {"amount": 4500, "currency": "EUR"}
    assert shown["charged_to_seller"] == {"amount": 5150, "currency": "EUR"}
    assert [r.amount for r in store.rows(GatewayRefundRow, case_id=case_id)] == [4500]
    assert [r.amount for r in store.rows(LedgerRow, case_id=case_id)] == [5150]

    listed = json.loads(await ok(env, "list", "--status", "closed", "--seller", "seller-e2e", "--json"))
    assert [row["case_id"] for row in listed] == [case_id]
    waiting = json.loads(await ok(env, "list", "--awaiting", "seller", "--waiting-longer-than", "0", "--seller", "seller-e2e", "--json"))
    assert case_id not in [row["case_id"] for row in waiting]  # closed: waiting on nobody
    fresh = json.loads(await ok(env, "open", *order_args("ord-e2e-wait"), "--reason", "shipped_late", "--request-id", "tour-wait", "--json"))[
        "case_id"
    ]
    await asyncio.sleep(1)
    assert fresh in [r["case_id"] for r in json.loads(await ok(env, "list", "--awaiting", "seller", "--waiting-longer-than", "0", "--json"))]
    assert fresh not in [r["case_id"] for r in json.loads(await ok(env, "list", "--awaiting", "seller", "--waiting-longer-than", "1", "--json"))]


async def test_bad_input_gets_a_clear_error_and_exit_code_2(dev_server):
    env, _, _ = dev_server
    case_id = json.loads(await ok(env, "open", *order_args("ord-e2e-bad"), "--reason", "defective", "--request-id", "bad-1", "--json"))["case_id"]
    env = {**env, "COLUMNS": "40"}  # a narrow terminal or a pipe still gets each message, and each id, on one line
    assert f"workflow id case-{case_id}\n" in await ok(env, "open", *order_args("ord-e2e-bad"), "--reason", "defective", "--request-id", "bad-1")
    too_much = await cli(env, "seller", "respond", case_id, "--resolution", "partial_refund", "--amount", "100.00")
    assert too_much.returncode == 2
    assert "amount: must not exceed what is refundable, 45.00 EUR" in too_much.stderr
    wrong_actor = await cli(env, "seller", "respond", case_id, "--resolution", "full_refund", "--as", "seller-other")
    assert wrong_actor.returncode == 2 and "by.id: seller-other is not this case's seller" in wrong_actor.stderr
    bad_email = await cli(env, "open", *ORDER[:4], "--buyer", "jane@example.com", *ORDER[6:], "--reason", "defective")
    assert bad_email.returncode == 2 and "buyer_id" in bad_email.stderr
    assert json.loads(await ok(env, "show", case_id, "--json"))["status"] == "awaiting_seller_response"


async def test_send_takes_any_kind_from_the_registry_with_its_fields_as_json(dev_server):
    env, _, _ = dev_server
    own_order = ["--order", "ord-e2e-send", *ORDER[2:]]  # the tour refunded ord-e2e-1 in full already
    case_id = json.loads(await ok(env, "open", *own_order, "--reason", "defective", "--request-id", "send-1", "--json"))["case_id"]
    unclear = await cli(env, "send", case_id, "escalation")
    assert unclear.returncode == 2 and "--party: escalation is sent by buyer or support: say which" in unclear.stderr
    bad_field = await cli(env, "send", case_id, "seller_response", "--json", '{"resolution": "full_refund", "amount": 5}')
    assert bad_field.returncode == 2 and "amount" in bad_field.stderr
    not_json = await cli(env, "send", case_id, "seller_response", "--json", "{resolution")
    assert not_json.returncode == 2 and "--json: not JSON" in not_json.stderr
    await ok(env, "send", case_id, "seller_response", "--json", '{"resolution": "full_refund"}')
    shown = json.loads(await ok(env, "show", case_id, "--json"))
    assert (shown["status"], shown["outcome"], shown["refunded"]["amount"]) == ("closed", "refunded_full", 4500)


async def test_demo_opens_its_cases_once(dev_server, tmp_path):
    env, _, _ = dev_server
    first = await ok(env, "demo")
    assert "awaiting_support" in first and "refunded_full" in first
    await ok(env, "demo")
    listed = json.loads(await ok(env, "list", "--json", "--limit", "100", "--query", "OrderId STARTS_WITH 'ord-demo-'"))
    assert len(listed) == len(SCENARIOS) + len(TWO_ISSUES)
    assert {row["CasePolicy"] for row in listed} == set(policy_names())
    photos = json.loads(await ok(env, "show", case_id_for("demo-18"), "--json"))
    assert [(e["added_by"]["party"], e["kind"]) for e in photos["evidence"]] == [("buyer", "photo"), ("seller", "photo"), ("seller", "document")]
    lamp, mugs = [json.loads(await ok(env, "show", case_id_for(request_id), "--json")) for request_id in TWO_ISSUES]
    assert (lamp["order_id"], lamp["lines"], lamp["status"]) == (mugs["order_id"], [{"sku": "lamp-demo", "quantity": 1}], "awaiting_seller_response")
    assert (mugs["lines"], mugs["refunded"]["amount"]) == ([{"sku": "mug-demo", "quantity": 2}], 3000)
    saved = tmp_path / "photo.png"
    await ok(env, "evidence", case_id_for("demo-18"), photos["evidence"][0]["digest"], "--out", str(saved))
    assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_flagged_sellers_lists_sellers_still_flagged_until_support_reinstates_them(dev_server):
    env, store, _ = dev_server
    since = datetime(2026, 11, 1, 9, tzinfo=UTC)
    store.insert_once(SellerFlagRow(case_id="flag-1", seller_id="seller-flagged", raised_at=since, lifted_at=None))
    store.insert_once(SellerFlagRow(case_id="flag-2", seller_id="seller-cleared", raised_at=since, lifted_at=since))
    rows = json.loads(await ok(env, "flagged-sellers", "--json"))
    assert [(r["seller_id"], r["flagging_cases"]) for r in rows] == [("seller-flagged", 1)]
    assert "seller-flagged" in await ok(env, "flagged-sellers")
    assert "seller-flagged reinstated: the flags of case(s) flag-1 are lifted" in await ok(
        env, "support", "reinstate", "seller-flagged", "--as", "agent-7"
    )
    assert json.loads(await ok(env, "flagged-sellers", "--json")) == []
    assert store.get(SellerFlagRow, "flag-1").lifted_by == "support:agent-7"
    again = await cli(env, "support", "reinstate", "seller-flagged")
    assert again.returncode == 2 and "seller_id: seller-flagged is not flagged by any case" in again.stderr


async def test_store_check_finds_drift_and_repair_rewrites_it_from_the_workflows(dev_server):
    env, store, _ = dev_server
    tampered = json.loads(await ok(env, "open", *order_args("ord-e2e-drift-1"), "--reason", "defective", "--request-id", "drift-1", "--json"))[
        "case_id"
    ]
    lost = json.loads(await ok(env, "open", *order_args("ord-e2e-drift-2"), "--reason", "wrong_item", "--request-id", "drift-2", "--json"))["case_id"]
    own_order = ["--order", "ord-e2e-drift", *ORDER[2:]]
    refunded = json.loads(await ok(env, "open", *own_order, "--reason", "defective", "--request-id", "drift-3", "--json"))["case_id"]
    assert "closed (refunded_full)" in await ok(env, "seller", "respond", refunded, "--resolution", "full_refund")
    await asyncio.sleep(1)  # the worker records each opening
    with store.sessions() as session, session.begin():
        session.execute(update(CaseRow).where(CaseRow.case_id == tampered).values(status="closed", refunded=100))
        session.execute(delete(CaseRow).where(CaseRow.case_id == lost))

    found = await cli(env, "store", "check", "--json")
    assert found.returncode == 1, found.stderr
    drifts = {d["case_id"]: d["what"] for d in json.loads(found.stdout)["drifts"]}
    assert drifts[tampered] == "status: store closed, workflow awaiting_seller_response; refunded: store 100, workflow 0"
    assert drifts[lost] == "missing from the store"

    assert "2 drifted, 2 repaired" in await ok(env, "store", "check", "--repair")
    open_only = json.loads(await ok(env, "store", "check", "--json"))
    assert open_only["drifts"] == []
    assert store.get(CaseRow, lost).status == "awaiting_seller_response"
    with_closed = json.loads(await ok(env, "store", "check", "--closed-within-days", "1", "--json"))
    assert with_closed["drifts"] == [] and with_closed["compared"] > open_only["compared"]  # the refunded case, at least


async def test_payouts_are_held_while_a_case_is_open_and_the_report_counts_the_cases(dev_server):
    env, _, _ = dev_server
    order = ["--order", "ord-e2e-pay", *ORDER[2:]]
    case_id = json.loads(await ok(env, "open", *order, "--reason", "defective", "--request-id", "pay-1", "--json"))["case_id"]
    await asyncio.sleep(1)
    held = json.loads(await ok(env, "payouts", "--json"))
    assert "ord-e2e-pay" in [h["order_id"] for h in held]
    refused = await cli(env, "pay-out", "ord-e2e-pay", "--seller", "seller-e2e", "--amount", "45.00")
    assert refused.returncode == 2 and f"held while case(s) {case_id} are open" in refused.stderr
    await ok(env, "buyer", "withdraw", case_id)
    await asyncio.sleep(1)
    assert "paid out: 45.00 EUR" in await ok(env, "pay-out", "ord-e2e-pay", "--seller", "seller-e2e", "--amount", "45.00")
    await ok(env, "order-volume", "--seller", "seller-e2e", "--day", datetime.now(UTC).strftime("%Y-%m-%d"), "--orders", "10")
    report = json.loads(await ok(env, "report", "--json"))
    assert report["opened"] >= 1 and report["reasons"]["defective"] >= 1
    rate = next(r for r in report["issue_rates"] if r["seller_id"] == "seller-e2e")
    assert rate["orders"] == 10 and rate["rate"] == rate["cases"] / 10
    assert "issue rate per seller" in await ok(env, "report")


async def test_the_history_on_the_server_holds_no_plaintext(dev_server):
    env, _, plain_client = dev_server
    canary = "Canary-note-4711 the buyer lives at 1 Example Street"
    case_id = json.loads(await ok(env, "open", *order_args("ord-e2e-canary"), "--reason", "defective", "--request-id", "canary-1", "--json"))[
        "case_id"
    ]
    await ok(env, "message", case_id, "--party", "buyer", "--text", canary)
    shown = json.loads(await ok(env, "show", case_id, "--json"))
    assert shown["timeline"][-1]["summary"] == canary  # the key holder reads it
    history = await plain_client.get_workflow_handle(f"case-{case_id}").fetch_history()
    raw = history.to_json()
    assert "binary/encrypted" in raw or "YmluYXJ5L2VuY3J5cHRlZA" in raw  # base64 of the encoding
    assert "Canary-note-4711" not in raw and base64.b64encode(b"Canary-note-4711").decode()[:16] not in raw
    without_key = await cli({**env, "CODEC": "off", "CODEC_KEYS": ""}, "show", case_id, "--json")
    assert without_key.returncode != 0 and "Canary-note-4711" not in without_key.stdout + without_key.stderr
    other_key = f"e2e={base64.b64encode(bytes(32)).decode()}"  # the same key id, another key
    wrong_key = await cli({**env, "CODEC_KEYS": other_key}, "show", case_id, "--json")
    assert wrong_key.returncode == 2 and "Traceback" not in wrong_key.stderr and "Canary-note-4711" not in wrong_key.stdout
    assert "payload sealed with key 'e2e' does not open with this keyring's 'e2e'" in wrong_key.stderr
