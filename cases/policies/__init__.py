"""Policy presets: one TOML file per marketplace process, read by the client when a case opens."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from cases.policy import Policy


class PolicyError(ValueError):
    pass


def names() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in resources.files(__package__).iterdir() if p.name.endswith(".toml"))


def load(name: str) -> Policy:
    if name not in names():
        raise PolicyError(f"policy: unknown policy {name!r}; known: {', '.join(names())}")
    return _parse(resources.files(__package__).joinpath(f"{name}.toml").read_text(), f"{name}.toml")


def load_file(path: Path) -> Policy:
    return _parse(path.read_text(), str(path))


def _parse(text: str, source: str) -> Policy:
    try:
        return Policy.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as err:
        raise PolicyError(f"{source}: not valid TOML: {err}") from None
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(policy)'}: {e['msg']}" for e in err.errors())
        raise PolicyError(f"{source}: {problems}") from None
