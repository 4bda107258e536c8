"""Outbound webhooks: each delivery POSTs one case event to one subscriber, signed, and records how it
went. Temporal retries a failed delivery with backoff (workflows/webhook_delivery.py).

Signature scheme (Stripe's, for familiarity): the header

    Refund-Cases-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

A receiver recomputes v1 over the raw body with its subscription's secret, compares in constant time,
and refuses timestamps older than a few minutes (replays). `verify` below does exactly that.

Subscriber URLs come from API callers, so a delivery must not become a way into this service's own
network (SSRF): a URL whose host is, or resolves to, a loopback, private, link-local or otherwise
non-public address is refused, when subscribed and again at each delivery, unless
WEBHOOK_PRIVATE_TARGETS allows it (make run, tests). A delivery connects to the addresses it checked.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from datetime import UTC, datetime

import httpx
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from store.database import Store

log = logging.getLogger("refund_cases.webhooks")
SIGNATURE_HEADER = "Refund-Cases-Signature"


class WebhookDelivery(BaseModel):
    delivery_id: str


class WebhookNotDelivered(Exception):
    """The subscriber did not take the delivery (an error status or no answer): retried."""


class TargetRefused(ValueError):
    """A subscriber URL that reaches a non-public address: refused, and never retried."""


# IPv6 ranges whose last 32 bits are an IPv4 address that a connection reaches: IPv4-compatible,
# NAT64's well-known prefix, and IPv4-translated (SIIT). A local-use NAT64 prefix translates to
# whatever its operator chose, so it is never public.
_CARRY_IPV4 = tuple(ipaddress.ip_network(n) for n in ("::/96", "64:ff9b::/96", "::ffff:0:0:0/96"))
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def reached(ip: IPAddress) -> list[IPAddress]:
    """Every address a connection to `ip` may reach: itself and any IPv4 address it carries."""
    if isinstance(ip, ipaddress.IPv4Address):
        return [ip]
    carried = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
    if any(ip in network for network in _CARRY_IPV4):
        carried.append(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF))
    return [ip, *(a for a in carried if a is not None)]


def is_public(ip: IPAddress) -> bool:
    return all(a.is_global and not a.is_multicast for a in reached(ip)) and ip not in _LOCAL_NAT64


def checked_addresses(url: str, private_allowed: bool) -> list[str]:
    """`url`'s host's addresses, once every one of them is public (or private targets are allowed).
    Raises OSError when the host does not resolve."""
    host = httpx.URL(url).host
    addresses = list(dict.fromkeys(str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)))
    for address in addresses:
        if not private_allowed and not is_public(ipaddress.ip_address(address.split("%")[0])):
            raise TargetRefused(
                f"{host} is {address}, not a public address: loopback, private, link-local and reserved "
                "addresses are refused (WEBHOOK_PRIVATE_TARGETS=true allows them)"
            )
    return addresses


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
    given = f"t={timestamp},v1={parts.get('v1', '')}".encode("utf-8", "replace")  # bytes: any header text compares
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), given)


class WebhookActivities:
    def __init__(self, store: Store, private_targets: bool = False, http: httpx.Client | None = None):
        self.store = store
        self.private_targets = private_targets
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
        url = httpx.URL(subscription.url)
        try:
            status = self._post(url, checked_addresses(subscription.url, self.private_targets), body, headers)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except TargetRefused as refused:
            self.store.update_delivery(row.id, last_error=str(refused))
            raise ApplicationError(str(refused), type="WebhookTargetRefused", non_retryable=True) from None
        except socket.gaierror:
            error = f"DNS: {url.host} does not resolve"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}"
        if error is None:
            self.store.update_delivery(row.id, attempted=True, status="delivered", delivered_at=datetime.now(UTC), last_error=None)
            log.info("webhook %s delivered (%s)", row.id, row.event)
            return
        self.store.update_delivery(row.id, attempted=True, last_error=error)
        raise WebhookNotDelivered(f"{row.id}: {error}")

    def _post(self, url: httpx.URL, addresses: list[str], body: bytes, headers: dict[str, str]) -> int:
        """POSTs to the first of the checked `addresses` that takes the connection (as a connection by
        name would), so DNS cannot answer differently between the check and the connection. The name
        still goes in the Host header and, for TLS, in SNI and the certificate check. Only the answer's
        status is read: a subscriber's body, however large, is never taken in."""
        for address in addresses:
            try:
                with self.http.stream(
                    "POST",
                    url.copy_with(host=address),
                    content=body,
                    headers={**headers, "Host": url.netloc.decode()},
                    extensions={"sni_hostname": url.host} if url.scheme == "https" else {},
                ) as answer:
                    return answer.status_code
            except httpx.ConnectError as failure:
                unreachable = failure
        raise unreachable

    @activity.defn
    def give_up_webhook(self, delivery: WebhookDelivery) -> None:
        self.store.update_delivery(delivery.delivery_id, status="given_up")
        log.warning("webhook %s given up", delivery.delivery_id)

    def all(self) -> list:
        return [self.deliver_webhook, self.give_up_webhook]
