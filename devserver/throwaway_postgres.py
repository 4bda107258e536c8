"""A throwaway PostgreSQL cluster on loopback, for the store's tests and benchmark.

Installs Debian's `postgresql` package when its binaries are missing (apt, as root or with password-less
sudo), then runs `initdb` into a fresh temporary folder and starts the server on a free port of
127.0.0.1 with durability turned off (nothing here needs to survive a crash). As root it runs the
server as the `postgres` user the package creates, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from devserver.ports import free_port

PG_ROOT = Path("/usr/lib/postgresql")


def bindir() -> Path:
    """The newest installed server's binaries, installing the package first if there is none."""
    found = sorted(PG_ROOT.glob("*/bin/initdb"))
    if not found:
        apt_install("postgresql")
        found = sorted(PG_ROOT.glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL: `apt-get install postgresql` did not provide initdb under /usr/lib/postgresql")
    return found[-1].parent


def apt_install(package: str) -> None:
    """Installs a Debian package, as root or with password-less sudo; updates the lists only if needed."""
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, "apt-get", "install", "-y", "--no-install-recommends", package]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run([*sudo, "apt-get", "update"], env=env, capture_output=True, check=True)
        subprocess.run(install, env=env, capture_output=True, check=True)


class ThrowawayPostgres:
    """`with ThrowawayPostgres() as pg: pg.url` — a database `cases` that is gone afterwards.

    `durable=True` keeps PostgreSQL's defaults (fsync, synchronous commit), for a run that kills and
    restarts the server and counts on every acknowledged commit; `database=None` creates none."""

    def __init__(self, database: str | None = "cases", superuser: str = "postgres", durable: bool = False):
        self.database = database
        self.superuser = superuser
        self.durable = durable
        self.bin = bindir()
        self.root = Path(tempfile.mkdtemp(prefix="refund-cases-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_server_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.superuser}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.as_server_user, str(self.bin / tool), *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"PostgreSQL {tool} failed: {done.stderr or done.stdout}")

    def __enter__(self) -> ThrowawayPostgres:
        if self.as_server_user:
            shutil.chown(self.root, user="postgres", group="postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.superuser, "-E", "UTF8", "--no-sync")
        self.start()
        if self.database:
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.superuser, self.database)
        return self

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root}"
        if not self.durable:
            options += " -F -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options, "-w", "start")

    def crash(self) -> None:
        """Stops the server as a crash would (no checkpoint; the next start recovers from the WAL)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def __exit__(self, *exc) -> None:
        try:
            self.crash()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
