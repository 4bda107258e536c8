"""Records one history per scenario into tests/histories/generation-<N>/<name>.json: the paths on the
time-skipping server, and the crowded pattern (two carrier facts and a query in one workflow task) on a
dev server. N is the code generation the cases open under (cases.case.GENERATION).

Run it when the generation goes up (docs/changing-workflow-code.md), or to add a scenario:

    .venv/bin/python -m tests.histories.record [--only NAME ...]

The replay gate (tests/workflows/test_replay.py) replays every file of the current generation on each `make
test` and compares the state it rebuilds with the state the history recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.provider_double import Faults, ProviderDouble
from cases.case import GENERATION
from cases.evidence import EvidenceKind
from cases.messages import (
    Appeal,
    BuyerAnswer,
    Escalation,
    PartyMessage,
    ProtectionFeedback,
    RefundConfirmation,
    Reopening,
    ReturnDelivered,
    ReturnInspection,
    ReturnShipped,
    SellerResponse,
    SupportDecision,
    Withdrawal,
)
from cases.model import CaseLine, OrderItem, Resolution
from starter.client import CaseClient, NewCase
from testkit import case_world
from tests.conftest import BIN, result_when_done
from tests.factories import BUYER, CARRIER, SELLER, SUPPORT, eur, jpeg, order, pdf
from workflows import search_attributes
from workflows.refund_case import RefundCaseWorkflow, workflow_id

HERE = Path(__file__).parent
REJECTED = 1313  # the provider double rejects refunds of this amount for good


async def _open(
    client: CaseClient,
    env: WorkflowEnvironment,
    policy: str = "direct_service",
    reason: str = "defective",
    kind: str = "refund_request",
    ordered_hours_ago: int = 48,
    buyer_flagged_for_fraud: bool = False,
    lines: list[CaseLine] | None = None,
    photos: int = 0,
    **order_changes,
) -> str:
    now = await env.get_current_time()
    moments = {"purchased_at": now - timedelta(hours=ordered_hours_ago), "estimated_delivery_at": now - timedelta(days=1)}
    bought = order(**(moments | order_changes))
    evidence = [await client.attach(jpeg(), EvidenceKind.PHOTO, "as it arrived") for _ in range(photos)]
    new = NewCase(
        request_id=f"rec-{uuid.uuid4()}", reason=reason, order=bought, policy=policy, kind=kind, buyer_flagged_for_fraud=buyer_flagged_for_fraud,
        lines=lines, evidence=evidence,
    )  # fmt: skip
    return (await client.open(new)).case_id


async def items_and_evidence_on_both_sides(client, env, case_id):
    """A case on two of three mugs, photos from the buyer, a packing list from the seller; support refunds those mugs."""
    packing = await client.attach(pdf(), EvidenceKind.DOCUMENT, "packing list")
    await client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.DECLINE, evidence=[packing]))
    await client.send(case_id, Escalation(by=BUYER))
    await client.send(case_id, SupportDecision(by=SUPPORT, decision="refund_at_platform_cost"))


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


async def unheard_signals(client, env, case_id):
    """Signals the case cannot act on: unreadable, under an unknown name, from a stranger; then a refund."""
    handle = client.client.get_workflow_handle(workflow_id(case_id))
    await handle.signal("return_shipped", {"by": CARRIER.model_dump(mode="json"), "tracking_number": "RET_123"})
    await handle.signal("sellerResponse", {"by": SELLER.model_dump(mode="json")})
    await handle.signal("withdrawal", {"by": {"party": "buyer", "id": "buyer-stranger"}})
    await client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))


async def marketplace_withdrawn(client, env, case_id):
    await client.send(case_id, Withdrawal(by=BUYER))
    await env.sleep(timedelta(days=31))  # where support may reopen it, the case runs 30 more days


async def marketplace_seller_flagged_then_refunded(client, env, case_id):
    await env.sleep(timedelta(days=31))  # unresolved for 30 days: the seller is flagged
    await client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))
    await env.sleep(timedelta(days=31))


async def reopened_from_the_store_months_later(client, env, case_id):
    """The recorded history is the second run's: a closed case started again to take its reopening."""
    await client.send(case_id, Withdrawal(by=BUYER))
    await result_when_done(env, workflow_id(case_id))
    await env.sleep(timedelta(days=200))
    await client.send(case_id, Reopening(by=SUPPORT))
    await client.send(case_id, SupportDecision(by=SUPPORT, decision="deny"))


