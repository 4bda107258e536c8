"""`make chaos`: cases played through a real dev server while workers and the server are killed.

A dev server on a database file, several worker processes, and a payment provider double that answers
503s and loses answers after moving money. A driver opens cases and plays mixed paths through them
(responses, offers, returns, escalations, a silent seller whose deadline passes, a refund the provider
rejects), retrying every command with its request id until it is acknowledged; meanwhile a killer sends
SIGKILL to a random worker every few seconds and restarts it, and kills and restarts the server. With
`--topology cluster` the server is `make cluster`'s Temporal (four services on PostgreSQL, the case
store there too), and its history, matching and frontend services are killed and restarted in turn, and
PostgreSQL crashed and restarted.

Then it checks, and prints one line of figures: every acknowledged open is one workflow; every
acknowledged command is in its case exactly once; every refund decision moved money exactly once at
the provider and no money moved without one; the store equals each workflow's own view; no workflow
failed, was terminated or failed a task; none is stuck; no query failed; and every history the run
wrote replays on the code that wrote it and rebuilds the state it recorded (replay/check.py). The
whole run has a wall-clock budget; a step that outlasts it is named. `clean` means no problem of any
kind. Figures go to bench/results/chaos.json; the exit code is 0 only when clean.

    .venv/bin/python -m bench.chaos [--cases 300] [--workers 3] [--budget 1200] [--out bench/results/chaos.json]
    .venv/bin/python -m bench.chaos --control local-effects --only refund_after_return --cases 12   # must exit 1
    .venv/bin/python -m bench.chaos --topology cluster --out bench/results/chaos-cluster.json          # make chaos-cluster
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory, WorkflowQueryFailedError
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError, RPCStatusCode

from activities.provider_double import ProviderDouble
from bench.controls import EffectsInALocalActivity
from cases import policies
from cases.messages import (
    BuyerAnswer,
    Decision,
    Escalation,
    Fact,
    PartyMessage,
    ReturnDelivered,
    ReturnInspection,
    ReturnShipped,
    SellerResponse,
    SupportDecision,
    Withdrawal,
)
from cases.model import Actor, Order, OrderItem, Party, Resolution, Status
from cases.money import Money
from cases.view import CaseView
from cluster.build import build
from cluster.temporal import TemporalOnPostgres
from config.settings import Settings
from devserver.ports import free_port
from devserver.supervisor import server_command
from replay.check import replay
from starter.client import CaseClient, CaseRefused, NewCase
from starter.reconcile import differences
from store.database import Store
from workflows.refund_case import STALE_CLOCK, RefundCaseWorkflow, workflow_id

HERE = Path(__file__).parent
POLICY = policies.load_file(HERE / "policies" / "chaos.toml")
REJECTED = 1313  # the provider rejects refunds of 13.13 for good
QUEUE = "chaos"
SUPPORT = Actor(party=Party.SUPPORT, id="agent-chaos")
CARRIER = Actor(party=Party.CARRIER, id="carrier-hook")
# How long a call is tried again while the server or a worker is down (a case's workflow task can time
# out three times in a row under these kills, 10 s each, with the server restarting); a query that
# fails (the worker could not replay the case) is counted at once and never tried again.
TRANSPORT_PATIENCE_S = 180
# What the server answers about a case whose workflow task fails (it cannot be replayed): no retry helps.
NOT_ANSWERABLE = {RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.INVALID_ARGUMENT}
CALL_TIMEOUT_S = 30  # one try of a call: an update to a case that cannot move would otherwise wait for ever
# Negative controls: the workflow the workers run instead of today's, with the module that runs them.
CONTROLS = {"local-effects": (EffectsInALocalActivity, "bench.controls")}


@dataclass
class Config:
    cases: int = 300
    workers: int = 3
    kill_every: tuple[float, float] = (2.0, 5.0)
    server_restarts: int = 1
    concurrency: int = 60
    settle_seconds: int = 300
    budget_seconds: int = 1200  # the whole run, start to end: a step still running then is named
    seed: int = 1
    out: Path = HERE / "results" / "chaos.json"
    sabotage: bool = False  # a negative control: the provider forgets keys at once and loses every first answer
    control: str | None = None  # a negative control: the workers run CONTROLS[control]
    only: str | None = None  # play this path in every case
    keep_histories: Path | None = None  # write each case's history here
    topology: str = "dev-server"  # or "cluster": Temporal's four services on PostgreSQL (make cluster)

    @property
    def case_workflow(self) -> type:
        return CONTROLS[self.control][0] if self.control else RefundCaseWorkflow

    @property
    def paths(self) -> list:
        return [p for p in PATHS if p.__name__ == self.only] if self.only else PATHS


@dataclass
class Figures:
    cases: int = 0
    workers: int = 0
    worker_kills: int = 0
    server_restarts: int = 0
    commands_acknowledged: int = 0
    commands_refused: int = 0
    transport_retries: int = 0
    opens_lost: int = 0
    opens_duplicated: int = 0
    commands_lost: int = 0
    commands_duplicated: int = 0
    refunds_at_provider: int = 0
    refunds_duplicated: int = 0
    refunds_without_decision: int = 0
    refund_decisions_without_refund: int = 0
    rejected_by_provider: int = 0
    store_drift: int = 0
    failed_or_terminated: int = 0
    workflow_task_failures: int = 0
    stale_clocks_refused: int = 0  # tasks (and the reads that replayed them) a case failed on purpose, to run again on the right clock: not a problem
    stuck: int = 0
    driver_errors: int = 0
    queries_failed: int = 0
    histories_replayed: int = 0
    histories_not_replayable: int = 0
    server_restarts_planned: int = 0
    # Each part of the server killed and started again: the dev server; or history, matching, frontend, postgresql.
    restarts: dict[str, int] = field(default_factory=dict)
    budget_ran_out_in: str | None = None
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def clean(self) -> bool:
        """No problem of any kind, every planned fault made, every history replayed."""
        bad = (
            self.opens_lost, self.opens_duplicated, self.commands_lost, self.commands_duplicated, self.refunds_duplicated,
            self.refunds_without_decision, self.refund_decisions_without_refund, self.store_drift,
            self.failed_or_terminated, self.workflow_task_failures, self.stuck, self.driver_errors, self.queries_failed,
            self.histories_not_replayable,
        )  # fmt: skip
        faults = self.server_restarts >= self.server_restarts_planned and self.worker_kills >= 1
        replayed = self.histories_replayed == self.cases
        return not any(bad) and not self.problems and self.budget_ran_out_in is None and faults and replayed

    def problem(self, text: str, limit: int = 60) -> None:
        """Every problem is counted where it is found; the list keeps the first `limit` of them."""
        if len(self.problems) < limit:
            self.problems.append(text)

    def line(self) -> str:
        return (
            f"chaos: {self.cases} cases, {self.workers} workers, {self.worker_kills} worker kills, "
            f"{self.server_restarts} server restarts ({', '.join(f'{part} {n}' for part, n in self.restarts.items())}), {self.commands_acknowledged} commands acknowledged "
            f"({self.transport_retries} retried after a lost answer); lost {self.opens_lost + self.commands_lost}, "
            f"duplicated {self.opens_duplicated + self.commands_duplicated}, refunds {self.refunds_at_provider} "
            f"(duplicated {self.refunds_duplicated}, without decision {self.refunds_without_decision}, "
            f"decisions without refund {self.refund_decisions_without_refund}, rejected {self.rejected_by_provider}), "
            f"drift {self.store_drift}, failed {self.failed_or_terminated + self.workflow_task_failures}, "
            f"stuck {self.stuck}, stale clocks refused {self.stale_clocks_refused}, driver errors {self.driver_errors}, queries failed {self.queries_failed}, "
            f"histories not replayable {self.histories_not_replayable} of {self.histories_replayed}"
            f"{f', budget ran out in {self.budget_ran_out_in}' if self.budget_ran_out_in else ''}, {self.seconds:.0f} s"
        )


class Cluster:
    """The dev server and the worker processes, each killable with SIGKILL and restartable."""

    def __init__(self, config: Config, home: Path, **env: str):
        """`env` overrides the workers' environment (the case benchmark runs them on the embedded gateway)."""
        self.config = config
        self.home = home
        self.server = OnTemporalCluster(home) if config.topology == "cluster" else DevServer(home)
        self.address = self.server.address
        self.workers: list[subprocess.Popen | None] = [None] * config.workers
        self.metrics_ports = [free_port() for _ in range(config.workers)]  # each worker's /metrics
        self.env = {
            **os.environ,
            "TEMPORAL_ADDRESS": self.address,
            "TEMPORAL_TASK_QUEUE": QUEUE,
            "DATABASE_URL": self.server.store_url,
            "CODEC": "off",
            "REFUND_GATEWAY": "provider-double",
            "PROVIDER_DOUBLE_URL": f"sqlite:///{home}/provider.db",
            "PROVIDER_UNAVAILABLE_RATE": "0.2",
            "PROVIDER_TIMEOUT_RATE": "0.2",
            "PROVIDER_REJECT_AMOUNT": str(REJECTED),
            "PROVIDER_KEY_RETENTION_SECONDS": "86400",
            "ACTIVITY_THREADS": "8",
        }
        if config.sabotage:
            self.env.update(PROVIDER_TIMEOUT_RATE="0", PROVIDER_LOSE_FIRST_ANSWER="true", PROVIDER_KEY_RETENTION_SECONDS="0")
        self.env.update(env)

    def start_server(self) -> None:
        self.server.start()

    def restart(self, part: str) -> None:
        self.server.restart(part)

    def start_worker(self, index: int) -> None:
        log = open(self.home / f"worker-{index}.log", "ab")  # noqa: SIM115
        env = {**self.env, "WORKER_METRICS_PORT": str(self.metrics_ports[index])}
        module = CONTROLS[self.config.control][1] if self.config.control else "worker"
        self.workers[index] = subprocess.Popen([sys.executable, "-m", module], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill_worker(self, index: int) -> None:
        worker = self.workers[index]
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            worker.wait()

    def revive(self) -> None:
        """Restarts any worker that died (killed, or gave up while the server was down)."""
        for index, worker in enumerate(self.workers):
            if worker is None or worker.poll() is not None:
                self.start_worker(index)

    def identities(self) -> dict[str, int]:
        """Each live worker's identity as the SDK names it by default (pid@host), to its index."""
        host = socket.gethostname()
        return {f"{worker.pid}@{host}": index for index, worker in enumerate(self.workers) if worker is not None and worker.poll() is None}

    async def polling(self, client: Client, seconds: float = 60) -> None:
        """Waits until every live worker polls the task queue: a worker still importing would otherwise
        leave all the first cases to the one that started first."""
        identities = self.identities()
        queue = self.env["TEMPORAL_TASK_QUEUE"]
        request = DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=queue), task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
        )
        deadline = time.monotonic() + seconds
        while True:
            polling = {poller.identity for poller in (await client.workflow_service.describe_task_queue(request)).pollers}
            if identities.keys() <= polling:
                return
            if dead := [index for index in identities.values() if _exited(self.workers[index])]:
                raise RuntimeError(f"worker {dead[0]} exited before polling; see {self.home / f'worker-{dead[0]}.log'}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers {sorted(identities.keys() - polling)} not polling {queue!r} after {seconds:.0f} s")
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        for process in self.workers:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()
        self.server.stop()


