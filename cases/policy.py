"""A marketplace process as data: routing, resolutions, deadlines and what each timeout does."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

from cases.model import CaseKind, ItemCategory, Reason, Resolution, Status
from cases.money import Money


class TimeoutAction(StrEnum):
    ESCALATE = "escalate"  # hand the case to support
    CLOSE = "close"  # close with the outcome the status implies
    ACCEPT = "accept"  # act as if the awaited party said yes
    REMIND = "remind"  # notify the awaited party again and re-arm the window


# Which timeout actions make sense in which status. Checked when a policy is loaded, so a policy can
# never leave a case waiting with no way forward.
ALLOWED_TIMEOUTS: dict[Status, set[TimeoutAction]] = {
    Status.AWAITING_SELLER_RESPONSE: {TimeoutAction.ESCALATE, TimeoutAction.REMIND},
    Status.AWAITING_CANCELLATION_ANSWER: {TimeoutAction.CLOSE, TimeoutAction.ACCEPT},
    Status.AWAITING_OFFER_ANSWER: {TimeoutAction.CLOSE, TimeoutAction.ACCEPT, TimeoutAction.ESCALATE},
    Status.AWAITING_RETURN_SHIPMENT: {TimeoutAction.CLOSE},
    Status.RETURN_IN_TRANSIT: {TimeoutAction.ESCALATE},
    Status.AWAITING_RETURN_INSPECTION: {TimeoutAction.ACCEPT, TimeoutAction.ESCALATE},
    Status.DECLINED: {TimeoutAction.CLOSE},
    Status.AWAITING_SUPPORT: {TimeoutAction.REMIND},
    Status.APPEAL_OPEN: {TimeoutAction.CLOSE},
    Status.REFUND_PENDING: {TimeoutAction.ESCALATE},
}


class Window(BaseModel):
    hours: int = Field(gt=0, description="Calendar hours from entering the status.")
    on_timeout: TimeoutAction

    @property
    def duration(self) -> timedelta:
        return timedelta(hours=self.hours)


class Exclusion(BaseModel):
    """Reasons that skip the seller when the order holds goods of these categories."""

    reasons: set[Reason]
    categories: set[ItemCategory]


class Policy(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: str = Field(min_length=1)
    title: str
    kinds: set[CaseKind]
    seller_reasons: set[Reason] = Field(description="Reasons the seller answers first; others go to support.")
    exclusions: list[Exclusion] = []
    resolutions: set[Resolution]
    windows: dict[Status, Window]
    cancellation_free_hours: int = Field(default=24, ge=0)
    return_label_fee: dict[str, int] = Field(default={}, description="Minor units per currency.")

    @model_validator(mode="after")
    def _every_wait_can_end(self) -> Policy:
        missing = [s.value for s in ALLOWED_TIMEOUTS if s not in self.windows]
        if missing:
            raise ValueError(f"windows: every open status needs a window; missing {', '.join(missing)}")
        for status, window in self.windows.items():
            if status is Status.CLOSED:
                raise ValueError("windows.closed: a closed case has no window")
            allowed = ALLOWED_TIMEOUTS[status]
            if window.on_timeout not in allowed:
                names = ", ".join(sorted(a.value for a in allowed))
                raise ValueError(
                    f"windows.{status.value}.on_timeout: {window.on_timeout.value!r} is not allowed here; use one of {names}"
                )
        return self

    def due(self, status: Status, start: datetime) -> datetime:
        return start + self.windows[status].duration

    def label_fee(self, currency: str) -> Money:
        return Money(amount=self.return_label_fee.get(currency, 0), currency=currency)
