"""Scale-out, shown on this machine: a dev server and three worker processes on one task queue. Cases
are taken up by all three; then one worker is killed, and the other two finish every case, including
the ones the dead worker held in its cache. Each worker's Prometheus endpoint counts the cases it opened,
and the three counts add up to the cases opened: a case is counted once, however many workers it meets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bench.cases_bench import _open, full_refund
from bench.chaos import Cluster, Config
from bench.chaos import _connect as connect_to
from store.database import Store
from store.schema import GatewayRefundRow
from workflows.refund_case import workflow_id

pytestmark = pytest.mark.e2e
CASES = 30


def _handled_by(history) -> set[str]:
    """The identities of the workers that completed the case's workflow tasks."""
    return {e.workflow_task_completed_event_attributes.identity for e in history.events if e.HasField("workflow_task_completed_event_attributes")}


def _opened(metrics: str) -> float:
    lines = [line for line in metrics.splitlines() if line.startswith("refund_cases_opened_total{")]
    return sum(float(line.rpartition(" ")[2]) for line in lines)


async def _handled_once(raw, case_id: str) -> set[str]:
    """Waits for a worker to take the case's opening, then says which one did."""
    for _ in range(300):
        handled = _handled_by(await raw.get_workflow_handle(workflow_id(case_id)).fetch_history())
        if handled:
            return handled
        await asyncio.sleep(0.1)
    raise AssertionError(f"no worker took case {case_id} in 30 s")


async def _metrics(port: int) -> str:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=10)).text


async def test_three_workers_share_the_cases_and_two_finish_them_when_one_dies(tmp_path: Path):
    cluster = Cluster(Config(workers=3), tmp_path, REFUND_GATEWAY="embedded")
    cluster.start_server()
    try:
        client = await connect_to(cluster)
        Store(cluster.env["DATABASE_URL"]).migrate()
        cluster.revive()
        await cluster.polling(client.client)
        identity = cluster.identities()

        case_ids = await asyncio.gather(*(_open(client) for _ in range(CASES)))
        raw = client.client
        before = {case_id: await _handled_once(raw, case_id) for case_id in case_ids}
        workers_used = {identity[who] for who in set().union(*before.values())}
        assert workers_used == {0, 1, 2}, f"cases went to workers {workers_used} only"
        counts = [_opened(await _metrics(port)) for port in cluster.metrics_ports]
        assert sum(counts) == CASES and all(counts), counts

        cluster.kill_worker(0)
        dead = next(who for who, index in identity.items() if index == 0)
        orphans = [case_id for case_id, handled in before.items() if dead in handled]
        assert orphans

        await asyncio.gather(*(full_refund(client, case_id) for case_id in case_ids))
        for case_id in case_ids:
            view = await client.show(case_id)
            assert view.status.value == "closed" and view.outcome.value == "refunded_full", (case_id, view.status)
        for case_id in orphans:  # the dead worker's cases moved to the living
            after = _handled_by(await raw.get_workflow_handle(workflow_id(case_id)).fetch_history()) - before[case_id]
            assert after and dead not in after, (case_id, after)
        store = Store(cluster.env["DATABASE_URL"])
        with store.sessions() as session:  # the embedded gateway's refunds: one per case, none twice
            refunds = session.scalars(select(GatewayRefundRow.case_id)).all()
        assert sorted(refunds) == sorted(case_ids)
    finally:
        cluster.stop()