class DevServer:
    """The dev server on a database file; its one fault is SIGKILL, then a start on the same file."""

    parts = ("server",)

    def __init__(self, home: Path):
        self.home = home
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.store_url = f"sqlite:///{home}/cases.db"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.home / "temporal.log", "ab")  # noqa: SIM115 - lives as long as the server
        command = server_command(self.home / "temporal.db", self.port, "--headless")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def restart(self, part: str) -> None:
        self.stop()
        time.sleep(2)
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


class OnTemporalCluster:
    """Temporal as `make cluster` runs it (four services on PostgreSQL, the case store in the same
    PostgreSQL); its faults: SIGKILL of the history, matching or frontend service, then a start, and a
    crash and restart of PostgreSQL."""

    parts = ("history", "matching", "frontend", "postgresql")

    def __init__(self, home: Path):
        self.temporal = TemporalOnPostgres(build(say=lambda _: None), home / "cluster")
        self.address = self.temporal.address

    @property
    def store_url(self) -> str:
        return self.temporal.database_url("cases", "cases", "cases")

    def start(self) -> None:
        self.temporal.start(say=lambda _: None)

    def restart(self, part: str) -> None:
        if part == "postgresql":
            self.temporal.restart_postgres()
            return
        self.temporal.kill_service(part)
        time.sleep(2)
        self.temporal.start_service(part)

    def stop(self) -> None:
        self.temporal.stop()


