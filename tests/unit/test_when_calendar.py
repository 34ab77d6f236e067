"""Plain calendar dates are read without dateparser (bot/when.py `_calendar_date`), and read
exactly as dateparser reads them: a grid of dates, forms and moments, each compared."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.when import Precision, _calendar_date, _dateparser, read_when

TZ = ZoneInfo("America/Toronto")
NOWS = [
    datetime(2026, 11, 25, 16, 0, tzinfo=UTC),
    datetime(2027, 1, 1, 5, 1, tzinfo=UTC),  # just after midnight on new year's day
    datetime(2028, 2, 29, 23, 0, tzinfo=UTC),  # a leap day
    datetime(2026, 3, 1, 4, 59, tzinfo=UTC),  # still 28 February in Toronto
    datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
]
FORMS = (
    "{d} {m}",
    "{m} {d}",
    "{wd} {d} {m}",
    "{d}th {mon}",
    "{m} {d}, {y}",
    "{wd}, {m} {d}th {y}",
    "{y}-{mm:02d}-{d:02d}",
    "{d} {mon}. {y}",
    "{wd} {d} {m} {y}",
)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
AGO = (0, 1, 2, 5, 30, 200, 364, 365, 366, 400, -1, -3, -40)  # negative: the future


def phrases() -> list[tuple[datetime, str]]:
    rng = random.Random(9)
    out = []
    for now in NOWS:
        local = now.astimezone(TZ)
        for _ in range(50):
            day = local.date() - timedelta(days=rng.choice(AGO))
            wrong_weekday = rng.random() < 0.15
            month = day.strftime("%B").lower()
            text = rng.choice(FORMS).format(
                d=day.day,
                m=month,
                mon=month[:3],
                y=day.year,
                mm=day.month,
                wd=WEEKDAYS[(day.weekday() + wrong_weekday) % 7],
            )
            out.append((local, text))
    return out


def test_calendar_dates_read_as_dateparser_reads_them() -> None:
    read = 0
    for now, text in phrases():
        fast = _calendar_date(text, now, TZ)
        if fast is not None:
            read += 1
            assert fast == _dateparser(text, now, TZ), (now, text)
    assert read > 150  # most of the grid is read without dateparser


def test_yesterday_and_weekdays_read_as_dateparser_reads_them() -> None:
    for now in NOWS:
        local = now.astimezone(TZ)
        for _ in range(7):  # every weekday of the week before `now`, today's included
            local += timedelta(days=1)
            texts = ["yesterday", "day before yesterday"]
            texts += [f"{last}{day}" for day in WEEKDAYS for last in ("", "last ")]
            for text in texts:
                fast = _calendar_date(text, local, TZ)
                assert fast is not None and fast == _dateparser(text, local, TZ), (local, text)


@pytest.mark.parametrize(
    "text",
    ["monday 31 april", "29 february", "tuesday 16 november 2026", "16 november 2027", "smarch 3"],
)
def test_what_it_leaves_to_dateparser(text: str) -> None:
    """No such day, a weekday that does not fit, a future date, not a month: not guessed."""
    assert _calendar_date(text, datetime(2026, 11, 25, 12, tzinfo=TZ), TZ) is None


def test_a_mail_date_with_its_time() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=TZ)
    when = read_when("On Monday 16 November at 9:30am", now, TZ)
    assert when.precision is Precision.MINUTE
    assert when.start == datetime(2026, 11, 16, 9, 30, tzinfo=TZ)
