"""The read model's writes: what one transition of a case changed (its row, refunds, timeline, the
state a closed case ended with), with its events' deliveries and its order's payout hold, in one
transaction; safe to repeat and to receive out of order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Connection, bindparam, insert, select, update

from cases.case import Case
from cases.events import CaseEvent
from cases.model import Refund, Status, TimelineEntry
from cases.view import CaseView
from store.engine import Database, add_new, table
from store.order_budget import release
from store.outbox import write_deliveries
from store.payouts import LOCK_HOLD, hold, mark_charges_paid_out, new_hold
from store.schema import Base, CaseRow, ClosedCaseRow, RefundRow, TimelineRow
from store.seller_flags import raise_flag
from store.unit_holds import release_units


class CaseRecord(BaseModel):
    """What one transition writes to the read model: the view after it, the timeline entries it added,
    the refunds that failed (their shares go back to the order), the events it emitted, and a closed
    case's whole state, kept for a later reopening."""

    view: CaseView
    new_entries: list[TimelineEntry]
    failed_refunds: list[int] = []
    events: list[CaseEvent] = []
    closed: Case | None = None

    @property
    def at(self) -> datetime:
        """When the transition happened, in the case's time."""
        return self.view.timeline[-1].at if self.view.timeline else self.view.opened_at

    @property
    def failed_refund_keys(self) -> list[str]:
        return [f"{self.view.case_id}:refund:{number}" for number in self.failed_refunds]


@dataclass
class Written:
    """What `write_effects` did: the rows it inserted (a retry finds them there and inserts none),
    whether the case view was newer than the stored one, and whether webhook deliveries came with it."""

    inserted: list[Base] = field(default_factory=list)
    recorded: bool = False
    deliveries: bool = False


class CaseAlreadyRan(ValueError):
    """A case id the store holds for a case that opened at another time: a second start of a case
    that already ran (another SDK's id reuse policy lets one begin), refused before it writes anything."""

    def __init__(self, case_id: str, opened_at: datetime):
        super().__init__(f"case_id: case {case_id} already ran (opened {opened_at:%Y-%m-%d %H:%M:%S} UTC); a case id opens once")


# A refund's status in the workflow, as finance's `refunds` table names it.
REFUND_STATUS = {"requested": "requested", "settled": "succeeded", "failed": "failed"}

# A transition's writes are these prepared SQLAlchemy Core statements on a bare connection: the ORM's
# identity map and unit of work cost the worker 2.06 ms a transition against 0.81 ms
# (bench/store_write.py; docs/performance.md).
CASES, REFUNDS, TIMELINE, CLOSED = (table(model) for model in (CaseRow, RefundRow, TimelineRow, ClosedCaseRow))
LOCK_CASE = (
    select(CASES.c.version, CASES.c.status, CASES.c.awaiting, CASES.c.opened_at).where(CASES.c.case_id == bindparam("case_id")).with_for_update()
)
UPDATE_CASE = update(CASES).where(CASES.c.case_id == bindparam("case_id_"))
REFUND_KEYS = select(REFUNDS.c.idempotency_key).where(REFUNDS.c.case_id == bindparam("case_id"))
UPDATE_REFUND = update(REFUNDS).where(REFUNDS.c.idempotency_key == bindparam("key_"))
CLOSED_VERSION = select(CLOSED.c.version).where(CLOSED.c.case_id == bindparam("case_id"))
UPDATE_CLOSED = update(CLOSED).where(CLOSED.c.case_id == bindparam("case_id_"))
TIMELINE_SEQS = select(TIMELINE.c.seq).where(TIMELINE.c.case_id == bindparam("case_id"), TIMELINE.c.seq.in_(bindparam("seqs", expanding=True)))
ENTRY_AT = select(TIMELINE.c.at).where(TIMELINE.c.case_id == bindparam("case_id"), TIMELINE.c.seq == bindparam("seq"))
UPDATE_ENTRY = update(TIMELINE).where(TIMELINE.c.case_id == bindparam("case_id_"), TIMELINE.c.seq == bindparam("seq_"))


