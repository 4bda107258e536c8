"""`make bench-cluster`: the same cases on the dev server and on the cluster (`make cluster`'s Temporal:
four services on PostgreSQL), with one worker and with three, in one run.

For each of the four setups: cases per second (full-refund cases, opened and answered `--cases` at a
time, whole case to its end; median of `--batches` batches), the seller's answer to the money moving
(from the update accepted to the refund activity completed, by the server's clock, p50 and p99 of
`--samples` cases one after another), and the peak resident memory of each server process (each Temporal
service; the dev server) and of the workers. Figures go to bench/results/cluster.json.

    .venv/bin/python -m bench.cluster_bench [--cases 40] [--batches 3] [--samples 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.cases_bench import QUEUE, SELLER_READS, _accepted_to_refunded_ms, _open, _ours, _percentiles, _rate, full_refund
from bench.chaos import Cluster, Config, DevServer, OnTemporalCluster
from bench.chaos import _connect as connect_to
from cluster.temporal import peak_kib
from store.database import Store
from workflows.refund_case import workflow_id

HERE = Path(__file__).parent
OUT = HERE / "results" / "cluster.json"


def _peak_mb(pid: int) -> float:
    return round(peak_kib(pid) / 1024, 1)


def _server_memory(cluster: Cluster) -> dict[str, float]:
    if isinstance(cluster.server, OnTemporalCluster):
        return {role: round(kib / 1024, 1) for role, kib in cluster.server.temporal.memory().items()}
    assert isinstance(cluster.server, DevServer) and cluster.server.process is not None
    return {"dev server": _peak_mb(cluster.server.process.pid)}


async def one_setup(topology: str, workers: int, arguments: argparse.Namespace, home: Path) -> dict:
    cluster = Cluster(Config(workers=workers, topology=topology), home, REFUND_GATEWAY="embedded", TEMPORAL_TASK_QUEUE=QUEUE)
    await asyncio.to_thread(cluster.start_server)
    try:
        client = await connect_to(cluster)
        Store(cluster.env["DATABASE_URL"]).migrate()
        cluster.revive()
        await cluster.polling(client.client)
        await _ours(client, full_refund, "direct_service")  # warm: the first case pays for imports and connections
        rates = [await _rate(arguments.cases, lambda: _ours(client, full_refund, "direct_service")) for _ in range(arguments.batches)]
        to_money = []
        for _ in range(arguments.samples):
            case_id = await _open(client)
            await asyncio.sleep(SELLER_READS)
            await full_refund(client, case_id)
            to_money.append(_accepted_to_refunded_ms(await client.client.get_workflow_handle(workflow_id(case_id)).fetch_history()))
        workers_mb = [_peak_mb(w.pid) for w in cluster.workers if w is not None and w.poll() is None]
        row = {
            "topology": topology,
            "workers": workers,
            "cases_per_s": round(statistics.median(rates), 1),
            "batches_cases_per_s": [round(r, 1) for r in rates],
            **{f"answer_to_money_{key}": value for key, value in _percentiles(to_money, "").items()},
            "server_peak_mb": _server_memory(cluster),
            "worker_peak_mb": max(workers_mb) if workers_mb else None,
        }
        print(
            f"  {topology:<10} {workers} worker(s): {row['cases_per_s']} cases/s (batches {row['batches_cases_per_s']}); "
            f"answer to money p50 {row['answer_to_money_p50_ms']} ms, p99 {row['answer_to_money_p99_ms']} ms; "
            f"server peak MB {row['server_peak_mb']}, worker peak {row['worker_peak_mb']} MB",
            flush=True,
        )
        return row
    finally:
        cluster.stop()


async def run(arguments: argparse.Namespace) -> list[dict]:
    rows = []
    for topology in ("dev-server", "cluster"):
        for workers in (1, 3):
            rows.append(await one_setup(topology, workers, arguments, Path(tempfile.mkdtemp(prefix=f"bench-{topology}-{workers}-"))))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=40, help="cases played at once in a batch")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--samples", type=int, default=40, help="answer-to-money samples, one case at a time")
    parser.add_argument("--out", type=Path, default=OUT)
    arguments = parser.parse_args(argv)
    started = time.monotonic()
    rows = asyncio.run(run(arguments))
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    machine = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
    settings = {"cases": arguments.cases, "batches": arguments.batches, "samples": arguments.samples}
    arguments.out.write_text(json.dumps({"machine": machine, "settings": settings, "setups": rows}, indent=2) + "\n")
    print(f"written to {arguments.out} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    os._exit(main())  # os._exit: the SDK's exit-time GIL message (sdk-python#300) must not change the code
