"""Refund abuse caught by the platform (seeds 000 and 004): the policy's limits, the buyer's record in
the store, and, through the public client on the time-skipping server, a buyer's burst of requests
whose later ones go to support, with the reason for support's eyes only."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import httpx
import pytest

from api.app import create_app
from cases import policies
from cases.abuse import BuyerRecord, suspicion
from cases.engine import REVIEW_NOTE, apply, open_case
from cases.messages import SellerResponse
from cases.model import Actor, CaseKind, Party, Resolution, Status
from cases.orders import RegisteredOrder
from cases.policy import AbuseRules
from cases.view import view
from config.settings import Settings
from starter.client import NewCase
from store import queries
from store.schema import CaseRow, NotificationRow, SupportTicketRow
from tests.api.test_api import CALLERS, auth
from tests.conftest import worker_for
from tests.factories import T0, order, request

RULES = AbuseRules(within_hours=720, max_requests=3, max_refunded={"EUR": 10000}, max_share_of_orders_percent=50, min_orders=4)


def record(**fields) -> BuyerRecord:
    return BuyerRecord(**({"requests": 0, "orders": 0, "orders_with_cases": 1} | fields))


@pytest.mark.parametrize(
    ("fields", "found"),
    [
        ({"requests": 2}, None),
        ({"requests": 3}, "3 refund requests by this buyer within 720 h (policy limit 3)"),
        ({"refunded": {"EUR": 9999}}, None),
        ({"refunded": {"EUR": 10000}}, "100.00 EUR refunded to this buyer within 720 h (policy limit 100.00 EUR)"),
        ({"refunded": {"USD": 90000}}, None),  # no limit in that currency
        ({"orders": 4, "orders_with_cases": 2}, None),  # half: not more than half
        ({"orders": 4, "orders_with_cases": 3}, "3 of this buyer's 4 orders within 720 h would have a case (policy limit 50 %)"),
        ({"orders": 3, "orders_with_cases": 3}, None),  # too few orders to judge
    ],
)
def test_each_limit_holds_up_to_its_value_and_trips_past_it(fields, found):
    assert suspicion(RULES, CaseKind.REFUND_REQUEST, record(**fields)) == found


def test_only_refund_requests_are_judged_and_absent_limits_never_trip():
    heavy = record(requests=50, refunded={"EUR": 10**9}, orders=10, orders_with_cases=10)
    assert suspicion(RULES, CaseKind.PROTECTION, heavy) is None
    assert suspicion(RULES, CaseKind.CANCELLATION, heavy) is None
    assert suspicion(AbuseRules(), CaseKind.REFUND_REQUEST, heavy) is None


def test_a_suspected_request_goes_to_support_and_only_support_reads_why():
    reason = "9 refund requests by this buyer within 720 h (policy limit 8)"
    step = open_case(request().model_copy(update={"abuse_suspected": reason}), T0)
    case = step.case
    assert (case.status, case.routed_to, case.routing_note) == (Status.AWAITING_SUPPORT, Party.SUPPORT, REVIEW_NOTE)
    review = next(entry for entry in case.timeline if entry.kind == "refund_review")
    assert review.private and review.summary == reason
    assert [c.reason for c in step.commands if c.kind == "support_ticket"] == [reason]
    told = {c.to: c.text for c in step.commands if c.kind == "notify" and c.event == "escalated"}
    assert reason in told[Party.SUPPORT] and reason not in told[Party.SELLER] + told[Party.BUYER]
    assert REVIEW_NOTE in told[Party.SELLER]


def test_the_callers_fraud_flag_still_routes_to_support_and_names_no_behaviour_to_the_parties():
    step = open_case(request(fraud=True), T0)
    assert step.case.status is Status.AWAITING_SUPPORT and step.case.routing_note == REVIEW_NOTE
    assert "flagged" not in " ".join(c.text for c in step.commands if c.kind == "notify" and c.to is not Party.SUPPORT)


def test_the_presets_carry_abuse_rules():
    assert policies.load("direct_service").abuse.max_requests == 8
    assert policies.load("marketplace_case").abuse.max_share_of_orders_percent == 60
    assert policies.load("buyer_protection").abuse == AbuseRules()  # protection opens at checkout: nothing to judge


# ---------------------------------------------------------------- through the client and the API


async def _in_store(h, case_id: str) -> CaseRow:
    for _ in range(300):
        if (row := h.store.get(CaseRow, case_id)) is not None:
            return row
        await asyncio.sleep(0.02)
    raise AssertionError(f"{case_id} never reached the store")


@pytest.mark.workflow
async def test_ten_requests_from_one_buyer_in_an_hour_the_ninth_and_tenth_go_to_support(module_env, store):
    """On a server of this module's own: the ten cases stay open, and on the shared one every later
    test that skips days would churn through their timers."""
    async with worker_for(module_env, store) as h:
        h.client.use_store(h.store)
        buyer = f"buyer-burst-{uuid.uuid4().hex[:6]}"
        opened = []
        for n in range(10):
            now = await h.env.get_current_time()
            bought = order(order_id=f"o-{buyer}-{n}", buyer_id=buyer, purchased_at=now - timedelta(days=3), shipped_at=now - timedelta(days=2))
            new = NewCase(request_id=f"burst-{buyer}-{n}", reason="defective", order=bought)
            case_id = (await h.client.open(new)).case_id
            await _in_store(h, case_id)
            opened.append(await h.client.show(case_id))
            await h.env.sleep(timedelta(minutes=5))
        assert [shown.status for shown in opened] == [Status.AWAITING_SELLER_RESPONSE] * 8 + [Status.AWAITING_SUPPORT] * 2
        ninth = opened[8]
        assert ninth.routing_note == REVIEW_NOTE
        review = [e for e in ninth.timeline if e.kind == "refund_review"]
        assert review[0].summary == "8 refund requests by this buyer within 720 h (policy limit 8)" and review[0].private
        tickets = h.store.rows(SupportTicketRow, case_id=ninth.case_id)
        assert [t.reason for t in tickets] == [review[0].summary]
        to_seller = [n.body for n in h.store.rows(NotificationRow, case_id=ninth.case_id, party="seller")]
        assert to_seller and not [text for text in to_seller if "refund requests" in text]
        since = opened[0].opened_at - timedelta(minutes=1)
        assert queries.report(h.store, since, await h.env.get_current_time() + timedelta(seconds=1), since).reviewed == 2

        # The seller's portal reads the case without the review; support reads it whole.
        app = create_app(Settings(api_rate_limit="100000/second"), case_client=h.client, store=h.store, callers=CALLERS)
        async with app.router.lifespan_context(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
            path = f"/v1/cases/{ninth.case_id}"
            seller = (await http.get(path, headers=auth("seller"))).json()
            support = (await http.get(path, headers=auth("support"))).json()
        assert "refund_review" not in [e["kind"] for e in seller["timeline"]] and "refund requests" not in json.dumps(seller)
        assert "refund_review" in [e["kind"] for e in support["timeline"]]


def test_the_store_counts_a_buyers_requests_refunds_and_orders_across_sellers(db):
    """On SQLite and PostgreSQL: two refund requests with two sellers (one refunded in full), a
    protection (not a refund request), three registered orders, and one from before the window."""

    def recorded(case_id: str, at, **changes):
        opened = open_case(request(case_id=case_id, **changes), at).case
        db.record_case(view(opened), opened.timeline)
        return opened

    refunded = recorded("c-a", T0, order_id="o-a", seller_id="seller-1")
    seller = Actor(party=Party.SELLER, id="seller-1")
    after = apply(refunded, SellerResponse(by=seller, resolution=Resolution.FULL_REFUND), T0).case
    db.record_case(view(after), after.timeline)
    recorded("c-b", T0 + timedelta(hours=1), order_id="o-b", seller_id="seller-2")
    recorded(
        "c-p", T0, order_id="o-p", kind=CaseKind.PROTECTION, policy="buyer_protection", purchased_at=T0, shipped_at=None, protection_opted_in=True
    )
    recorded("c-old", T0 - timedelta(days=40), order_id="o-old", purchased_at=T0 - timedelta(days=43))
    for order_id in ("o-a", "o-b", "o-c"):
        db.register_order(RegisteredOrder(order=order(order_id=order_id)), T0)
    found = queries.buyer_record(db, "buyer-3", "o-c", T0 - timedelta(days=30))
    assert found == BuyerRecord(requests=2, refunded={"EUR": after.refunded.amount}, orders=3, orders_with_cases=3)
