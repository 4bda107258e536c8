"""Engine and sessions. SQLite file by default; any SQLAlchemy URL (PostgreSQL) by DATABASE_URL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, bindparam, create_engine, event, func, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cases.case import Case
from cases.events import CaseEvent, events
from cases.model import Refund, Status, TimelineEntry
from cases.money import Money
from cases.orders import RegisteredOrder, check_registered_again
from cases.sellers import check_reinstatement
from cases.view import CaseView
from store.schema import (
    Base,
    CaseRow,
    ClosedCaseRow,
    LedgerRow,
    NotificationRow,
    OrderBudgetRow,
    OrderVolumeRow,
    PayoutHoldRow,
    PayoutRow,
    RefundReservationRow,
    RefundRow,
    RegisteredOrderRow,
    SellerFlagRow,
    TimelineRow,
    WebhookDeliveryRow,
    WebhookSubscriptionRow,
)

Row = TypeVar("Row", bound=Base)
T = TypeVar("T")


@dataclass
class Written:
    """What `write_effects` did: the rows it inserted (a retry finds them there and inserts none),
    whether the case view was newer than the stored one, and whether webhook deliveries came with it."""

    inserted: list[Base] = field(default_factory=list)
    recorded: bool = False
    deliveries: bool = False


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def one_at_a_time(sessions: sessionmaker, lock: threading.RLock) -> Callable:
    """SQLite admits one writer at a time and makes the others sleep in its busy handler, in steps of
    up to 100 ms: under load the worker's activity threads spent most of their time there (bench
    figures in docs/performance.md). Threads of one process queue on a lock instead."""

    @contextmanager
    def session() -> Iterator[Session]:
        with lock, sessions() as opened:
            yield opened

    return session


class Store:
    """Writes that are safe to repeat: a retried activity finds its row and adds nothing."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        self.sessions: Callable[[], Session] = sessionmaker(self.engine, expire_on_commit=False)
        self.writer: AbstractContextManager = nullcontext()
        if url.startswith("sqlite"):
            self.writer = threading.RLock()
            self.sessions = one_at_a_time(self.sessions, self.writer)

    def in_transaction(self, write: Callable[[Connection], T]) -> T:
        """Runs `write` in one transaction. Every write here is insert-once or versioned, so when a
        concurrent writer of the same key wins the race (a unique-key error), running it once more
        finds that row and does the rest."""
        try:
            return self._transaction(write)
        except IntegrityError:
            return self._transaction(write)

    def _transaction(self, write: Callable[[Connection], T]) -> T:
        """On a bare connection: the writes here are SQLAlchemy Core, and a Session's setup and
        teardown cost more than they do (docs/performance.md)."""
        with self.writer, self.engine.begin() as connection:
            return write(connection)

    def migrate(self) -> None:
        """Brings the schema to the newest migration (store/migrations). A store that `create_all`
        made before there were migrations is adopted as the baseline first."""
        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            tables = set(inspect(connection).get_table_names())
            if "cases" in tables and "alembic_version" not in tables:
                command.stamp(config, "0001")
            command.upgrade(config, "head")

    def insert_once(self, row: Row) -> tuple[Row, bool]:
        """Inserts `row` unless its key exists; returns the stored row and whether this call made it."""
        model = type(row)
        key = model.__mapper__.primary_key_from_instance(row)
        with self.sessions() as session:
            existing = session.get(model, key)
            if existing is not None:
                return existing, False
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return session.get(model, key), False
            return row, True

    def record_case(self, view: CaseView, new_entries: list[TimelineEntry], force: bool = False, state: Case | None = None) -> bool:
        """Writes what one transition of a case changed, unless a newer view is stored: the case row,
        its refunds, its flag on the seller and its order's payout hold; and any timeline rows not yet
        stored; and, in the same transaction, the webhook deliveries its events owe the subscribers (an
        outbox: an event is written once, with the change that caused it). Safe to repeat and to
        receive out of order. `force` (reconciliation only) writes the view whatever is stored, and
        owes no events. `state`, a closed case's whole state, is kept for a later reopening."""
        recorded, _ = self.in_transaction(lambda connection: _record(connection, view, new_entries, force, state))
        return recorded

    def write_effects(
        self, rows: Sequence[Base], view: CaseView, new_entries: list[TimelineEntry], failed_refunds: list[str], state: Case | None = None
    ) -> Written:
        """What one transition leaves behind, in one transaction: its ledger postings, support tickets
        and notices, each inserted once on its key; the shares of failed refunds given back to their
        order; and the read model, as `record_case` writes it. All or nothing, and safe to repeat."""

        def write(connection: Connection) -> Written:
            inserted = _add_new(connection, rows)
            _release(connection, failed_refunds)
            recorded, deliveries = _record(connection, view, new_entries, False, state)
            return Written(inserted, recorded, deliveries)

        return self.in_transaction(write)

    def pay_out(self, order_id: str, seller_id: str, amount: Money, at: datetime) -> PayoutRow:
        """Records an order's payout to its seller, once; refused while a case on the order is open
        (the cases decide; the hold row, locked here like in `record_case`, keeps the history)."""
        with self.sessions() as session, session.begin():
            session.get(PayoutHoldRow, order_id, with_for_update=True)
            open_ids = list(
                session.scalars(select(CaseRow.case_id).where(CaseRow.order_id == order_id, CaseRow.status != "closed").order_by(CaseRow.case_id))
            )
            if open_ids:
                raise PayoutHeld(order_id, open_ids)
            paid = session.get(PayoutRow, order_id)
            if paid is None:
                paid = PayoutRow(order_id=order_id, seller_id=seller_id, amount=amount.amount, currency=amount.currency, paid_out_at=at)
                session.add(paid)
            return paid

    def post_ledger_entry(self, row: LedgerRow) -> None:
        self.in_transaction(lambda connection: _add_new(connection, [row]))

    def register_order(self, registered: RegisteredOrder, at: datetime) -> bool:
        """Registers an order, or registers it again: its dates may move, what its sale fixed may not
        (cases.orders.check_registered_again raises Refusal). Whether this call registered it first."""
        order = registered.order
        with self.sessions() as session, session.begin():
            row = session.get(RegisteredOrderRow, order.order_id, with_for_update=True)
            if row is None:
                values = dict(seller_id=order.seller_id, buyer_id=order.buyer_id, registered_at=at, updated_at=at)
                session.add(RegisteredOrderRow(order_id=order.order_id, registration=registered.model_dump(mode="json"), **values))
                return True
            check_registered_again(RegisteredOrder.model_validate(row.registration), registered)
            row.registration, row.updated_at = registered.model_dump(mode="json"), at
            return False

    def closed_case(self, case_id: str) -> Case | None:
        """The state a closed case ended with, for its reopening; None for a case not closed here."""
        row = self.get(ClosedCaseRow, case_id)
        return None if row is None else Case.model_validate(row.state)

    def reinstate_seller(self, seller_id: str, by: str, at: datetime) -> list[str]:
        """Support lifts every flag cases have raised on `seller_id`, once each such case is resolved
        (cases.sellers raises Refusal otherwise, and nothing changes); the seller is told. Returns the
        cases whose flags were lifted."""

        def lift(connection: Connection) -> list[str]:
            raised = connection.execute(RAISED_ON_SELLER, {"seller_id": seller_id}).all()
            statuses = dict(connection.execute(CASE_STATUSES, {"case_ids": [row.case_id for row in raised]}).all())
            check_reinstatement(seller_id, {row.case_id: Status(statuses.get(row.case_id, "closed")) for row in raised})
            cases = sorted(row.case_id for row in raised)
            connection.execute(LIFT_FLAGS, {"seller_id_": seller_id, "lifted_at": at, "lifted_by": by})
            latest = max(raised, key=lambda row: row.raised_at).case_id
            notice = {
                "key": f"{latest}:reinstated:{at.isoformat()}", "case_id": latest, "party": "seller", "recipient_id": seller_id,
                "event": "seller_reinstated", "body": "Support reinstated your account: the restrictions your cases brought are lifted.",
                "created_at": at,
            }  # fmt: skip
            connection.execute(insert(NotificationRow.__table__), notice)
            return cases

        return self.in_transaction(lift)

    def registered_order(self, order_id: str) -> RegisteredOrder | None:
        row = self.get(RegisteredOrderRow, order_id)
        return None if row is None else RegisteredOrder.model_validate(row.registration)

    def record_order_volume(self, seller_id: str, day: date, orders: int) -> None:
        """The backends' feed: a seller's orders on a day. Sending a day again replaces its figure."""
        if orders < 0:
            raise ValueError("orders: must not be negative")
        with self.sessions() as session, session.begin():
            session.merge(OrderVolumeRow(seller_id=seller_id, day=day, orders=orders))

    def reserve_refund(self, key: str, case_id: str, order_id: str, paid: Money, amount: Money) -> Money | None:
        """Takes `amount` from the order's budget for refund `key`, once. Returns None when it is
        reserved (now or by an earlier call with the key), else what the order's other cases have
        already taken. One conditional UPDATE decides, so two cases racing for the last euro cannot
        both win, on SQLite and on PostgreSQL alike."""

        def reserve(connection: Connection) -> Money | None:
            if connection.execute(RESERVATION, {"key": key}).first() is not None:
                return None
            # The order's budget, once; a concurrent first reservation on the order makes this run again.
            _add_new(connection, [OrderBudgetRow(order_id=order_id, currency=paid.currency, paid=paid.amount, reserved=0)])
            if connection.execute(TAKE, {"order_id_": order_id, "amount": amount.amount}).rowcount == 1:
                connection.execute(
                    insert(RESERVATIONS), {"key": key, "order_id": order_id, "case_id": case_id, "amount": amount.amount, "released": False}
                )
                return None
            return Money(amount=connection.execute(TAKEN_BY_OTHERS, {"order_id": order_id, "case_id": case_id}).scalar(), currency=paid.currency)

        return self.in_transaction(reserve)

    def release_refunds(self, keys: list[str]) -> None:
        self.in_transaction(lambda connection: _release(connection, keys))

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
            return delivery, session.get(WebhookSubscriptionRow, delivery.subscription_id)

    def update_delivery(self, delivery_id: str, **changes) -> None:
        """Records what became of a delivery: dispatched, an attempt (and its error), delivered, given up."""
        with self.sessions() as session, session.begin():
            row = session.get(WebhookDeliveryRow, delivery_id, with_for_update=True)
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
            if not session.get(WebhookSubscriptionRow, subscription_id).active:
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

    def get(self, model: type[Row], key) -> Row | None:
        with self.sessions() as session:
            return session.get(model, key)

    def rows(self, model: type[Row], **where) -> list[Row]:
        with self.sessions() as session:
            query = select(model).filter_by(**where)
            return list(session.scalars(query))