class Unanswered(Exception):
    """A call that found no server or worker to answer it for TRANSPORT_PATIENCE_S."""


class Driver:
    """Plays paths through cases, retrying each command with its request id until it is acknowledged."""

    def __init__(self, client: CaseClient, figures: Figures):
        self.client = client
        self.figures = figures
        self.opened: list[str] = []
        self.acknowledged: list[tuple[str, str | None]] = []  # (case id, request id)
        self.wedged: set[str] = set()  # cases whose workflow tasks fail: nothing to wait for

    async def _retrying(self, call: Callable[[], Awaitable]):
        """The same call again while the server or a worker is down (at most TRANSPORT_PATIENCE_S); a
        refusal is the rules' answer, and a failed query a problem, counted at once."""
        give_up = time.monotonic() + TRANSPORT_PATIENCE_S
        for attempt in itertools.count():
            try:
                return await asyncio.wait_for(call(), CALL_TIMEOUT_S)
            except CaseRefused:
                raise
            except (WorkflowQueryFailedError, RPCError) as err:
                if STALE_CLOCK in str(err):  # the case refused a stale clock (docs/nothing-lost.md): ask again
                    self.figures.stale_clocks_refused += 1
                    await asyncio.sleep(0.2)
                    continue
                if isinstance(err, RPCError) and err.status not in NOT_ANSWERABLE:
                    if time.monotonic() > give_up:
                        raise Unanswered(f"no answer for {TRANSPORT_PATIENCE_S} s: RPCError: {str(err)[:200]}") from None
                    self.figures.transport_retries += 1
                    await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))
                    continue
                self.figures.queries_failed += 1
                self.figures.problem(f"query failed: {str(err)[:300]}")
                raise
            except Exception as err:  # the server or the worker was killed under the call: same call again
                if time.monotonic() > give_up:
                    raise Unanswered(f"no answer for {TRANSPORT_PATIENCE_S} s: {type(err).__name__}: {str(err)[:200]}") from None
                self.figures.transport_retries += 1
                await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))

    async def open(self, number: int) -> str:
        now = datetime.now(UTC)
        order = Order(
            order_id=f"ord-chaos-{number}",
            seller_id=f"seller-chaos-{number % 10}",
            buyer_id=f"buyer-chaos-{number}",
            currency="EUR",
            items=[OrderItem(sku="sku-1", unit_price=Money(amount=4000, currency="EUR"))],
            shipping_paid=Money(amount=500, currency="EUR"),
            purchased_at=now - timedelta(days=3),
            shipped_at=now - timedelta(days=2),
        )
        new = NewCase(request_id=f"chaos-open-{number}", reason="defective", order=order, policy=POLICY.name)
        opened = await self._retrying(lambda: self.client.open(new))
        self.opened.append(opened.case_id)
        return opened.case_id

    async def send(self, case_id: str, message: Decision | PartyMessage | Fact, wait: bool = True) -> bool:
        """True once acknowledged; False when the rules refused it (the case had moved on)."""
        retried = self.figures.transport_retries
        try:
            await self._retrying(lambda: self.client.send(case_id, message, wait=wait))
        except CaseRefused:
            # Refused after a lost answer: the first try may have been taken before the case closed.
            if self.figures.transport_retries == retried or not await self._taken(case_id, message.request_id):
                self.figures.commands_refused += 1
                return False
        self.acknowledged.append((case_id, message.request_id))
        return True

    async def _taken(self, case_id: str, request_id: str | None) -> bool:
        shown = await self.view(case_id)
        return any(entry.request_id == request_id for entry in shown.timeline)

    async def view(self, case_id: str) -> CaseView:
        return await self._retrying(lambda: self.client.show(case_id))

    async def wait_for(self, case_id: str, *statuses: Status, seconds: float = 240) -> CaseView:
        """The case once it reaches one of `statuses` or closes, or as it is after `seconds`. A case that
        stops moving is looked at every 10 s: one whose workflow tasks fail is wedged, at once."""
        give_up = time.monotonic() + seconds
        last, still_since = None, time.monotonic()
        while True:
            shown = await self.view(case_id)
            if shown.status in statuses or shown.status is Status.CLOSED or time.monotonic() > give_up:
                return shown
            if shown.version != last:
                last, still_since = shown.version, time.monotonic()
            elif time.monotonic() - still_since > 10:
                await self.raise_if_wedged(case_id)
                still_since = time.monotonic()
            await asyncio.sleep(0.5)

    async def raise_if_wedged(self, case_id: str) -> None:
        if why := await self.wedged_now(case_id):
            raise RuntimeError(why)

    async def wedged_now(self, case_id: str) -> str | None:
        """Why the case cannot move (its workflow tasks fail), or None."""
        history = await self._retrying(lambda: self.client.client.get_workflow_handle(workflow_id(case_id)).fetch_history())
        failed = [f for f in _failed_tasks(history) if STALE_CLOCK not in f.failure.message]
        if not failed:
            return None
        self.wedged.add(case_id)
        return f"case {case_id} is wedged: its workflow task failed {len(failed)} time(s): {failed[-1].failure.message[:200]}"

    async def finish(self, case_id: str) -> None:
        """Whatever the path left: support decides what waits for it, until the case is closed."""
        for round_ in range(20):
            shown = await self.wait_for(case_id, Status.AWAITING_SUPPORT)
            if shown.status is not Status.AWAITING_SUPPORT:
                return
            decision = SupportDecision(by=SUPPORT, decision="refund_at_platform_cost", request_id=f"{case_id}-finish-{round_}")
            await self.send(case_id, decision)


