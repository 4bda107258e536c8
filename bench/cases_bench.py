"""`make bench`: what a case costs, beside the floor Temporal itself sets.

A dev server on a database file (loopback), a worker process, and five measurements, printed as a
table and written to bench/results/bench.json:

1. overhead: the five most common paths, N cases each, through RefundCase and, alternating in the same
   run, through BaselineCase (bench/baseline.py: the same updates, signals, timers and activities, as
   no-ops); cases per second for each, and the ratio (goal: at most 1.15);
2. history: events, payload bytes and billable actions of each path beside its minimum (goal: at most
   20 % above), and a 365-day case with 200 messages against the history limits;
3. answer to money: from a seller's full refund sent to the refund done, p50 and p99, at 0 %, 50 % and
   80 % of the full-refund path's throughput (goal: p99 under 50 ms at 50 %);
4. idle fleet and deadline storm: --idle cases waiting, all due within one minute: the worker's
   resident memory, how late the deadlines fire (p99) and workflow task failures (goals: under 300 MB,
   p99 under 5 s, no failures);
5. the time-skipping scenario suite's wall time, in one process and in two (goal: under 60 s).

    .venv/bin/python -m bench.cases_bench [--cases 30] [--rounds 3] [--samples 100] [--idle 10000] [--skip-suite]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import select
from temporalio.client import Client, WorkflowHistory
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

from bench.baseline import BaselineCase, Shape, shape_of
from bench.chaos import Cluster, Config
from bench.chaos import _connect as connect_to
from cases import policies
from cases.messages import BuyerAnswer, Escalation, PartyMessage, ReturnDelivered, ReturnInspection, ReturnShipped, SellerResponse, SupportDecision
from cases.model import Actor, Order, OrderItem, Party, Resolution
from cases.money import Money
from cases.policy import Policy
from config.settings import Settings
from starter.client import CaseClient, NewCase
from store.database import Store
from store.schema import CaseRow, NotificationRow
from workflows import search_attributes
from workflows.refund_case import workflow_id

HERE = Path(__file__).parent
QUEUE = "chaos"  # the worker processes of bench.chaos.Cluster poll it
BASELINE_QUEUE = "baseline"
SELLER = Actor(party=Party.SELLER, id="seller-bench")
BUYER_ID = "buyer-bench"
SUPPORT = Actor(party=Party.SUPPORT, id="agent-bench")
CARRIER = Actor(party=Party.CARRIER, id="carrier-bench")
# The silent seller's path needs its deadline to pass during the run: one-second hours, 3 s to answer.
QUICK = policies.load_file(HERE / "policies" / "bench_quick.toml")


def _order(number: int) -> Order:
    now = datetime.now(UTC)
    return Order(
        order_id=f"ord-bench-{uuid.uuid4().hex[:12]}",
        seller_id=SELLER.id,
        buyer_id=BUYER_ID,
        currency="EUR",
        items=[OrderItem(sku="sku-1", unit_price=Money(amount=4000, currency="EUR"))],
        shipping_paid=Money(amount=500, currency="EUR"),
        purchased_at=now - timedelta(days=3),
        shipped_at=now - timedelta(days=2),
    )


async def _open(client: CaseClient, policy: str = "direct_service") -> str:
    new = NewCase(request_id=f"bench-{uuid.uuid4().hex}", reason="defective", order=_order(0), policy=policy)
    return (await client.open(new)).case_id


async def _until(client: CaseClient, case_id: str, status: str) -> None:
    """Waits on the case's CaseStatus search attribute (describe), not a query: a query that arrives
    while a local activity runs makes the worker end its workflow task early, and a path's history would
    then count a workflow task that only the benchmark's polling caused."""
    handle = client.client.get_workflow_handle(workflow_id(case_id))
    for _ in range(2000):
        if (await handle.describe()).typed_search_attributes.get(search_attributes.CASE_STATUS) == status:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"case {case_id} never reached {status}")


async def full_refund(client: CaseClient, case_id: str) -> None:
    await client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND))


