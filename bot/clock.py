"""Business calendar and SLA clocks for the city's Customer Care policy.

Pure functions of their inputs: nothing here reads the wall clock except
``SystemClock``, so every deadline can be tested with a ``FrozenClock`` or a
fixed ``received`` datetime.
"""

from __future__ import annotations

import os
import time as _time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

import holidays

__all__ = [
    "DEFAULT_SLA",
    "DEFAULT_TZ",
    "NOW_ENV",
    "SLA_DESCRIPTIONS",
    "BusinessCalendar",
    "Clock",
    "FrozenClock",
    "PinnedClock",
    "SlaRule",
    "SystemClock",
    "clock_from_env",
    "due_for",
    "parse_received",
]

_WEEKEND = {5: "Saturday", 6: "Sunday"}
# ZoneInfo instances are cached and immutable, so one shared default is safe.
DEFAULT_TZ = ZoneInfo("America/Toronto")


def _require_aware(at: datetime, what: str = "datetime") -> None:
    """Naive datetimes are ambiguous across zones and DST, so refuse to guess."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(
            f"{what} {at.isoformat()} has no time zone; give an aware datetime "
            "(e.g. 2026-12-24T16:55:00-05:00)"
        )


class Clock(Protocol):
    """Source of the current instant; injected so tests never depend on real time."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to, for deterministic tests."""

    def __init__(self, at: datetime) -> None:
        self._at = datetime.min.replace(tzinfo=UTC)
        self.set(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        _require_aware(at, "clock time")
        self._at = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._at = self._at + delta


class PinnedClock:
    """Starts at a given instant and runs forward at real speed (monotonic time).

    For tests of whole processes (`caredesk serve`, `caredesk chat`): the date is pinned, so
    references and deadlines do not depend on the day the tests run, while retries, idle
    timers and sleeps still see time pass."""

    def __init__(self, start: datetime, monotonic: Callable[[], float] = _time.monotonic) -> None:
        _require_aware(start, "clock time")
        self._start = start.astimezone(UTC)
        self._monotonic = monotonic
        self._t0 = monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._monotonic() - self._t0)


#: A test-only setting: `CAREDESK_NOW=2026-11-25T16:38:00-05:00 caredesk ...` starts the
#: process's clock at that instant (a PinnedClock) instead of the wall clock.
NOW_ENV = "CAREDESK_NOW"


def clock_from_env(environ: Mapping[str, str] | None = None) -> Clock:
    """The clock a process runs on: the wall clock, unless $CAREDESK_NOW pins its start.
    Read here and only here, by the composition roots (cli, app)."""
    value = (os.environ if environ is None else environ).get(NOW_ENV, "").strip()
    if not value:
        return SystemClock()
    try:
        return PinnedClock(parse_received(value))
    except ValueError as exc:
        raise ValueError(f"{NOW_ENV}: {exc}") from None


@dataclass(frozen=True)
class SlaRule:
    """How long a kind of item may wait: N business days or N calendar days."""

    days: int
    unit: Literal["business", "calendar"] = "business"

    def __post_init__(self) -> None:
        if self.unit not in ("business", "calendar"):
            raise ValueError(f"SLA unit must be 'business' or 'calendar', not {self.unit!r}")
        minimum = 1 if self.unit == "business" else 0
        if self.days < minimum:
            raise ValueError(f"{self.unit} SLA needs days >= {minimum}, got {self.days}")


# Policy table: kind -> rule, in the order the policy lists them.
DEFAULT_SLA: Mapping[str, SlaRule] = MappingProxyType(
    {
        "complaint-ack": SlaRule(1),
        "request-ack": SlaRule(1),
        "email-ack": SlaRule(2),
        "email-response": SlaRule(15),
        "email-interim": SlaRule(2),
        "letter-response": SlaRule(15),
        "letter-interim": SlaRule(5),
        "call-return": SlaRule(1),
        "hazard-inspection": SlaRule(1),
        "escalation-recheck": SlaRule(3),
        "follow-up": SlaRule(14, "calendar"),
    }
)

SLA_DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "complaint-ack": "complaint: documented and initial response",
        "request-ack": "request for service: documented and initial response",
        "email-ack": "email: acknowledgement of receipt",
        "email-response": "email: full response",
        "email-interim": "email: interim reply when a full response will take longer",
        "letter-response": "letter: full response",
        "letter-interim": "letter: interim reply when a full response will take longer",
        "call-return": "voicemail or missed call: call returned",
        "hazard-inspection": "reported hazard: site inspected",
        "escalation-recheck": "escalated case: status rechecked",
        "follow-up": "follow-up with the resident after the case (calendar days)",
    }
)