def _rid(case_id: str, step: str) -> str:
    return f"{case_id}-{step}"


async def _seller(d: Driver, case_id: str, resolution: Resolution, amount: int | None = None, wait: bool = True) -> None:
    seller = Actor(party=Party.SELLER, id=(await d.view(case_id)).seller_id)
    money = Money(amount=amount, currency="EUR") if amount else None
    await d.send(case_id, SellerResponse(by=seller, resolution=resolution, amount=money, request_id=_rid(case_id, "seller")), wait)


async def _buyer(d: Driver, case_id: str, message: type, **fields) -> None:
    buyer = Actor(party=Party.BUYER, id=(await d.view(case_id)).buyer_id)
    await d.send(case_id, message(by=buyer, request_id=_rid(case_id, message.__name__), **fields))


async def full_refund(d: Driver, case_id: str) -> None:
    await _seller(d, case_id, Resolution.FULL_REFUND)


async def full_refund_by_signal(d: Driver, case_id: str) -> None:
    await _seller(d, case_id, Resolution.FULL_REFUND, wait=False)


async def partial_accepted(d: Driver, case_id: str) -> None:
    await _seller(d, case_id, Resolution.PARTIAL_REFUND, amount=1000)
    await _buyer(d, case_id, BuyerAnswer, accept=True)