async def refund_after_return(client: CaseClient, case_id: str) -> None:
    await client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.REFUND_AFTER_RETURN))
    await client.send(case_id, ReturnShipped(by=CARRIER, tracking_number="RET-12345"))
    await client.send(case_id, ReturnDelivered(by=CARRIER))
    await client.send(case_id, ReturnInspection(by=SELLER, confirm=True))  # judged after the signals ahead of it


async def partial_accepted(client: CaseClient, case_id: str) -> None:
    await client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.PARTIAL_REFUND, amount=Money(amount=1000, currency="EUR")))
    await client.send(case_id, BuyerAnswer(by=Actor(party=Party.BUYER, id=BUYER_ID), accept=True))


async def decline_then_support(client: CaseClient, case_id: str) -> None:
    await client.send(case_id, SellerResponse(by=SELLER, resolution=Resolution.DECLINE))
    await client.send(case_id, Escalation(by=Actor(party=Party.BUYER, id=BUYER_ID)))
    await client.send(case_id, SupportDecision(by=SUPPORT, decision="deny"))


async def silent_then_escalated(client: CaseClient, case_id: str) -> None:
    await _until(client, case_id, "awaiting_support")
    await client.send(case_id, SupportDecision(by=SUPPORT, decision="refund_at_platform_cost"))


PATHS: dict[str, tuple[Callable[[CaseClient, str], Awaitable[None]], str]] = {
    "full refund, no return": (full_refund, "direct_service"),
    "refund after return": (refund_after_return, "direct_service"),
    "partial offer accepted": (partial_accepted, "direct_service"),
    "decline, then support": (decline_then_support, "direct_service"),
    "seller silent, escalated": (silent_then_escalated, QUICK.name),
}


async def _ours(client: CaseClient, play, policy: str) -> str:
    case_id = await _open(client, policy)
    await play(client, case_id)
    await client.client.get_workflow_handle(workflow_id(case_id)).result()
    return case_id


async def _baseline(client: Client, shape: Shape) -> None:
    handle = await client.start_workflow(BaselineCase.run, shape, id=f"baseline-{uuid.uuid4().hex}", task_queue=BASELINE_QUEUE)
    await _drive(handle, shape)
    await handle.result()


async def _drive(handle, shape: Shape) -> None:
    """Sends the path's messages in order; where the path waits for a timer, waits until it fired."""
    for stage, trigger in enumerate(shape.triggers, start=1):
        if trigger == "update":
            await handle.execute_update(BaselineCase.step)
        elif trigger == "signal":
            await handle.signal(BaselineCase.step_signal)
        else:
            while await handle.query(BaselineCase.stages_done) < stage:  # noqa: ASYNC110 - polls another process's workflow
                await asyncio.sleep(0.05)


async def _rate(count: int, one: Callable[[], Awaitable]) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - started)


def _payload_bytes(history: WorkflowHistory) -> int:
    return sum(len(payload.data) + sum(len(v) for v in payload.metadata.values()) for payload in _payloads(history))


def _payloads(history: WorkflowHistory):
    """Every Payload in the history, however deep (inputs, results, headers, memo, search attributes)."""
    stack = list(history.events)
    while stack:
        message = stack.pop()
        for field, value in message.ListFields():
            if field.message_type is None:
                continue
            if hasattr(value, "ListFields"):
                items = [value]
            elif hasattr(value, "values") and callable(value.values):
                items = list(value.values())  # a map field
            else:
                items = list(value)  # a repeated field
            for item in items:
                if item.DESCRIPTOR.full_name == "temporal.api.common.v1.Payload":
                    yield item
                else:
                    stack.append(item)


