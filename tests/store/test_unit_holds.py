"""Two cases of one order never cover the same unit: the holds in the store, tried as a racing or a
repeating caller would."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from cases.model import CaseLine, OrderItem, Outcome
from cases.refusal import Refusal
from store.schema import UnitHoldRow
from store.unit_holds import release_units
from tests.factories import eur, order

MUGS = order(items=[OrderItem(sku="lamp", unit_price=eur(4000)), OrderItem(sku="mug", unit_price=eur(1500), quantity=3)])


def mugs(quantity: int) -> list[CaseLine]:
    return [CaseLine(sku="mug", quantity=quantity)]


def test_cases_of_one_order_hold_their_own_units(db):
    db.hold_units(MUGS, [("a", mugs(2), "lines")])
    db.hold_units(MUGS, [("b", [CaseLine(sku="lamp", quantity=1), *mugs(1)], "lines")])
    with pytest.raises(Refusal) as refused:
        db.hold_units(MUGS, [("c", mugs(1), "lines")])
    assert refused.value.field == "lines[0].quantity" and "3 of the 3 unit(s) of line mug" in refused.value.rule
    assert db.units_held(MUGS.order_id) == {"a": {"mug": 2}, "b": {"lamp": 1, "mug": 1}}


def test_an_opening_retried_holds_its_units_once(db):
    db.hold_units(MUGS, [("a", mugs(3), "lines")])
    db.hold_units(MUGS, [("a", mugs(3), "lines")])
    assert db.units_held(MUGS.order_id) == {"a": {"mug": 3}}


def test_a_report_holds_all_its_issues_or_none(db):
    db.hold_units(MUGS, [("a", mugs(2), "lines")])
    with pytest.raises(Refusal) as refused:
        db.hold_units(MUGS, [("b", [CaseLine(sku="lamp", quantity=1)], "issues[0].lines"), ("c", mugs(2), "issues[1].lines")])
    assert refused.value.field == "issues[1].lines[0].quantity"
    assert db.units_held(MUGS.order_id) == {"a": {"mug": 2}}, "the lamp's issue held nothing either"
    with pytest.raises(Refusal, match="issues\\[1\\].lines\\[0\\].quantity"):
        db.hold_units(MUGS, [("b", mugs(1), "issues[0].lines"), ("c", mugs(1), "issues[1].lines")])  # within the report too


def test_a_withdrawn_case_gives_its_units_back_and_a_decided_one_does_not(db):
    db.hold_units(MUGS, [("a", mugs(2), "lines"), ("b", mugs(1), "lines")])
    with db.engine.begin() as connection:
        release_units(connection, "a", Outcome.WITHDRAWN)
        release_units(connection, "b", Outcome.DECLINED)
    assert db.units_held(MUGS.order_id) == {"b": {"mug": 1}}
    db.hold_units(MUGS, [("c", mugs(2), "lines")])
    db.hold_units(MUGS, [("a", mugs(2), "lines")])  # the withdrawn case opened again (its request retried): it takes nothing
    assert {row.case_id for row in db.rows(UnitHoldRow, released=False)} == {"b", "c"}


def test_cases_racing_for_the_last_units_cannot_both_win(db):
    def hold(n: int) -> bool:
        try:
            db.hold_units(MUGS, [(f"race-{n}", mugs(2), "lines")])
        except Refusal:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        won = list(pool.map(hold, range(8)))
    assert won.count(True) == 1
