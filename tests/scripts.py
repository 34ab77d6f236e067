"""Scripted conversations and messages shared by the tests and the benchmarks.

One place for what a resident sends, so that a unit test, an end-to-end test through a
channel and a benchmark all speak the same complaint, and a change to the dialogue is made
once. Plain data: importable without pytest (bench/ imports it).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.model import Person, Submission

#: A complaint from the first menu to the summary: every step of the dialogue, in order
#: (kind, danger, what, when, who, outcome, name, on whose behalf, contact).
FULL: tuple[str, ...] = (
    "1",
    "no",
    "The garbage truck skipped 12 Elm Street and the driver was rude when I asked why",
    "yesterday at 3pm",
    "the driver of truck 42",
    "pick up the garbage and an apology",
    "Jane Doe",
    "me",
    "jane@example.com 905-555-0100",
)

#: FULL, then "confirm" at the summary: the complaint is filed.
FILED: tuple[str, ...] = (*FULL, "confirm")

#: A Wednesday morning in the city: when the scripted messages below arrive.
WEDNESDAY = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("America/Toronto"))

#: A resident who gives her name and both ways to reach her.
JANE = Person(name="Jane Doe", email="jane@example.com", phone="+19055550100")

#: A complaint with every item the policy asks for, from Jane, as a chat files it.
COMPLAINT = Submission(
    channel="web",
    received_at=WEDNESDAY,
    text="The driver of truck 42 was rude to me and skipped our street",
    what="The driver of truck 42 was rude to me and skipped our street",
    when_text="yesterday at 3pm",
    when=datetime(2026, 11, 24, 15, 0, tzinfo=ZoneInfo("America/Toronto")),
    who="driver of truck 42",
    outcome="an apology",
    person=JANE,
    scope_hint="",
)

#: An email with only its text and its sender: no name, nothing about when, who or outcome.
EMAIL = Submission(
    channel="email",
    received_at=WEDNESDAY,
    text="I am unhappy that nobody replied to my letter about the arena",
    what="I am unhappy that nobody replied to my letter about the arena",
    person=Person(email="sam@example.org"),
    subject="No reply",
)