class DeliveryRefused(ValueError):
    """A webhook delivery that cannot be sent again: the field and the rule."""

    def __init__(self, field: str, rule: str):
        self.field, self.rule = field, rule
        super().__init__(f"{field}: {rule}")


class PayoutHeld(ValueError):
    """A payout asked for while cases on the order are open."""

    def __init__(self, order_id: str, open_cases: list[str]):
        self.order_id, self.open_cases = order_id, open_cases
        super().__init__(f"order_id: the payout of order {order_id} is held while case(s) {', '.join(open_cases)} are open")


class CaseAlreadyRan(ValueError):
    """A case id the store holds for a case that opened at another time: a second start of a case
    that already ran (another SDK's id reuse policy lets one begin), refused before it writes anything."""

    def __init__(self, case_id: str, opened_at: datetime):
        super().__init__(f"case_id: case {case_id} already ran (opened {opened_at:%Y-%m-%d %H:%M:%S} UTC); a case id opens once")


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


# A refund's status in the workflow, as finance's `refunds` table names it.
REFUND_STATUS = {"requested": "requested", "settled": "succeeded", "failed": "failed"}

# A transition's writes are these prepared SQLAlchemy Core statements on a bare connection: the ORM's
# identity map and unit of work cost the worker 2.06 ms a transition against 0.81 ms
# (bench/store_write.py; docs/performance.md).
CASES, REFUNDS, HOLDS, FLAGS, TIMELINE, PAYOUTS = (
    model.__table__ for model in (CaseRow, RefundRow, PayoutHoldRow, SellerFlagRow, TimelineRow, PayoutRow)
)
SUBSCRIPTIONS, DELIVERIES = WebhookSubscriptionRow.__table__, WebhookDeliveryRow.__table__
_ORDER, _CASE = bindparam("order_id"), bindparam("case_id")
LOCK_HOLD = select(HOLDS.c.released_at).where(HOLDS.c.order_id == _ORDER).with_for_update()
HOLD = update(HOLDS).where(HOLDS.c.order_id == bindparam("order_id_"))
LOCK_CASE = select(CASES.c.version, CASES.c.status, CASES.c.awaiting, CASES.c.opened_at).where(CASES.c.case_id == _CASE).with_for_update()
UPDATE_CASE = update(CASES).where(CASES.c.case_id == bindparam("case_id_"))
OPEN_ON_ORDER = select(func.count()).select_from(CASES).where(CASES.c.order_id == _ORDER, CASES.c.status != "closed")
REFUND_KEYS = select(REFUNDS.c.idempotency_key).where(REFUNDS.c.case_id == _CASE)
UPDATE_REFUND = update(REFUNDS).where(REFUNDS.c.idempotency_key == bindparam("key_"))
FLAG = select(FLAGS.c.raised_at).where(FLAGS.c.case_id == _CASE)
UPDATE_FLAG = update(FLAGS).where(FLAGS.c.case_id == bindparam("case_id_"))
RAISED_ON_SELLER = (
    select(FLAGS.c.case_id, FLAGS.c.raised_at).where(FLAGS.c.seller_id == bindparam("seller_id"), FLAGS.c.lifted_at.is_(None)).with_for_update()
)
CASE_STATUSES = select(CASES.c.case_id, CASES.c.status).where(CASES.c.case_id.in_(bindparam("case_ids", expanding=True)))
LIFT_FLAGS = update(FLAGS).where(FLAGS.c.seller_id == bindparam("seller_id_"), FLAGS.c.lifted_at.is_(None))
CLOSED = ClosedCaseRow.__table__
CLOSED_VERSION = select(CLOSED.c.version).where(CLOSED.c.case_id == _CASE)
UPDATE_CLOSED = update(CLOSED).where(CLOSED.c.case_id == bindparam("case_id_"))
TIMELINE_SEQS = select(TIMELINE.c.seq).where(TIMELINE.c.case_id == _CASE, TIMELINE.c.seq.in_(bindparam("seqs", expanding=True)))
ENTRY_AT = select(TIMELINE.c.at).where(TIMELINE.c.case_id == _CASE, TIMELINE.c.seq == bindparam("seq"))
UPDATE_ENTRY = update(TIMELINE).where(TIMELINE.c.case_id == bindparam("case_id_"), TIMELINE.c.seq == bindparam("seq_"))
ACTIVE_SUBSCRIPTIONS = select(SUBSCRIPTIONS.c.id, SUBSCRIPTIONS.c.events, SUBSCRIPTIONS.c.seller_ids).where(SUBSCRIPTIONS.c.active.is_(True))
PAID_OUT = select(PAYOUTS.c.order_id).where(PAYOUTS.c.order_id == _ORDER)
BUDGETS, RESERVATIONS = OrderBudgetRow.__table__, RefundReservationRow.__table__
RESERVATION = select(RESERVATIONS.c.key).where(RESERVATIONS.c.key == bindparam("key"))
TAKE = (
    update(BUDGETS)
    .where(BUDGETS.c.order_id == bindparam("order_id_"), BUDGETS.c.reserved + bindparam("amount") <= BUDGETS.c.paid)
    .values(reserved=BUDGETS.c.reserved + bindparam("amount"))
)
GIVE_BACK = update(BUDGETS).where(BUDGETS.c.order_id == bindparam("order_id_")).values(reserved=BUDGETS.c.reserved - bindparam("amount"))
RELEASE = (
    update(RESERVATIONS)
    .where(RESERVATIONS.c.key == bindparam("key_"), RESERVATIONS.c.released.is_(False))
    .values(released=True)
    .returning(RESERVATIONS.c.order_id, RESERVATIONS.c.amount)
)
TAKEN_BY_OTHERS = select(func.coalesce(func.sum(RESERVATIONS.c.amount), 0)).where(
    RESERVATIONS.c.order_id == _ORDER, RESERVATIONS.c.case_id != _CASE, RESERVATIONS.c.released.is_(False)
)


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


