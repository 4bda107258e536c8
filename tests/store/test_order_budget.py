"""Several cases on one order share what was paid: the order budget in the store, and the core's view of it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from cases.engine import apply, check, open_case
from cases.messages import RefundFailed, SellerResponse
from cases.model import Resolution, Status
from cases.refusal import Refusal
from tests.factories import PAYMENT, SELLER, T0, eur, request

PAID = eur(4500)


@pytest.fixture
def store(db):
    return db


def test_cases_on_one_order_never_take_more_than_was_paid(store):
    assert store.reserve_refund("a:refund:1", "a", "ord-1", PAID, eur(3000)) is None
    assert store.reserve_refund("b:refund:1", "b", "ord-1", PAID, eur(3000)) == eur(3000)  # what case a took
    assert store.reserve_refund("b:refund:2", "b", "ord-1", PAID, eur(1500)) is None
    assert store.reserve_refund("c:refund:1", "c", "ord-2", PAID, eur(4500)) is None  # another order, its own budget


def test_a_repeated_reservation_takes_nothing_more(store):
    assert store.reserve_refund("a:refund:1", "a", "ord-1", PAID, eur(4500)) is None
    assert store.reserve_refund("a:refund:1", "a", "ord-1", PAID, eur(4500)) is None
    assert store.reserve_refund("b:refund:1", "b", "ord-1", PAID, eur(1)) == eur(4500)


def test_a_failed_refund_gives_its_share_back_once(store):
    store.reserve_refund("a:refund:1", "a", "ord-1", PAID, eur(4500))
    store.release_refunds(["a:refund:1"])
    store.release_refunds(["a:refund:1", "a:refund:9"])  # again, and a key never reserved: nothing happens
    assert store.reserve_refund("b:refund:1", "b", "ord-1", PAID, eur(4500)) is None
    assert store.reserve_refund("c:refund:1", "c", "ord-1", PAID, eur(1)) == eur(4500)


def test_cases_racing_for_one_order_cannot_both_win(store):
    def reserve(n):
        return store.reserve_refund(f"c{n}:refund:1", f"c{n}", "ord-race", PAID, eur(3000))

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(reserve, range(8)))
    assert answers.count(None) == 1
    assert all(answer == eur(3000) for answer in answers if answer is not None)


def test_a_refund_refused_by_the_order_budget_leaves_the_case_only_what_is_left():
    case = open_case(request(), T0).case
    refunding = apply(case, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND), T0).case
    refused = RefundFailed(by=PAYMENT, refund_number=1, failure="budget", other_cases_refunded=eur(3000))
    after = apply(refunding, refused, T0).case
    assert (after.status, after.refundable, after.charged_to_seller) == (Status.AWAITING_SUPPORT, eur(1500), eur(0))


def test_the_order_budget_cannot_claim_more_than_was_paid():
    refunding = apply(open_case(request(), T0).case, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND), T0).case
    with pytest.raises(Refusal, match="other_cases_refunded: must be in EUR and between 0 and 45.00 EUR"):
        check(refunding, RefundFailed(by=PAYMENT, refund_number=1, failure="budget", other_cases_refunded=eur(4501)), T0)
