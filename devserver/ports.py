"""A free loopback port, for the servers that tests, the chaos run and the benchmarks start."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable


def free_port(below: int | None = None) -> int:
    """A port nothing listens on; `below` keeps it under a bound (Temporal stores membership ports in
    a smallint: at most 32767, under the kernel's ephemeral range)."""
    if below is None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]
    for port in random.sample(range(20000, below), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError(f"no free loopback port between 20000 and {below}")


def wait_for_port(port: int, seconds: float = 30, alive: Callable[[], bool] = lambda: True) -> None:
    """Returns once something listens on the loopback port; TimeoutError after `seconds`, or at once
    when `alive` says the process that should listen has exited."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")
