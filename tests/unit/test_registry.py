"""One rule a kind of message (cases.engine.RULES), and everything that names message kinds held to it:
the message union, the workflow's updates and signals, the HTTP API's routes and the explorer's
samples and the CLI's `send`. A kind added to one and not the others fails here, naming it."""

from __future__ import annotations

from typing import Literal, get_args

import pytest
from temporalio import workflow

from api.routes.cases import DECISIONS, FACTS
from cases.engine import RULES, SENDABLE, open_case
from cases.explore import candidates
from cases.messages import CaseMessage, Clock, Decision, Fact, PartyMessage, RefundFailed, RefundSettled, Sent, kind_of
from starter.cli import SendableKind
from tests.factories import T0, request
from workflows.refund_case import RefundCaseWorkflow


def kinds(models) -> set[str]:
    return {kind_of(model) for model in models}


MESSAGES = get_args(get_args(CaseMessage)[0])  # the union inside Annotated
SPOKEN = {*get_args(Decision), PartyMessage}  # what people send: updates and signals alike
FACT_MODELS, CLOCK_MODELS = set(get_args(Fact)), set(get_args(Clock))


def test_every_message_kind_has_exactly_one_rule():
    assert set(RULES) == set(MESSAGES)
    assert set(MESSAGES) == SPOKEN | FACT_MODELS | CLOCK_MODELS


def test_the_workflow_takes_each_spoken_kind_as_update_and_signal_and_each_fact_as_signal():
    definition = workflow._Definition.must_from_class(RefundCaseWorkflow)
    assert {name for name in definition.updates if name} == kinds(SPOKEN)
    assert {name for name in definition.signals if name} == kinds(SPOKEN | FACT_MODELS)


def test_the_api_routes_every_spoken_kind_and_fact_and_no_clock():
    assert set(DECISIONS.values()) == SPOKEN
    assert set(FACTS.values()) == FACT_MODELS


def test_the_explorer_tries_every_kind_a_party_sends():
    sampled = {type(message) for message in candidates(open_case(request(), T0).case)}
    missing = kinds(SPOKEN | FACT_MODELS) - kinds(sampled) - {"refund_settled", "refund_failed"}  # sampled once a refund exists
    assert missing == set()


def test_the_cli_sends_every_kind_a_party_or_a_carrier_sends():
    assert set(SENDABLE) == kinds(SPOKEN | FACT_MODELS)
    assert {kind.value for kind in SendableKind} == set(SENDABLE)


def test_every_kind_a_party_sends_declares_the_samples_the_exploration_sends():
    undeclared = [kinds({model}) for model in RULES if issubclass(model, Sent) and "samples" not in vars(model)]
    assert undeclared == []
    case = open_case(request(), T0).case
    for model in RULES:
        if issubclass(model, Sent) and model not in (RefundSettled, RefundFailed):  # those need a refund
            assert model.samples(case), kinds({model})


def test_a_kind_without_samples_is_named():
    class Novel(Sent):
        kind: Literal["novel"] = "novel"

    with pytest.raises(NotImplementedError, match="novel: declare the samples the exploration sends"):
        Novel.samples(open_case(request(), T0).case)
