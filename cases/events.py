"""What a transition tells the outside world: the domain events the rules emit as they make it
(cases.engine's `_Step.emit`, and the moves `_Step.done` sees), carried on the Transition to the
store, which writes them to the outbox for webhook subscribers."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class CaseEvent(StrEnum):
    CASE_OPENED = "case_opened"
    WAITING_ON_PARTY = "waiting_on_party"
    OFFER_MADE = "offer_made"
    EVIDENCE_ADDED = "evidence_added"
    RETURN_SHIPPED = "return_shipped"
    RETURN_DELIVERED = "return_delivered"
    REFUNDED = "refunded"
    ESCALATED = "escalated"
    DECIDED = "decided"
    CLOSED = "closed"


def in_order(happened: Iterable[CaseEvent]) -> list[CaseEvent]:
    """Events once each, in the stable order subscribers receive them in."""
    found = set(happened)
    return [event for event in CaseEvent if event in found]
