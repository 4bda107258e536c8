"""The base of every model a case takes from outside: a field it does not know is refused, never
dropped (a dropped `requestId`, for `request_id`, once let the same command act twice). And the one way
a model's refusal reads: the field, then the rule, never the input. And sets that serialize in one
order, whatever the process."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, ValidationError, field_serializer


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_serializer("*", mode="wrap")
    def _sets_sorted(self, value: Any, handler: SerializerFunctionWrapHandler) -> Any:
        """A set serializes sorted: its order otherwise follows the process's string hash seed, so the
        same policy would reach an activity as other bytes in another worker, and on replay."""
        out = handler(value)
        return sorted(out) if isinstance(value, set | frozenset) else out


def named(field: str, rule: str, whole: str = "(input)") -> tuple[str, str]:
    """A rule a model's own validator raised as "field: rule" names its field, not the whole input."""
    said = rule.removeprefix("Value error, ")
    if field == whole and said != rule and ": " in said:
        named_field, named_rule = said.split(": ", 1)
        return named_field, named_rule
    return field, rule


def field_rules(invalid: ValidationError, whole: str = "(input)") -> list[tuple[str, str]]:
    """Each problem as (field, rule); `whole` names a problem with the input as a whole."""
    return [(".".join(map(str, e["loc"])) or whole, e["msg"]) for e in invalid.errors(include_input=False)]
