"""Starts as a backend in another language makes them, through its own Temporal SDK, with inputs that
pass the JSON Schemas or nearly: an input no model takes fails the case at once, naming the field and
the rule, and never leaves a workflow task retrying."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError

from activities.case_activities import CASE_ALREADY_RAN
from cases import policies
from cases.messages import SellerResponse
from cases.model import Resolution
from starter.client import case_id_for
from store.schema import CaseRow, NotificationRow
from tests.factories import SELLER, order
from tests.workflows.test_hostile_input import _task_failures
from workflows.refund_case import CANNOT_OPEN, workflow_id

pytestmark = pytest.mark.workflow


async def _opening(cases) -> dict:
    now = await cases.env.get_current_time()
    bought = order(purchased_at=now - timedelta(days=3), shipped_at=now - timedelta(days=2)).model_dump(mode="json")
    request_id = f"sdk-{uuid.uuid4().hex[:8]}"
    policy = policies.load("direct_service").model_dump(mode="json")
    return {"case_id": case_id_for(request_id), "request_id": request_id, "reason": "defective", "order": bought, "policy": policy}


def _usd_item(opening: dict) -> dict:
    items = [{**opening["order"]["items"][0], "unit_price": {"amount": 4000, "currency": "USD"}}]
    return {**opening, "order": {**opening["order"], "items": items}}


@pytest.mark.parametrize(
    "spoil,field",
    [
        (_usd_item, "order"),
        (lambda o: {**o, "order": {**o["order"], "purchased_at": "2026-11-28T10:00:00"}}, "order.purchased_at"),
        (lambda o: {**o, "policy": "direct_service"}, "policy"),
        (lambda o: {**o, "requestId": o["request_id"]}, "requestId"),
    ],
    ids=["an item in another currency", "a time without its zone", "the policy by name", "an unknown field"],
)
async def test_an_opening_no_model_takes_fails_the_case_at_once_naming_the_field(cases, spoil, field):
    """Each once failed the workflow task every 10 s, for ever: queries timed out, the case never moved."""
    opening = spoil(await _opening(cases))
    handle = await cases.env.client.start_workflow("RefundCase", opening, id=workflow_id(opening["case_id"]), task_queue=cases.client.task_queue)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == CANNOT_OPEN and cause.non_retryable
    assert cause.message.startswith(f"the case cannot open: {field}"), cause.message
    assert "\n" not in cause.message
    assert _task_failures((await handle.fetch_history()).events) == []


async def test_a_well_formed_opening_from_another_sdk_opens(cases):
    opening = await _opening(cases)
    await cases.env.client.start_workflow("RefundCase", opening, id=workflow_id(opening["case_id"]), task_queue=cases.client.task_queue)
    assert (await cases.client.show(opening["case_id"])).status.value == "awaiting_seller_response"


async def test_a_second_run_of_a_closed_case_is_refused_whatever_the_id_reuse_policy(cases):
    """A start with another SDK's default id reuse policy, after the case closed, once began a second
    run on the same workflow id, awaiting the seller on an order already refunded, that took commands."""
    opening = await _opening(cases)
    case_id = opening["case_id"]
    first = await cases.env.client.start_workflow("RefundCase", opening, id=workflow_id(case_id), task_queue=cases.client.task_queue)
    done = await cases.client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))
    assert done.status.value == "closed"
    await first.result()
    notices = len(cases.store.rows(NotificationRow, case_id=case_id))
    second = await cases.env.client.start_workflow(
        "RefundCase", opening, id=workflow_id(case_id), task_queue=cases.client.task_queue, id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(second.result(), 60)  # a second run that opened would wait for its seller
    assert "already ran" in str(failed.value.cause.cause) and failed.value.cause.cause.type == CASE_ALREADY_RAN
    row = cases.store.get(CaseRow, case_id)
    assert (row.status, row.version) == ("closed", done.version)
    assert len(cases.store.rows(NotificationRow, case_id=case_id)) == notices  # the second opening told no one


async def test_an_update_that_does_not_decode_is_refused_in_one_line_naming_the_field(cases):
    """Such an update once came back as the SDK's "Failed decoding arguments" over pydantic's
    multi-line text."""
    opening = await _opening(cases)
    handle = await cases.env.client.start_workflow("RefundCase", opening, id=workflow_id(opening["case_id"]), task_queue=cases.client.task_queue)
    bad = {"by": {"party": "seller", "id": opening["order"]["seller_id"]}, "resolution": "replacement", "tracking_number": "RET_123"}
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("seller_response", bad)
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "Refusal"
    assert cause.message.startswith("tracking_number: ") and "\n" not in cause.message and "RET_123" not in cause.message
