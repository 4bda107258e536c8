"""`make run`: the Temporal dev server (SQLite file under .data/), the worker, the codec server and the
demo cases. Payloads are encrypted with the key in .data/codec-keys.json (made on the first run); the
UI reads them through the codec server, which serves this machine only (the dev UI signs nobody in). Ctrl-C stops it all;
the next run finds every earlier case in .data/."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from api.auth import write_dev_tokens
from cases.case import GENERATION
from codec.encryption import Keyring
from config.settings import Settings
from starter.client import CaseClient
from starter.command_context import evidence_files, open_store
from starter.demo import feed_order_volumes, play
from workflows import search_attributes

DATA = Path(".data")
DEV_TOKENS = DATA / "api-dev-tokens"
# What wrote .data/: a folder without this file, or with another generation in it, holds cases that
# today's workflow code cannot replay.
WRITTEN_BY = "written-by"
BIN = Path(sys.executable).parent
UI = "http://localhost:8233"


def start_server(codec_endpoint: str | None) -> subprocess.Popen:
    DATA.mkdir(exist_ok=True)
    log = open(DATA / "temporal.log", "ab")  # noqa: SIM115 - lives as long as the server
    command = server_command(DATA / "temporal.db", 7233, "--ui-port", "8233", *(["--ui-codec-endpoint", codec_endpoint] if codec_endpoint else []))
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def server_command(database: Path, port: int, *flags: str) -> list[str]:
    """The dev server on a database file, on loopback, with our search attributes. Its SQLite runs in
    WAL mode: the default rollback journal cost the server 13-14 ms of CPU per fired timer against
    9 ms, and in a burst of deadlines it fired them at 41 a second against 58 (docs/performance.md).
    Still synchronous=FULL: a committed transaction survives a crash of the machine."""
    return [
        str(BIN / "temporal"), "server", "start-dev", "--db-filename", str(database),
        "--sqlite-pragma", "journal_mode=wal",
        "--ip", "127.0.0.1", "--port", str(port), "--log-level", "warn",
        *search_attributes.cli_flags(), *flags,
    ]  # fmt: skip


def start_worker() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "worker"], start_new_session=True, env=os.environ.copy())


def start_api() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "api"], start_new_session=True, env=os.environ.copy())


def start_codec_server() -> subprocess.Popen:
    env = {**os.environ, "CODEC_SERVER_AUTH": "loopback"}
    return subprocess.Popen([sys.executable, "-m", "codec.server"], start_new_session=True, env=env)


async def connect_when_ready(settings: Settings, server: subprocess.Popen, seconds: int = 60) -> CaseClient:
    for _ in range(seconds * 4):
        if server.poll() is not None:
            raise SystemExit(f"the Temporal dev server exited ({server.returncode}); see {DATA / 'temporal.log'}")
        try:
            return await CaseClient.connect(settings)
        except RuntimeError:
            await asyncio.sleep(0.25)
    raise SystemExit(f"the Temporal dev server did not answer within {seconds} s; see {DATA / 'temporal.log'}")


def set_aside_older_data(data: Path = DATA, at: datetime | None = None) -> Path | None:
    """Moves a data folder written by older code (before 1.0, or another code generation) aside, whole,
    and returns where it went; marks the folder as today's. Nothing is deleted: the old cases' histories,
    keys and store stay readable in the folder it was moved to."""
    marker = data / WRITTEN_BY
    today = f"refund-cases generation {GENERATION}\n"
    moved = None
    if data.exists() and (not marker.exists() or marker.read_text() != today):
        written = f"generation-{marker.read_text().split()[-1]}" if marker.exists() else "before-1.0"
        moved = data.with_name(f"{data.name}.{written}-{(at or datetime.now(UTC)):%Y%m%dT%H%M%S}")
        data.rename(moved)
    data.mkdir(exist_ok=True)
    marker.write_text(today)
    return moved


async def main() -> None:
    if moved := set_aside_older_data():
        print(
            f"{DATA}/ was written by older code, whose cases this code cannot replay: moved aside to {moved}/ (nothing deleted); starting afresh",
            flush=True,
        )
    os.environ.setdefault("WEBHOOK_PRIVATE_TARGETS", "true")  # everything here is on this machine, subscribers too
    settings = Settings()
    if settings.codec != "off" and settings.codec_keys is None and not settings.codec_key_file.exists():
        print(f"encryption: new key in {Keyring.create(settings.codec_key_file)}", flush=True)
    if settings.api_tokens is None:
        write_dev_tokens(settings.api_tokens_file, DEV_TOKENS)
    codec_server = start_codec_server() if Keyring.configured(settings) else None
    endpoint = f"http://{settings.codec_server_host}:{settings.codec_server_port}"
    server = start_server(endpoint if codec_server else None)
    worker = api = None
    try:
        client = await connect_when_ready(settings, server)
        added = await search_attributes.register(client.client, settings.temporal_namespace)
        if added:
            print(f"registered search attributes {', '.join(added)} (new since this dev server's data was made)", flush=True)
        worker = start_worker()
        api = start_api()
        print("opening demo cases…", flush=True)
        from rich.console import Console

        from starter import render

        store = open_store(settings)
        client.use_store(store).use_evidence(evidence_files(settings, store))  # as the HTTP API composes it
        render.demo(Console(), await play(client, store))
        feed_order_volumes(store, datetime.now(UTC).date())
        print(f'\nTemporal UI: {UI}   (cases are workflows with ids case-…; filter e.g. CaseStatus="awaiting_support")')
        if codec_server:
            print(f"Payloads are encrypted; the UI decrypts them through the codec server at {endpoint} (for this machine only).")
        print(f"HTTP API: http://{settings.api_host}:{settings.api_port} (OpenAPI at /openapi.json; tokens for each role in {DEV_TOKENS}/)")
        metrics = f"http://{settings.metrics_host}:{{}}/metrics"
        print(f"Metrics (Prometheus): worker {metrics.format(settings.worker_metrics_port)}, API {metrics.format(settings.api_metrics_port)}")
        print("Try: .venv/bin/refund-cases list    — Ctrl-C stops the server, the worker and the API.", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        running = [server, worker, api, *([codec_server] if codec_server else [])]
        while not stop.is_set() and all(process.poll() is None for process in running):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1)
    finally:
        for process in (api, worker, codec_server, server):
            if process and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (api, worker, codec_server, server):
            if process:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        print("stopped.")
