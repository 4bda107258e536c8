"""Signals no case can act on: unreadable ones and unknown names are recorded and their sender told,
never dropped; refusals from senders who are not the case's, or past the first few dozen, are only
counted, so that no sender can flood a case (its timeline, history, store or the state it carries)."""

from __future__ import annotations

import pytest

from cases.engine import MAX_REFUSALS_WRITTEN
from tests.factories import BUYER
from tests.workflows.test_hostile_input import _task_failures, settled_history
from tests.workflows.test_workflow import open_case
from workflows.refund_case import workflow_id

pytestmark = pytest.mark.workflow


async def test_a_signal_that_fails_its_model_is_recorded_and_its_sender_told(cases):
    """A tracking number RET_123 once made the SDK drop the signal with one worker log line."""
    case_id = await open_case(cases)
    handle = cases.env.client.get_workflow_handle(workflow_id(case_id))
    await handle.signal("message", {"by": BUYER.model_dump(mode="json"), "text": "x" * 2001})
    await handle.signal("return_shipped", {"by": {"party": "carrier", "id": "dhl"}, "tracking_number": "RET_123"})
    events = await settled_history(cases, case_id)
    shown = await cases.client.show(case_id)
    refused = [(e.actor.party.value, e.kind, e.summary.split(":")[0]) for e in shown.timeline if e.refused]
    assert refused == [("buyer", "message", "text"), ("carrier", "return_shipped", "tracking_number")]
    assert _task_failures(events) == []


async def test_a_signal_under_an_unknown_name_is_recorded(cases):
    case_id = await open_case(cases)
    handle = cases.env.client.get_workflow_handle(workflow_id(case_id))
    await handle.signal("sellerResponse", {"by": BUYER.model_dump(mode="json")})
    await settled_history(cases, case_id)
    entry = (await cases.client.show(case_id)).timeline[-1]
    assert (entry.refused, entry.kind, entry.actor) == (True, "sellerResponse", BUYER)
    assert entry.summary == "signal: this case takes no signal named sellerResponse"


async def test_a_flood_of_refused_signals_writes_a_bounded_timeline_and_strangers_nothing(cases):
    """3,000 refused return-delivered signals once wrote 2,234 timeline entries (a 672 KB view), timed
    out reads and workflow tasks, and carried 910 KB into the next run."""
    case_id = await open_case(cases)
    handle = cases.env.client.get_workflow_handle(workflow_id(case_id))
    before = len(await settled_history(cases, case_id))
    for n in range(20):  # a stranger, as a buyer who is not this case's
        await handle.signal("withdrawal", {"by": {"party": "buyer", "id": f"buyer-x{n}"}})
    after_strangers = await settled_history(cases, case_id)
    shown = await cases.client.show(case_id)
    assert (len(shown.timeline), shown.refusals_not_written) == (1, 20)
    assert len(after_strangers) - before <= 20 + 3 * 20, "a stranger's refusal costs one signal event and at most one task"
    flood = MAX_REFUSALS_WRITTEN + 30
    for _ in range(flood):  # the carrier, with a fact the case cannot take now
        await handle.signal("return_delivered", {"by": {"party": "carrier", "id": "junk"}})
    events = await settled_history(cases, case_id)
    shown = await cases.client.show(case_id)
    assert sum(e.refused for e in shown.timeline) == MAX_REFUSALS_WRITTEN
    assert shown.refusals_not_written == 20 + 30
    assert _task_failures(events) == []
