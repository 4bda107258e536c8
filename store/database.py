"""Engine and sessions. SQLite file by default; any SQLAlchemy URL (PostgreSQL) by DATABASE_URL."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from store.schema import Base, CaseRow, TimelineRow

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

    def record_case(self, case: CaseRow, timeline: list[TimelineRow]) -> bool:
        """Writes the case view unless a newer one is stored, and any timeline rows not yet stored."""
        with self.sessions() as session, session.begin():
            stored = session.get(CaseRow, case.case_id, with_for_update=True)
            newer = stored is None or stored.version < case.version
            if newer:
                session.merge(case)
            seen = set(session.scalars(select(TimelineRow.seq).where(TimelineRow.case_id == case.case_id)))
            session.add_all(row for row in timeline if row.seq not in seen)
        return newer

    def get(self, model: type[Row], key) -> Row | None:
        with self.sessions() as session:
            return session.get(model, key)

    def rows(self, model: type[Row], **where) -> list[Row]:
        with self.sessions() as session:
            query = select(model).filter_by(**where)
            return list(session.scalars(query))