async def refund_after_return(d: Driver, case_id: str) -> None:
    """A carrier that reports shipped and delivered together, and a portal that reads the case at once:
    both facts and the query can meet in one workflow task (docs/nothing-lost.md)."""
    await _seller(d, case_id, Resolution.REFUND_AFTER_RETURN)
    shipped = asyncio.create_task(d.send(case_id, ReturnShipped(by=CARRIER, tracking_number="RET-12345", request_id=_rid(case_id, "shipped"))))
    await asyncio.sleep(0.001)  # in this order, a millisecond apart
    await asyncio.gather(shipped, d.send(case_id, ReturnDelivered(by=CARRIER, request_id=_rid(case_id, "delivered"))))
    await d.view(case_id)
    shown = await d.wait_for(case_id, Status.AWAITING_RETURN_INSPECTION)
    if shown.status is Status.AWAITING_RETURN_INSPECTION:
        seller = Actor(party=Party.SELLER, id=shown.seller_id)
        await d.send(case_id, ReturnInspection(by=seller, confirm=True, request_id=_rid(case_id, "inspection")))


async def declined_then_support(d: Driver, case_id: str) -> None:
    await _seller(d, case_id, Resolution.DECLINE)
    await _buyer(d, case_id, Escalation)
    await d.send(case_id, SupportDecision(by=SUPPORT, decision="deny", request_id=_rid(case_id, "support")))


async def silent_seller(d: Driver, case_id: str) -> None:
    await d.wait_for(case_id, Status.AWAITING_SUPPORT)  # the seller's 15 s window passes: escalated


async def rejected_by_provider(d: Driver, case_id: str) -> None:
    await _seller(d, case_id, Resolution.PARTIAL_REFUND, amount=REJECTED)
    await _buyer(d, case_id, BuyerAnswer, accept=True)


async def withdrawn(d: Driver, case_id: str) -> None:
    await _buyer(d, case_id, Withdrawal)


PATHS = [
    full_refund,
    full_refund_by_signal,
    partial_accepted,
    refund_after_return,
    declined_then_support,
    silent_seller,
    rejected_by_provider,
    withdrawn,
]


