"""The worker process: runs case workflows and their activities until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.case_activities import CaseActivities
from activities.payments import EmbeddedGateway, PaymentGateway
from activities.provider_double import Faults, ProviderDouble
from starter.client import connect
from starter.settings import Settings
from store.database import Store
from workflows.refund_case import RefundCaseWorkflow

log = logging.getLogger("refund_cases.worker")


def build_worker(
    client: Client, settings: Settings, store: Store, pool: ThreadPoolExecutor, gateway: PaymentGateway | None = None
) -> Worker:
    gateway = gateway or gateway_for(settings, store)
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=[RefundCaseWorkflow],
        activities=CaseActivities(store, gateway).all(),
        activity_executor=pool,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


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


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    store = Store(settings.database_url)
    store.migrate()
    client = await connect(settings)
    with ThreadPoolExecutor(max_workers=settings.activity_threads) as pool:
        worker = build_worker(client, settings, store, pool)
        async with worker:
            log.info("worker polling %s on %s (%s)", settings.temporal_task_queue, settings.temporal_address, settings.temporal_namespace)
            await stop.wait()
            log.info("shutting down: finishing running activities")
    store.engine.dispose()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = asyncio.Event()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(Settings(), stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