async def protection_partial_refund_not_accepted(client, env, case_id):
    """Protection counted from the order; the shop's answer with its message; the buyer's own answer."""
    await env.sleep(timedelta(days=23, hours=1))  # the day-23 feedback request
    await client.send(case_id, ProtectionFeedback(by=BUYER, option="not_received"))
    await client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.PARTIAL_REFUND, amount=eur(2000), note="20 EUR back"))
    await client.send(case_id, RefundConfirmation(by=BUYER, answer="partial_not_accepted"))
    await client.send(case_id, SupportDecision(by=SUPPORT, decision="refund_at_platform_cost"))


async def reviewed_for_refund_abuse(client, env, case_id):
    """Opened flagged for review: support first, its reason for support only."""
    await client.send(case_id, SupportDecision(by=SUPPORT, decision="deny"))


# Scenarios that open under another policy than direct service.
OPENINGS = {
    scenario: dict(policy="marketplace_case", reason="not_received")
    for scenario in (marketplace_withdrawn, marketplace_seller_flagged_then_refunded, reopened_from_the_store_months_later)
} | {
    protection_partial_refund_not_accepted: dict(
        policy="buyer_protection", reason="other", kind="protection", shipped_at=None, protection_opted_in=True, ordered_hours_ago=6
    ),
    reviewed_for_refund_abuse: dict(buyer_flagged_for_fraud=True),
    items_and_evidence_on_both_sides: dict(
        items=[OrderItem(sku="lamp", unit_price=eur(4000)), OrderItem(sku="mug", unit_price=eur(1500), quantity=3)],
        lines=[CaseLine(sku="mug", quantity=2)],
        photos=2,
    ),
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
    unheard_signals,
    marketplace_withdrawn,
    marketplace_seller_flagged_then_refunded,
    reopened_from_the_store_months_later,
    protection_partial_refund_not_accepted,
    reviewed_for_refund_abuse,
    items_and_evidence_on_both_sides,
]


def folder() -> Path:
    return HERE / f"generation-{GENERATION}"


def save(name: str, history) -> None:
    path = folder() / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(history.to_json())
    print(f"{path.relative_to(HERE)}: {len(history.events)} events")


async def record_crowded(tmp: str) -> None:
    """The pattern that broke replay before 1.0, on a dev server (tests/e2e/test_replay_under_load.py)."""
    from tests.e2e.test_replay_under_load import crowded_case

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"), search_attributes=search_attributes.ALL, data_converter=pydantic_data_converter
    )
    _, history = await crowded_case(env.client, Path(tmp), RefundCaseWorkflow)
    save("carrier_facts_and_a_query_in_one_task", history)
    await env.shutdown()


async def record(only: list[str]) -> None:
    with TemporaryDirectory() as tmp:
        provider = ProviderDouble(f"sqlite:///{tmp}/provider.db", Faults(reject_amount=REJECTED))
        async with case_world(gateway=provider, judge_buyers=False, temporal_task_queue="record") as world:
            env, client = world.env, world.client
            for scenario in [s for s in SCENARIOS if not only or s.__name__ in only]:
                case_id = await _open(client, env, **OPENINGS.get(scenario, {}))
                await scenario(client, env, case_id)
                await result_when_done(env, workflow_id(case_id))
                save(scenario.__name__, await env.client.get_workflow_handle(workflow_id(case_id)).fetch_history())
        if not only or "carrier_facts_and_a_query_in_one_task" in only:
            await record_crowded(tmp)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=[], help="record only these scenarios")
    arguments = parser.parse_args()
    asyncio.run(record(arguments.only))