async def killer(cluster: Cluster, config: Config, figures: Figures, stop: asyncio.Event, rng: random.Random) -> None:
    """SIGKILLs a random worker every few seconds and restarts it; kills and restarts each part of the
    server in turn, `server_restarts` times each."""
    plan = [part for _ in range(config.server_restarts) for part in cluster.server.parts]
    restart_at = [time.monotonic() + 8 + 15 * n for n in range(len(plan))]
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=rng.uniform(*config.kill_every))
        if stop.is_set():
            break
        if restart_at and time.monotonic() >= restart_at[0]:
            restart_at.pop(0)
            await _restart(cluster, plan.pop(0), figures)
            continue
        index = rng.randrange(config.workers)
        cluster.kill_worker(index)
        figures.worker_kills += 1
        await asyncio.sleep(0.5)
        cluster.revive()
    for part in plan:  # a run too short to reach its server restarts still has them
        await _restart(cluster, part, figures)
    cluster.revive()


async def _restart(cluster: Cluster, part: str, figures: Figures) -> None:
    await asyncio.to_thread(cluster.restart, part)
    figures.server_restarts += 1
    figures.restarts[part] = figures.restarts.get(part, 0) + 1


async def _connect(cluster: Cluster) -> CaseClient:
    settings = Settings(temporal_address=cluster.address, temporal_task_queue=QUEUE, codec="off")
    for _ in range(240):
        try:
            client = await CaseClient.connect(settings)
            client.extra_policies[POLICY.name] = POLICY
            return client
        except RuntimeError:
            await asyncio.sleep(0.25)
    raise SystemExit(f"the dev server did not answer; see {cluster.home / 'temporal.log'}")


async def verify(client: CaseClient, driver: Driver, cluster: Cluster, config: Config, figures: Figures) -> None:
    """The checks, after every case had time to settle with every process alive."""
    views = await _settled_views(client, driver, config, figures)
    _check_workflows(await _listed(client), driver, figures)
    await _check_histories(client, driver, config, figures)
    _check_commands(views, driver, figures)
    _check_money(views, ProviderDouble(cluster.env["PROVIDER_DOUBLE_URL"]), figures)
    _check_store(views, Store(cluster.env["DATABASE_URL"]), figures)


async def _settled_views(client: CaseClient, driver: Driver, config: Config, figures: Figures) -> dict[str, CaseView]:
    """Each case's final view (its result), waiting up to `settle_seconds`; a case still running then is stuck."""
    views: dict[str, CaseView] = {}
    give_up = time.monotonic() + config.settle_seconds
    pending, seen_pending = set(driver.opened), set()
    while pending - driver.wedged and time.monotonic() < give_up:
        for case_id in sorted(pending - driver.wedged):
            if not await driver._retrying(partial(client.is_running, case_id)):
                handle = client.client.get_workflow_handle(workflow_id(case_id), result_type=CaseView)
                views[case_id] = await driver._retrying(handle.result)
                pending.discard(case_id)
            elif case_id in seen_pending:
                await driver.wedged_now(case_id)
        seen_pending = set(pending)
        if pending - driver.wedged:
            await asyncio.sleep(2)
    figures.stuck = len(pending)
    for case_id in sorted(pending):
        figures.problem(f"stuck: case {case_id} still running")
        with contextlib.suppress(WorkflowQueryFailedError, RPCError, Unanswered):  # counted by the driver; its history is checked below
            views[case_id] = await driver.view(case_id)
    return views


async def _listed(client: CaseClient) -> list:
    return [execution async for execution in client.client.list_workflows("WorkflowType = 'RefundCase'")]


def _check_workflows(executions: list, driver: Driver, figures: Figures) -> None:
    listed = Counter(execution.id for execution in executions)
    for execution in executions:
        if execution.status not in (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.RUNNING):
            figures.failed_or_terminated += 1
            figures.problem(f"workflow {execution.id} ended {execution.status.name}")
    wanted = {workflow_id(case_id) for case_id in driver.opened}
    figures.opens_lost = len(wanted - set(listed))
    figures.opens_duplicated = sum(count - 1 for count in listed.values() if count > 1) + len(set(listed) - wanted)


async def _check_histories(client: CaseClient, driver: Driver, config: Config, figures: Figures) -> None:
    """Every history: no failed workflow task, and a replay on the code that wrote it that rebuilds
    the state it recorded."""
    for case_id in driver.opened:
        history = await client.client.get_workflow_handle(workflow_id(case_id)).fetch_history()
        failures = _failed_tasks(history)
        refused = [f for f in failures if STALE_CLOCK in f.failure.message]
        figures.stale_clocks_refused += len(refused)
        figures.workflow_task_failures += len(failures) - len(refused)
        for failure in failures:
            if failure not in refused:
                figures.problem(f"case {case_id}: workflow task failed: {failure.failure.message[:200]}")
        replayed = await replay(history, config.case_workflow)
        figures.histories_replayed += 1
        if not replayed.holds:
            figures.histories_not_replayable += 1
            figures.problem(f"history of case {case_id} does not hold on replay: {replayed.differences[0][:300]}")
        if config.keep_histories is not None:
            _keep(config.keep_histories, case_id, history)


