"""Hostile input, generated: random and malformed commands, from anybody, in any order, to the rules and
to live workflows. A refusal names the field and the rule and leaves no trace; no workflow task ever
fails; a command sent twice with one request id acts once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from cases import engine
from cases.messages import FACT_KINDS, CaseMessage, Decision, PartyMessage
from cases.model import Party
from cases.refusal import Refusal
from starter.client import CaseRefused
from tests.conftest import worker_for
from tests.factories import BUYER, SELLER, SUPPORT, T0, request
from tests.unit.test_engine_properties import messages as engine_messages
from tests.workflows.test_workflow import open_case
from workflows.refund_case import workflow_id

MESSAGES = TypeAdapter(CaseMessage)
KINDS = [
    "seller_response", "buyer_answer", "return_inspection", "protection_feedback", "resolution_confirmed",
    "escalation", "withdrawal", "support_decision", "appeal", "reopening", "message",
]  # fmt: skip
UPDATE_KINDS = KINDS

parties = st.sampled_from([p.value for p in Party] + ["admin", "", None])
ids = st.sampled_from([SELLER.id, BUYER.id, SUPPORT.id, "intruder-1", "x@example.com", "", "a" * 80, None])
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.text(max_size=12),
    st.sampled_from(["full_refund", "partial_refund", "decline", "replacement", "deny", "refund_at_platform_cost", "EUR"]),
)
moneys = st.one_of(
    st.fixed_dictionaries({"amount": st.integers(-5000, 10_000), "currency": st.sampled_from(["EUR", "USD", "eur", "EURO"])}),
    values,
)


@st.composite
def raw_commands(draw) -> dict:
    """A command as a backend in another language might send it: often well formed, often not."""
    kind = draw(st.sampled_from(KINDS))
    command: dict = {"kind": kind}
    if draw(st.integers(0, 9)):
        command["by"] = {"party": draw(parties), "id": draw(ids)}
    for field, strategy in [
        ("resolution", st.sampled_from(["full_refund", "partial_refund", "refund_after_return", "decline", "replacement", "bogus"])),
        ("amount", moneys),
        ("accept", st.one_of(st.booleans(), values)),
        ("confirm", st.booleans()),
        ("decision", st.sampled_from(["refund_charged_to_seller", "refund_at_platform_cost", "deny", "uphold", "overturn", "maybe"])),
        ("tracking_number", st.sampled_from(["NEW-12345", "no spaces!", ""])),
        ("option", st.sampled_from(["cancel_protection", "not_received", "whatever"])),
        ("text", st.text(max_size=30)),
        ("note", st.one_of(st.none(), st.text(max_size=20), st.just("n" * 2001))),
        ("request_id", st.sampled_from(["r-1", "r-2", "bad id!", ""])),
        ("unexpected", values),
    ]:
        if draw(st.integers(0, 3)) == 0:
            command[field] = draw(strategy)
    return command


# Typed commands from the engine's property test (right and wrong senders, good and bad amounts), as JSON.
well_formed = engine_messages.filter(lambda m: m != "clock").map(lambda m: m.model_dump(mode="json", exclude_none=True))


def _names_a_field_and_a_rule(text: str) -> bool:
    field, sep, rule = text.partition(": ")
    return bool(sep and field.strip() and rule.strip())


# ------------------------------------------------------------------------------------- the rules


tried = {"rules": 0, "workflows": 0, "workflows_refused": 0, "workflows_accepted": 0}


@settings(max_examples=400, deadline=None)
@given(st.lists(raw_commands(), min_size=1, max_size=12))
def test_the_rules_reject_every_invalid_command_by_field_and_rule_and_act_once_per_request_id(commands):
    case = engine.open_case(request(), T0).case
    now = T0
    for raw in commands:
        tried["rules"] += 1
        now += timedelta(minutes=1)
        try:
            message = MESSAGES.validate_python(raw)
        except ValidationError as err:
            assert all(e["loc"] or e["type"] == "model_type" for e in err.errors())
            continue
        before = case.model_copy(deep=True)
        try:
            transition = engine.apply(case, message, now)
        except Refusal as refusal:
            assert refusal.field and refusal.rule and _names_a_field_and_a_rule(str(refusal))
            assert case == before
            continue
        case = transition.case
        if message.request_id is not None:
            again = engine.apply(case, message, now)
            assert again.case is case and again.commands == [], "a repeated request id acted twice"


# -------------------------------------------------------------------------------- live workflows


async def _history(h, case_id):
    return (await h.env.client.get_workflow_handle(workflow_id(case_id)).fetch_history()).events


async def settled_history(h, case_id):
    """The history once the case has finished what it was doing (its activities run after its state
    moves): no workflow task or activity pending, and the same length twice in a row."""
    request = DescribeWorkflowExecutionRequest(namespace=h.env.client.namespace, execution=WorkflowExecution(workflow_id=workflow_id(case_id)))
    last = None
    for _ in range(200):
        described = await h.env.client.workflow_service.describe_workflow_execution(request)
        busy = described.pending_activities or described.HasField("pending_workflow_task")
        events = await _history(h, case_id)
        if not busy and last is not None and len(events) == len(last):
            return events
        last = None if busy else events
        await asyncio.sleep(0.02)
    raise AssertionError(f"case {case_id} never settled")


# A real server runs the validator of a rejected update in a speculative workflow task and writes
# nothing; the time-skipping server writes that task's three events. Either way, nothing else.
WORKFLOW_TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
}


def _task_failures(events) -> list:
    return [e for e in events if e.HasField("workflow_task_failed_event_attributes")]


async def _send_raw(h, case_id: str, raw: dict, as_signal: bool):
    """Sends `raw` as it is; returns the case view, or the refusal's text."""
    handle = h.env.client.get_workflow_handle(workflow_id(case_id))
    try:
        if as_signal:
            await handle.signal(raw["kind"], raw)
            return None
        return await handle.execute_update(raw["kind"], raw, id=raw.get("request_id") or None)
    except RPCError as err:  # a closed case: the client says so in words
        with pytest.raises(CaseRefused) as refused:
            await h.client._explain(case_id, err)
        return str(refused.value)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        # A payload that does not decode is refused like any other message: one line, field and rule.
        assert isinstance(cause, ApplicationError) and cause.type == "Refusal", cause
        return cause.message