def _add_new(connection: Connection, rows: Sequence[Base]) -> list[Base]:
    """Inserts the rows whose keys are not stored yet (one query per kind of row), in order; returns them.
    A seller charge on an order already paid out is recovered from the seller's next payout."""
    kinds: dict[type[Base], list[Base]] = {}
    for row in rows:
        kinds.setdefault(type(row), []).append(row)
    stored = {(model, key) for model, group in kinds.items() for key in _stored_keys(connection, model, [_key(row) for row in group])}
    added = [row for row in rows if (type(row), _key(row)) not in stored]
    for row in added:
        charge = isinstance(row, LedgerRow) and row.kind == "seller_charge" and row.order_id is not None
        if charge and connection.execute(PAID_OUT, {"order_id": row.order_id}).first() is not None:
            row.settled_by = "next_payout"
    for model in kinds:
        new = [_values(row) for row in added if type(row) is model]
        if new:
            connection.execute(insert(model.__table__), new)
    return added


def _values(row: Base) -> dict:
    """A row's column values, with the column defaults the ORM would have filled in."""
    values = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        values[column.key] = column.default.arg if value is None and column.default is not None else value
    return values


def _key(row: Base):
    (key,) = type(row).__mapper__.primary_key_from_instance(row)
    return key


def _stored_keys(connection: Connection, model: type[Base], keys: list) -> set:
    (column,) = model.__table__.primary_key
    return set(connection.execute(select(column).where(column.in_(keys))).scalars())


