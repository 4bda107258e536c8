"""The path and header parameters the routes share, each with the rule it is checked against."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Path

from cases.model import OPAQUE_PATTERN

CaseId = Annotated[str, Path(pattern=OPAQUE_PATTERN, max_length=64, description="The case id.")]
OpaquePath = Annotated[str, Path(pattern=OPAQUE_PATTERN, max_length=64)]
DeliveryPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")]  # case:version:event:subscription
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$", description="Makes the call safe to retry."),
]