# Billable actions as Temporal Cloud counts them (docs.temporal.io/evaluate/cloud/actions): the start,
# each activity scheduled or retried, each timer started, each signal and update taken, each
# search-attribute upsert except one that sets only TemporalChangeVersion (exempt), and the markers a
# workflow task records (local activities, patches) as one action for that task, plus each local
# activity retry.
COUNTED = (
    "workflow_execution_started_event_attributes",
    "activity_task_scheduled_event_attributes",
    "timer_started_event_attributes",
    "workflow_execution_signaled_event_attributes",
    "workflow_execution_update_accepted_event_attributes",
)
EXEMPT_UPSERT = {"TemporalChangeVersion"}  # an upsert of this alone


def _actions(history: WorkflowHistory) -> int:
    count, tasks_with_markers = 0, set()
    for e in history.events:
        if e.WhichOneof("attributes") in COUNTED:
            count += 1
        elif e.HasField("upsert_workflow_search_attributes_event_attributes"):
            count += set(e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields) != EXEMPT_UPSERT
        elif e.HasField("marker_recorded_event_attributes"):
            tasks_with_markers.add(e.marker_recorded_event_attributes.workflow_task_completed_event_id)
        if e.HasField("activity_task_started_event_attributes"):
            count += e.activity_task_started_event_attributes.attempt - 1
        if e.HasField("workflow_task_completed_event_attributes"):
            count += e.workflow_task_completed_event_attributes.metering_metadata.nonfirst_local_activity_execution_attempts
    return count + len(tasks_with_markers)


def _refunds(history: WorkflowHistory) -> int:
    scheduled = (e.activity_task_scheduled_event_attributes for e in history.events if e.HasField("activity_task_scheduled_event_attributes"))
    return sum(1 for attributes in scheduled if attributes.activity_type.name == "issue_refund")


def _minimum(shape: Shape, refunds: int) -> tuple[int, int]:
    """(events, actions) any implementation of the path needs, with each step as cheap as Temporal
    allows. Events: the start and the end (2); a workflow task (3) for the start, for each message or
    deadline that moves the case, and for each refund's answer; an update accepted and completed (2), a
    signal (1); each wait for a party its deadline timer (every open status has one: started, then fired
    or canceled, 2); each step with side effects one local activity (a marker, 1); each refund its own
    activity (scheduled, started, completed: 3; it retries alone, for hours); each change of status after
    the opening one search-attribute upsert (1; the attributes are the product's contract, and the
    opening's are set at start). Actions: the start, each message, timer, local activity, refund and
    upsert."""
    updates, signals = shape.triggers.count("update"), shape.triggers.count("signal")
    waits = upserts = len(shape.triggers)  # each trigger ends a wait and changes the status
    steps = sum(1 for a, b in zip(shape.activities, shape.local_activities or [0] * len(shape.activities), strict=True) if a or b)
    tasks = 1 + len(shape.triggers) + refunds
    events = 2 + 3 * tasks + 2 * updates + signals + 2 * waits + steps + 3 * refunds + upserts
    actions = 1 + updates + signals + waits + steps + refunds + upserts
    return events, actions


def floor_shape(history: WorkflowHistory, policy: str) -> Shape:
    """The floor's shape for a path recorded in `history`: its timers wait as long as the path's deadline
    (3 s on the quick policy; otherwise they never fire within a run)."""
    return shape_of(history, timedelta(seconds=3) if policy == QUICK.name else timedelta(hours=72))


