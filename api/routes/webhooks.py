"""Webhooks: admin subscribes URLs to case events, reads each subscription's deliveries, sends one again."""

import asyncio
import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from activities.webhooks import TargetRefused, checked_addresses
from api.bodies import CreatedSubscription, Delivery, NewSubscription, Subscription
from api.dependencies import CallerDep, ServiceDep, allow
from api.parameters import DeliveryPath, OpaquePath
from api.problem import Problem
from starter.client import start_delivery
from store.database import DeliveryRefused
from store.schema import WebhookDeliveryRow, WebhookSubscriptionRow

router = APIRouter(tags=["webhooks"])


@router.post("/v1/webhooks", status_code=201, response_model=CreatedSubscription)
async def subscribe(subscription: NewSubscription, caller: CallerDep, service: ServiceDep) -> CreatedSubscription:
    """Registers a URL for some case events. Deliveries are signed with the secret returned here."""
    allow(caller)
    try:
        await asyncio.to_thread(checked_addresses, str(subscription.url), service.settings.webhook_private_targets)
    except TargetRefused as refused:
        raise Problem(422, "Webhook URL refused", "url", str(refused)) from None
    except OSError:
        pass  # the host does not resolve yet: each delivery checks it again
    row = WebhookSubscriptionRow(
        id=f"wh_{secrets.token_hex(8)}",
        url=str(subscription.url),
        events=[e.value for e in subscription.events],
        seller_ids=subscription.seller_ids,
        secret=f"whsec_{secrets.token_urlsafe(24)}",
        created_by=caller.name,
        created_at=datetime.now(UTC),
        active=True,
    )
    service.store.insert_once(row)
    return CreatedSubscription(id=row.id, url=row.url, events=row.events, seller_ids=row.seller_ids, created_at=row.created_at, secret=row.secret)


@router.get("/v1/webhooks", response_model=list[Subscription])
async def subscriptions(caller: CallerDep, service: ServiceDep) -> list[Subscription]:
    allow(caller)
    rows = service.store.rows(WebhookSubscriptionRow, active=True)
    return [Subscription(id=r.id, url=r.url, events=r.events, seller_ids=r.seller_ids, created_at=r.created_at) for r in rows]


@router.delete("/v1/webhooks/{subscription_id}", status_code=204)
async def unsubscribe(subscription_id: OpaquePath, caller: CallerDep, service: ServiceDep) -> Response:
    allow(caller)
    if not service.store.deactivate_subscription(subscription_id):
        raise Problem(404, "No such subscription", "subscription_id", f"there is no subscription {subscription_id}")
    return Response(status_code=204)


@router.get("/v1/webhooks/{subscription_id}/deliveries", response_model=list[Delivery])
async def deliveries(
    subscription_id: OpaquePath, caller: CallerDep, service: ServiceDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[Delivery]:
    """The subscription's deliveries, newest first: pending, delivered, or given up, with attempts."""
    allow(caller)
    with service.store.sessions() as session:
        query = (
            select(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.subscription_id == subscription_id)
            .order_by(WebhookDeliveryRow.created_at.desc())
            .limit(limit)
        )
        rows = list(session.scalars(query))
    return [Delivery.model_validate(row, from_attributes=True) for row in rows]


@router.post("/v1/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver", status_code=202, response_model=Delivery)
async def redeliver(subscription_id: OpaquePath, delivery_id: DeliveryPath, caller: CallerDep, service: ServiceDep) -> Delivery:
    """Sends a given-up delivery again, say after the subscriber's long outage: a new round of
    attempts with the same event id, on which the subscriber deduplicates."""
    allow(caller)
    try:
        row = service.store.redeliver(subscription_id, delivery_id)
    except LookupError:
        raise Problem(404, "No such delivery", "delivery_id", f"subscription {subscription_id} has no delivery {delivery_id}") from None
    except DeliveryRefused as refused:
        raise Problem(409, "Not possible in the delivery's current state", refused.field, refused.rule) from None
    client = service.client
    if not await start_delivery(client.client, client.task_queue, delivery_id):  # left undispatched: a retry takes it
        raise Problem(409, "Not possible in the delivery's current state", "status", "its last round is still closing: send it again in a moment")
    service.store.update_delivery(delivery_id, dispatched_at=datetime.now(UTC))
    return Delivery.model_validate(row, from_attributes=True)
