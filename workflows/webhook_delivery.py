"""One webhook delivery, durably: POST until the subscriber takes it, with backoff, or give up after a
bounded time. One workflow a delivery, so a slow subscriber never holds up a case."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import WebhookActivities, WebhookDelivery

GIVE_UP_AFTER = timedelta(hours=24)
BACKOFF = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0, maximum_interval=timedelta(hours=1))


def workflow_id(delivery_id: str) -> str:
    return f"webhook-{delivery_id}"


@workflow.defn(name="WebhookDelivery")
class WebhookDeliveryWorkflow:
    @workflow.run
    async def run(self, delivery: WebhookDelivery) -> str:
        try:
            await workflow.execute_activity_method(
                WebhookActivities.deliver_webhook,
                delivery,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=GIVE_UP_AFTER,
                retry_policy=BACKOFF,
                summary="deliver",
            )
            return "delivered"
        except ActivityError:
            await workflow.execute_activity_method(
                WebhookActivities.give_up_webhook, delivery, start_to_close_timeout=timedelta(seconds=30), summary="give up"
            )
            return "given_up"
