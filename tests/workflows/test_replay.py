"""The replay gate: every recorded history of the current code generation replays on today's code and
rebuilds the state it recorded (every activity's input, the view it ended with), not only the same
commands. And the gate can fail: a rule that moves one minor unit or drops one ledger line, with the
same commands, is caught; an unguarded change of commands is caught; a pure refactor passes."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.common import RawValue

from cases import engine
from cases.case import GENERATION
from cases.model import LedgerKind, LedgerLine
from cases.money import Money
from cases.view import CaseView
from replay.check import first_difference, replay
from tests.histories.record import SCENARIOS
from workflows.refund_case import RefundCaseWorkflow

FOLDER = Path(__file__).parents[1] / "histories" / f"generation-{GENERATION}"
HISTORIES = sorted(FOLDER.glob("*.json"))


def _history(name: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(name, (FOLDER / f"{name}.json").read_text())


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays_and_rebuilds_its_state(path):
    replayed = await replay(WorkflowHistory.from_json(path.stem, path.read_text()))
    assert replayed.differences == []
    assert replayed.activities >= 2  # the opening's effects at least: there was state to compare


def test_every_scenario_is_recorded_for_the_current_generation():
    recorded = {path.stem for path in HISTORIES}
    assert {scenario.__name__ for scenario in SCENARIOS} | {"carrier_facts_and_a_query_in_one_task"} <= recorded


def test_no_history_of_another_generation_is_kept():
    """Before 1.0 nothing ran outside this repository: older generations' histories were dropped with
    their code. After it, a generation's histories stay while its cases can still run (docs)."""
    assert [p.name for p in FOLDER.parent.glob("generation-*")] == [FOLDER.name]


# ------------------------------------------------------------------------------ negative controls


def test_first_difference_names_the_field_where_two_states_part():
    was = {"postings": [{"amount": {"amount": 650, "currency": "EUR"}}], "status": "closed"}
    assert first_difference(was, copy.deepcopy(was)) is None
    moved = copy.deepcopy(was) | {"postings": [{"amount": {"amount": 651, "currency": "EUR"}}]}
    assert first_difference(was, moved) == "postings.0.amount.amount: history 650, replay 651"
    assert first_difference(was, {**was, "postings": []}) == "postings: history has 1 items, replay 0"


async def test_negative_control_a_rule_that_moves_one_minor_unit_fails_the_gate(monkeypatch):
    """The same commands (nothing a command-only replay would see), one minor unit more on every ledger line."""
    original = engine._Step.ledger

    def one_more(step, kind, amount: Money, refund_number=None):
        return original(step, kind, Money(amount=amount.amount + 1, currency=amount.currency), refund_number)

    monkeypatch.setattr(engine._Step, "ledger", one_more)
    replayed = await replay(_history("full_refund"))
    assert replayed.differences and not any("does not replay" in d for d in replayed.differences)
    assert any("amount: history 4500, replay 4501" in d for d in replayed.differences), replayed.differences


async def test_negative_control_a_rule_that_drops_one_ledger_line_fails_the_gate(monkeypatch):
    """Support's overturn no longer gives the seller's charge back: one ledger line fewer, same commands."""
    original = engine._Step.ledger
    dropped = []

    def without_reversals(step, kind, amount, refund_number=None):
        if kind is LedgerKind.CHARGE_REVERSAL:
            dropped.append(kind)
            return LedgerLine(number=len(step.case.ledger) + 1, kind=kind, amount=amount, refund_number=refund_number)
        return original(step, kind, amount, refund_number)

    monkeypatch.setattr(engine._Step, "ledger", without_reversals)
    replayed = await replay(_history("decline_appeal_overturned"))
    assert dropped, "the scenario reverses a charge"
    assert replayed.differences and not any("does not replay" in d for d in replayed.differences)
    assert any("history 'charge_reversal', replay 'platform_refund'" in d for d in replayed.differences), replayed.differences
    assert any("charged_to_seller.amount: history 0, replay 4500" in d for d in replayed.differences)  # the money it rebuilds


async def test_a_pure_refactor_of_the_rules_passes_the_gate(monkeypatch):
    """A transition's private copy made another way (a deep copy): the same state, so the same history."""
    monkeypatch.setattr(engine, "_private_copy", lambda case: case.model_copy(deep=True))
    for path in HISTORIES:
        assert (await replay(WorkflowHistory.from_json(path.stem, path.read_text()))).differences == [], path.stem


@workflow.defn(name="RefundCase", sandboxed=False)  # defined in a test module, which the sandbox would re-import
class WithoutTheUpsert(RefundCaseWorkflow):
    """A plausible refactor that changes commands: operators' search attributes left to the store."""

    @workflow.run
    async def run(self, opening: RawValue) -> CaseView:
        return await super().run(opening)


async def test_negative_control_an_unguarded_change_of_commands_fails_the_replay(monkeypatch):
    monkeypatch.setattr(workflow, "upsert_search_attributes", lambda updates: None)
    replayed = await replay(_history("full_refund"), WithoutTheUpsert)
    assert len(replayed.differences) == 1 and "does not replay" in replayed.differences[0]
