"""The base of every model a case takes from outside: a field it does not know is refused, never
dropped (a dropped `requestId`, for `request_id`, once let the same command act twice). And the one way
a model's refusal reads: the field, then the rule, never the input."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def field_rules(invalid: ValidationError, whole: str = "(input)") -> list[tuple[str, str]]:
    """Each problem as (field, rule); `whole` names a problem with the input as a whole."""
    return [(".".join(map(str, e["loc"])) or whole, e["msg"]) for e in invalid.errors(include_input=False)]