async def overhead_and_history(client: CaseClient, raw: Client, cases: int, rounds: int) -> tuple[list[dict], dict]:
    rows = []
    for name, (play, policy) in PATHS.items():
        sample = await _ours(client, play, policy)
        history = await raw.get_workflow_handle(workflow_id(sample)).fetch_history()
        shape = floor_shape(history, policy)
        ours, floor = [], []
        for _ in range(rounds):
            ours.append(await _rate(cases, partial(_ours, client, play, policy)))
            floor.append(await _rate(cases, partial(_baseline, raw, shape)))
        base = await raw.start_workflow(BaselineCase.run, shape, id=f"baseline-{uuid.uuid4().hex}", task_queue=BASELINE_QUEUE)
        await _drive(base, shape)
        await base.result()
        base_history = await base.fetch_history()
        minimum_events, minimum_actions = _minimum(shape, _refunds(history))
        rows.append(
            {
                "path": name,
                "ours_cases_per_s": round(statistics.median(ours), 2),
                "baseline_cases_per_s": round(statistics.median(floor), 2),
                "ratio": round(statistics.median(floor) / statistics.median(ours), 2),
                "events": len(history.events),
                "baseline_events": len(base_history.events),
                "minimum_events": minimum_events,
                "payload_bytes": _payload_bytes(history),
                "actions": _actions(history),
                "minimum_actions": minimum_actions,
                "activities": sum(shape.activities),
                "local_activities": sum(shape.local_activities),
                "triggers": shape.triggers,
            }
        )
        print(f"  {name}: ours {rows[-1]['ours_cases_per_s']}/s, floor {rows[-1]['baseline_cases_per_s']}/s", flush=True)
    return rows, await long_case()


async def long_case(messages: int = 200) -> dict:
    """A marketplace case that runs its whole 365 days to the long stop, with `messages` messages spread
    over them, on the time-skipping server: every run's events and bytes against Temporal's limits."""
    from concurrent.futures import ThreadPoolExecutor

    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from worker import build_worker

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"), data_converter=pydantic_data_converter
    )
    await search_attributes.register(env.client)
    with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(max_workers=8) as pool:
        settings = Settings(database_url=f"sqlite:///{folder}/cases.db", temporal_task_queue="long", codec="off")
        store = Store(settings.database_url)
        store.migrate()
        async with build_worker(env.client, settings, store, pool):
            client = CaseClient(env.client, "long", clock=env.get_current_time)
            now = await env.get_current_time()
            order = _order(0).model_copy(update={"purchased_at": now - timedelta(days=10), "estimated_delivery_at": now - timedelta(days=1)})
            opened = await client.open(NewCase(request_id=f"long-{uuid.uuid4().hex}", reason="not_received", order=order, policy="marketplace_case"))
            buyer = Actor(party=Party.BUYER, id=BUYER_ID)
            for number in range(messages):
                await client.send(opened.case_id, PartyMessage(by=buyer if number % 2 else SELLER, text=f"message {number}"))
                await env.sleep(timedelta(days=365 / messages))
            await env.sleep(timedelta(days=40))  # the long stop, then the 30 days support may reopen it
            handle = env.client.get_workflow_handle(workflow_id(opened.case_id))
            final = await handle.result()
            runs, largest_events, largest_bytes, total_events = 0, 0, 0, 0
            run_id = None
            while True:  # from the last run back to the first, through continue-as-new
                history = await env.client.get_workflow_handle(workflow_id(opened.case_id), run_id=run_id).fetch_history()
                runs += 1
                total_events += len(history.events)
                largest_events = max(largest_events, len(history.events))
                largest_bytes = max(largest_bytes, sum(e.ByteSize() for e in history.events))
                run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id or None
                if run_id is None:
                    break
    await env.shutdown()
    return {
        "messages": messages,
        "days": 365,
        "outcome": final["outcome"] if isinstance(final, dict) else str(final),
        "events_all_runs": total_events,
        "largest_run_events": largest_events,
        "largest_run_bytes": largest_bytes,
        "runs": runs,
        "limit_events": 51_200,
        "limit_bytes": 50 * 1024 * 1024,
    }


# The seller answers a case that is open, not one still opening: an update sent within ~20 ms of the
# start lands in the opening's own workflow task, and from the tenth such case on the dev server hands
# those out ~50 ms later, for the floor's workflow too (docs/performance.md).
SELLER_READS = 0.1


