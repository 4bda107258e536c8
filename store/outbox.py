"""The webhook outbox: the deliveries a transition's events owe the subscribers, written in the
transition's own transaction, and what became of each."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select

from cases.events import CaseEvent
from cases.view import CaseView
from store.engine import Database, table
from store.schema import WebhookDeliveryRow, WebhookSubscriptionRow

SUBSCRIPTIONS, DELIVERIES = table(WebhookSubscriptionRow), table(WebhookDeliveryRow)
ACTIVE_SUBSCRIPTIONS = select(SUBSCRIPTIONS.c.id, SUBSCRIPTIONS.c.events, SUBSCRIPTIONS.c.seller_ids).where(SUBSCRIPTIONS.c.active.is_(True))


class DeliveryRefused(ValueError):
    """A webhook delivery that cannot be sent again: the field and the rule."""

    def __init__(self, field: str, rule: str):
        self.field, self.rule = field, rule
        super().__init__(f"{field}: {rule}")


class Outbox(Database):
    def undispatched_deliveries(self, case_id: str) -> list[str]:
        """The case's webhook deliveries whose delivery workflow has not been started yet."""
        with self.sessions() as session:
            query = select(WebhookDeliveryRow.id).where(WebhookDeliveryRow.case_id == case_id, WebhookDeliveryRow.dispatched_at.is_(None))
            return list(session.scalars(query.order_by(WebhookDeliveryRow.id)))

    def webhook_delivery(self, delivery_id: str) -> tuple[WebhookDeliveryRow, WebhookSubscriptionRow] | None:
        with self.sessions() as session:
            delivery = session.get(WebhookDeliveryRow, delivery_id)
            if delivery is None:
                return None
            subscription = session.get(WebhookSubscriptionRow, delivery.subscription_id)
            return None if subscription is None else (delivery, subscription)

    def update_delivery(self, delivery_id: str, **changes) -> None:
        """Records what became of a delivery: dispatched, an attempt (and its error), delivered, given up."""
        with self.sessions() as session, session.begin():
            row = session.get(WebhookDeliveryRow, delivery_id, with_for_update=True)
            if row is None:
                raise LookupError(delivery_id)
            attempted = changes.pop("attempted", False)
            if attempted:
                row.attempts += 1
            for name, value in changes.items():
                setattr(row, name, value)

    def redeliver(self, subscription_id: str, delivery_id: str) -> WebhookDeliveryRow:
        """Puts a given-up delivery back to pending and undispatched, for a new run of its workflow.
        Raises LookupError when the subscription has no such delivery, DeliveryRefused when its state
        forbids it. A pending one that was never dispatched (a crash after this write) is taken too."""
        with self.sessions() as session, session.begin():
            row = session.get(WebhookDeliveryRow, delivery_id, with_for_update=True)
            if row is None or row.subscription_id != subscription_id:
                raise LookupError(delivery_id)
            subscription = session.get(WebhookSubscriptionRow, subscription_id)
            if subscription is None or not subscription.active:
                raise DeliveryRefused("subscription_id", "the subscription was removed")
            if row.status == "delivered" or (row.status == "pending" and row.dispatched_at is not None):
                raise DeliveryRefused("status", f"only a given-up delivery is sent again; this one is {row.status}")
            row.status, row.dispatched_at = "pending", None
            return row

    def deactivate_subscription(self, subscription_id: str) -> bool:
        with self.sessions() as session, session.begin():
            row = session.get(WebhookSubscriptionRow, subscription_id)
            if row is None or not row.active:
                return False
            row.active = False
            return True


def write_deliveries(connection: Connection, view: CaseView, happened: list[CaseEvent], at: datetime) -> bool:
    """Writes the deliveries the case's events owe the active subscriptions; whether there were any. A
    delivery's id names the case version, which is recorded once."""
    if not happened:
        return False
    written = False
    subscriptions = connection.execute(ACTIVE_SUBSCRIPTIONS)
    for subscription in subscriptions:
        if subscription.seller_ids is not None and view.seller_id not in subscription.seller_ids:
            continue  # a seller's subscription hears of its own cases only
        for happening in happened:
            if happening.value not in subscription.events:
                continue
            delivery_id = f"{view.case_id}:{view.version}:{happening.value}:{subscription.id}"
            written = True
            connection.execute(
                insert(DELIVERIES),
                {
                    "id": delivery_id,
                    "subscription_id": subscription.id,
                    "case_id": view.case_id,
                    "event": happening.value,
                    "payload": webhook_payload(delivery_id, happening, view, at),
                    "status": "pending",
                    "attempts": 0,
                    "created_at": at,
                },
            )
    return written


def webhook_payload(delivery_id: str, event: CaseEvent, view: CaseView, at: datetime) -> dict:
    """What a subscriber receives: opaque ids and the case's state, never personal data."""
    return {
        "id": delivery_id,
        "type": event.value,
        "occurred_at": at.isoformat(),
        "case": {
            "case_id": view.case_id,
            "version": view.version,
            "status": view.status.value,
            "outcome": view.outcome.value if view.outcome else None,
            "awaiting": view.awaiting.value if view.awaiting else None,
            "due_at": view.due_at.isoformat() if view.due_at else None,
            "order_id": view.order_id,
            "seller_id": view.seller_id,
            "buyer_id": view.buyer_id,
            "lines": [line.model_dump() for line in view.lines],
            "covered": view.covered.model_dump(),
            "refunded": view.refunded.model_dump(),
            "refundable": view.refundable.model_dump(),
            # References only (download: GET /v1/cases/{case_id}/evidence/{digest}); captions are the parties' words, left out.
            "evidence": [
                {"digest": e.digest, "kind": e.kind.value, "media_type": e.media_type, "size": e.size, "added_by": e.added_by.party.value}
                for e in view.evidence
            ],
        },
    }