class CaseWrites(Database):
    def record_case(self, view: CaseView, new_entries: list[TimelineEntry], force: bool = False, state: Case | None = None) -> bool:
        """Writes what one transition of a case changed, unless a newer view is stored: the case row,
        its refunds, its flag on the seller and its order's payout hold; and any timeline rows not yet
        stored; and, in the same transaction, the webhook deliveries its events owe the subscribers (an
        outbox: an event is written once, with the change that caused it). Safe to repeat and to
        receive out of order. `force` (reconciliation only) writes the view whatever is stored, and
        owes no events. `state`, a closed case's whole state, is kept for a later reopening."""
        record = CaseRecord(view=view, new_entries=new_entries, closed=state)
        recorded, _ = self.in_transaction(lambda connection: _record(connection, record, force))
        return recorded

    def write_effects(self, rows: Sequence[Base], record: CaseRecord) -> Written:
        """What one transition leaves behind, in one transaction: its ledger postings, support tickets
        and notices, each inserted once on its key; the shares of failed refunds given back to their
        order; the read model, as `record_case` writes it; and the deliveries the transition's events
        owe the subscribers. All or nothing, and safe to repeat."""

        def write(connection: Connection) -> Written:
            mark_charges_paid_out(connection, rows)
            inserted = add_new(connection, rows)
            release(connection, record.failed_refund_keys)
            recorded, deliveries = _record(connection, record, False)
            return Written(inserted, recorded, deliveries)

        return self.in_transaction(write)

    def closed_case(self, case_id: str) -> Case | None:
        """The state a closed case ended with, for its reopening; None for a case not closed here."""
        row = self.get(ClosedCaseRow, case_id)
        return None if row is None else Case.model_validate(row.state)


def case_row(view: CaseView) -> CaseRow:
    return CaseRow(**case_values(view))


def case_values(view: CaseView) -> dict:
    return {
        "case_id": view.case_id,
        "version": view.version,
        "kind": view.kind.value,
        "policy": view.policy,
        "policy_version": view.policy_version,
        "reason": view.reason.value,
        "status": view.status.value,
        "outcome": view.outcome.value if view.outcome else None,
        "awaiting": view.awaiting.value if view.awaiting else "none",
        "due_at": view.due_at,
        "order_id": view.order_id,
        "seller_id": view.seller_id,
        "buyer_id": view.buyer_id,
        "currency": view.total_paid.currency,
        "total_paid": view.total_paid.amount,
        "refunded": view.refunded.amount,
        "charged_to_seller": view.charged_to_seller.amount,
        "opened_at": view.opened_at,
        "closed_at": view.closed_at,
    }


def _refund_values(view: CaseView, refund: Refund, at: datetime) -> dict:
    return {
        "idempotency_key": f"{view.case_id}:refund:{refund.number}",
        "case_id": view.case_id,
        "order_id": view.order_id,
        "seller_id": view.seller_id,
        "number": refund.number,
        "amount": refund.amount.amount,
        "currency": refund.amount.currency,
        "status": REFUND_STATUS[refund.status],
        "updated_at": at,
    }


def _record(connection: Connection, record: CaseRecord, force: bool) -> tuple[bool, bool]:
    """`Store.record_case` inside a transaction; (whether the view was newer, whether deliveries were
    written)."""
    view, at = record.view, record.at
    # The order's hold row is locked first, so two cases on one order closing at once count each
    # other's final status. The first case of an order creates it; a second one racing to create it
    # fails on the key and, run again by `in_transaction`, waits on the lock instead.
    held = connection.execute(LOCK_HOLD, {"order_id": view.order_id}).first()
    if held is None:
        new_hold(connection, view.order_id, view.seller_id, at)
    stored = connection.execute(LOCK_CASE, {"case_id": view.case_id}).first()
    if stored is not None and stored.opened_at != view.opened_at:
        raise CaseAlreadyRan(view.case_id, stored.opened_at)
    newer = force or stored is None or stored.version < view.version
    again = stored is not None and not newer and stored.version == view.version and _later_attempt(connection, view)
    deliveries = newer and not force and write_deliveries(connection, view, record.events, at)
    if newer or again:
        _write_case(connection, record, stored is None, at)
        hold(connection, view.order_id, held.released_at if held else None, at)
    _write_timeline(connection, view.case_id, record.new_entries, rewrite=again)
    return newer, deliveries


