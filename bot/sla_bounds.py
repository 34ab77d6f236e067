"""The calendar bounds the staff pages pass to the store (storage/review.py, storage/sla.py).

The store compares stored UTC instants; what "today", "the next five business days", "this
week" and "four business hours from now" mean depends on the city's time zone, holidays and
opening hours, which live in the business calendar (bot/clock.py). Pure: `now` comes from the
caller's clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from bot.clock import BusinessCalendar
from storage.sla import BoardBounds

#: How many business days ahead the board's "due soon" column looks.
HORIZON_BUSINESS_DAYS = 5


def _local_midnight(calendar: BusinessCalendar, day: datetime) -> datetime:
    return datetime.combine(day.date(), time(0), tzinfo=calendar.tz)


def board_bounds(
    calendar: BusinessCalendar, now: datetime, days: int = HORIZON_BUSINESS_DAYS
) -> BoardBounds:
    """End of the city's today, and end of the `days`-th business day after today."""
    here = calendar.local(now)
    today_end = _local_midnight(calendar, here) + timedelta(days=1)
    day = here.date()
    for _ in range(days):
        day = calendar.next_business_day(day)
    horizon_end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=calendar.tz)
    return BoardBounds(
        now=now.astimezone(UTC),
        today_end=today_end.astimezone(UTC),
        horizon_end=horizon_end.astimezone(UTC),
    )


def week_starts(calendar: BusinessCalendar, now: datetime, weeks: int = 12) -> list[datetime]:
    """`weeks + 1` bounds: local Monday midnights, the last one ending the current week."""
    here = calendar.local(now)
    monday = here.date() - timedelta(days=here.weekday())
    first = monday - timedelta(weeks=weeks - 1)
    return [
        datetime.combine(first + timedelta(weeks=i), time(0), tzinfo=calendar.tz).astimezone(UTC)
        for i in range(weeks + 1)
    ]


def near_deadline_bound(calendar: BusinessCalendar, now: datetime, hours: float = 4) -> datetime:
    """The instant `hours` of opening hours after `now`: a draft due before it is near its
    deadline. Nights, weekends and holidays do not count (a draft due Monday 9:00 is near on
    Friday afternoon)."""
    left = timedelta(hours=hours)
    here = calendar.local(now)
    while True:
        day = here.date()
        opens = datetime.combine(day, calendar.opens, tzinfo=calendar.tz)
        closes = datetime.combine(day, calendar.closes, tzinfo=calendar.tz)
        if calendar.is_business_day(day) and here < closes:
            start = max(here, opens)
            if start + left <= closes:
                return (start + left).astimezone(UTC)
            left -= closes - start
        nxt = calendar.next_business_day(day)
        here = datetime.combine(nxt, calendar.opens, tzinfo=calendar.tz)
