"""What a transition tells the outside world: the event types webhook subscribers choose from.

Pure, like the rest of the rules: the store derives a transition's events from the case as it was
stored before (its status and awaited party) and the view and timeline entries the transition wrote.
"""

from __future__ import annotations

from enum import StrEnum

from cases.model import Status, TimelineEntry
from cases.view import CaseView


class CaseEvent(StrEnum):
    CASE_OPENED = "case_opened"
    WAITING_ON_PARTY = "waiting_on_party"
    OFFER_MADE = "offer_made"
    RETURN_SHIPPED = "return_shipped"
    RETURN_DELIVERED = "return_delivered"
    REFUNDED = "refunded"
    ESCALATED = "escalated"
    DECIDED = "decided"
    CLOSED = "closed"


_BY_ENTRY = {
    "opened": CaseEvent.CASE_OPENED,
    "return_shipped": CaseEvent.RETURN_SHIPPED,
    "return_delivered": CaseEvent.RETURN_DELIVERED,
    "refund_settled": CaseEvent.REFUNDED,
    "support_decision": CaseEvent.DECIDED,
}


def events(was_status: str | None, was_awaiting: str | None, shown: CaseView, new_entries: list[TimelineEntry]) -> list[CaseEvent]:
    """The events of one transition, in a stable order. `was_*` is None when the store had no row."""
    found: set[CaseEvent] = set()
    for entry in new_entries:
        if entry.refused:
            continue
        if entry.kind in _BY_ENTRY:
            found.add(_BY_ENTRY[entry.kind])
        if entry.kind == "seller_response" and shown.offers and shown.offers[-1].at == entry.at:
            found.add(CaseEvent.OFFER_MADE)
    moved = shown.status.value != was_status
    if moved and shown.status is Status.AWAITING_SUPPORT:
        found.add(CaseEvent.ESCALATED)
    if moved and shown.status is Status.CLOSED:
        found.add(CaseEvent.CLOSED)
    awaiting = shown.awaiting.value if shown.awaiting else "none"
    if shown.awaiting is not None and (moved or awaiting != was_awaiting):
        found.add(CaseEvent.WAITING_ON_PARTY)
    return [event for event in CaseEvent if event in found]
