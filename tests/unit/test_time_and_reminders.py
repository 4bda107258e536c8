"""Deadlines in calendar or business time, and reminders before them, on the pure core."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cases import policies
from cases.commands import Notify
from cases.engine import apply, next_alarm, open_case
from cases.messages import DeadlinePassed, ReminderDue
from cases.model import CLOCK, Status
from cases.policy import Calendar, Policy
from cases.refusal import Refusal
from tests.factories import request

FRIDAY_10 = datetime(2026, 11, 20, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "hours", "end"),
    [
        (FRIDAY_10, 48, datetime(2026, 11, 24, 10, tzinfo=UTC)),  # Fri 14 h + Mon 24 h + Tue 10 h
        (datetime(2026, 11, 21, 15, tzinfo=UTC), 24, datetime(2026, 11, 24, 0, tzinfo=UTC)),  # from Saturday
        (datetime(2026, 11, 23, 0, tzinfo=UTC), 24, datetime(2026, 11, 24, 0, tzinfo=UTC)),  # a whole Monday
        (datetime(2026, 12, 24, 12, tzinfo=UTC), 24, datetime(2026, 12, 28, 12, tzinfo=UTC)),  # holiday + weekend
    ],
)
def test_business_hours_skip_weekends_and_holidays_both_ways(start, hours, end):
    calendar = Calendar(holidays={date(2026, 12, 25)})
    assert calendar.add_business_hours(start, hours) == end
    assert calendar.subtract_business_hours(end, hours) == start or not calendar.is_business_day(start.date())


def test_a_calendar_with_no_business_day_is_an_error_not_a_hang():
    with pytest.raises(ValueError, match="no business day"):
        Calendar(weekend=set(range(7))).add_business_hours(FRIDAY_10, 1)


def test_business_hours_variant_gives_the_seller_48_business_hours_and_reminds_a_day_before():
    case = open_case(request(policy="direct_service_business_hours", purchased_at=FRIDAY_10 - timedelta(days=3)), FRIDAY_10).case
    assert case.deadline.due_at == datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert case.deadline.reminders == [datetime(2026, 11, 23, 10, tzinfo=UTC)]


def test_a_reminder_tells_the_awaited_party_and_then_the_deadline_is_next():
    case = open_case(request(), FRIDAY_10).case
    at, alarm = next_alarm(case)
    assert isinstance(alarm, ReminderDue) and at == case.deadline.due_at - timedelta(hours=24)
    step = apply(case, alarm, at)
    assert [(c.to.value, c.event) for c in step.commands if isinstance(c, Notify)] == [("seller", "reminder")]
    assert step.case.timeline[-1].summary == "reminded the seller: awaiting_seller_response ends in 24 h"
    at, alarm = next_alarm(step.case)
    assert isinstance(alarm, DeadlinePassed) and at == case.deadline.due_at
    with pytest.raises(Refusal, match="at: no reminder"):
        apply(step.case, ReminderDue(by=CLOCK, at=at - timedelta(hours=24)), at)


def test_a_reminder_that_would_fall_before_the_window_opens_is_dropped():
    policy = policies.load("direct_service")
    start = FRIDAY_10
    assert policy.reminders(Status.AWAITING_SELLER_RESPONSE, start, start + timedelta(hours=10)) == []


def _with_window(**window) -> dict:
    data = policies.load("direct_service").model_dump(mode="json")
    data["windows"]["awaiting_seller_response"] = {"hours": 72, "on_timeout": "escalate", **window}
    return data


def test_a_reminder_outside_its_window_is_refused():
    with pytest.raises(ValueError, match="remind_before_hours: 80 must be between 0 and the window's 72 hours"):
        Policy.model_validate(_with_window(remind_before_hours=[80]))


def test_reminders_where_nobody_is_awaited_are_refused():
    data = policies.load("direct_service").model_dump(mode="json")
    data["windows"]["refund_pending"]["remind_before_hours"] = [24]
    with pytest.raises(ValueError, match="windows.refund_pending.remind_before_hours: nobody is awaited"):
        Policy.model_validate(data)
