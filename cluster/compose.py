"""docker-compose.yml read as the cluster's source: the versions it pins, each service's environment with
its `${…}` variables filled in, the order its `depends_on` gives, the ports it publishes. What runs here
is the file's topology, with its hosts moved to loopback."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]
COMPOSE = ROOT / "docker-compose.yml"
SERVER_IMAGE = "temporalio/server"
UI_IMAGE = "temporalio/ui"
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; $$ is a dollar.
VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class ComposeError(ValueError):
    """The compose file lacks what the cluster needs, or a variable it requires is unset."""


@dataclass(frozen=True)
class Compose:
    services: dict[str, dict]

    @classmethod
    def load(cls, path: Path = COMPOSE) -> Compose:
        return cls(services=yaml.safe_load(path.read_text())["services"])

    def image_version(self, image: str) -> str:
        """The one tag every service of `image` pins (e.g. 1.29.1)."""
        tags = {s["image"].partition(":")[2] for s in self.services.values() if s.get("image", "").partition(":")[0] == image}
        if len(tags) != 1:
            raise ComposeError(f"the services of {image} pin {sorted(tags) or 'no'} versions; the cluster needs exactly one")
        return tags.pop()

    def of_image(self, image: str) -> list[str]:
        """The long-running services of `image`, each after those it depends on."""
        named = [name for name, s in self.services.items() if s.get("image", "").partition(":")[0] == image and s.get("restart") != "no"]
        return sorted(named, key=self._depth)

    def _depth(self, name: str) -> int:
        needs = self.services[name].get("depends_on") or {}
        return 1 + max((self._depth(other) for other in needs), default=0)

    def environment(self, service: str, variables: Mapping[str, str]) -> dict[str, str]:
        """The service's environment as compose would pass it, `${…}` filled from `variables`."""
        raw = self.services[service].get("environment") or {}
        if isinstance(raw, list):
            raw = dict(item.partition("=")[::2] for item in raw)
        return {key: interpolate(str(value), variables, f"{service}: {key}") for key, value in raw.items()}

    def published(self, service: str) -> list[int]:
        """The host ports the service publishes, in the file's order."""
        return [int(str(mapping).split(":")[-2]) for mapping in self.services[service].get("ports") or []]

    def host_path(self, service: str, inside: str) -> Path:
        """The file of this repository that the service mounts at `inside` (a path in its container)."""
        for volume in self.services[service].get("volumes") or []:
            source, _, rest = str(volume).partition(":")
            target = rest.partition(":")[0]
            if source.startswith("./") and (target == inside or target.endswith("/" + inside)):
                return ROOT / source
        raise ComposeError(f"{service}: no file of this repository is mounted at {inside}")


def interpolate(text: str, variables: Mapping[str, str], where: str) -> str:
    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = variables.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op in ("?", ":?") and unset:
            raise ComposeError(f"{where}: {name} is required ({arg})")
        if op in ("-", ":-") and unset:
            return interpolate(arg, variables, where)
        return value or ""

    return VARIABLE.sub(one, text)
