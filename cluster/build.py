"""Temporal's server, its SQL schema tool and the UI server, built with the Go toolchain from their Go
modules (the Go module proxy) at the versions docker-compose.yml pins, into a cache folder that later
runs reuse. Each build goes to a `.partial` folder first and is renamed when complete, so an
interrupted build is never taken for a finished one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cluster.compose import ROOT, SERVER_IMAGE, UI_IMAGE, Compose

CACHE = ROOT / ".cache" / "temporal"
SERVER_MODULE = "go.temporal.io/server"
UI_MODULE = "github.com/temporalio/ui-server/v2"


@dataclass(frozen=True)
class Built:
    server_version: str
    ui_version: str
    server_root: Path  # bin/temporal-server, bin/temporal-sql-tool, config/docker.yaml, schema/
    ui_root: Path  # bin/ui-server, config/base.yaml

    @property
    def server(self) -> Path:
        return self.server_root / "bin" / "temporal-server"

    @property
    def sql_tool(self) -> Path:
        return self.server_root / "bin" / "temporal-sql-tool"

    @property
    def schema(self) -> Path:
        return self.server_root / "schema" / "postgresql" / "v12"

    @property
    def ui_server(self) -> Path:
        return self.ui_root / "bin" / "ui-server"


def build(compose: Compose | None = None, cache: Path = CACHE, say: Callable[[str], None] = print) -> Built:
    """The binaries of the versions the compose file pins, built unless the cache has them."""
    compose = compose or Compose.load()
    server_version, ui_version = compose.image_version(SERVER_IMAGE), compose.image_version(UI_IMAGE)
    built = Built(server_version, ui_version, cache / f"server-v{server_version}", cache / f"ui-server-v{ui_version}")
    _once(built.server_root, f"Temporal server {server_version} and its SQL tool", lambda into: _server(server_version, into), say)
    _once(built.ui_root, f"Temporal UI server {ui_version}", lambda into: _ui_server(ui_version, into), say)
    return built


def _once(folder: Path, what: str, make: Callable[[Path], None], say: Callable[[str], None]) -> None:
    if folder.exists():
        say(f"{what}: built already, in {folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder}")
        return
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    say(f"{what}: building from the Go module proxy (a few minutes the first time)…")
    started = time.monotonic()
    make(partial)
    partial.rename(folder)
    say(f"{what}: built in {time.monotonic() - started:.0f} s")


def _go(*args: str, cwd: Path | None = None, **env: str) -> str:
    done = subprocess.run(["go", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, "GOFLAGS": "-buildvcs=false", **env})
    if done.returncode != 0:
        raise RuntimeError(f"go {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def _module_source(module: str, version: str) -> Path:
    """The module's source, downloaded into Go's module cache (read-only there)."""
    return Path(json.loads(_go("mod", "download", "-json", f"{module}@v{version}"))["Dir"])


def _server(version: str, into: Path) -> None:
    """The server and the SQL tool (built as upstream builds it: no cgo, no gRPC modules), with the
    server's own environment-driven config (config/docker.yaml, what its image runs) and schemas."""
    source = _module_source(SERVER_MODULE, version)
    bin_ = into / "bin"
    _go("install", f"{SERVER_MODULE}/cmd/server@v{version}", GOBIN=str(bin_))
    _go("install", "-tags", "disable_grpc_modules", f"{SERVER_MODULE}/cmd/tools/sql@v{version}", GOBIN=str(bin_), CGO_ENABLED="0")
    (bin_ / "server").rename(bin_ / "temporal-server")
    (bin_ / "sql").rename(bin_ / "temporal-sql-tool")
    (into / "config").mkdir()
    shutil.copyfile(source / "config" / "docker.yaml", into / "config" / "docker.yaml")
    shutil.copytree(source / "schema", into / "schema")


def _ui_server(version: str, into: Path) -> None:
    """The UI server's go.mod replaces a dependency, which `go install module@version` refuses: it is
    built inside a copy of its own module instead (the UI's assets are embedded in it)."""
    source = _module_source(UI_MODULE, version)
    work = into.with_name(into.name + ".src")
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work)
    try:
        for path in [work, *work.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        _go("build", "-o", str(into / "bin" / "ui-server"), "./cmd/server", cwd=work)
        (into / "config").mkdir()
        shutil.copyfile(source / "config" / "base.yaml", into / "config" / "base.yaml")
    finally:
        shutil.rmtree(work, ignore_errors=True)
