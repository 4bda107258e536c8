"""The worker process: runs case workflows and their activities until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkerDeploymentConfig

from activities.case_activities import CaseActivities
from activities.payments import EmbeddedGateway, PaymentGateway
from activities.provider_double import Faults, ProviderDouble
from activities.webhooks import WebhookActivities
from config.settings import Settings
from starter.client import connect, start_delivery
from store.database import Store
from telemetry.setup import configure_logging, install_runtime
from workflows.refund_case import RefundCaseWorkflow
from workflows.webhook_delivery import WebhookDeliveryWorkflow

log = logging.getLogger("refund_cases.worker")

# Workflows run outside the SDK's sandbox. The sandbox imports the workflow modules afresh for every
# case it runs or brings back into its cache: with a thousand cases cached that was a third of the
# worker's memory, and it tripled how late deadlines fired in a storm (docs/performance.md). What it
# checked (the wall clock, randomness, I/O, in the workflow module only: the engine in cases/ was
# passed through) tests/unit/test_determinism.py checks in every module the workflows import, and the
# replay tests replay recorded cases on every change.
WORKFLOW_RUNNER = UnsandboxedWorkflowRunner()


def build_worker(
    client: Client,
    settings: Settings,
    store: Store,
    pool: ThreadPoolExecutor,
    gateway: PaymentGateway | None = None,
    case_workflow: type = RefundCaseWorkflow,
) -> Worker:
    """Called from the event loop the worker will run on (its webhook dispatcher starts workflows there).
    `case_workflow` is for the negative controls of the replay checks (bench/controls.py) only."""
    gateway = gateway or gateway_for(settings, store)
    dispatch = webhook_dispatcher(client, settings.temporal_task_queue, store, asyncio.get_running_loop())
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=[case_workflow, WebhookDeliveryWorkflow],
        activities=[*CaseActivities(store, gateway, dispatch).all(), *WebhookActivities(store, settings.webhook_private_targets).all()],
        activity_executor=pool,
        max_cached_workflows=settings.worker_max_cached_cases,
        deployment_config=deployment_config(settings),
        workflow_runner=WORKFLOW_RUNNER,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """With a build id, the worker is one version of the deployment: a case runs on the version it
    started on (pinned) until it continues as new, which it does at its next quiet moment once the
    deployment's current version has changed (docs/changing-workflow-code.md)."""
    if settings.worker_build_id is None:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=settings.worker_deployment_name, build_id=settings.worker_build_id),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


def webhook_dispatcher(client: Client, task_queue: str, store: Store, loop: asyncio.AbstractEventLoop) -> Callable[[str], None]:
    """Starts one WebhookDelivery workflow per delivery a case's transition wrote to the outbox (or a
    redelivery a crash left undispatched). Called from activity threads."""

    async def start(delivery_ids: list[str]) -> None:
        for delivery_id in delivery_ids:
            await start_delivery(client, task_queue, delivery_id)

    def dispatch(case_id: str) -> None:
        delivery_ids = store.undispatched_deliveries(case_id)
        if delivery_ids:
            asyncio.run_coroutine_threadsafe(start(delivery_ids), loop).result(timeout=60)
            for delivery_id in delivery_ids:
                store.update_delivery(delivery_id, dispatched_at=datetime.now(UTC))

    return dispatch


def gateway_for(settings: Settings, store: Store) -> PaymentGateway:
    if settings.refund_gateway == "provider-double":
        faults = Faults(
            settings.provider_unavailable_rate,
            settings.provider_timeout_rate,
            settings.provider_reject_amount,
            settings.provider_lose_first_answer,
        )
        return ProviderDouble(settings.provider_double_url, faults, timedelta(seconds=settings.provider_key_retention_seconds))
    return EmbeddedGateway(store, settle_later=settings.refund_gateway == "embedded-pending")


async def serve(settings: Settings, stop: asyncio.Event, case_workflow: type = RefundCaseWorkflow, interceptors: Sequence = ()) -> None:
    install_runtime(settings, settings.worker_metrics_port)
    store = Store(settings.database_url)
    store.migrate()
    client = await connect(settings, interceptors)
    with ThreadPoolExecutor(max_workers=settings.activity_threads) as pool:
        worker = build_worker(client, settings, store, pool, case_workflow=case_workflow)
        async with worker:
            log.info(
                "worker polling %s on %s (%s); metrics on %s",
                settings.temporal_task_queue,
                settings.temporal_address,
                settings.temporal_namespace,
                f"http://{settings.metrics_host}:{settings.worker_metrics_port}/metrics" if settings.worker_metrics_port else "no port",
            )
            await stop.wait()
            log.info("shutting down: finishing running activities")
    store.engine.dispose()


def main(case_workflow: type = RefundCaseWorkflow, interceptors: Sequence = ()) -> None:
    settings = Settings()
    configure_logging(settings)
    stop = asyncio.Event()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop, case_workflow, interceptors)

    asyncio.run(run())


if __name__ == "__main__":
    main()
