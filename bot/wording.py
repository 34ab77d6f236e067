"""How dates and times are written to residents: "Tuesday, November 24, 2026 at 3:05 p.m."."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from bot.when import UNSURE_WORDS, Precision, When


def human_day(at: datetime) -> str:
    return f"{at:%A}, {at:%B} {at.day}, {at.year}"


def human_time(at: datetime) -> str:
    hour = at.hour % 12 or 12
    minutes = f":{at.minute:02d}" if at.minute else ""
    return f"{hour}{minutes} {'a.m.' if at.hour < 12 else 'p.m.'}"


def human_datetime(at: datetime) -> str:
    return f"{human_day(at)} at {human_time(at)}"


def human_month_day(at: datetime) -> str:
    return f"{at:%B} {at.day}, {at.year}"


_SMALL = ("a", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven")


def _about_ago(told_at: datetime, mid: datetime) -> str:
    """ "about two weeks ago": how far back the middle of a vague range lies, in round words."""
    days = max(1, round((told_at - mid) / timedelta(days=1)))
    if days < 10:
        count, unit = days, "day"
    elif days < 60:
        count, unit = round(days / 7), "week"
    elif days < 335:
        count, unit = round(days / 30.44), "month"
    else:
        count, unit = round(days / 365.25), "year"
    number = _SMALL[count - 1] if count <= len(_SMALL) else str(count)
    return f"about {number} {unit}{'' if count == 1 else 's'} ago"


def describe_when(when: When | None, told_at: datetime | None = None) -> str:
    """A `When` as written to a resident, saying no more than is known.

    The one wording for the dialogue summary, acknowledgements and mail: a day is never
    given a time ("12 a.m."), a week never an exact day. `told_at` (when the resident said
    it) lets a vague range also be said the way people say it ("about two weeks ago")."""
    if when is None or when.precision is Precision.UNKNOWN or when.start is None:
        if when is not None and when.precision is Precision.ONGOING:
            return "still going on (when it started is not known)"
        said = when.said.strip() if when is not None else ""
        if not said or UNSURE_WORDS.search(said.lower()):
            return "not known"
        return f'in your words: "{said}"'
    start = when.start
    end = when.end or start
    mid = start + (end - start) / 2
    if when.precision is Precision.MINUTE:
        if end - start <= timedelta(minutes=1):
            return human_datetime(start)
        mid += timedelta(minutes=2, seconds=30)  # to the nearest five minutes
        mid = mid.replace(minute=mid.minute - mid.minute % 5, second=0, microsecond=0)
        return f"{human_day(mid)} at about {human_time(mid)}"
    if when.precision is Precision.DAY:
        part = _PART_NAMES.get(start.hour)
        if part and start.time() != time(0):
            return f"{human_day(start)}, {part}"
        return human_day(start)
    if when.precision is Precision.WEEK:
        if start.weekday() == 0 and start.time() == time(0) and end - start <= timedelta(days=7):
            return f"the week of {human_month_day(start)}"
        third = _third_of_month(start, end)
        if third:
            return third
        around = f"around {human_month_day(mid)}"
        return f"{_about_ago(told_at, mid)} ({around})" if told_at else around
    if when.precision is Precision.MONTH:
        if start.day == 1 and start.time() == time(0) and end - start <= timedelta(days=31):
            return f"{start:%B} {start.year}"
        around = f"around {mid:%B} {mid.year}"
        return f"{_about_ago(told_at, mid)} ({around})" if told_at else around
    # ongoing
    if when.recurring:
        return f"it keeps happening; most recently {human_day(start)}"
    since = human_day(start) if start.time() == time(0) else human_datetime(start)
    return f"ongoing since {since}"


_PART_NAMES = {6: "in the morning", 12: "in the afternoon", 17: "in the evening", 21: "at night"}
_THIRDS = {1: ("early ", 10), 11: ("mid-", 20), 21: ("late ", 31)}


def _third_of_month(start: datetime, end: datetime) -> str | None:
    """ "early October", "mid-November", "late November": a range that is a third of a month."""
    if start.time() != time(0) or start.day not in _THIRDS:
        return None
    last = end - timedelta(seconds=1)
    prefix, last_day = _THIRDS[start.day]
    if (last.year, last.month) != (start.year, start.month) or last.day > last_day:
        return None
    return f"{prefix}{start:%B} {start.year}"
