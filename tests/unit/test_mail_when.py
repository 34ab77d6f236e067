"""Dates in an email body, read with the same module as chat answers (bot/when.py)."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.clock import FrozenClock
from bot.mail_items import find_when, submission_from_email
from bot.model import Inbound
from bot.wording import describe_when

TZ = ZoneInfo("America/Toronto")
CLOCK = FrozenClock(datetime(2026, 12, 1, 10, 0, tzinfo=TZ))


@pytest.mark.parametrize(
    ("body", "precision", "wording"),
    [
        (
            "The truck skipped our street yesterday at 3pm and the driver was rude.",
            "minute",
            "Monday, November 30, 2026 at 3 p.m.",
        ),
        ("It happened on 2026-11-20.", "day", "Friday, November 20, 2026"),
        ("On the 24th the bus did not stop.", "day", "Tuesday, November 24, 2026"),
        ("I called last week but nobody answered.", "week", "the week of November 23, 2026"),
        (
            "Dear City, about two weeks ago the crew left a mess on Elm St.",
            "week",
            "about two weeks ago (around November 17, 2026)",
        ),
        ("The light has been out since Monday.", "ongoing", "ongoing since Monday, November 30"),
        (
            "Hello.\nOn Monday 16 November at 9:30am the bin was missed.",
            "minute",
            "Monday, November 16, 2026 at 9:30 a.m.",
        ),
    ],
)
def test_a_date_in_a_body_keeps_its_precision(body, precision, wording):
    when = find_when(body, CLOCK.now(), TZ)
    assert when is not None and when.precision == precision
    assert describe_when(when, CLOCK.now()).startswith(wording)


@pytest.mark.parametrize(
    "body",
    [
        "May I ask why nobody came?",
        "Hello, my name is Jane. Thank you.",
        "This was a while ago, I don't remember when.",
        "Please come tomorrow at 9am.",  # the future is no date of occurrence
        "1." * 50_000,
    ],
)
def test_when_unsure_the_date_is_missing(body):
    assert find_when(body, CLOCK.now(), TZ) is None


def test_an_email_submission_carries_the_range_and_precision():
    msg = Inbound(
        key="<1@example.com>",
        message_id="<1@example.com>",
        from_addr="jane@example.com",
        from_name="Jane Doe",
        to=("care@example.org",),
        subject="Missed pickup",
        date=None,
        in_reply_to=(),
        references=(),
        text="Our garbage was not picked up last week on Elm Street. Please send the truck.",
        headers={},
        content_type="text/plain",
    )
    sub = submission_from_email(msg, CLOCK.now(), TZ, "CA")
    assert (sub.when_text, sub.when_precision) == ("last week", "week")
    assert sub.when == datetime(2026, 11, 23, tzinfo=TZ)
    assert sub.when_end == datetime(2026, 11, 30, tzinfo=TZ)


def test_a_weekday_said_of_the_future_is_not_a_date_of_occurrence():
    assert find_when("Please come next Monday.", CLOCK.now(), TZ) is None


@pytest.mark.parametrize(
    "body",
    [
        "on the 39th " * 200,
        "12:00 " * 400,  # took 5 s with dateparser's search over 2000 characters
        "x" * 1_000_000,
        "9." * 500_000,
        "tomorrow at 3pm " * 300,
        "1 " * 500_000,
    ],
)
def test_a_hostile_body_is_searched_quickly(body):
    """The issue's bound (each message under 1 s); the phrase pattern is linear, phrases capped."""
    find_when("yesterday", CLOCK.now(), TZ)  # dateparser loads its language data once
    started = time.perf_counter()
    assert find_when(body, CLOCK.now(), TZ) is None
    assert time.perf_counter() - started < 1.0
