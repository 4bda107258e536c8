"""Retry-safe calls: an Idempotency-Key replays the first answer, and a request id is scoped to its caller."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.auth import Caller
from api.problem import Problem
from cases.messages import REQUEST_ID_LENGTH
from store.database import Store
from store.schema import ApiIdempotencyRow


def _request_hash(body: BaseModel) -> str:
    return hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def remembered(store: Store, caller: Caller, key: str | None, body: BaseModel) -> JSONResponse | None:
    """The first answer to this key, or None; the same key with another body is a 409."""
    if key is None:
        return None
    row = store.get(ApiIdempotencyRow, f"{caller.name}:{key}")
    if row is None:
        return None
    if row.request_hash != _request_hash(body):
        raise Problem(
            409, "Idempotency-Key reused with another request", "Idempotency-Key", "a key names one request; use a new key for a new request"
        )
    return JSONResponse(row.response, status_code=row.status_code, headers={"Idempotent-Replayed": "true"})


def remember(store: Store, caller: Caller, key: str, body: BaseModel, status: int, answer: dict[str, Any]) -> None:
    row = ApiIdempotencyRow(
        key=f"{caller.name}:{key}", request_hash=_request_hash(body), status_code=status, response=answer, created_at=datetime.now(UTC)
    )
    store.insert_once(row)


def scoped(caller: Caller, request_id: str | None) -> str | None:
    """A request id as the case sees it: the caller's name before it, so that no caller's id can
    find another caller's case or command (the same id from two callers is two requests)."""
    return None if request_id is None else scoped_id(caller, request_id)


def scoped_id(caller: Caller, request_id: str) -> str:
    scoped = f"{caller.name}:{request_id}"
    if len(scoped) > REQUEST_ID_LENGTH:
        rule = f"at most {REQUEST_ID_LENGTH - len(caller.name) - 1} characters for the caller {caller.name}"
        raise Problem(422, "Request id too long", "request_id", rule)
    return scoped
