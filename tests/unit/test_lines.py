"""Cases scoped to the items they concern: which units, what they may refund and charge, how they route."""

from __future__ import annotations

import pytest

from cases.engine import apply, check_open, open_case
from cases.lines import check_lines, check_units_free
from cases.messages import RefundSettled, ReturnDelivered, ReturnInspection, ReturnShipped, SellerResponse, SupportDecision
from cases.model import CaseKind, CaseLine, ItemCategory, OrderItem, Outcome, Reason, Resolution, Status
from cases.orders import CaseRequest
from cases.refusal import Refusal
from tests.factories import CARRIER, PAYMENT, SELLER, SUPPORT, T0, eur, request

# Two lines: one 40.00 item, three 15.00 items; 5.00 shipping. 90.00 paid.
ITEMS = [
    OrderItem(sku="lamp", unit_price=eur(4000)),
    OrderItem(sku="mug", unit_price=eur(1500), quantity=3),
]


def scoped(*lines: CaseLine, reason: Reason = Reason.DEFECTIVE, **changes):
    opening = request(reason, items=changes.pop("items", ITEMS), **changes)
    return opening.model_copy(update={"lines": list(lines) or None})


def test_a_case_on_some_units_covers_their_price_and_no_shipping():
    case = open_case(scoped(CaseLine(sku="mug", quantity=2)), T0).case
    assert case.lines == [CaseLine(sku="mug", quantity=2)]
    assert (case.covered, case.refundable, case.order.total_paid) == (eur(3000), eur(3000), eur(9000))


def test_a_case_on_every_unit_covers_shipping_too():
    every = scoped(CaseLine(sku="lamp"), CaseLine(sku="mug", quantity=3))
    assert open_case(every, T0).case.covered == eur(9000)
    assert open_case(scoped(), T0).case.covered == eur(9000)


def test_the_seller_is_charged_the_price_of_the_items_concerned_only():
    case = open_case(scoped(CaseLine(sku="mug", quantity=1)), T0).case
    after = apply(case, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND), T0).case
    assert (after.refunded, after.charged_to_seller) == (eur(1500), eur(1500))


def test_a_return_ships_the_items_concerned_and_the_seller_pays_them_and_the_label():
    case = open_case(scoped(CaseLine(sku="lamp")), T0).case
    for message in (
        SellerResponse(by=SELLER, resolution=Resolution.REFUND_AFTER_RETURN),
        ReturnShipped(by=CARRIER, tracking_number="RET-1234"),
        ReturnDelivered(by=CARRIER),
        ReturnInspection(by=SELLER, confirm=True),
    ):
        case = apply(case, message, T0).case
    label = case.policy.label_fee("EUR")
    assert label.amount > 0
    assert (case.refunded, case.charged_to_seller) == (eur(4000), eur(4000) + label)
    notice = next(n for n in open_case(scoped(CaseLine(sku="lamp")), T0).case.timeline if n.kind == "opened")
    assert "1 x lamp" in notice.summary


def test_partial_offers_and_support_refunds_stay_within_the_items():
    case = open_case(scoped(CaseLine(sku="mug", quantity=2)), T0).case
    with pytest.raises(Refusal, match="amount: a partial offer must be less than the refundable 30.00 EUR"):
        apply(case, SellerResponse(by=SELLER, resolution=Resolution.PARTIAL_REFUND, amount=eur(3000)), T0)
    declined = apply(case, SellerResponse(by=SELLER, resolution=Resolution.DECLINE), T0).case
    escalated = declined.model_copy(update={"status": Status.AWAITING_SUPPORT})
    with pytest.raises(Refusal, match="amount: must not exceed what is refundable, 30.00 EUR"):
        apply(escalated, SupportDecision(by=SUPPORT, decision="refund_at_platform_cost", amount=eur(3001)), T0)
    refunded = apply(escalated, SupportDecision(by=SUPPORT, decision="refund_at_platform_cost"), T0).case
    assert refunded.refunded == eur(3000)


def test_the_outcome_is_a_full_refund_when_all_the_case_covers_came_back():
    case = open_case(scoped(CaseLine(sku="mug", quantity=2)), T0).case
    case = apply(case, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND), T0).case
    closed = apply(case, RefundSettled(by=PAYMENT, refund_number=1), T0).case
    assert (closed.status, closed.outcome) == (Status.CLOSED, Outcome.REFUNDED_FULL)


def test_the_items_concerned_decide_the_route_not_the_rest_of_the_order():
    boxes = [OrderItem(sku="box", category=ItemCategory.OPENABLE, unit_price=eur(2000)), *ITEMS]
    on_the_mug = open_case(scoped(CaseLine(sku="mug"), reason=Reason.MISSING_ITEM, items=boxes), T0).case
    on_the_box = open_case(scoped(CaseLine(sku="box"), reason=Reason.MISSING_ITEM, items=boxes), T0).case
    assert (on_the_mug.routed_to.value, on_the_box.routed_to.value) == ("seller", "support")


@pytest.mark.parametrize(
    ("lines", "field", "rule"),
    [
        ([CaseLine(sku="vase")], "lines[0].sku", "the order has no line vase"),
        ([CaseLine(sku="mug"), CaseLine(sku="mug", quantity=1)], "lines[1].sku", "line mug is named twice"),
        ([CaseLine(sku="lamp"), CaseLine(sku="mug", quantity=4)], "lines[1].quantity", "line mug has 3 unit"),
    ],
)
def test_lines_the_order_does_not_have_are_refused_by_name(lines, field, rule):
    opening = scoped(*lines)
    with pytest.raises(Refusal) as refused:
        check_open(opening, T0)
    assert refused.value.field == field and rule in refused.value.rule
    with pytest.raises(Refusal):
        check_lines(opening.order, lines)


def test_a_cancellation_or_a_protection_covers_the_whole_order():
    opening = scoped(CaseLine(sku="mug"), kind=CaseKind.CANCELLATION, reason=Reason.BUYER_REMORSE, shipped_at=None)
    with pytest.raises(Refusal, match="lines: a cancellation covers every unit of the order"):
        check_open(opening, T0)


def test_units_another_case_holds_are_not_free():
    order = scoped().order
    check_units_free(order, [CaseLine(sku="mug", quantity=1)], {"mug": 2})
    with pytest.raises(Refusal) as refused:
        check_units_free(order, [CaseLine(sku="lamp", quantity=1), CaseLine(sku="mug", quantity=2)], {"mug": 2}, "issues[1].lines")
    assert refused.value.field == "issues[1].lines[1].quantity"
    assert "2 of the 3 unit(s) of line mug are in another case of the order; 1 free" in refused.value.rule


def test_a_request_names_lines_by_sku_alone_or_with_units():
    asked = CaseRequest(request_id="r", order_id="ord-1", reason=Reason.DEFECTIVE, lines=["lamp", {"sku": "mug", "quantity": 2}])
    assert asked.lines == [CaseLine(sku="lamp"), CaseLine(sku="mug", quantity=2)]
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        CaseRequest(request_id="r", order_id="ord-1", reason=Reason.DEFECTIVE, lines=[{"sku": "mug", "quantity": 0}])