async def answer_to_money(client: CaseClient, raw: Client, full_rate: float, samples: int) -> list[dict]:
    """Latency of the seller's full refund, with background load of whole full-refund cases at a share
    of the measured throughput: in the server's own clock, from the update accepted to the refund
    activity completed (the issue's measure); and as the seller sees it, from sending the update to
    its answer (which comes once everything the decision caused is done)."""
    rows = []
    for share in (0.0, 0.5, 0.8):
        stop = asyncio.Event()
        load = asyncio.create_task(_background(client, full_rate * share, stop))
        to_money, round_trip = [], []
        for _ in range(samples):
            case_id = await _open(client)
            await asyncio.sleep(SELLER_READS)
            started = time.perf_counter()
            await full_refund(client, case_id)
            round_trip.append((time.perf_counter() - started) * 1000)
            to_money.append(_accepted_to_refunded_ms(await raw.get_workflow_handle(workflow_id(case_id)).fetch_history()))
        stop.set()
        background = await load
        rows.append({"load": f"{share:.0%}", **_percentiles(to_money, ""), **_percentiles(round_trip, "round_trip_"), "background": background})
        print(
            f"  answer to money at {share:.0%} load: p50 {rows[-1]['p50_ms']} ms, p99 {rows[-1]['p99_ms']} ms "
            f"(round trip p50 {rows[-1]['round_trip_p50_ms']} ms, p99 {rows[-1]['round_trip_p99_ms']} ms); background cases {background}",
            flush=True,
        )
    return rows


def _percentiles(waits: list[float], prefix: str) -> dict:
    p50, p99 = _p50_p99(waits)
    return {f"{prefix}p50_ms": round(p50, 1), f"{prefix}p99_ms": round(p99, 1)}


def _lateness_percentiles(waits: list[float]) -> dict:
    if not waits:
        return {"lateness_p50_s": None, "lateness_p99_s": None}
    p50, p99 = _p50_p99(waits)
    return {"lateness_p50_s": round(p50, 2), "lateness_p99_s": round(p99, 2)}


