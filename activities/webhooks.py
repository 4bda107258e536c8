"""Outbound webhooks: each delivery POSTs one case event to one subscriber, signed, and records how it
went. Temporal retries a failed delivery with backoff (workflows/webhook_delivery.py).

Signature scheme (Stripe's, for familiarity): the header

    Refund-Cases-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

A receiver recomputes v1 over the raw body with its subscription's secret, compares in constant time,
and refuses timestamps older than a few minutes (replays). `verify` below does exactly that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime

import httpx
from pydantic import BaseModel
from temporalio import activity

from store.database import Store

log = logging.getLogger("refund_cases.webhooks")
SIGNATURE_HEADER = "Refund-Cases-Signature"


class WebhookDelivery(BaseModel):
    delivery_id: str


class WebhookNotDelivered(Exception):
    """The subscriber did not take the delivery (an error status or no answer): retried."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, now: float | None = None, tolerance_seconds: int = 300) -> bool:
    """What a receiver runs: the signature matches the raw body, and it is recent."""
    try:
        parts = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), f"t={timestamp},v1={parts.get('v1', '')}")


class WebhookActivities:
    def __init__(self, store: Store, http: httpx.Client | None = None):
        self.store = store
        self.http = http or httpx.Client(timeout=10.0, follow_redirects=False)

    @activity.defn
    def deliver_webhook(self, delivery: WebhookDelivery) -> None:
        found = self.store.webhook_delivery(delivery.delivery_id)
        if found is None:
            return
        row, subscription = found
        if row.status != "pending":
            return
        if subscription is None or not subscription.active:
            self.store.update_delivery(row.id, status="given_up", last_error="the subscription was removed")
            return
        body = json.dumps(row.payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(subscription.secret, int(time.time()), body),
            "Refund-Cases-Event": row.event,
            "Refund-Cases-Delivery": row.id,
        }
        try:
            answer = self.http.post(subscription.url, content=body, headers=headers)
            error = None if answer.is_success else f"HTTP {answer.status_code}"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}"
        if error is None:
            self.store.update_delivery(row.id, attempted=True, status="delivered", delivered_at=datetime.now(UTC), last_error=None)
            log.info("webhook %s delivered (%s)", row.id, row.event)
            return
        self.store.update_delivery(row.id, attempted=True, last_error=error)
        raise WebhookNotDelivered(f"{row.id}: {error}")

    @activity.defn
    def give_up_webhook(self, delivery: WebhookDelivery) -> None:
        self.store.update_delivery(delivery.delivery_id, status="given_up")
        log.warning("webhook %s given up", delivery.delivery_id)

    def all(self) -> list:
        return [self.deliver_webhook, self.give_up_webhook]
