"""`make run`: the Temporal dev server (SQLite file under .data/), the worker, and the demo cases.
Ctrl-C stops it all; the next run finds every earlier case in .data/."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from starter.client import CaseClient
from starter.demo import feed_order_volumes, play
from starter.store_cli import open_store
from starter.settings import Settings
from workflows import search_attributes

DATA = Path(".data")
BIN = Path(sys.executable).parent
UI = "http://localhost:8233"


def start_server() -> subprocess.Popen:
    DATA.mkdir(exist_ok=True)
    log = open(DATA / "temporal.log", "ab")  # noqa: SIM115 - lives as long as the server
    command = [
        str(BIN / "temporal"), "server", "start-dev",
        "--db-filename", str(DATA / "temporal.db"),
        "--ip", "127.0.0.1", "--port", "7233", "--ui-port", "8233",
        "--log-level", "warn",
        *search_attributes.cli_flags(),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def start_worker() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "worker"], start_new_session=True, env=os.environ.copy())


async def connect_when_ready(settings: Settings, server: subprocess.Popen, seconds: int = 60) -> CaseClient:
    for _ in range(seconds * 4):
        if server.poll() is not None:
            raise SystemExit(f"the Temporal dev server exited ({server.returncode}); see {DATA / 'temporal.log'}")
        try:
            return await CaseClient.connect(settings)
        except RuntimeError:
            await asyncio.sleep(0.25)
    raise SystemExit(f"the Temporal dev server did not answer within {seconds} s; see {DATA / 'temporal.log'}")


async def main() -> None:
    settings = Settings()
    server = start_server()
    worker = None
    try:
        client = await connect_when_ready(settings, server)
        worker = start_worker()
        print("opening demo cases…", flush=True)
        from rich.console import Console

        from starter import render

        render.demo(Console(), await play(client))
        feed_order_volumes(open_store(), datetime.now(UTC).date())
        print(f"\nTemporal UI: {UI}   (cases are workflows with ids case-…; filter e.g. CaseStatus=\"awaiting_support\")")
        print("Try: .venv/bin/refund-cases list    — Ctrl-C stops the server and the worker.", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        while not stop.is_set() and server.poll() is None and worker.poll() is None:
            try:
                await asyncio.wait_for(stop.wait(), timeout=1)
            except TimeoutError:
                pass
    finally:
        for process in (worker, server):
            if process and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (worker, server):
            if process:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        print("stopped.")


if __name__ == "__main__":
    asyncio.run(main())