def _failed_tasks(history: WorkflowHistory) -> list:
    return [e.workflow_task_failed_event_attributes for e in history.events if e.HasField("workflow_task_failed_event_attributes")]


def _keep(folder: Path, case_id: str, history: WorkflowHistory) -> None:
    """Each history, named by what it went through (a workflow task that timed out: a worker died in it)."""
    timed_out = any(e.HasField("workflow_task_timed_out_event_attributes") for e in history.events)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{'task-timed-out-' if timed_out else ''}{case_id}.json").write_text(history.to_json())


def _check_commands(views: dict[str, CaseView], driver: Driver, figures: Figures) -> None:
    for case_id, request_id in driver.acknowledged:
        if case_id not in views:
            continue  # its case could not be read: counted where that failed
        entries = [entry for entry in views[case_id].timeline if entry.request_id == request_id]
        taken = sum(not entry.refused for entry in entries)  # a refusal took nothing: sent again, it is judged again
        if not entries:
            figures.commands_lost += 1
            figures.problem(f"lost: {request_id}")
        elif taken > 1:
            figures.commands_duplicated += 1
            figures.problem(f"duplicated: {request_id} x{taken}")
    figures.commands_acknowledged = len(driver.acknowledged)


def _check_money(views: dict[str, CaseView], provider: ProviderDouble, figures: Figures) -> None:
    moved: Counter[str] = Counter()
    amounts = {}
    for payment in provider.payments():
        moved[payment.key] += 1
        amounts[payment.key] = payment.amount
    decided, failed = {}, set()
    for case_id, shown in views.items():
        for refund in shown.refunds:
            key = f"{case_id}:refund:{refund.number}"
            if refund.status == "failed":
                figures.rejected_by_provider += 1
                failed.add(key)
            else:
                decided[key] = refund.amount.amount
    figures.refunds_at_provider = sum(moved.values())
    for key, count in moved.items():
        if count > 1:
            figures.refunds_duplicated += count - 1
            figures.problem(f"refund {key} moved money {count} times")
    for key in sorted(set(moved) - set(decided)):
        figures.refunds_without_decision += 1
        figures.problem(f"refund {key} failed in the case but moved money" if key in failed else f"money moved for {key} without a refund decision")
    for key, amount in decided.items():
        if key not in moved:
            figures.refund_decisions_without_refund += 1
            figures.problem(f"no money moved for {key}")
        elif amounts[key] != amount:
            figures.refund_decisions_without_refund += 1
            figures.problem(f"{key}: provider moved {amounts[key]}, case says {amount}")
    provider.engine.dispose()


def _check_store(views: dict[str, CaseView], store: Store, figures: Figures) -> None:
    for case_id, shown in views.items():
        drift = differences(store, shown)
        if drift:
            figures.store_drift += 1
            figures.problem(f"store drift {case_id}: {drift}")
    store.engine.dispose()


class BudgetSpent(Exception):
    pass


class Budget:
    """The run's wall clock: each step gets what is left of it, and the one that runs out is named."""

    def __init__(self, seconds: float, figures: Figures):
        self.seconds = seconds
        self.until = time.monotonic() + seconds
        self.figures = figures

    async def step(self, name: str, work: Awaitable):
        try:
            async with asyncio.timeout(max(self.until - time.monotonic(), 0.01)) as limit:
                return await work
        except TimeoutError:
            if not limit.expired():
                raise
            self.figures.budget_ran_out_in = name
            self.figures.problem(f"budget: the run's {self.seconds:.0f} s ran out during {name}")
            raise BudgetSpent(name) from None


