"""CPU per case, process by process: the dev server, our worker, the floor's worker and this client,
from their /proc times over N cases of one path run through RefundCase, then the same through the floor.

    .venv/bin/python -m bench.cpu_per_case "decline, then support" [--batches 4] [--cases 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

from bench.cases_bench import PATHS, _baseline, _ours, _rate, bench_cluster, floor_shape
from bench.chaos import DevServer
from workflows.refund_case import workflow_id


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(path: str, batches: int, cases: int, home: Path) -> None:
    play, policy = PATHS[path]
    async with bench_cluster(home) as (cluster, client, floor_worker):
        sample = await _ours(client, play, policy)
        shape = floor_shape(await client.client.get_workflow_handle(workflow_id(sample)).fetch_history(), policy)
        await _baseline(client.client, shape)
        assert isinstance(cluster.server, DevServer), "measured on the dev server"
        server, worker = cluster.server.process, cluster.workers[0]
        assert server is not None and worker is not None and floor_worker is not None, "the cluster started them all"
        processes = {"server": server.pid, "worker": worker.pid, "floor worker": floor_worker.pid, "client": os.getpid()}
        for label, one in (("ours", lambda: _ours(client, play, policy)), ("floor", lambda: _baseline(client.client, shape))):
            before = {name: cpu_seconds(pid) for name, pid in processes.items()}
            rates = [await _rate(cases, one) for _ in range(batches)]
            spent = {name: round((cpu_seconds(pid) - before[name]) / (batches * cases) * 1000, 1) for name, pid in processes.items()}
            print(f"{label:>5}: {sorted(rates)[len(rates) // 2]:.1f} cases/s (median batch); ms of CPU per case {spent}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", choices=list(PATHS))
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--cases", type=int, default=20, help="cases per batch, run at once")
    arguments = parser.parse_args()
    asyncio.run(measure(arguments.path, arguments.batches, arguments.cases, Path(tempfile.mkdtemp(prefix="cpu-"))))


if __name__ == "__main__":
    main()