def _civic_holiday(year: int) -> date:
    """First Monday of August: a municipal closure, not an Ontario statutory holiday."""
    first = date(year, 8, 1)
    return first + timedelta(days=(7 - first.weekday()) % 7)


@lru_cache(maxsize=256)
def _holidays_for(country: str, subdiv: str | None, civic: bool, year: int) -> Mapping[date, str]:
    """One year's holidays, computed once: the holidays package is slow to build."""
    found: dict[date, str] = dict(
        holidays.country_holidays(country, subdiv=subdiv, years=year, observed=True).items()
    )
    if civic:
        found.setdefault(_civic_holiday(year), "Civic Holiday")
    return MappingProxyType(found)


@dataclass(frozen=True)
class BusinessCalendar:
    """When the city is open, and so when policy deadlines fall."""

    tz: ZoneInfo = DEFAULT_TZ
    opens: time = time(8, 30)
    closes: time = time(16, 30)
    country: str = "CA"
    subdiv: str | None = "ON"
    civic_holiday: bool = True
    extra_closures: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not self.opens < self.closes:
            raise ValueError(f"opens ({self.opens}) must be before closes ({self.closes})")
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("opens and closes are local wall-clock times; give them no tzinfo")

    def local(self, at: datetime) -> datetime:
        """The same instant on the city's wall clock; deadlines count local dates."""
        _require_aware(at, "received")
        return at.astimezone(self.tz)

    def closed_reason(self, day: date) -> str | None:
        """Why the city is closed on `day` (holiday name first), or None if open."""
        holiday = _holidays_for(self.country, self.subdiv, self.civic_holiday, day.year).get(day)
        if holiday is not None:
            return holiday
        if day in self.extra_closures:
            return "closure"
        return _WEEKEND.get(day.weekday())

    def is_business_day(self, day: date) -> bool:
        return self.closed_reason(day) is None

    def next_business_day(self, day: date) -> date:
        """The first business day strictly after `day`."""
        day += timedelta(days=1)
        while not self.is_business_day(day):
            day += timedelta(days=1)
        return day

    def is_open(self, at: datetime) -> bool:
        """Open means a business day and opens <= local time < closes."""
        here = self.local(at)
        return self.is_business_day(here.date()) and self.opens <= here.time() < self.closes

    def close_of_business(self, day: date) -> datetime:
        return datetime.combine(day, self.closes, tzinfo=self.tz)

    def business_days_after(self, received: datetime, n: int) -> datetime:
        """Close of business on the n-th business day strictly after the local receipt date.

        The hour of receipt never matters: policy counts whole days from the day after.
        """
        if n < 1:
            raise ValueError(f"business-day SLAs need n >= 1, got {n}")
        day = self.local(received).date()
        for _ in range(n):
            day = self.next_business_day(day)
        return self.close_of_business(day)

    def calendar_days_after(self, received: datetime, n: int) -> datetime:
        """Close of business n calendar days after the local receipt date, moved forward
        to the next business day if the city is closed that day."""
        if n < 0:
            raise ValueError(f"calendar-day SLAs need n >= 0, got {n}")
        day = self.local(received).date() + timedelta(days=n)
        if not self.is_business_day(day):
            day = self.next_business_day(day)
        return self.close_of_business(day)

    def due(self, rule: SlaRule, received: datetime) -> datetime:
        if rule.unit == "business":
            return self.business_days_after(received, rule.days)
        return self.calendar_days_after(received, rule.days)


def due_for(
    kind: str,
    received: datetime,
    calendar: BusinessCalendar,
    sla: Mapping[str, SlaRule] = DEFAULT_SLA,
) -> datetime:
    """Deadline for an item of `kind`; unknown kinds fail loudly rather than default."""
    rule = sla.get(kind)
    if rule is None:
        raise ValueError(f"unknown SLA kind {kind!r}; known: {', '.join(sla)}")
    return calendar.due(rule, received)


def parse_received(text: str) -> datetime:
    """Parse an ISO-8601 receipt time that must carry its UTC offset."""
    cleaned = text.strip()
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(
            f"received time {text!r} is not an ISO-8601 date-time; "
            "give e.g. 2026-12-24T16:55:00-05:00"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(
            f"received time {text!r} has no UTC offset; give one, e.g. 2026-12-24T16:55:00-05:00"
        )
    return parsed
