"""The whole compose topology on this machine: Temporal on PostgreSQL (cluster/temporal.py), then the
case store's migration job, our workers (as many as the file's replicas), the HTTP API, the codec
server and the UI server pointed at them, each a process on loopback with the environment the compose
file gives its container, its hosts moved here. Two things differ, both because no identity provider
runs here: the codec server admits this machine's callers (as under `make run`) instead of OIDC, and
the UI signs nobody in."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from api.auth import write_dev_tokens
from cluster.build import Built
from cluster.compose import UI_IMAGE, Compose
from cluster.temporal import TemporalOnPostgres
from devserver.ports import free_port, wait_for_port

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Ports:
    frontend: int
    ui: int
    api: int
    api_metrics: int
    codec: int

    @classmethod
    def published(cls, compose: Compose) -> Ports:
        """The host ports the compose file publishes: what `make cluster` listens on."""
        api, api_metrics = compose.published("api")
        (frontend,), (ui,), (codec,) = compose.published("temporal-frontend"), compose.published("temporal-ui"), compose.published("codec-server")
        return cls(frontend=frontend, ui=ui, api=api, api_metrics=api_metrics, codec=codec)

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port())


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    where: str


@dataclass
class Fleet:
    built: Built
    home: Path
    ports: Ports
    compose: Compose = field(default_factory=Compose.load)
    workers: int | None = None  # default: the compose file's replicas
    processes: list[Process] = field(default_factory=list)
    temporal: TemporalOnPostgres | None = None
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.ports.ui}"

    @property
    def codec_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.codec}"

    @property
    def tokens(self) -> Path:
        """Each role's plain API token, a file per caller (as `make run` writes them)."""
        return self.home / "api-dev-tokens"

    def start(self, say=print) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.temporal = TemporalOnPostgres(self.built, self.home, frontend_port=self.ports.frontend, compose=self.compose)
        self.temporal.start(say)
        write_dev_tokens(self.home / "api-tokens.json", self.tokens)
        key = base64.b64encode(os.urandom(32)).decode()
        self.variables = {
            **self.temporal.secrets,
            "CODEC_KEYS": f"cluster={key}",
            "API_TOKENS": (self.home / "api-tokens.json").read_text(),
            "UI_URL": self.ui_url,
            "CODEC_URL": self.codec_url,
            **{
                name: "unused-on-loopback"
                for name in ("OIDC_ISSUER", "CODEC_OIDC_AUDIENCE", "CODEC_OIDC_GROUP", "UI_OIDC_CLIENT_ID", "UI_OIDC_CLIENT_SECRET")
            },
        }
        self._job("case-store-migrate")
        count = self.workers or self.compose.services["worker"].get("deploy", {}).get("replicas", 1)
        for index in range(count):
            metrics = free_port()
            self._ours("worker", f"worker-{index + 1}", f"metrics 127.0.0.1:{metrics}", WORKER_METRICS_PORT=str(metrics))
        self._ours("api", "api", self.api_url, API_PORT=str(self.ports.api), API_METRICS_PORT=str(self.ports.api_metrics))
        self._ours("codec-server", "codec-server", self.codec_url, CODEC_SERVER_PORT=str(self.ports.codec), CODEC_SERVER_AUTH="loopback")
        self._ui()
        for process in self.processes:
            say(f"{process.name:<17} pid {process.popen.pid:<7} {process.where}")
        self._wait_healthy()
        wait_for_port(self.ports.ui, 60)

    def _env(self, service: str, **extra: str) -> dict[str, str]:
        """The service's compose environment, its hosts moved to loopback."""
        assert self.temporal is not None
        moves = {
            "temporal-frontend:7233": self.temporal.address,
            "postgresql:5432": f"127.0.0.1:{self.temporal.postgres.port}",
            "0.0.0.0": "127.0.0.1",
        }
        env = self.compose.environment(service, self.variables)
        for key, value in env.items():
            for old, new in moves.items():
                value = value.replace(old, new)
            env[key] = value
        env = {key: value for key, value in env.items() if not key.startswith("CODEC_OIDC_")}
        if "EVIDENCE_STORE" in env:
            env["EVIDENCE_STORE"] = str(self.home / "evidence")
        return {**os.environ, **env, **extra}

    def _command(self, service: str) -> list[str]:
        """The service's compose command, run with this environment's interpreter and scripts."""
        program, *args = self.compose.services[service]["command"]
        return [sys.executable if program == "python" else str(BIN / program), *args]

    def _job(self, service: str) -> None:
        log = self.home / f"{service}.log"
        with log.open("ab") as out:
            done = subprocess.run(self._command(service), env=self._env(service), stdout=out, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise RuntimeError(f"{service} exited {done.returncode}:\n{log.read_text()[-2000:]}")

    def _ours(self, service: str, name: str, where: str, **extra: str) -> None:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        popen = subprocess.Popen(
            self._command(service), env=self._env(service, **extra), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append(Process(name, popen, where))

    def _ui(self) -> None:
        """The UI server, configured from the compose file's temporal-ui environment."""
        assert self.temporal is not None
        ui = self.compose.environment("temporal-ui", self.variables)
        root = self.home / "ui"
        (root / "config").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.built.ui_root / "config" / "base.yaml", root / "config" / "base.yaml")
        config = {
            "temporalGrpcAddress": self.temporal.address,
            "port": self.ports.ui,
            "enableUi": True,
            "defaultNamespace": ui.get("TEMPORAL_DEFAULT_NAMESPACE", "default"),
            "disableWriteActions": ui.get("TEMPORAL_DISABLE_WRITE_ACTIONS") == "true",
            "cors": {"allowOrigins": [self.ui_url], "cookieInsecure": True},
            "codec": {"endpoint": self.codec_url, "passAccessToken": False},
            "auth": {"enabled": False},
            "notifyOnNewVersion": False,
        }
        (root / "config" / "cluster.yaml").write_text(yaml.safe_dump(config))
        log = open(self.home / "ui-server.log", "ab")  # noqa: SIM115
        command = [str(self.built.ui_server), "--root", str(root), "--config", "config", "--env", "cluster", "start"]
        popen = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        version = self.compose.image_version(UI_IMAGE)
        self.processes.append(Process(f"ui-server {version}", popen, self.ui_url))

    def _wait_healthy(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        for url in (f"{self.api_url}/healthz", f"{self.codec_url}/healthz"):
            while True:
                try:
                    if httpx.get(url, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not answer 200 within {seconds:.0f} s; see the logs in {self.home}")
                time.sleep(0.25)

    def token(self, caller: str) -> str:
        return (self.tokens / caller).read_text().strip()

    def exited(self) -> list[str]:
        """The processes (ours, the UI server, Temporal's services) that are no longer running."""
        assert self.temporal is not None
        gone = [p.name for p in self.processes if p.popen.poll() is not None]
        return gone + [f"temporal {s.name}" for s in self.temporal.services.values() if s.process and s.process.poll() is not None]

    def stop(self) -> None:
        for process in self.processes:
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.popen.kill()
        if self.temporal is not None:
            self.temporal.stop()


def describe(fleet: Fleet) -> str:
    """What `make cluster` prints once everything answers."""
    assert fleet.temporal is not None
    lines = [
        "",
        f"Temporal frontend: {fleet.temporal.address}   namespace {fleet.temporal.namespace}",
        f"Temporal UI:       {fleet.ui_url}   (cases are workflows case-…; payloads decrypted through the codec server)",
        f"HTTP API:          {fleet.api_url}   (a token per role in {fleet.tokens}/)",
        f"Codec server:      {fleet.codec_url}",
        f"Logs:              {fleet.home}/",
        "Ctrl-C stops everything and deletes the throwaway PostgreSQL.",
    ]
    return "\n".join(lines)
