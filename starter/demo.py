"""Demo cases that take different paths, so the UI shows every kind of wait. Idempotent: each case
has a fixed request id, and a case that already exists is left as it is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from cases.evidence import EvidenceKind
from cases.messages import BuyerAnswer, Escalation, ProtectionFeedback, Reopening, ReturnShipped, SellerResponse, Withdrawal
from cases.model import Actor, CaseKind, CaseLine, ItemCategory, Order, OrderItem, Party, Reason, Resolution
from cases.money import Money
from cases.orders import RegisteredOrder
from starter.client import CaseClient, case_on
from starter.demo_files import DAMAGE, PACKING_LIST, PARCEL
from store.database import Store

Play = Callable[[CaseClient, str, Order], Awaitable[None]]


def _order(n: int, category: ItemCategory = ItemCategory.GENERAL, shipped: bool = True) -> Order:
    bought = datetime.now(UTC) - (timedelta(days=8) if shipped else timedelta(hours=2))
    return Order(
        order_id=f"ord-demo-{n}",
        seller_id=f"seller-demo-{1 + n % 2}",
        buyer_id=f"buyer-demo-{n}",
        currency="EUR",
        items=[OrderItem(sku=f"sku-demo-{n}", category=category, unit_price=Money(amount=4000, currency="EUR"))],
        shipping_paid=Money(amount=500, currency="EUR"),
        purchased_at=bought,
        shipped_at=bought + timedelta(days=1) if shipped else None,
        estimated_delivery_at=bought + timedelta(days=4) if shipped else None,
        delivered_at=datetime.now(UTC) - timedelta(hours=3) if shipped else None,
        protection_opted_in=True,
    )


def _seller(order: Order) -> Actor:
    return Actor(party=Party.SELLER, id=order.seller_id)


def _buyer(order: Order) -> Actor:
    return Actor(party=Party.BUYER, id=order.buyer_id)


async def _nothing(client: CaseClient, case_id: str, order: Order) -> None:
    return None


async def _full_refund(client: CaseClient, case_id: str, order: Order) -> None:
    await client.send(case_id, SellerResponse(by=_seller(order), resolution=Resolution.FULL_REFUND))


async def _return_in_transit(client: CaseClient, case_id: str, order: Order) -> None:
    await client.send(case_id, SellerResponse(by=_seller(order), resolution=Resolution.REFUND_AFTER_RETURN))
    await client.send(case_id, ReturnShipped(by=Actor(party=Party.CARRIER, id="carrier-demo"), tracking_number="RET-DEMO-2"))


async def _partial_offer(client: CaseClient, case_id: str, order: Order) -> None:
    await client.send(case_id, SellerResponse(by=_seller(order), resolution=Resolution.PARTIAL_REFUND, amount=Money(amount=1500, currency="EUR")))


async def _declined_then_escalated(client: CaseClient, case_id: str, order: Order) -> None:
    await client.send(case_id, SellerResponse(by=_seller(order), resolution=Resolution.DECLINE, note="Item matches the listing photos."))
    await client.send(case_id, Escalation(by=_buyer(order)))


async def _proof_of_delivery(client: CaseClient, case_id: str, order: Order) -> None:
    await client.send(case_id, SellerResponse(by=_seller(order), resolution=Resolution.PROOF_OF_DELIVERY, tracking_number="TRK-DEMO-11"))


async def _replacement_original_back(client: CaseClient, case_id: str, order: Order) -> None:
    response = SellerResponse(by=_seller(order), resolution=Resolution.REPLACEMENT, tracking_number="RPL-DEMO-12", return_original=True)
    await client.send(case_id, response)


async def _protection_claim(client: CaseClient, case_id: str, order: Order) -> None:
    await client.send(case_id, ProtectionFeedback(by=_buyer(order), option="not_received"))


async def _withdrawn_then_reopened(client: CaseClient, case_id: str, order: Order) -> None:
    await client.send(case_id, Withdrawal(by=_buyer(order)))
    await client.send(case_id, Reopening(by=Actor(party=Party.SUPPORT, id="agent-demo"), note="The buyer sent new photos."))


async def _protection_claim_refunded(client: CaseClient, case_id: str, order: Order) -> None:
    await _protection_claim(client, case_id, order)
    await client.send(case_id, SellerResponse(by=_seller(order), resolution=Resolution.FULL_REFUND, note="Refunded to your card."))


async def _photos_on_both_sides(client: CaseClient, case_id: str, order: Order) -> None:
    packing = [
        await client.attach(PARCEL, EvidenceKind.PHOTO, "the parcel as it left the workshop", uploader="demo-seller"),
        await client.attach(PACKING_LIST, EvidenceKind.DOCUMENT, "packing list", uploader="demo-seller"),
    ]
    decline = SellerResponse(
        by=_seller(order), resolution=Resolution.DECLINE, note="Packed with care: see the photo and the packing list.", evidence=packing
    )
    await client.send(case_id, decline)
    await client.send(case_id, Escalation(by=_buyer(order)))


async def _partial_accepted(client: CaseClient, case_id: str, order: Order) -> None:
    await _partial_offer(client, case_id, order)
    await client.send(case_id, BuyerAnswer(by=_buyer(order), accept=True))


@dataclass(frozen=True)
class Scenario:
    request_id: str
    path: str
    reason: Reason
    kind: CaseKind
    order: Order
    play: Play
    policy: str = "direct_service"
    photos: bool = False  # the buyer opens with a photo of the damage


SCENARIOS = [
    Scenario(*fields)  # type: ignore[arg-type]  # each row is one Scenario's fields, in order
    for fields in [
        ("demo-1", "seller refunds in full, no return", Reason.DEFECTIVE, CaseKind.REFUND_REQUEST, _order(1), _full_refund),
        ("demo-2", "refund after return; return in transit", Reason.NOT_AS_DESCRIBED, CaseKind.REFUND_REQUEST, _order(2), _return_in_transit),
        ("demo-3", "partial offer waiting for the buyer", Reason.WRONG_ITEM, CaseKind.REFUND_REQUEST, _order(3), _partial_offer),
        ("demo-4", "declined, escalated by the buyer", Reason.DEFECTIVE, CaseKind.REFUND_REQUEST, _order(4), _declined_then_escalated),
        ("demo-5", "waiting for the seller (72 h)", Reason.SHIPPED_LATE, CaseKind.REFUND_REQUEST, _order(5), _nothing),
        (
            "demo-6",
            "missing item in a mystery box: straight to support",
            Reason.MISSING_ITEM,
            CaseKind.REFUND_REQUEST,
            _order(6, ItemCategory.OPENABLE),
            _nothing,
        ),
        ("demo-7", "cancellation before shipping", Reason.BUYER_REMORSE, CaseKind.CANCELLATION, _order(7, shipped=False), _nothing),
        ("demo-8", "partial offer accepted", Reason.NOT_AS_DESCRIBED, CaseKind.REFUND_REQUEST, _order(8), _partial_accepted),
        (
            "demo-9",
            "business-hours variant: 48 business hours for the seller",
            Reason.DEFECTIVE,
            CaseKind.REFUND_REQUEST,
            _order(9),
            _nothing,
            "direct_service_business_hours",
        ),
        (
            "demo-10",
            "marketplace case: not received, seller and buyer working on it",
            Reason.NOT_RECEIVED,
            CaseKind.REFUND_REQUEST,
            _order(10),
            _nothing,
            "marketplace_case",
        ),
        (
            "demo-11",
            "marketplace case: tracking shows delivery",
            Reason.NOT_RECEIVED,
            CaseKind.REFUND_REQUEST,
            _order(11),
            _proof_of_delivery,
            "marketplace_case",
        ),
        (
            "demo-12",
            "reported issue: damaged, brand sends a replacement and asks the original back",
            Reason.DAMAGED_IN_TRANSIT,
            CaseKind.REFUND_REQUEST,
            _order(12),
            _replacement_original_back,
            "reported_issue",
        ),
        (
            "demo-13",
            "reported issue: incorrect invoice, platform review",
            Reason.INVOICE_INCORRECT,
            CaseKind.REFUND_REQUEST,
            _order(13),
            _nothing,
            "reported_issue",
        ),
        (
            "demo-14",
            "buyer protection: 30 days from checkout",
            Reason.OTHER,
            CaseKind.PROTECTION,
            _order(14, shipped=False),
            _nothing,
            "buyer_protection",
        ),
        (
            "demo-15",
            "buyer protection: not received, the shop refunds, buyer to confirm",
            Reason.OTHER,
            CaseKind.PROTECTION,
            _order(15, shipped=False),
            _protection_claim_refunded,
            "buyer_protection",
        ),
        (
            "demo-16",
            "buyer protection, extension variant: not received, protection extended 30 days",
            Reason.OTHER,
            CaseKind.PROTECTION,
            _order(16, shipped=False),
            _protection_claim,
            "buyer_protection_extended",
        ),
        (
            "demo-17",
            "marketplace case: closed by the buyer, reopened by support",
            Reason.NOT_AS_DESCRIBED,
            CaseKind.REFUND_REQUEST,
            _order(17),
            _withdrawn_then_reopened,
            "marketplace_case",
        ),
        (
            "demo-18",
            "photos on both sides: the buyer's of the damage, the seller's of the packing; support decides",
            Reason.DEFECTIVE,
            CaseKind.REFUND_REQUEST,
            _order(18),
            _photos_on_both_sides,
            "direct_service",
            True,
        ),
    ]
]

# An order of two lines with two issues reported at once (seed 002), each on its own items: their request ids.
TWO_ISSUES = ("demo-19-lamp", "demo-19-mugs")
BASKET = _order(19).model_copy(
    update={
        "items": [
            OrderItem(sku="lamp-demo", unit_price=Money(amount=4000, currency="EUR")),
            OrderItem(sku="mug-demo", unit_price=Money(amount=1500, currency="EUR"), quantity=3),
        ]
    }
)


def registered(store: Store, scenario: Scenario) -> RegisteredOrder:
    """The scenario's order as the order system would register it, once: a later run uses the order
    as it was registered then (its dates were relative to that day)."""
    found = store.registered_order(scenario.order.order_id)
    if found is not None:
        return found
    policy = {"protection_policy": scenario.policy} if scenario.kind is CaseKind.PROTECTION else {"policy": scenario.policy}
    registration = RegisteredOrder(order=scenario.order, **policy)
    store.register_order(registration, datetime.now(UTC))
    return registration


async def play(client: CaseClient, store: Store) -> list[tuple[str, str, str]]:
    """Opens each scenario's case the way the HTTP API does: on its registered order."""
    played = []
    for scenario in SCENARIOS:
        order = registered(store, scenario)
        photos = [await client.attach(DAMAGE, EvidenceKind.PHOTO, "cracked on arrival", uploader="demo-buyer")] if scenario.photos else []
        opened = await client.open(case_on(order, scenario.request_id, scenario.reason, scenario.kind, evidence=photos))
        if opened.created:
            await scenario.play(client, opened.case_id, order.order)
        played.append(await _shown(client, opened.case_id, scenario.path))
    return played + await _two_issues(client, store)


