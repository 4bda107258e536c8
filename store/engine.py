"""The store's engine and the writes every part of it shares: insert once on a key, in one
transaction, retried once when a concurrent writer of the same key wins. SQLite file by default;
any SQLAlchemy URL (PostgreSQL) by DATABASE_URL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TypeVar, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event, insert, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from store.schema import Base

Row = TypeVar("Row", bound=Base)
T = TypeVar("T")


def table(model: type[Base]) -> Table:
    """A mapped class's table, for the Core statements the writes are made of."""
    return cast(Table, model.__table__)


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


class Database:
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
                stored = session.get(model, key)
                assert stored is not None, "a unique key refused the row, so a row with it is stored"
                return stored, False
            return row, True

    def get(self, model: type[Row], key) -> Row | None:
        with self.sessions() as session:
            return session.get(model, key)

    def rows(self, model: type[Row], **where) -> list[Row]:
        with self.sessions() as session:
            query = select(model).filter_by(**where)
            return list(session.scalars(query))


def add_new(connection: Connection, rows: Sequence[Base]) -> list[Base]:
    """Inserts the rows whose keys are not stored yet (one query per kind of row), in order; returns them."""
    kinds: dict[type[Base], list[Base]] = {}
    for row in rows:
        kinds.setdefault(type(row), []).append(row)
    stored = {(model, key) for model, group in kinds.items() for key in _stored_keys(connection, model, [_key(row) for row in group])}
    added = [row for row in rows if (type(row), _key(row)) not in stored]
    for model in kinds:
        new = [_values(row) for row in added if type(row) is model]
        if new:
            connection.execute(insert(table(model)), new)
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
