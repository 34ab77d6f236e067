"""Table-driven tests for bot.clock.

Expected values were worked out by hand from a real calendar (2026-01-01 is a Thursday;
DST 2026 starts Sun 03-08 and ends Sun 11-01) and Ontario's holiday list.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.clock import (
    DEFAULT_SLA,
    SLA_DESCRIPTIONS,
    BusinessCalendar,
    FrozenClock,
    SlaRule,
    SystemClock,
    due_for,
    parse_received,
)

TORONTO = ZoneInfo("America/Toronto")
CAL = BusinessCalendar()
NO_CIVIC = BusinessCalendar(civic_holiday=False)


def _due(kind: str, received: str, calendar: BusinessCalendar = CAL) -> str:
    return due_for(kind, datetime.fromisoformat(received), calendar).isoformat()


@pytest.mark.parametrize(
    ("kind", "received", "expected"),
    [
        # The policy's worked example: Christmas, weekend, Boxing Day (observed).
        ("complaint-ack", "2026-12-24T16:55:00-05:00", "2026-12-29T16:30:00-05:00"),
        # Weekends: Friday afternoon, Saturday, Sunday all land on Monday.
        ("complaint-ack", "2026-06-12T14:00:00-04:00", "2026-06-15T16:30:00-04:00"),
        ("complaint-ack", "2026-06-12T16:45:00-04:00", "2026-06-15T16:30:00-04:00"),
        ("complaint-ack", "2026-06-13T10:00:00-04:00", "2026-06-15T16:30:00-04:00"),
        ("complaint-ack", "2026-06-14T23:00:00-04:00", "2026-06-15T16:30:00-04:00"),
        # Hour of receipt never matters, only the local date.
        ("complaint-ack", "2026-06-16T08:00:00-04:00", "2026-06-17T16:30:00-04:00"),
        ("complaint-ack", "2026-06-16T09:00:00-04:00", "2026-06-17T16:30:00-04:00"),
        ("complaint-ack", "2026-06-16T23:59:00-04:00", "2026-06-17T16:30:00-04:00"),
        ("complaint-ack", "2026-06-17T00:01:00-04:00", "2026-06-18T16:30:00-04:00"),
        # UTC date differs from the local date: Mar 10 03:00Z is Mon Mar 9 23:00 EDT.
        ("complaint-ack", "2026-03-10T03:00:00Z", "2026-03-10T16:30:00-04:00"),
        ("complaint-ack", "2026-06-16T03:30:00+00:00", "2026-06-16T16:30:00-04:00"),
        # 02:00+01:00 on Jun 17 is Tue Jun 16 21:00 in Toronto.
        ("complaint-ack", "2026-06-17T02:00:00+01:00", "2026-06-17T16:30:00-04:00"),
        # Holidays.
        ("complaint-ack", "2025-12-31T10:00:00-05:00", "2026-01-02T16:30:00-05:00"),  # New Year
        ("complaint-ack", "2026-02-13T10:00:00-05:00", "2026-02-17T16:30:00-05:00"),  # Family Day
        ("complaint-ack", "2026-04-02T10:00:00-04:00", "2026-04-06T16:30:00-04:00"),  # Good Fri
        ("complaint-ack", "2026-05-15T12:00:00-04:00", "2026-05-19T16:30:00-04:00"),  # Victoria
        ("complaint-ack", "2026-06-30T09:00:00-04:00", "2026-07-02T16:30:00-04:00"),  # Canada
        ("complaint-ack", "2026-07-31T11:00:00-04:00", "2026-08-04T16:30:00-04:00"),  # Civic
        ("complaint-ack", "2026-09-05T11:00:00-04:00", "2026-09-08T16:30:00-04:00"),  # Labour
        ("complaint-ack", "2026-10-09T15:00:00-04:00", "2026-10-13T16:30:00-04:00"),  # Thanksg.
        ("complaint-ack", "2026-12-25T10:00:00-05:00", "2026-12-29T16:30:00-05:00"),  # on Xmas
        ("complaint-ack", "2026-12-31T10:00:00-05:00", "2027-01-04T16:30:00-05:00"),  # NY Fri
        # 2027: Christmas Sat -> Mon 27 observed, Boxing Day Sun -> Tue 28 observed.
        ("complaint-ack", "2027-12-24T10:00:00-05:00", "2027-12-29T16:30:00-05:00"),
        # Every one-business-day kind behaves the same.
        ("request-ack", "2026-07-31T11:00:00-04:00", "2026-08-04T16:30:00-04:00"),
        ("call-return", "2026-07-31T11:00:00-04:00", "2026-08-04T16:30:00-04:00"),
        ("hazard-inspection", "2026-07-31T11:00:00-04:00", "2026-08-04T16:30:00-04:00"),
        # Multi-day kinds crossing holidays.
        ("email-ack", "2026-04-02T10:00:00-04:00", "2026-04-07T16:30:00-04:00"),
        ("email-interim", "2026-10-09T10:00:00-04:00", "2026-10-14T16:30:00-04:00"),
        ("email-response", "2026-12-23T12:00:00-05:00", "2027-01-18T16:30:00-05:00"),
        ("letter-response", "2026-07-20T12:00:00-04:00", "2026-08-11T16:30:00-04:00"),
        ("letter-interim", "2026-05-14T12:00:00-04:00", "2026-05-22T16:30:00-04:00"),
        ("escalation-recheck", "2026-06-30T12:00:00-04:00", "2026-07-06T16:30:00-04:00"),
        # DST: received in EST, due in EDT, and vice versa.
        ("complaint-ack", "2026-03-06T10:00:00-05:00", "2026-03-09T16:30:00-04:00"),
        ("complaint-ack", "2026-10-30T14:00:00-04:00", "2026-11-02T16:30:00-05:00"),
        # Spring-forward day Sun Mar 8: 01:59 EST and 03:30 EDT are both Mar 8.
        ("complaint-ack", "2026-03-08T06:59:00Z", "2026-03-09T16:30:00-04:00"),
        ("complaint-ack", "2026-03-08T03:30:00-04:00", "2026-03-09T16:30:00-04:00"),
        # Fall-back day Sun Nov 1: 01:30 happens twice (EDT then EST).
        ("complaint-ack", "2026-11-01T05:30:00Z", "2026-11-02T16:30:00-05:00"),
        ("complaint-ack", "2026-11-01T06:30:00Z", "2026-11-02T16:30:00-05:00"),
        # Three business days across the spring-forward weekend: Fri 6, Mon 9, Tue 10.
        ("escalation-recheck", "2026-03-05T12:00:00-05:00", "2026-03-10T16:30:00-04:00"),
        # Follow-up: 14 calendar days, forward to a business day if closed.
        ("follow-up", "2026-06-15T10:00:00-04:00", "2026-06-29T16:30:00-04:00"),  # Mon, open
        ("follow-up", "2026-06-13T10:00:00-04:00", "2026-06-29T16:30:00-04:00"),  # Sat -> Mon
        ("follow-up", "2026-06-17T10:00:00-04:00", "2026-07-02T16:30:00-04:00"),  # Canada Day
        ("follow-up", "2026-12-12T10:00:00-05:00", "2026-12-29T16:30:00-05:00"),  # Boxing Sat
        ("follow-up", "2026-07-20T10:00:00-04:00", "2026-08-04T16:30:00-04:00"),  # Civic
        ("follow-up", "2026-06-16T03:30:00Z", "2026-06-29T16:30:00-04:00"),  # local Jun 15
        ("follow-up", "2026-10-25T12:00:00-04:00", "2026-11-09T16:30:00-05:00"),  # Sun, DST end
    ],
)
def test_due_for(kind: str, received: str, expected: str) -> None:
    assert _due(kind, received) == expected


@pytest.mark.parametrize(
    ("calendar", "kind", "received", "expected"),
    [
        (NO_CIVIC, "complaint-ack", "2026-07-31T11:00:00-04:00", "2026-08-03T16:30:00-04:00"),
        (NO_CIVIC, "follow-up", "2026-07-20T10:00:00-04:00", "2026-08-03T16:30:00-04:00"),
        (
            BusinessCalendar(extra_closures=frozenset({date(2026, 6, 16)})),
            "complaint-ack",
            "2026-06-15T10:00:00-04:00",
            "2026-06-17T16:30:00-04:00",
        ),
        (
            BusinessCalendar(extra_closures=frozenset({date(2026, 12, 24)})),
            "complaint-ack",
            "2026-12-23T10:00:00-05:00",
            "2026-12-29T16:30:00-05:00",
        ),
        (
            BusinessCalendar(extra_closures=frozenset({date(2026, 6, 29)})),
            "follow-up",
            "2026-06-15T10:00:00-04:00",
            "2026-06-30T16:30:00-04:00",
        ),
        (
            BusinessCalendar(closes=time(17, 0)),
            "complaint-ack",
            "2026-06-15T10:00:00-04:00",
            "2026-06-16T17:00:00-04:00",
        ),
        # 23:30 EDT Jun 15 is 20:30 PDT Jun 15 in Vancouver.
        (
            BusinessCalendar(tz=ZoneInfo("America/Vancouver"), subdiv="BC"),
            "complaint-ack",
            "2026-06-15T23:30:00-04:00",
            "2026-06-16T16:30:00-07:00",
        ),
    ],
)
def test_due_for_configured_calendar(
    calendar: BusinessCalendar, kind: str, received: str, expected: str
) -> None:
    assert _due(kind, received, calendar) == expected


def test_result_is_in_city_zone() -> None:
    result = due_for("complaint-ack", datetime(2026, 6, 15, 12, tzinfo=UTC), CAL)
    assert result.tzinfo == TORONTO


@pytest.mark.parametrize(
    ("calendar", "day", "reason"),
    [
        (CAL, date(2026, 6, 13), "Saturday"),
        (CAL, date(2026, 6, 14), "Sunday"),
        (CAL, date(2026, 6, 15), None),
        (CAL, date(2026, 1, 1), "New Year's Day"),
        (CAL, date(2026, 4, 3), "Good Friday"),
        (CAL, date(2026, 4, 6), None),  # Easter Monday is not a holiday in Ontario
        (CAL, date(2026, 8, 3), "Civic Holiday"),
        (NO_CIVIC, date(2026, 8, 3), None),
        (CAL, date(2026, 12, 25), "Christmas Day"),
        (CAL, date(2026, 12, 28), "Boxing Day (observed)"),
        (CAL, date(2027, 12, 27), "Christmas Day (observed)"),
        (CAL, date(2027, 12, 28), "Boxing Day (observed)"),
        (CAL, date(2030, 8, 5), "Civic Holiday"),  # Aug 1 2030 is a Thursday
        (
            BusinessCalendar(extra_closures=frozenset({date(2026, 6, 16)})),
            date(2026, 6, 16),
            "closure",
        ),
    ],
)
def test_closed_reason(calendar: BusinessCalendar, day: date, reason: str | None) -> None:
    assert calendar.closed_reason(day) == reason
    assert calendar.is_business_day(day) is (reason is None)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 6, 15), date(2026, 6, 16)),
        (date(2026, 6, 12), date(2026, 6, 15)),
        (date(2026, 12, 24), date(2026, 12, 29)),
        (date(2026, 12, 31), date(2027, 1, 4)),
        (date(2026, 7, 31), date(2026, 8, 4)),
    ],
)
def test_next_business_day(day: date, expected: date) -> None:
    assert CAL.next_business_day(day) == expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-06-15T08:29:00-04:00", False),
        ("2026-06-15T08:30:00-04:00", True),
        ("2026-06-15T16:29:59-04:00", True),
        ("2026-06-15T16:30:00-04:00", False),
        ("2026-06-15T12:30:00Z", True),  # 08:30 EDT
        ("2026-06-15T20:30:00Z", False),  # 16:30 EDT
        ("2026-01-05T13:30:00Z", True),  # 08:30 EST
        ("2026-06-13T12:00:00-04:00", False),  # Saturday
        ("2026-07-01T12:00:00-04:00", False),  # Canada Day
    ],
)
def test_is_open(at: str, expected: bool) -> None:
    assert CAL.is_open(datetime.fromisoformat(at)) is expected


def test_close_of_business() -> None:
    assert CAL.close_of_business(date(2026, 3, 9)).isoformat() == "2026-03-09T16:30:00-04:00"
    assert CAL.close_of_business(date(2026, 3, 6)).isoformat() == "2026-03-06T16:30:00-05:00"


NAIVE = datetime(2026, 12, 24, 16, 55)


@pytest.mark.parametrize(
    "call",
    [
        lambda: CAL.local(NAIVE),
        lambda: CAL.is_open(NAIVE),
        lambda: CAL.business_days_after(NAIVE, 1),
        lambda: CAL.calendar_days_after(NAIVE, 14),
        lambda: CAL.due(SlaRule(1), NAIVE),
        lambda: due_for("complaint-ack", NAIVE, CAL),
        lambda: FrozenClock(NAIVE),
        lambda: FrozenClock(datetime(2026, 1, 1, tzinfo=UTC)).set(NAIVE),
    ],
)
def test_naive_datetime_rejected(call: object) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match="no time zone"):
        call()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: due_for("complaint", datetime(2026, 1, 5, tzinfo=UTC), CAL),
            "unknown SLA kind 'complaint'; known: complaint-ack, request-ack",
        ),
        (lambda: CAL.business_days_after(datetime(2026, 1, 5, tzinfo=UTC), 0), "n >= 1"),
        (lambda: CAL.calendar_days_after(datetime(2026, 1, 5, tzinfo=UTC), -1), "n >= 0"),
        (lambda: SlaRule(0), "days >= 1"),
        (lambda: SlaRule(-1, "calendar"), "days >= 0"),
        (lambda: SlaRule(1, "weekly"), "'business' or 'calendar'"),  # type: ignore[arg-type]
        (lambda: BusinessCalendar(opens=time(17), closes=time(9)), "must be before"),
    ],
)
def test_invalid_arguments(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-24T16:55:00-05:00", "2026-12-24T16:55:00-05:00"),
        ("  2026-03-10T03:00:00Z\n", "2026-03-10T03:00:00+00:00"),
        ("2026-07-01 09:15:00+02:00", "2026-07-01T09:15:00+02:00"),
    ],
)
def test_parse_received(text: str, expected: str) -> None:
    assert parse_received(text).isoformat() == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-12-24T16:55:00", "has no UTC offset; give one, e.g. 2026-12-24T16:55:00-05:00"),
        ("2026-12-24", "has no UTC offset"),
        ("", "not an ISO-8601 date-time"),
        ("yesterday at noon", "not an ISO-8601 date-time"),
        ("2026-02-30T10:00:00-05:00", "not an ISO-8601 date-time"),
    ],
)
def test_parse_received_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_received(text)


def test_sla_table() -> None:
    assert list(DEFAULT_SLA) == [
        "complaint-ack",
        "request-ack",
        "email-ack",
        "email-response",
        "email-interim",
        "letter-response",
        "letter-interim",
        "call-return",
        "hazard-inspection",
        "escalation-recheck",
        "follow-up",
    ]
    assert list(SLA_DESCRIPTIONS) == list(DEFAULT_SLA)
    assert DEFAULT_SLA["follow-up"] == SlaRule(14, "calendar")
    assert DEFAULT_SLA["email-response"] == SlaRule(15, "business")


def test_custom_sla_table() -> None:
    sla = {"pothole": SlaRule(4)}
    got = due_for("pothole", datetime.fromisoformat("2026-06-30T12:00:00-04:00"), CAL, sla)
    assert got.isoformat() == "2026-07-07T16:30:00-04:00"  # Jul 2, 3, 6, 7


def test_frozen_clock() -> None:
    clock = FrozenClock(datetime.fromisoformat("2026-12-24T16:55:00-05:00"))
    assert clock.now() == datetime(2026, 12, 24, 21, 55, tzinfo=UTC)
    assert clock.now().utcoffset() == timedelta(0)
    clock.advance(timedelta(hours=3))
    assert clock.now().isoformat() == "2026-12-25T00:55:00+00:00"
    clock.set(datetime.fromisoformat("2027-01-01T00:00:00+00:00"))
    assert clock.now().isoformat() == "2027-01-01T00:00:00+00:00"


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.utcoffset() == timedelta(0)
