"""A marketplace process as data: routing, resolutions, deadlines and what each timeout does."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from cases.evidence import EvidenceRules
from cases.model import AWAITING, CaseKind, ItemCategory, Outcome, Reason, Resolution, Status
from cases.money import Money
from cases.strict import Strict


class TimeoutAction(StrEnum):
    ESCALATE = "escalate"  # hand the case to support
    CLOSE = "close"  # close with the outcome the status implies
    ACCEPT = "accept"  # act as if the awaited party said yes
    REMIND = "remind"  # notify the awaited party again and re-arm the window
    REFUND = "refund"  # the long stop: refund in full, charged to the seller


# Which timeout actions make sense in which status. Checked when a policy is loaded, so a policy can
# never leave a case waiting with no way forward.
ALLOWED_TIMEOUTS: dict[Status, set[TimeoutAction]] = {
    Status.AWAITING_SELLER_RESPONSE: {TimeoutAction.ESCALATE, TimeoutAction.REMIND, TimeoutAction.REFUND},
    Status.AWAITING_CANCELLATION_ANSWER: {TimeoutAction.CLOSE, TimeoutAction.ACCEPT},
    Status.AWAITING_OFFER_ANSWER: {TimeoutAction.CLOSE, TimeoutAction.ACCEPT, TimeoutAction.ESCALATE},
    Status.AWAITING_RETURN_SHIPMENT: {TimeoutAction.CLOSE},
    Status.RETURN_IN_TRANSIT: {TimeoutAction.ESCALATE},
    Status.AWAITING_RETURN_INSPECTION: {TimeoutAction.ACCEPT, TimeoutAction.ESCALATE},
    Status.DECLINED: {TimeoutAction.CLOSE},
    Status.AWAITING_SUPPORT: {TimeoutAction.REMIND},
    Status.APPEAL_OPEN: {TimeoutAction.CLOSE},
    Status.REFUND_PENDING: {TimeoutAction.ESCALATE},
    Status.IN_PROGRESS: {TimeoutAction.CLOSE, TimeoutAction.ESCALATE},
    Status.PROTECTED: {TimeoutAction.CLOSE},
    Status.AWAITING_REFUND_CONFIRMATION: {TimeoutAction.CLOSE, TimeoutAction.ESCALATE},
}


class Calendar(Strict):
    """Which days count in business time. Days are UTC days."""

    weekend: set[int] = Field(default={5, 6}, description="ISO weekdays off, Monday=0 … Sunday=6.")
    holidays: set[date] = Field(default=set(), description="Dates off, e.g. 2026-12-25.")

    def is_business_day(self, day: date) -> bool:
        return day.weekday() not in self.weekend and day not in self.holidays

    def add_business_hours(self, start: datetime, hours: int) -> datetime:
        """Counts only the hours of business days: 48 business hours from Friday 10:00 end on Tuesday 10:00."""
        remaining = timedelta(hours=hours)
        moment = start
        for _ in range(3660):  # ten years of days: a calendar with no business day cannot loop forever
            midnight = datetime.combine(moment.date() + timedelta(days=1), time(), tzinfo=moment.tzinfo)
            if self.is_business_day(moment.date()):
                if moment + remaining <= midnight:
                    return moment + remaining
                remaining -= midnight - moment
            moment = midnight
        raise ValueError("calendar: no business day within ten years")

    def subtract_business_hours(self, end: datetime, hours: int) -> datetime:
        """The same count backwards: the moment `hours` business hours before `end`."""
        remaining = timedelta(hours=hours)
        moment = end
        for _ in range(3660):
            day_start = datetime.combine(moment.date(), time(), tzinfo=moment.tzinfo)
            if day_start == moment:  # at midnight the hours before belong to the previous day
                day_start -= timedelta(days=1)
            if self.is_business_day(day_start.date()):
                if moment - remaining >= day_start:
                    return moment - remaining
                remaining -= moment - day_start
            moment = day_start
        raise ValueError("calendar: no business day within ten years")


class Window(Strict):
    hours: int = Field(gt=0, description="Length of the window in hours.")
    time: Literal["calendar", "business"] = Field("calendar", description="business: only hours of business days count.")
    on_timeout: TimeoutAction
    remind_before_hours: list[int] = Field(default=[], description="Remind the awaited party this many hours before the end.")
    until_protection_ends: bool = Field(
        False, description="Protection cases: the window lasts at least `hours`, and until the (extended) protection ends."
    )

    @model_validator(mode="after")
    def _reminders_inside(self) -> Window:
        for offset in self.remind_before_hours:
            if offset <= 0 or (offset >= self.hours and not self.until_protection_ends):
                raise ValueError(f"remind_before_hours: {offset} must be between 0 and the window's {self.hours} hours")
        return self


class Eligibility(Strict):
    """When a case may open: for which reasons, from which moment of the order, and for how long."""

    reasons: set[Reason] | None = Field(default=None, description="Reasons that may open a case; all when absent.")
    opens_at: Literal["purchase", "estimated_delivery", "delivery"] = Field("purchase", description="The order's moment from which a case may open.")
    within_hours: int | None = Field(default=None, gt=0, description="How long after that moment; no limit when absent.")
    time: Literal["calendar", "business"] = "calendar"


class AbuseRules(Strict):
    """When a buyer's refund behaviour across the marketplace sends a new refund request to support
    before the seller sees it (seeds 000 and 004). Each limit is off when absent."""

    within_hours: int = Field(720, gt=0, description="How far back a buyer's behaviour counts.")
    max_requests: int | None = Field(None, ge=0, description="Refund requests the buyer may have opened within the window; one more goes to support.")
    max_refunded: dict[str, int] = Field(
        default={}, description="Minor units per currency the buyer may have been refunded within the window; beyond, support."
    )
    max_share_of_orders_percent: int | None = Field(
        None, ge=1, le=100, description="Share of the buyer's orders within the window that may have a case; beyond, support."
    )
    min_orders: int = Field(5, ge=1, description="The share counts only once the buyer has this many orders in the window.")


class Exclusion(Strict):
    """Reasons that skip the seller when the order holds goods of these categories."""

    reasons: set[Reason]
    categories: set[ItemCategory]


class Policy(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: str = Field(min_length=1)
    title: str
    kinds: set[CaseKind]
    seller_reasons: set[Reason] = Field(description="Reasons the seller answers first; others go to support.")
    exclusions: list[Exclusion] = Field(default=[])
    abuse: AbuseRules = Field(AbuseRules(), description="Refund abuse the platform catches at opening.")
    evidence: EvidenceRules = Field(EvidenceRules(), description="The files a case takes: how many, how large, of which types.")
    resolutions: set[Resolution]
    windows: dict[Status, Window]
    cancellation_free_hours: int = Field(default=24, ge=0)
    return_label_fee: dict[str, int] = Field(default={}, description="Minor units per currency.")
    calendar: Calendar = Calendar()
    eligibility: Eligibility = Eligibility()
    buyer_may_escalate_after_hours: int | None = Field(
        default=None, gt=0, description="The buyer may escalate a case this old while the seller has not resolved it."
    )
    seller_may_appeal: bool = Field(True, description="A seller charged by support may appeal.")
    buyer_confirms_resolution: bool = Field(False, description="A replacement waits in in_progress until the buyer marks the issue resolved.")
    refunds_by: Literal["platform", "seller"] = Field(
        "platform", description="seller: the seller refunds directly and the buyer confirms receipt; no money moves here."
    )
    seller_must_explain: bool = Field(False, description="The seller's response must carry a note: the message justifying its decision to the buyer.")
    decline_to_support_for: set[Reason] = Field(default=set(), description="Reasons for which a seller's decline goes straight to support.")
    labels: dict[str, str] = Field(default={}, description="The process's own names for statuses and outcomes, shown in the case view.")
    full_refund_only_after_hours: int | None = Field(
        default=None, gt=0, description="A case unresolved this long counts as late delivery: only a full refund is acceptable."
    )
    flag_seller_after_hours: int | None = Field(
        default=None, gt=0, description="A case unresolved this long flags its seller (account may be restricted) until it closes."
    )
    support_may_reopen: bool = Field(False, description="Support may reopen a closed case, at any later time unless limited.")
    reopen_within_hours: int | None = Field(default=None, gt=0, description="With support_may_reopen: only this long after the case closed.")
    protection_extension_hours: int | None = Field(
        default=None, gt=0, description="Protection cases: reporting a problem extends the protection by this much."
    )
    seconds_per_hour: int = Field(
        default=3600,
        ge=1,
        le=3600,
        description="How long one of this policy's hours lasts. Only test policies shorten it (the chaos run's "
        "deadlines fall due in seconds on a real server); calendar time only.",
    )

    def reachable_statuses(self) -> set[Status]:
        """The open statuses a case can enter under this policy; each needs a window."""
        statuses = {Status.AWAITING_SELLER_RESPONSE, Status.AWAITING_SUPPORT, Status.REFUND_PENDING}
        if CaseKind.CANCELLATION in self.kinds:
            statuses.add(Status.AWAITING_CANCELLATION_ANSWER)
        if CaseKind.PROTECTION in self.kinds:
            statuses.add(Status.PROTECTED)
        if self.refunds_by == "seller":
            statuses.add(Status.AWAITING_REFUND_CONFIRMATION)
        return_leg = {Status.AWAITING_RETURN_SHIPMENT, Status.RETURN_IN_TRANSIT, Status.AWAITING_RETURN_INSPECTION}
        if Resolution.PARTIAL_REFUND in self.resolutions and self.refunds_by == "platform":
            statuses |= {Status.AWAITING_OFFER_ANSWER, *return_leg}  # a declined offer opens a return
        if Resolution.REFUND_AFTER_RETURN in self.resolutions and self.refunds_by == "platform":
            statuses |= return_leg
        if Resolution.DECLINE in self.resolutions:
            statuses.add(Status.DECLINED)
        if self.seller_may_appeal:
            statuses.add(Status.APPEAL_OPEN)
        if Resolution.CONTACT_BUYER in self.resolutions or (Resolution.REPLACEMENT in self.resolutions and self.buyer_confirms_resolution):
            statuses.add(Status.IN_PROGRESS)
        return statuses

    def label(self, status: Status, outcome: str | None) -> str:
        """The process's word for where a case stands: its outcome's label once closed, else its status's."""
        return self.labels.get(outcome or "", "") or self.labels.get(status.value, "") or (outcome or status.value)

    @model_validator(mode="after")
    def _labels_name_known_things(self) -> Policy:
        known = {s.value for s in Status} | {o.value for o in Outcome}
        unknown = sorted(set(self.labels) - known)
        if unknown:
            raise ValueError(f"labels: {', '.join(unknown)} is neither a status nor an outcome")
        return self

    @model_validator(mode="after")
    def _a_reopening_limit_needs_reopening(self) -> Policy:
        if self.reopen_within_hours is not None and not self.support_may_reopen:
            raise ValueError("reopen_within_hours: limits reopening, which this policy does not allow (support_may_reopen)")
        return self

    @model_validator(mode="after")
    def _protection_rules_need_protection(self) -> Policy:
        if CaseKind.PROTECTION in self.kinds:
            return self
        if self.protection_extension_hours is not None:
            raise ValueError("protection_extension_hours: only a policy that takes protection cases extends protection")
        for status, window in self.windows.items():
            if window.until_protection_ends:
                raise ValueError(f"windows.{status.value}.until_protection_ends: only a policy that takes protection cases has a protection end")
        return self

    @model_validator(mode="after")
    def _short_hours_only_on_the_calendar(self) -> Policy:
        if self.seconds_per_hour == 3600:
            return self
        business = sorted(s.value for s, w in self.windows.items() if w.time == "business")
        if business or self.eligibility.time == "business":
            where = f"windows.{business[0]}" if business else "eligibility"
            raise ValueError(f"seconds_per_hour: short hours apply to calendar time only, and {where} counts business hours")
        return self

    @model_validator(mode="after")
    def _every_wait_can_end(self) -> Policy:
        missing = [s.value for s in ALLOWED_TIMEOUTS if s in self.reachable_statuses() and s not in self.windows]
        if missing:
            raise ValueError(f"windows: every status a case can reach needs a window; missing {', '.join(missing)}")
        for status, window in self.windows.items():
            if status is Status.CLOSED:
                raise ValueError("windows.closed: a closed case has no window")
            if window.remind_before_hours and AWAITING[status] is None:
                raise ValueError(f"windows.{status.value}.remind_before_hours: nobody is awaited in {status.value}, so nobody to remind")
            allowed = ALLOWED_TIMEOUTS[status]
            if window.on_timeout not in allowed:
                names = ", ".join(sorted(a.value for a in allowed))
                raise ValueError(f"windows.{status.value}.on_timeout: {window.on_timeout.value!r} is not allowed here; use one of {names}")
        return self

    def due(self, status: Status, start: datetime, protected_until: datetime | None = None) -> datetime:
        window = self.windows[status]
        due = self.after(start, window.hours, window.time)
        if window.until_protection_ends and protected_until is not None:
            return max(due, protected_until)
        return due

    def hours(self, count: int) -> timedelta:
        """A span of this policy's hours: every rule measures time through here."""
        return timedelta(seconds=count * self.seconds_per_hour)

    def after(self, start: datetime, hours: int, time: str) -> datetime:
        if time == "business":
            return self.calendar.add_business_hours(start, hours)
        return start + self.hours(hours)

    def reminders(self, status: Status, start: datetime, due: datetime) -> list[datetime]:
        """When to remind: offsets before the end, in the window's own time, never before the start."""
        window = self.windows[status]
        times = (self._before(window, due, offset) for offset in sorted(window.remind_before_hours, reverse=True))
        return [at for at in times if at > start]

    def _before(self, window: Window, due: datetime, hours: int) -> datetime:
        if window.time == "calendar":
            return due - self.hours(hours)
        return self.calendar.subtract_business_hours(due, hours)

    def label_fee(self, currency: str) -> Money:
        return Money(amount=self.return_label_fee.get(currency, 0), currency=currency)