def _release(connection: Connection, keys: list[str]) -> None:
    """Gives failed refunds' shares back to their orders; a key already released is left alone."""
    for key in keys:
        released = connection.execute(RELEASE, {"key_": key}).first()
        if released is not None:
            connection.execute(GIVE_BACK, {"order_id_": released.order_id, "amount": released.amount})


def _record(connection: Connection, view: CaseView, new_entries: list[TimelineEntry], force: bool, state: Case | None = None) -> tuple[bool, bool]:
    """`Store.record_case` inside a transaction; (whether the view was newer, whether deliveries were
    written)."""
    at = view.timeline[-1].at if view.timeline else view.opened_at
    # The order's hold row is locked first, so two cases on one order closing at once count each
    # other's final status. The first case of an order creates it; a second one racing to create it
    # fails on the key and, run again by `in_transaction`, waits on the lock instead.
    hold = connection.execute(LOCK_HOLD, {"order_id": view.order_id}).first()
    if hold is None:
        connection.execute(insert(HOLDS), {"order_id": view.order_id, "seller_id": view.seller_id, "held_at": at, "released_at": None})
    stored = connection.execute(LOCK_CASE, {"case_id": view.case_id}).first()
    if stored is not None and stored.opened_at != view.opened_at:
        raise CaseAlreadyRan(view.case_id, stored.opened_at)
    newer = force or stored is None or stored.version < view.version
    again = not newer and stored.version == view.version and _later_attempt(connection, view)
    deliveries = False
    if newer and not force:
        was = (stored.status, stored.awaiting) if stored else (None, None)
        deliveries = _outbox(connection, view, events(*was, view, new_entries), at)
    if newer or again:
        if stored is None:
            connection.execute(insert(CASES), case_values(view))
        else:
            connection.execute(UPDATE_CASE, {**case_values(view), "case_id_": view.case_id})
        _refunds(connection, view, at)
        _flag(connection, view)
        _hold(connection, view.order_id, hold.released_at if hold else None, at)
        if state is not None:
            _keep_closed(connection, state)
    if new_entries:
        seqs = [e.seq for e in new_entries]
        seen = set(connection.execute(TIMELINE_SEQS, {"case_id": view.case_id, "seqs": seqs}).scalars())
        fresh = [_timeline_values(view.case_id, e) for e in new_entries if e.seq not in seen]
        if fresh:
            connection.execute(insert(TIMELINE), fresh)
        if again:
            for entry in (e for e in new_entries if e.seq in seen):
                connection.execute(UPDATE_ENTRY, {**_timeline_values(view.case_id, entry), "case_id_": view.case_id, "seq_": entry.seq})
    return newer, deliveries


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


