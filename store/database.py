"""Engine and sessions. SQLite file by default; any SQLAlchemy URL (PostgreSQL) by DATABASE_URL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cases.money import Money
from store.schema import Base, CaseRow, OrderBudgetRow, RefundReservationRow, SellerFlagRow, TimelineRow

Row = TypeVar("Row", bound=Base)


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


class Store:
    """Writes that are safe to repeat: a retried activity finds its row and adds nothing."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_schema(self) -> None:
        Base.metadata.create_all(self.engine)

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

    def record_case(self, case: CaseRow, timeline: list[TimelineRow], seller_flagged: bool, at: datetime) -> bool:
        """Writes the case view unless a newer one is stored, its flag on the seller, and any timeline
        rows not yet stored."""
        with self.sessions() as session, session.begin():
            stored = session.get(CaseRow, case.case_id, with_for_update=True)
            newer = stored is None or stored.version < case.version
            if newer:
                session.merge(case)
                flag = session.get(SellerFlagRow, case.case_id)
                if seller_flagged and (flag is None or flag.lifted_at is not None):
                    session.merge(SellerFlagRow(case_id=case.case_id, seller_id=case.seller_id, raised_at=at, lifted_at=None))
                elif not seller_flagged and flag is not None and flag.lifted_at is None:
                    flag.lifted_at = at
            seen = set(session.scalars(select(TimelineRow.seq).where(TimelineRow.case_id == case.case_id)))
            session.add_all(row for row in timeline if row.seq not in seen)
        return newer

    def reserve_refund(self, key: str, case_id: str, order_id: str, paid: Money, amount: Money) -> Money | None:
        """Takes `amount` from the order's budget for refund `key`, once. Returns None when it is
        reserved (now or by an earlier call with the key), else what the order's other cases have
        already taken. One conditional UPDATE decides, so two cases racing for the last euro cannot
        both win, on SQLite and on PostgreSQL alike."""
        self.insert_once(OrderBudgetRow(order_id=order_id, currency=paid.currency, paid=paid.amount, reserved=0))
        with self.sessions() as session, session.begin():
            if session.get(RefundReservationRow, key) is not None:
                return None
            taken = session.execute(
                update(OrderBudgetRow)
                .where(OrderBudgetRow.order_id == order_id, OrderBudgetRow.reserved + amount.amount <= OrderBudgetRow.paid)
                .values(reserved=OrderBudgetRow.reserved + amount.amount)
            )
            if taken.rowcount == 1:
                session.add(RefundReservationRow(key=key, order_id=order_id, case_id=case_id, amount=amount.amount))
                return None
            others = select(func.coalesce(func.sum(RefundReservationRow.amount), 0)).where(
                RefundReservationRow.order_id == order_id,
                RefundReservationRow.case_id != case_id,
                RefundReservationRow.released.is_(False),
            )
            return Money(amount=session.scalar(others), currency=paid.currency)

    def release_refunds(self, keys: list[str]) -> None:
        """Gives failed refunds' shares back to their orders; a key already released is left alone."""
        with self.sessions() as session, session.begin():
            for key in keys:
                released = session.execute(
                    update(RefundReservationRow)
                    .where(RefundReservationRow.key == key, RefundReservationRow.released.is_(False))
                    .values(released=True)
                    .returning(RefundReservationRow.order_id, RefundReservationRow.amount)
                ).first()
                if released is not None:
                    order_id, amount = released
                    session.execute(
                        update(OrderBudgetRow).where(OrderBudgetRow.order_id == order_id).values(reserved=OrderBudgetRow.reserved - amount)
                    )

    def flagged_sellers(self) -> list[tuple[str, int, datetime]]:
        """Sellers with unresolved cases that flag them: how many, and since when."""
        query = (
            select(SellerFlagRow.seller_id, func.count(), func.min(SellerFlagRow.raised_at))
            .where(SellerFlagRow.lifted_at.is_(None))
            .group_by(SellerFlagRow.seller_id)
            .order_by(SellerFlagRow.seller_id)
        )
        with self.sessions() as session:
            # SQLite keeps no time zone; every time stored is UTC.
            return [(seller, count, since if since.tzinfo else since.replace(tzinfo=UTC)) for seller, count, since in session.execute(query)]

    def get(self, model: type[Row], key) -> Row | None:
        with self.sessions() as session:
            return session.get(model, key)

    def rows(self, model: type[Row], **where) -> list[Row]:
        with self.sessions() as session:
            query = select(model).filter_by(**where)
            return list(session.scalars(query))