def _p50_p99(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return statistics.median(values), values[int(0.99 * (len(values) - 1))]


def _accepted_to_refunded_ms(history: WorkflowHistory) -> float:
    """From the update's acceptance to the refund activity's completion, by the server's event times."""
    accepted = next(e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes"))
    refund = next(
        e.event_id
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes") and e.activity_task_scheduled_event_attributes.activity_type.name == "issue_refund"
    )
    completed = next(
        e
        for e in history.events
        if e.HasField("activity_task_completed_event_attributes") and e.activity_task_completed_event_attributes.scheduled_event_id == refund
    )
    return (completed.event_time.ToDatetime() - accepted.event_time.ToDatetime()).total_seconds() * 1000


async def _background(client: CaseClient, per_second: float, stop: asyncio.Event) -> dict:
    """Whole full-refund cases started at `per_second`, with at most BACKGROUND_IN_FLIGHT unfinished: a
    load the machine cannot carry would otherwise pile up without end. Returns the rate achieved."""
    if per_second <= 0:
        await stop.wait()
        return {"offered_per_s": 0.0, "achieved_per_s": 0.0, "failed": 0}
    running: set[asyncio.Task] = set()
    done: list[asyncio.Task] = []

    def finished(task: asyncio.Task) -> None:
        running.discard(task)
        done.append(task)

    started = time.perf_counter()
    while not stop.is_set():
        if len(running) < BACKGROUND_IN_FLIGHT:
            task = asyncio.create_task(_ours(client, full_refund, "direct_service"))
            running.add(task)
            task.add_done_callback(finished)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1 / per_second)
    elapsed = time.perf_counter() - started
    await asyncio.gather(*running, return_exceptions=True)
    failed = sum(1 for t in done if t.exception() is not None)
    return {"offered_per_s": round(per_second, 1), "achieved_per_s": round((len(done) - failed) / elapsed, 1), "failed": failed}


BACKGROUND_IN_FLIGHT = 60  # twice the cases the throughput of measurement 1 ran at once


async def deadline_storm(client: CaseClient, raw: Client, cluster: Cluster, store_url: str, idle: int) -> dict:
    """`idle` cases waiting on the seller, each with a window of its own length (one-second hours), so
    that all fall due within one minute; then the storm."""
    rate = 25.0  # cases per second the worker takes openings at here, with room: all are open when the minute starts
    due = datetime.now(UTC) + timedelta(seconds=idle / rate + 60)
    gate = asyncio.Semaphore(40)

    async def one(number: int) -> str:
        async with gate:
            target = due + timedelta(seconds=number % 60)
            hours = max(int((target - datetime.now(UTC)).total_seconds()), 1)
            name = f"bench_storm_{hours}"
            if name not in client.extra_policies:
                client.extra_policies[name] = _storm_policy(name, hours)
            new = NewCase(request_id=f"storm-{uuid.uuid4().hex}", reason="defective", order=_order(number), policy=name)
            return (await client.open(new)).case_id

    started = time.perf_counter()
    opened = await asyncio.gather(*(one(n) for n in range(idle)))
    opening = time.perf_counter() - started
    while True:  # until the worker has taken every opening (it lags behind the starts), or the minute comes
        due_at = _due_times(store_url)
        if len(due_at) >= idle or datetime.now(UTC) > due - timedelta(seconds=10):
            break
        await asyncio.sleep(2)
    await asyncio.sleep(5)
    rss_idle = _rss(cluster)
    await asyncio.sleep(max((due + timedelta(seconds=60) - datetime.now(UTC)).total_seconds(), 0))
    rss_storm = _rss(cluster)
    give_up = time.monotonic() + STORM_PATIENCE_S
    while True:  # until every deadline has fired and its transition reached the store, or patience ends
        lateness = _lateness(store_url, due_at)
        rss_storm = max(rss_storm, _rss(cluster))
        if len(lateness) >= len(due_at) or time.monotonic() > give_up:
            break
        await asyncio.sleep(5)
    failures = 0
    for case_id in opened[:: max(len(opened) // 200, 1)]:
        history = await raw.get_workflow_handle(workflow_id(case_id)).fetch_history()
        failures += sum(1 for e in history.events if e.HasField("workflow_task_failed_event_attributes"))
    now = datetime.now(UTC)
    waits = sorted(
        [*lateness.values(), *((now - due).total_seconds() for case_id, due in due_at.items() if case_id not in lateness)]
    )  # unfired: at least this late
    return {
        "cases": idle,
        "opening_s": round(opening, 1),
        "worker_rss_mb_idle": rss_idle,
        "worker_rss_mb_after_storm": rss_storm,
        "deadlines_due": len(due_at),
        "deadlines_fired": len(lateness),
        "waited_after_the_minute_s": STORM_PATIENCE_S,
        **_lateness_percentiles(waits),
        "task_failures_in_sampled_histories": failures,
    }


async def floor_storm(raw: Client, count: int) -> dict:
    """The same storm through BaselineCase: `count` workflows that run a local activity, wait on a
    timer due within the same kind of minute, and run one more; how late Temporal itself, with no
    logic, acts on them on this machine."""
    rate = 50.0  # workflow starts per second, with room
    due = datetime.now(UTC) + timedelta(seconds=count / rate + 60)
    gate = asyncio.Semaphore(40)

    async def one(number: int):
        async with gate:
            wait = due + timedelta(seconds=number % 60) - datetime.now(UTC)
            shape = Shape(triggers=["timer"], activities=[0, 0], local_activities=[1, 1], wait=wait)
            return await raw.start_workflow(BaselineCase.run, shape, id=f"baseline-storm-{uuid.uuid4().hex}", task_queue=BASELINE_QUEUE)

    started = time.perf_counter()
    handles = await asyncio.gather(*(one(n) for n in range(count)))
    opening = time.perf_counter() - started

    results_gate = asyncio.Semaphore(200)

    async def lateness(handle) -> float | None:
        async with results_gate:
            try:
                return (await asyncio.wait_for(handle.result(), timeout=max((due - datetime.now(UTC)).total_seconds(), 0) + 60 + STORM_PATIENCE_S))[0]
            except TimeoutError:
                return None

    results = await asyncio.gather(*(lateness(h) for h in handles))
    waits = sorted(w for w in results if w is not None)
    return {
        "cases": count,
        "opening_s": round(opening, 1),
        "deadlines_fired": len(waits),
        **_lateness_percentiles(waits),
    }


# How long the storm waits, after its minute, for the deadlines to fire. A deadline not fired by then
# enters the percentiles with the time it has waited so far: a lower bound.
STORM_PATIENCE_S = 300


def _storm_policy(name: str, hours: int) -> Policy:
    base = QUICK
    windows = dict(base.windows)
    seller = next(status for status in windows if status.value == "awaiting_seller_response")
    support = next(status for status in windows if status.value == "awaiting_support")
    windows[seller] = windows[seller].model_copy(update={"hours": hours, "remind_before_hours": []})
    # Support's window outlasts the run, so each case has one deadline in it: the seller's.
    windows[support] = windows[support].model_copy(update={"hours": 100_000, "remind_before_hours": []})
    return base.model_copy(update={"name": name, "windows": windows})


def _rss(cluster: Cluster) -> float:
    """The largest resident memory of the worker processes, in MB."""
    sizes = []
    for worker in cluster.workers:
        if worker is None or worker.poll() is not None:
            continue
        for line in Path(f"/proc/{worker.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return round(max(sizes), 1) if sizes else 0.0


def _due_times(store_url: str) -> dict[str, datetime]:
    store = Store(store_url)
    with store.sessions() as session:
        rows = session.execute(select(CaseRow.case_id, CaseRow.due_at).where(CaseRow.policy.like("bench_storm_%"))).all()
    store.engine.dispose()
    return {case_id: due for case_id, due in rows if due is not None}


def _lateness(store_url: str, due_at: dict[str, datetime]) -> dict[str, float]:
    """Seconds between each case's deadline and the moment its effects reached the store (the first
    notice written after the deadline: the escalation's). The timeline cannot say: a clock's transition
    is stamped with the alarm's own moment (docs/nothing-lost.md)."""
    store = Store(store_url)
    with store.sessions() as session:
        written = session.execute(select(NotificationRow.case_id, NotificationRow.created_at).where(NotificationRow.case_id.in_(list(due_at)))).all()
    store.engine.dispose()
    first: dict[str, datetime] = {}
    for case_id, at in written:
        if at >= due_at[case_id] and (case_id not in first or at < first[case_id]):
            first[case_id] = at
    return {case_id: (at - due_at[case_id]).total_seconds() for case_id, at in first.items()}


def suite_time(processes: int) -> float:
    """Wall time of the time-skipping scenario suite (`pytest -m workflow`), in one process or spread
    over several (pytest-xdist, each with its own test server)."""
    spread = ["-n", str(processes)] if processes > 1 else []
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "workflow", "-p", "no:cacheprovider", *spread], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the workflow suite failed:\n{done.stdout[-2000:]}")
    return round(time.perf_counter() - started, 1)


@asynccontextmanager
async def bench_cluster(home: Path) -> AsyncIterator[tuple[Cluster, CaseClient, subprocess.Popen]]:
    """The dev server, one worker of ours on the embedded gateway, the floor's worker, and a client that
    knows the bench's quick policy; all stopped on the way out."""
    cluster = Cluster(Config(workers=1), home, REFUND_GATEWAY="embedded", TEMPORAL_TASK_QUEUE=QUEUE)
    cluster.start_server()
    floor_worker = None
    try:
        client = await connect_to(cluster)
        client.extra_policies[QUICK.name] = QUICK
        Store(cluster.env["DATABASE_URL"]).migrate()
        cluster.revive()
        floor_worker = subprocess.Popen([sys.executable, "-m", "bench.baseline"], env=cluster.env, start_new_session=True)
        yield cluster, client, floor_worker
    finally:
        if floor_worker is not None:
            floor_worker.kill()
        cluster.stop()


async def run(arguments: argparse.Namespace, home: Path) -> dict:
    async with bench_cluster(home) as (cluster, client, _):
        raw = client.client
        print("1-2. overhead against the floor, history cost", flush=True)
        paths, long = await overhead_and_history(client, raw, arguments.cases, arguments.rounds)
        print("3. answer to money", flush=True)
        full_rate = paths[0]["ours_cases_per_s"]
        latency = await answer_to_money(client, raw, full_rate, arguments.samples)
        storm = None
        if arguments.idle:
            print(f"4. idle fleet of {arguments.idle} and deadline storm", flush=True)
            storm = await deadline_storm(client, raw, cluster, cluster.env["DATABASE_URL"], arguments.idle)
            print("4b. the same storm through the floor's workflow", flush=True)
            storm["floor"] = await floor_storm(raw, arguments.idle)
    suite = None
    if not arguments.skip_suite:
        print("5. the time-skipping scenario suite", flush=True)
        suite = {"one_process": suite_time(1), "two_processes": suite_time(2)}
    return {
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "paths": paths,
        "long_case": long,
        "answer_to_money": latency,
        "storm": storm,
        "suite_seconds": suite,
    }


def table(results: dict) -> str:
    lines = ["", "path                       ours/s  floor/s  ratio  events (min)  actions (min)  payload B"]
    for p in results["paths"]:
        lines.append(
            f"{p['path']:<26} {p['ours_cases_per_s']:>6}  {p['baseline_cases_per_s']:>7}  {p['ratio']:>5}  "
            f"{p['events']:>5} ({p['minimum_events']:>3})   {p['actions']:>5} ({p['minimum_actions']:>3})   {p['payload_bytes']:>8}"
        )
    long = results["long_case"]
    lines.append(
        f"365-day case with {long['messages']} messages ({long['outcome']}): {long['events_all_runs']} events in {long['runs']} run(s), "
        f"the largest {long['largest_run_events']} events and {long['largest_run_bytes']} bytes; limits {long['limit_events']} events, {long['limit_bytes']} bytes"
    )
    for row in results["answer_to_money"]:
        lines.append(
            f"answer to money at {row['load']:>3} load: p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms (round trip p50 {row['round_trip_p50_ms']} ms, "
            f"p99 {row['round_trip_p99_ms']} ms); background {row['background']['achieved_per_s']} of {row['background']['offered_per_s']} cases/s"
        )
    storm = results["storm"]
    if storm:
        lines.append(
            f"storm: {storm['cases']} cases, worker RSS {storm['worker_rss_mb_idle']} MB idle / {storm['worker_rss_mb_after_storm']} MB after, "
            f"{storm['deadlines_fired']} of {storm['deadlines_due']} deadlines fired within {storm['waited_after_the_minute_s']} s after the minute, lateness p50 {storm['lateness_p50_s']} s p99 {storm['lateness_p99_s']} s, "
            f"task failures {storm['task_failures_in_sampled_histories']}"
        )
        floor = storm["floor"]
        lines.append(
            f"storm through the floor's workflow: {floor['deadlines_fired']} of {floor['cases']} timers fired, lateness p50 {floor['lateness_p50_s']} s p99 {floor['lateness_p99_s']} s"
        )
    if results["suite_seconds"] is not None:
        suite = results["suite_seconds"]
        lines.append(f"time-skipping scenario suite: {suite['one_process']} s in one process, {suite['two_processes']} s in two (pytest -n 2)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=30, help="cases per path per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=100, help="latency samples per load level")
    parser.add_argument("--idle", type=int, default=10_000, help="cases in the idle fleet (0 skips the storm)")
    parser.add_argument("--skip-suite", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "bench.json")
    arguments = parser.parse_args(argv)
    quiet = TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")))
    Runtime.set_default(Runtime(telemetry=quiet))
    home = Path(tempfile.mkdtemp(prefix="bench-"))
    results = asyncio.run(run(arguments, home))
    subprocess.run(["rm", "-rf", str(home)], check=False)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(table(results), flush=True)
    return 0


if __name__ == "__main__":
    os._exit(main())
