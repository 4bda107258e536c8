"""Policy presets: one TOML file per marketplace process, read by the client when a case opens."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cases.policy import Policy
from cases.strict import field_rules


class PolicyError(ValueError):
    pass


def names() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in resources.files(__package__).iterdir() if p.name.endswith(".toml"))


def load(name: str) -> Policy:
    return _validate(_preset_data(name, "policy"), f"{name}.toml")


def load_file(path: Path) -> Policy:
    return _validate(_data(path.read_text(), str(path)), str(path))


def _preset_data(name: str, field: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    if name not in names():
        raise PolicyError(f"{field}: unknown policy {name!r}; known: {', '.join(names())}")
    if name in seen:
        raise PolicyError(f"{field}: {' -> '.join((*seen, name))} extends itself")
    source = f"{name}.toml"
    return _data(resources.files(__package__).joinpath(source).read_text(), source, (*seen, name))


def _data(text: str, source: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The file's table; with `extends = "preset"`, laid over that preset's (tables merge key by key,
    everything else replaces), so a variant states only what differs."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise PolicyError(f"{source}: not valid TOML: {err}") from None
    base = data.pop("extends", None)
    if base is None:
        return data
    for required in ("name", "version", "title"):
        if required not in data:
            raise PolicyError(f"{source}: {required}: a policy that extends another must set its own")
    try:
        return _merge(_preset_data(str(base), "extends", seen), data)
    except PolicyError as err:
        raise PolicyError(f"{source}: {err}") from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def _validate(data: dict[str, Any], source: str) -> Policy:
    try:
        return Policy.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(f"{field}: {rule}" for field, rule in field_rules(err, whole="(policy)"))
        raise PolicyError(f"{source}: {problems}") from None
