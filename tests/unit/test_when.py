"""Answers to "when" as residents write them, read against a fixed `now` (never the real clock)."""

from __future__ import annotations

import contextlib
import time as timing
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.clock import FrozenClock
from bot.when import (
    MAX_READ_CHARS,
    Precision,
    When,
    WhenError,
    read_time_of_day,
    read_when,
    when_of,
)
from bot.wording import describe_when

TZ = ZoneInfo("America/Toronto")
#: Tuesday, December 1, 2026, 10:00 in Toronto.
CLOCK = FrozenClock(datetime(2026, 12, 1, 10, 0, tzinfo=TZ))
#: Tuesday, January 5, 2027: "in October", "the 24th", "last week" reach back into 2026.
NEW_YEAR = FrozenClock(datetime(2027, 1, 5, 9, 0, tzinfo=TZ))

M, D, W, MO, ON, UN = (
    Precision.MINUTE,
    Precision.DAY,
    Precision.WEEK,
    Precision.MONTH,
    Precision.ONGOING,
    Precision.UNKNOWN,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def read(text: str, clock: FrozenClock = CLOCK) -> When:
    return read_when(text, clock.now(), TZ)


# (said, precision, start, end): end is exclusive; None when there is none.
CASES = [
    # what works today
    ("yesterday at 3pm", M, "2026-11-30T15:00", "2026-11-30T15:01"),
    ("12 March at 10am", M, "2026-03-12T10:00", "2026-03-12T10:01"),
    ("2026-03-12 14:00", M, "2026-03-12T14:00", "2026-03-12T14:01"),
    ("Nov 24 at 3:05pm", M, "2026-11-24T15:05", "2026-11-24T15:06"),
    ("this morning", D, "2026-12-01T06:00", "2026-12-01T10:00"),
    ("right now", M, "2026-12-01T10:00", "2026-12-01T10:01"),
    ("just now", M, "2026-12-01T10:00", "2026-12-01T10:01"),
    # the phrases
    ("a couple of weeks ago", W, "2026-11-14T00:00", "2026-11-21T00:00"),
    ("last week", W, "2026-11-23T00:00", "2026-11-30T00:00"),
    ("a few days back", W, "2026-11-27T00:00", "2026-11-30T00:00"),
    ("in October", MO, "2026-10-01T00:00", "2026-11-01T00:00"),
    ("earlier this month", MO, "2026-12-01T00:00", "2026-12-01T10:00"),
    ("on the 24th", D, "2026-11-24T00:00", "2026-11-25T00:00"),
    ("it's going on now, it began half an hour ago", ON, "2026-12-01T09:30", None),
    ("since Monday", ON, "2026-11-30T00:00", None),
    ("every Tuesday", ON, "2026-12-01T00:00", "2026-12-01T10:00"),
    ("every Thursday", ON, "2026-11-26T00:00", "2026-11-27T00:00"),
    ("I'm not sure", UN, None, None),
    ("don't know", UN, None, None),
    ("about two weeks ago", W, "2026-11-14T00:00", "2026-11-21T00:00"),
    # what residents really write
    ("2 wks ago", W, "2026-11-14T00:00", "2026-11-21T00:00"),
    ("last thurs", D, "2026-11-26T00:00", "2026-11-27T00:00"),
    ("yestrday", D, "2026-11-30T00:00", "2026-12-01T00:00"),
    ("Yesterday.", D, "2026-11-30T00:00", "2026-12-01T00:00"),
    ("end of last month", W, "2026-11-21T00:00", "2026-12-01T00:00"),
    ("about 3pm yesterday", M, "2026-11-30T14:45", "2026-11-30T15:15"),
    ("yesterday around 2:30 p.m.", M, "2026-11-30T14:15", "2026-11-30T14:45"),
    ("today", D, "2026-12-01T00:00", "2026-12-01T10:00"),
    ("last night", D, "2026-11-30T21:00", "2026-12-01T06:00"),
    ("monday morning", D, "2026-11-30T06:00", "2026-11-30T12:00"),
    ("around 8:30 this morning", M, "2026-12-01T08:15", "2026-12-01T08:45"),
    ("9am", M, "2026-12-01T09:00", "2026-12-01T09:01"),
    ("the 12th of November", D, "2026-11-12T00:00", "2026-11-13T00:00"),
    ("3 days ago", D, "2026-11-28T00:00", "2026-11-29T00:00"),
    ("half an hour ago", M, "2026-12-01T09:30", "2026-12-01T09:31"),
    ("a week ago", W, "2026-11-21T00:00", "2026-11-28T00:00"),
    ("sometime last week", W, "2026-11-23T00:00", "2026-11-30T00:00"),
    ("this week", W, "2026-11-30T00:00", "2026-12-01T10:00"),
    ("last month", MO, "2026-11-01T00:00", "2026-12-01T00:00"),
    ("early October", W, "2026-10-01T00:00", "2026-10-11T00:00"),
    ("mid-november", W, "2026-11-11T00:00", "2026-11-21T00:00"),
    ("2 months ago", MO, "2026-09-16T00:00", "2026-10-17T00:00"),
    ("thursday at 5", D, "2026-11-26T00:00", "2026-11-27T00:00"),  # a.m. or p.m.? asked
    ("on mondays", ON, "2026-11-30T00:00", "2026-12-01T00:00"),
    ("for the past 3 days", ON, "2026-11-28T00:00", None),
    ("still happening", ON, None, None),
    ("I'm not sure, maybe last week", W, "2026-11-23T00:00", "2026-11-30T00:00"),
    ("no idea", UN, None, None),
    ("can’t remember", UN, None, None),
]


@pytest.mark.parametrize(("said", "precision", "start", "end"), CASES)
def test_answers_are_read_into_a_range_with_its_precision(said, precision, start, end):
    when = read(said)
    assert when.said == said  # verbatim
    assert when.precision is precision
    assert when.start == (at(start) if start else None)
    assert when.end == (at(end) if end else None)
    if when.start is not None:
        assert when.start <= CLOCK.now()
    if when.end is not None and precision is not M:
        assert when.end <= CLOCK.now()


YEAR_ROLL = [
    ("in October", MO, "2026-10-01T00:00", "2026-11-01T00:00"),
    ("on the 24th", D, "2026-12-24T00:00", "2026-12-25T00:00"),
    ("on the 31st", D, "2026-12-31T00:00", "2027-01-01T00:00"),
    ("last week", W, "2026-12-28T00:00", "2027-01-04T00:00"),
    ("last month", MO, "2026-12-01T00:00", "2027-01-01T00:00"),
    ("end of last month", W, "2026-12-21T00:00", "2027-01-01T00:00"),
    ("12 March", D, "2026-03-12T00:00", "2026-03-13T00:00"),
    ("earlier this month", MO, "2027-01-01T00:00", "2027-01-05T09:00"),
    ("a couple of weeks ago", W, "2026-12-19T00:00", "2026-12-26T00:00"),
    ("since Monday", ON, "2027-01-04T00:00", None),
    ("yesterday at 11pm", M, "2027-01-04T23:00", "2027-01-04T23:01"),
]


@pytest.mark.parametrize(("said", "precision", "start", "end"), YEAR_ROLL)
def test_the_year_rolls_back_across_new_year(said, precision, start, end):
    when = read(said, NEW_YEAR)
    assert (when.precision, when.start, when.end) == (
        precision,
        at(start),
        at(end) if end else None,
    )


@pytest.mark.parametrize(
    ("said", "future"),
    [
        ("tomorrow", True),
        ("tomorrow at 9am", True),
        ("next week", True),
        ("next year", True),
        ("tonight", True),  # at 10 a.m.
        ("3pm", True),  # today, still to come
        ("banana", False),
        ("the day of the big storm", False),
        ("", False),
        ("!!!", False),
    ],
)
def test_future_and_unreadable_answers_are_refused(said, future):
    with pytest.raises(WhenError) as caught:
        read(said)
    assert caught.value.future is future
    assert str(caught.value)  # a sentence for the resident


def test_the_24th_is_the_most_recent_past_one_even_today():
    assert read("on the 1st").start == at("2026-12-01T00:00")
    assert read("on the 2nd").start == at("2026-11-02T00:00")
    # No 31st in November: the most recent one is in October.
    assert read("the 31st").start == at("2026-10-31T00:00")


def test_a_time_answer_makes_a_day_a_minute():
    day = read("12 March")
    assert day.whole_day
    timed = read_time_of_day("3pm", day, CLOCK.now(), TZ)
    assert (timed.precision, timed.start) == (M, at("2026-03-12T15:00"))
    assert timed.said == "12 March, 3pm"
    about = read_time_of_day("around 10:30am", day, CLOCK.now(), TZ)
    assert describe_when(about) == "Thursday, March 12, 2026 at about 10:30 a.m."
    with pytest.raises(WhenError):
        read_time_of_day("3", day, CLOCK.now(), TZ)  # a.m. or p.m.: not guessed
    with pytest.raises(WhenError) as caught:
        read_time_of_day("11pm", read("today"), CLOCK.now(), TZ)
    assert caught.value.future


def test_only_a_single_whole_day_is_worth_asking_the_time():
    assert read("yesterday").whole_day
    assert not read("this morning").whole_day
    assert not read("yesterday at 3pm").whole_day
    assert not read("last week").whole_day


def test_input_is_bounded_and_read_in_linear_time():
    long = "a" * 100_000
    assert len(read("I'm not sure " + long).said) <= 500
    with pytest.raises(WhenError):
        read(long)
    # Reading stops at MAX_READ_CHARS: what comes after cannot change the answer.
    assert read("yesterday, " + "z" * MAX_READ_CHARS + " at 3pm").precision is D


# -- wording ----------------------------------------------------------------------------------

WORDING = [
    ("yesterday at 3pm", "Monday, November 30, 2026 at 3 p.m."),
    ("yesterday", "Monday, November 30, 2026"),
    ("on the 24th", "Tuesday, November 24, 2026"),
    ("this morning", "Tuesday, December 1, 2026, in the morning"),
    ("last week", "the week of November 23, 2026"),
    ("in October", "October 2026"),
    ("a couple of weeks ago", "about two weeks ago (around November 17, 2026)"),
    ("a few days back", "about three days ago (around November 28, 2026)"),
    ("2 months ago", "about two months ago (around October 2026)"),
    ("end of last month", "late November 2026"),
    ("about 3pm yesterday", "Monday, November 30, 2026 at about 3 p.m."),
    ("since Monday", "ongoing since Monday, November 30, 2026"),
    ("it began half an hour ago", "ongoing since Tuesday, December 1, 2026 at 9:30 a.m."),
    ("every Thursday", "it keeps happening; most recently Thursday, November 26, 2026"),
    ("still happening", "still going on (when it started is not known)"),
    ("not sure", "not known"),
]


@pytest.mark.parametrize(("said", "written"), WORDING)
def test_each_precision_is_written_without_inventing(said, written):
    text = describe_when(read(said), CLOCK.now())
    assert text == written
    assert "12 a.m." not in text


def test_last_week_as_of_november_24_is_the_week_of_november_16():
    when = read_when("last week", datetime(2026, 11, 24, 11, 0, tzinfo=TZ), TZ)
    assert describe_when(when) == "the week of November 16, 2026"


def test_unreadable_words_are_written_as_the_resident_said_them():
    kept = When("the day of the big storm", UN)
    assert describe_when(kept) == 'in your words: "the day of the big storm"'
    assert describe_when(None) == "not known"


def test_stored_parts_give_the_same_value_back():
    when = read("last week")
    assert when_of(when.said, when.start, when.end, when.precision.value) == when
    # A row from before precision was kept: it had a time.
    old = when_of("yesterday at 3pm", at("2026-11-30T15:00"), None, None)
    assert old is not None and describe_when(old) == "Monday, November 30, 2026 at 3 p.m."
    assert when_of(None, None, None, None) is None


def test_reading_a_long_hostile_answer_is_quick():
    """Patterns are linear and input is cut: 1 MB of digits and dots is read like 200 chars."""
    started = timing.perf_counter()
    for junk in ("9." * 500_000, "1 " * 500_000, "a couple of " * 80_000):
        with contextlib.suppress(WhenError):
            read(junk)
    assert timing.perf_counter() - started < 1.0  # the bound for any one message
