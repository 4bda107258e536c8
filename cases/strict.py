"""The base of every model a case takes from outside: a field it does not know is refused, never
dropped. A dropped `requestId` (for `request_id`) once let the same command act twice."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
