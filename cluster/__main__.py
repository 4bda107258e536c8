"""`make cluster`: builds (or reuses) the pinned binaries, starts the compose topology on loopback,
prints what runs where and waits; Ctrl-C stops everything."""

from __future__ import annotations

import signal
import tempfile
import time
from pathlib import Path

from cluster.build import build
from cluster.compose import Compose
from cluster.fleet import Fleet, Ports, describe


def main() -> None:
    compose = Compose.load()
    started = time.monotonic()
    built = build(compose)
    built_at = time.monotonic()
    fleet = Fleet(built, Path(tempfile.mkdtemp(prefix="refund-cases-cluster-")), Ports.published(compose), compose)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # while starting: stop at once, cleaning up
    try:
        fleet.start()
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        print(describe(fleet))
        print(f"(built or found in {built_at - started:.0f} s, started in {time.monotonic() - built_at:.0f} s)", flush=True)
        while not stopping:
            if gone := fleet.exited():
                print(f"exited: {', '.join(gone)}; stopping (logs in {fleet.home}/)", flush=True)
                break
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        fleet.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    main()
