"""Shared harness: one time-skipping server per session, workers on their own task queues."""

from __future__ import annotations

import sys
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import create_engine, text

from activities.payments import EmbeddedGateway
from devserver.throwaway_postgres import ThrowawayPostgres
from starter.client import workflow_running
from store.database import Store
from testkit import CaseWorld, case_world, time_skipping_server

BIN = Path(sys.executable).parent


async def result_when_done(env, workflow_id: str, result_type=None, patience: timedelta = timedelta(hours=1)):
    """The workflow's result, letting time pass on the time-skipping server until it ends.

    Only a handle from start_workflow lets time skip while it waits for a result; a handle from
    get_workflow_handle waits in real time (retry backoffs and all), and the test server ends that
    wait after 20 s with no event, which the SDK reports as "No completion event found"."""
    until = await env.get_current_time() + patience
    while await workflow_running(env.client, workflow_id):
        assert await env.get_current_time() < until, f"{workflow_id} still running after {patience}"
        await env.sleep(timedelta(minutes=1))
    return await env.client.get_workflow_handle(workflow_id, result_type=result_type).result()


@pytest_asyncio.fixture(scope="session")
async def env():
    async with time_skipping_server() as environment:
        yield environment


Harness = CaseWorld  # the kit's world: env, client, store


@pytest_asyncio.fixture(scope="session")
async def store(tmp_path_factory):
    db = Store(f"sqlite:///{tmp_path_factory.mktemp('store')}/cases.db")
    db.migrate()
    return db


@pytest.fixture(scope="session")
def postgres():
    """One throwaway PostgreSQL cluster on loopback for the session (installed from Debian if missing)."""
    with ThrowawayPostgres() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request, tmp_path):
    """An empty, migrated store on each database: the store suite runs on both."""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path}/cases.db")
    else:
        cluster = request.getfixturevalue("postgres")
        name = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(cluster.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        store = Store(cluster.url.rsplit("/", 1)[0] + f"/{name}")
    store.migrate()
    yield store
    store.engine.dispose()


@asynccontextmanager
async def worker_for(env, store, queue=None, gateway=None, **settings):
    """The kit's world on the session's server and store, its worker on `queue` (a fresh one by
    default). The abuse rules stay off: the tests' cases share one buyer; tests/workflows/test_abuse.py
    turns them on (client.use_store). The tests' webhook receivers listen on loopback."""
    settings = {"webhook_private_targets": True, "temporal_task_queue": queue, **settings}
    async with case_world(env=env, store=store, gateway=gateway, judge_buyers=False, **settings) as world:
        yield world


@pytest_asyncio.fixture(scope="session")
async def cases(env, store):
    """Cases whose refunds settle at once, as with the embedded gateway of `make run`."""
    async with worker_for(env, store) as harness:
        yield harness


@pytest_asyncio.fixture(scope="session")
async def pending_cases(env, store):
    """Cases whose refunds wait for the provider's refund_settled signal."""
    async with worker_for(env, store, refund_gateway="embedded-pending") as harness:
        yield harness


class CommitsThenTimesOut(EmbeddedGateway):
    """Moves the money, then loses the answer once: the classic timeout after commit."""

    def __init__(self, store):
        super().__init__(store)
        self.calls = 0

    def refund(self, *args, **kwargs):
        self.calls += 1
        receipt = super().refund(*args, **kwargs)
        if self.calls == 1:
            raise TimeoutError("provider answer lost after the refund was made")
        return receipt


@pytest_asyncio.fixture(scope="session")
async def flaky_cases(env, store):
    gateway = CommitsThenTimesOut(store)
    async with worker_for(env, store, gateway=gateway) as harness:
        harness.gateway = gateway
        yield harness


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def module_env():
    """A time-skipping server for one module, for tests that leave many cases open: on the shared one,
    every later test that skips days would churn through their timers."""
    async with time_skipping_server() as environment:
        yield environment


@pytest_asyncio.fixture
async def quiet_cases(store):
    """A server of its own, for tests that skip months: on the shared one, every other open case would
    churn through those months of reminders."""
    async with time_skipping_server() as environment, worker_for(environment, store) as harness:
        yield harness