def _write_case(connection: Connection, record: CaseRecord, first: bool, at: datetime) -> None:
    """The case's row, its refunds, its flag on the seller, and a closed case's whole state."""
    view = record.view
    if first:
        connection.execute(insert(CASES), case_values(view))
    else:
        connection.execute(UPDATE_CASE, {**case_values(view), "case_id_": view.case_id})
    _refunds(connection, view, at)
    raise_flag(connection, view)
    if view.status is Status.CLOSED:
        release_units(connection, view.case_id, view.outcome)
    if record.closed is not None:
        _keep_closed(connection, record.closed)


def _write_timeline(connection: Connection, case_id: str, entries: list[TimelineEntry], rewrite: bool) -> None:
    """Inserts the entries not stored yet; `rewrite` (a later attempt of the same task) also rewrites
    the stored ones with this attempt's."""
    if not entries:
        return
    seen = set(connection.execute(TIMELINE_SEQS, {"case_id": case_id, "seqs": [e.seq for e in entries]}).scalars())
    fresh = [_timeline_values(case_id, e) for e in entries if e.seq not in seen]
    if fresh:
        connection.execute(insert(TIMELINE), fresh)
    if rewrite:
        for entry in (e for e in entries if e.seq in seen):
            connection.execute(UPDATE_ENTRY, {**_timeline_values(case_id, entry), "case_id_": case_id, "seq_": entry.seq})


def _later_attempt(connection: Connection, view: CaseView) -> bool:
    """Whether this view of a version already stored comes from a later attempt of the workflow task
    that made it, which is the attempt the history keeps: the first attempt's local activity wrote,
    then its worker died (or stalled past the task's timeout), and the retry ran the transition again at
    a later workflow time. A write from the stalled attempt arriving after the retry's is older: kept out."""
    if not view.timeline:
        return False
    last = view.timeline[-1]
    stored_at = connection.execute(ENTRY_AT, {"case_id": view.case_id, "seq": last.seq}).scalar()
    return stored_at is None or stored_at <= last.at


def _refunds(connection: Connection, view: CaseView, at: datetime) -> None:
    """Inserts the view's new refunds and updates the stored ones."""
    if not view.refunds:
        return
    stored = set(connection.execute(REFUND_KEYS, {"case_id": view.case_id}).scalars())
    for refund in view.refunds:
        values = _refund_values(view, refund, at)
        if values["idempotency_key"] in stored:
            connection.execute(UPDATE_REFUND, {**values, "key_": values["idempotency_key"]})
        else:
            connection.execute(insert(REFUNDS), values)


def _timeline_values(case_id: str, entry: TimelineEntry) -> dict:
    return {
        "case_id": case_id,
        "seq": entry.seq,
        "at": entry.at,
        "actor": str(entry.actor),
        "kind": entry.kind,
        "summary": entry.summary,
        "refused": entry.refused,
    }


def _keep_closed(connection: Connection, state: Case) -> None:
    """Keeps a closed case's state, the latest closing's only."""
    values = {"case_id": state.case_id, "version": state.version, "closed_at": state.closed_at, "state": state.model_dump(mode="json")}
    kept = connection.execute(CLOSED_VERSION, {"case_id": state.case_id}).scalar()
    if kept is None:
        connection.execute(insert(CLOSED), values)
    elif kept < state.version:
        connection.execute(UPDATE_CLOSED, {**values, "case_id_": state.case_id})
