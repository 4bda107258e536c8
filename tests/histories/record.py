"""Records one history per scenario into tests/histories/<name>.json, on the time-skipping server.

Run it after a workflow change that is deliberately incompatible (then the old histories stay as the
record of what running cases look like), or to add a scenario:

    .venv/bin/python -m tests.histories.record [--tag NAME]

The replay test (tests/test_replay.py) replays every file on each `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.provider_double import Faults, ProviderDouble
from cases.messages import (
    Appeal,
    BuyerAnswer,
    Escalation,
    PartyMessage,
    Reopening,
    ReturnDelivered,
    ReturnInspection,
    ReturnShipped,
    SellerResponse,
    SupportDecision,
    Withdrawal,
)
from cases.model import Resolution
from starter.client import CaseClient, NewCase
from starter.settings import Settings
from store.database import Store
from tests.conftest import BIN, register_search_attributes
from tests.factories import BUYER, CARRIER, SELLER, SUPPORT, eur, order
from worker import build_worker
from workflows.refund_case import workflow_id

HERE = Path(__file__).parent
REJECTED = 1313  # the provider double rejects refunds of this amount for good


async def _open(client: CaseClient, env: WorkflowEnvironment, policy: str = "direct_service", reason: str = "defective") -> str:
    now = await env.get_current_time()
    bought = order(purchased_at=now - timedelta(days=2), estimated_delivery_at=now - timedelta(days=1))
    new = NewCase(request_id=f"rec-{uuid.uuid4()}", reason=reason, order=bought, policy=policy)
    return (await client.open(new)).case_id


async def full_refund(client, env, case_id):
    await client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))


async def return_confirmed(client, env, case_id):
    await client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.REFUND_AFTER_RETURN))
    await client.send(case_id, ReturnShipped(by=CARRIER, tracking_number="RET-10001"), wait=False)
    await client.send(case_id, ReturnDelivered(by=CARRIER), wait=False)
    await env.sleep(timedelta(hours=73))  # auto-confirm


async def partial_declined_then_return_abandoned(client, env, case_id):
    await client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.PARTIAL_REFUND, amount=eur(1000)))
    await client.send(case_id, BuyerAnswer(by=BUYER, accept=False))
    await env.sleep(timedelta(days=8))


async def decline_appeal_overturned(client, env, case_id):
    await client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.DECLINE))
    await client.send(case_id, Escalation(by=BUYER))
    await client.send(case_id, SupportDecision(by=SUPPORT, decision="refund_charged_to_seller"))
    await client.send(case_id, Appeal(by=SELLER))
    await client.send(case_id, SupportDecision(by=SUPPORT, decision="overturn"))


async def silent_seller_escalated_then_reminded_then_denied(client, env, case_id):
    await env.sleep(timedelta(hours=72 + 49))
    await client.send(case_id, SupportDecision(by=SUPPORT, decision="deny"))


async def dispute_after_return(client, env, case_id):
    await client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.REFUND_AFTER_RETURN))
    await client.send(case_id, ReturnDelivered(by=CARRIER), wait=False)
    await asyncio.sleep(0.5)
    await client.send(case_id, ReturnInspection(by=SELLER, confirm=False))
    await client.send(case_id, SupportDecision(by=SUPPORT, decision="refund_at_platform_cost"))


async def refund_rejected_by_provider(client, env, case_id):
    await client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.PARTIAL_REFUND, amount=eur(REJECTED)))
    await client.send(case_id, BuyerAnswer(by=BUYER, accept=True))  # the provider rejects it: support decides
    await client.send(case_id, SupportDecision(by=SUPPORT, decision="deny"))


async def retried_commands_act_once(client, env, case_id):
    note = PartyMessage(by=BUYER, text="photos attached", request_id="buyer-app-1")
    await client.send(case_id, note)
    await client.send(case_id, note, wait=False)
    response = SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND, request_id="seller-portal-1")
    await client.send(case_id, response, wait=False)
    await client.send(case_id, response)


async def marketplace_withdrawn(client, env, case_id):
    await client.send(case_id, Withdrawal(by=BUYER))
    await env.sleep(timedelta(days=31))  # where support may reopen it, the case runs 30 more days


async def marketplace_seller_flagged_then_refunded(client, env, case_id):
    await env.sleep(timedelta(days=31))  # unresolved for 30 days: the seller is flagged
    await client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))
    await env.sleep(timedelta(days=31))


async def reopened_by_support_then_final(client, env, case_id):
    await client.send(case_id, Withdrawal(by=BUYER))
    await client.send(case_id, Reopening(by=SUPPORT))
    await client.send(case_id, SupportDecision(by=SUPPORT, decision="deny"))
    await env.sleep(timedelta(days=31))


# Scenarios that open under another policy than direct service.
OPENINGS = {
    scenario: dict(policy="marketplace_case", reason="not_received")
    for scenario in (marketplace_withdrawn, marketplace_seller_flagged_then_refunded, reopened_by_support_then_final)
}

SCENARIOS = [
    full_refund,
    return_confirmed,
    partial_declined_then_return_abandoned,
    decline_appeal_overturned,
    silent_seller_escalated_then_reminded_then_denied,
    dispute_after_return,
    refund_rejected_by_provider,
    retried_commands_act_once,
    marketplace_withdrawn,
    marketplace_seller_flagged_then_refunded,
    reopened_by_support_then_final,
]


async def record(tag: str, only: list[str]) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"), data_converter=pydantic_data_converter
    )
    await register_search_attributes(env.client)
    with TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=8) as pool:
        settings = Settings(database_url=f"sqlite:///{tmp}/cases.db", temporal_task_queue="record")
        store = Store(settings.database_url)
        store.migrate()
        provider = ProviderDouble(f"sqlite:///{tmp}/provider.db", Faults(reject_amount=REJECTED))
        async with build_worker(env.client, settings, store, pool, gateway=provider):
            client = CaseClient(env.client, "record", clock=env.get_current_time)
            for scenario in [s for s in SCENARIOS if not only or s.__name__ in only]:
                case_id = await _open(client, env, **OPENINGS.get(scenario, {}))
                await scenario(client, env, case_id)
                handle = env.client.get_workflow_handle(workflow_id(case_id))
                await handle.result()
                history = await handle.fetch_history()
                path = HERE / f"{tag}-{scenario.__name__}.json"
                path.write_text(history.to_json())
                print(f"{path.name}: {len(history.events)} events")
    await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", default="v1", help="prefix of the files: the workflow version they record")
    parser.add_argument("--only", nargs="*", default=[], help="record only these scenarios")
    arguments = parser.parse_args()
    asyncio.run(record(arguments.tag, arguments.only))