def _outbox(connection: Connection, view: CaseView, happened: list[CaseEvent], at: datetime) -> bool:
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
            "refunded": view.refunded.model_dump(),
            "refundable": view.refundable.model_dump(),
        },
    }


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


def _flag(connection: Connection, view: CaseView) -> None:
    """Raises the case's flag on its seller when the case flagged it (again, for a reopened case that
    flagged it later). Nothing here lifts a flag: support does (Store.reinstate_seller)."""
    flagged_at = view.seller_flagged_at
    if flagged_at is None:
        return
    flag = connection.execute(FLAG, {"case_id": view.case_id}).first()
    raised = {"case_id": view.case_id, "seller_id": view.seller_id, "raised_at": flagged_at, "lifted_at": None, "lifted_by": None}
    if flag is None:
        connection.execute(insert(FLAGS), raised)
    elif flagged_at > flag.raised_at:
        connection.execute(UPDATE_FLAG, {**raised, "case_id_": view.case_id})


def _keep_closed(connection: Connection, state: Case) -> None:
    """Keeps a closed case's state, the latest closing's only."""
    values = {"case_id": state.case_id, "version": state.version, "closed_at": state.closed_at, "state": state.model_dump(mode="json")}
    kept = connection.execute(CLOSED_VERSION, {"case_id": state.case_id}).scalar()
    if kept is None:
        connection.execute(insert(CLOSED), values)
    elif kept < state.version:
        connection.execute(UPDATE_CLOSED, {**values, "case_id_": state.case_id})


def _hold(connection: Connection, order_id: str, released_at: datetime | None, at: datetime) -> None:
    """Held while any case on the order is open; released when the last one closes."""
    open_cases = connection.execute(OPEN_ON_ORDER, {"order_id": order_id}).scalar()
    if open_cases and released_at is not None:
        connection.execute(HOLD, {"order_id_": order_id, "held_at": at, "released_at": None})
    elif not open_cases and released_at is None:
        connection.execute(HOLD, {"order_id_": order_id, "released_at": at})
