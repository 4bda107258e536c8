"""Temporal as docker-compose.yml deploys it, run as processes on loopback: a throwaway PostgreSQL, the
schema job, the server's four services each in its own process, and the namespace job. Each service can
be killed and started again, and PostgreSQL crashed and restarted, for the fault run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from cluster.build import Built
from cluster.compose import ROOT, SERVER_IMAGE, Compose, ComposeError
from devserver.ports import free_port, wait_for_port
from devserver.throwaway_postgres import ThrowawayPostgres

BIN = Path(sys.executable).parent
DEPLOY = ROOT / "deploy"
# Each service's ports, as the server's config names them (FRONTEND_GRPC_PORT, …).
PORTS = {
    "frontend": ("GRPC", "HTTP", "MEMBERSHIP"),
    "history": ("GRPC", "MEMBERSHIP"),
    "matching": ("GRPC", "MEMBERSHIP"),
    "worker": ("GRPC", "MEMBERSHIP"),
}
# The port that says a service is up: its gRPC port, but the worker service serves none.
READY = {"frontend": "GRPC", "history": "GRPC", "matching": "GRPC", "worker": "MEMBERSHIP"}
# The compose service's name is temporal-<role>; its SERVICES variable says the role.
PREFIX = "temporal-"


@dataclass
class Service:
    name: str  # history, matching, frontend, worker
    env: dict[str, str]
    port: int  # it is up once this listens (READY)
    process: subprocess.Popen | None = None


@dataclass
class TemporalOnPostgres:
    built: Built
    home: Path
    namespace: str = "default"
    frontend_port: int = field(default_factory=free_port)
    compose: Compose = field(default_factory=Compose.load)
    secrets: dict[str, str] = field(default_factory=dict)  # the .env variables compose requires
    postgres: ThrowawayPostgres = field(init=False)
    services: dict[str, Service] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.secrets = {"TEMPORAL_DB_PASSWORD": "temporal", "CASES_DB_PASSWORD": "cases", "TEMPORAL_NAMESPACE": self.namespace, **self.secrets}
        self.postgres = ThrowawayPostgres(database=None, superuser=self._postgres_env()["POSTGRES_USER"], durable=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.frontend_port}"

    def start(self, say=print) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.postgres.__enter__()
        say(f"PostgreSQL {self.postgres.bin.parent.name} on 127.0.0.1:{self.postgres.port} (throwaway, in {self.postgres.root})")
        self._job("postgres-init", DEPLOY / "postgres-init.sh", {**self._postgres_env(), "PGHOST": "127.0.0.1", "PGPORT": str(self.postgres.port)})
        self._job("temporal-schema", self.compose.host_path("temporal-schema", "/deploy/temporal-schema.sh"), self._schema_env())
        roles = [name.removeprefix(PREFIX) for name in self.compose.of_image(SERVER_IMAGE)]
        ports = {role: {kind: free_port(below=32768) for kind in kinds} for role, kinds in PORTS.items()}
        ports["frontend"]["GRPC"] = self.frontend_port
        for role in roles:
            env = {
                **self._server_env(PREFIX + role),
                **{f"{r.upper()}_{kind}_PORT": str(p) for r, kinds in ports.items() for kind, p in kinds.items()},
            }
            self.services[role] = Service(role, env, ports[role][READY[role]])
        for role in roles:  # in the compose file's order of start: the first writes the cluster's metadata
            self.start_service(role)
            say(f"Temporal {role:<8} pid {self.services[role].process.pid:<7} {READY[role].lower()} 127.0.0.1:{self.services[role].port}")  # type: ignore[union-attr]
        self._job("temporal-namespace", self.compose.host_path("temporal-namespace", "/deploy/temporal-namespace.sh"), self._namespace_env())

    def _postgres_env(self) -> dict[str, str]:
        return self.compose.environment("postgresql", self.secrets)

    def _on_loopback(self, env: dict[str, str]) -> dict[str, str]:
        """The compose hosts moved to this machine: PostgreSQL's port, the frontend's address."""
        here = {
            "DB_PORT": str(self.postgres.port),
            "VISIBILITY_DB_PORT": str(self.postgres.port),
            "POSTGRES_SEEDS": "127.0.0.1",
            "TEMPORAL_ADDRESS": self.address,
        }
        return {key: here.get(key, value) for key, value in env.items()}

    def _schema_env(self) -> dict[str, str]:
        env = self._on_loopback(self.compose.environment("temporal-schema", self.secrets))
        return {**env, "SCHEMA_DIR": str(self.built.schema), "PATH": f"{self.built.sql_tool.parent}:{os.environ['PATH']}"}

    def _namespace_env(self) -> dict[str, str]:
        env = self._on_loopback(self.compose.environment("temporal-namespace", self.secrets))
        return {**env, "PATH": f"{BIN}:{os.environ['PATH']}"}

    def _server_env(self, service: str) -> dict[str, str]:
        env = self._on_loopback(self.compose.environment(service, self.secrets))
        inside = env["DYNAMIC_CONFIG_FILE_PATH"]
        env["DYNAMIC_CONFIG_FILE_PATH"] = str(self.compose.host_path(service, inside))
        if env.get("SERVICES") != service.removeprefix(PREFIX):
            raise ComposeError(f"{service}: SERVICES is {env.get('SERVICES')!r}, not {service.removeprefix(PREFIX)!r}")
        return {**env, "BIND_ON_IP": "127.0.0.1", "TEMPORAL_BROADCAST_ADDRESS": "127.0.0.1"}

    def _job(self, name: str, script: Path, env: dict[str, str]) -> None:
        """A one-shot job of the compose file, run here; it must exit 0."""
        log = self.home / f"{name}.log"
        with log.open("ab") as out:
            done = subprocess.run(["sh", str(script)], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise RuntimeError(f"{name} ({script.relative_to(ROOT)}) exited {done.returncode}:\n{log.read_text()[-2000:]}")

    def start_service(self, role: str, seconds: float = 60) -> None:
        service = self.services[role]
        log = open(self.home / f"temporal-{role}.log", "ab")  # noqa: SIM115 - lives as long as the process
        command = [str(self.built.server), "--root", str(self.built.server_root), "--config", "config", "--env", "docker", "start", "--service", role]
        service.process = subprocess.Popen(command, env={**os.environ, **service.env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_port(service.port, seconds, alive=lambda: service.process is not None and service.process.poll() is None)
        except TimeoutError:
            why = f"exited ({service.process.returncode})" if service.process.poll() is not None else f"did not listen within {seconds:.0f} s"
            raise RuntimeError(f"Temporal {role} {why}; see {self.home / f'temporal-{role}.log'}") from None

    def kill_service(self, role: str) -> None:
        process = self.services[role].process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def restart_postgres(self) -> None:
        """PostgreSQL crashes (no checkpoint) and starts again, recovering from its WAL."""
        self.postgres.crash()
        time.sleep(1)
        self.postgres.start()

    def database_url(self, database: str, user: str, password: str) -> str:
        return f"postgresql+psycopg://{user}:{password}@127.0.0.1:{self.postgres.port}/{database}"

    def memory(self) -> dict[str, int]:
        """Each service's peak resident memory so far, in KiB."""
        return {role: peak_kib(s.process.pid) for role, s in self.services.items() if s.process and s.process.poll() is None}

    def stop(self) -> None:
        for service in reversed(self.services.values()):
            if service.process is not None and service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        for service in self.services.values():
            if service.process is not None:
                try:
                    service.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    service.process.kill()
        if self.postgres.data.exists():
            self.postgres.__exit__(None, None, None)


def peak_kib(pid: int) -> int:
    """A process's peak resident memory so far (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