@pytest.mark.workflow
async def test_live_workflows_refuse_bad_commands_without_a_trace_and_never_fail_a_task(module_env, store):
    async with worker_for(module_env, store) as cases:
        await _play_hostile_commands(cases)


async def _play_hostile_commands(cases) -> None:
    loop = asyncio.get_running_loop()

    def on_loop(coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=60)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.one_of(well_formed, raw_commands()), st.booleans()), min_size=1, max_size=8))
    def play(commands):
        case_id = on_loop(open_case(cases))
        for raw, as_signal in commands:
            as_signal = as_signal or raw["kind"] in FACT_KINDS  # machine facts are signals only
            tried["workflows"] += 1
            before = len(on_loop(settled_history(cases, case_id)))
            outcome = on_loop(_send_raw(cases, case_id, raw, as_signal))
            if not as_signal:
                tried["workflows_refused" if isinstance(outcome, str) else "workflows_accepted"] += 1
            if isinstance(outcome, str):
                assert "input_value" not in outcome, "an error echoed the input, which may hold personal data"
                assert "\n" not in outcome and _names_a_field_and_a_rule(outcome), outcome
                added = on_loop(_history(cases, case_id))[before:]
                assert [e for e in added if e.event_type not in WORKFLOW_TASK_EVENTS] == [], "a refused update left a trace"
        on_loop(cases.client.show(case_id))  # every signal above has been taken
        assert _task_failures(on_loop(_history(cases, case_id))) == []

    await asyncio.to_thread(play)
    print(f"generated commands tried: {tried}")
    assert tried["workflows_refused"] and tried["workflows_accepted"], "the generator reached both refusals and actions"


@pytest.mark.workflow
@pytest.mark.parametrize("first,second", [("update", "update"), ("signal", "signal"), ("update", "signal"), ("signal", "update")])
async def test_the_same_command_twice_with_one_request_id_acts_once(cases, first, second):
    case_id = await open_case(cases)
    note = PartyMessage(by=BUYER, text="the box was crushed", request_id=f"msg-{uuid.uuid4().hex}")
    for via in (first, second):
        await cases.client.send(case_id, note, wait=via == "update")
    await settled_history(cases, case_id)  # both signals, if any, have been taken
    shown = await cases.client.show(case_id)
    taken = [entry for entry in shown.timeline if entry.request_id == note.request_id]
    assert len(taken) == 1 and shown.version == 2


@pytest.mark.workflow
async def test_a_retried_decision_is_answered_after_the_case_moved_on_not_refused(cases):
    case_id = await open_case(cases)
    decision = Decision.__args__[0](by=SELLER, resolution="full_refund", request_id="seller-portal-42")
    first = await cases.client.send(case_id, decision)
    again = await cases.client.send(case_id, decision)  # the answer to the first was lost: the portal retries
    assert first.outcome == again.outcome and again.version == first.version
    assert len(first.refunds) == 1 and len(again.refunds) == 1
    with pytest.raises(CaseRefused, match="status: the case is closed"):
        await cases.client.send(case_id, decision.model_copy(update={"request_id": "seller-portal-43"}))