async def run(config: Config, home: Path) -> Figures:
    cluster = Cluster(config, home)  # on the cluster topology, this builds Temporal first unless the cache has it
    figures = Figures(cases=config.cases, workers=config.workers, server_restarts_planned=config.server_restarts * len(cluster.server.parts))
    budget = Budget(config.budget_seconds, figures)
    rng = random.Random(config.seed)
    started = time.monotonic()
    await asyncio.to_thread(cluster.start_server)
    stop = asyncio.Event()
    chaos: asyncio.Task | None = None
    try:
        client = await budget.step("start", _connect(cluster))
        Store(cluster.env["DATABASE_URL"]).migrate()
        cluster.revive()
        driver = Driver(client, figures)
        gate = asyncio.Semaphore(config.concurrency)
        paths = config.paths

        async def play(number: int) -> None:
            async with gate:
                case_id = await driver.open(number)
                path = paths[number % len(paths)]
                try:
                    await path(driver, case_id)
                    await driver.finish(case_id)
                except Exception as err:
                    raise RuntimeError(f"case {case_id} ({path.__name__}): {type(err).__name__}: {err}") from err

        chaos = asyncio.create_task(killer(cluster, config, figures, stop, rng))
        results = await budget.step("play", asyncio.gather(*(play(n) for n in range(config.cases)), return_exceptions=True))
        stop.set()
        await budget.step("the last faults", chaos)
        errors = [r for r in results if isinstance(r, BaseException)]
        figures.driver_errors = len(errors)
        for error in errors:
            figures.problem(f"driver: {type(error).__name__}: {str(error)[:300]}")
        await budget.step("verify", verify(client, driver, cluster, config, figures))
    except BudgetSpent:
        pass
    finally:
        stop.set()
        if chaos is not None and not chaos.done():
            chaos.cancel()
        cluster.stop()
    figures.seconds = time.monotonic() - started
    return figures


def _seconds_range(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    try:
        span = (float(low), float(high))
    except ValueError:
        raise argparse.ArgumentTypeError("two numbers of seconds, MIN,MAX") from None
    if not 0 < span[0] <= span[1]:
        raise argparse.ArgumentTypeError("MIN must be above 0 and at most MAX")
    return span


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=Config.cases)
    parser.add_argument("--workers", type=int, default=Config.workers)
    parser.add_argument("--server-restarts", type=int, default=Config.server_restarts)
    parser.add_argument("--seed", type=int, default=Config.seed)
    parser.add_argument(
        "--kill-every",
        type=_seconds_range,
        default=Config.kill_every,
        metavar="MIN,MAX",
        help="seconds between worker kills, drawn between MIN and MAX (default 2,5)",
    )
    parser.add_argument("--budget", type=int, default=Config.budget_seconds, help="seconds the whole run may take (default %(default)s)")
    parser.add_argument("--only", choices=[p.__name__ for p in PATHS], help="play this path in every case")
    parser.add_argument("--control", choices=sorted(CONTROLS), help="negative control: the workers run a workflow whose histories cannot replay")
    parser.add_argument("--out", type=Path, default=Config.out)
    parser.add_argument(
        "--topology",
        choices=["dev-server", "cluster"],
        default=Config.topology,
        help="cluster: Temporal's four services on PostgreSQL, built as make cluster builds them; each service and PostgreSQL are restarted in turn",
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (server, worker logs, databases, each case's history)")
    parser.add_argument(
        "--sabotage",
        action="store_true",
        help="negative control: the provider forgets idempotency keys at once and loses the first answer of every refund, so the checks must find refunds paid twice",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    if arguments.workers < 2:
        parser.error("--workers: at least 2, so that one is always alive while another is killed")
    config = Config(
        cases=arguments.cases,
        workers=arguments.workers,
        server_restarts=arguments.server_restarts,
        seed=arguments.seed,
        kill_every=arguments.kill_every,
        out=arguments.out,
        sabotage=arguments.sabotage,
        budget_seconds=arguments.budget,
        only=arguments.only,
        control=arguments.control,
        topology=arguments.topology,
    )
    # The SDK warns at every retried call while the server is down; this run expects that.
    quiet = TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")))
    Runtime.set_default(Runtime(telemetry=quiet))
    home = Path(tempfile.mkdtemp(prefix="chaos-"))
    if arguments.keep:
        config.keep_histories = home / "histories"
    figures = asyncio.run(run(config, home))
    config.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {**asdict(config), "out": str(config.out), "keep_histories": str(config.keep_histories) if config.keep_histories else None}
    config.out.write_text(json.dumps({"config": settings, "figures": asdict(figures), "clean": figures.clean()}, indent=2) + "\n")
    for problem in figures.problems[:30]:
        print(f"  {problem}")
    print(figures.line(), flush=True)
    if arguments.keep:
        print(f"run folder: {home}")
    else:
        subprocess.run(["rm", "-rf", str(home)], check=False)
    return 0 if figures.clean() else 1


if __name__ == "__main__":
    os._exit(main())  # os._exit: the SDK's exit-time GIL message (sdk-python#300) must not change the code


def _exited(worker: subprocess.Popen[bytes] | None) -> bool:
    return worker is None or worker.poll() is not None
