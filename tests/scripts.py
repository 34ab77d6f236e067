"""Scripted conversations shared by the tests and the benchmarks.

One place for the lines a resident types, so that a unit test, an end-to-end test through a
channel and a benchmark all speak the same complaint, and a change to the dialogue is made
once. Plain data: importable without pytest (bench/ imports it).
"""

from __future__ import annotations

#: A complaint from the first menu to the summary: every step of the dialogue, in order
#: (kind, danger, what, when, who, outcome, name, on whose behalf, contact).
FULL: tuple[str, ...] = (
    "1",
    "no",
    "The garbage truck skipped our street and the driver was rude when I asked why",
    "yesterday at 3pm",
    "the driver of truck 42",
    "pick up the garbage and an apology",
    "Jane Doe",
    "me",
    "jane@example.com 905-555-0100",
)

#: FULL, then "confirm" at the summary: the complaint is filed.
FILED: tuple[str, ...] = (*FULL, "confirm")