async def _two_issues(client: CaseClient, store: Store) -> list[tuple[str, str, str]]:
    """One report, two issues on different items of one order: the brand refunds the missing mugs; the
    damaged lamp, with its photo, waits for the brand."""
    order = registered(store, Scenario("demo-19", "", Reason.DAMAGED_IN_TRANSIT, CaseKind.REFUND_REQUEST, BASKET, _nothing, "reported_issue"))
    photo = await client.attach(DAMAGE, EvidenceKind.PHOTO, "the lamp's shade, cracked", uploader="demo-buyer")
    lamp, mugs = await client.report(
        [
            case_on(order, TWO_ISSUES[0], Reason.DAMAGED_IN_TRANSIT, CaseKind.REFUND_REQUEST, [CaseLine(sku="lamp-demo")], evidence=[photo]),
            case_on(order, TWO_ISSUES[1], Reason.MISSING_ITEM, CaseKind.REFUND_REQUEST, [CaseLine(sku="mug-demo", quantity=2)]),
        ]
    )
    if mugs.created:
        await client.send(mugs.case_id, SellerResponse(by=_seller(BASKET), resolution=Resolution.FULL_REFUND))
    return [
        await _shown(client, lamp.case_id, "one report, two issues: the damaged lamp (with its photo), waiting for the brand"),
        await _shown(client, mugs.case_id, "one report, two issues: 2 of 3 mugs missing, refunded 30.00 EUR (no shipping)"),
    ]


async def _shown(client: CaseClient, case_id: str, path: str) -> tuple[str, str, str]:
    shown = await client.show(case_id)
    return case_id, path, shown.status.value + (f" ({shown.outcome.value})" if shown.outcome else "")


def feed_order_volumes(store: Store, today: date) -> None:
    """What a backend would push: the demo sellers' orders for the last 30 days, so issue rates have a
    denominator (seller-demo-1 about 4 %, seller-demo-2 about 45 %: flagged)."""
    for back in range(30):
        day = today - timedelta(days=back)
        store.record_order_volume("seller-demo-1", day, 7)
        store.record_order_volume("seller-demo-2", day, 1 if back % 3 else 0)
