"""mail/quotes.py: the pre-check never skips quotequail when it would find quoted history."""

from __future__ import annotations

from pathlib import Path

import pytest
import quotequail
from hypothesis import given, settings
from hypothesis import strategies as st
from quotequail._patterns import FORWARD_PATTERNS, HEADER_MAP, REPLY_PATTERNS

from mail.parse import parse_message
from mail.quotes import TRIGGERS, may_have_quote

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "mail"

QUOTED = [
    "Still not fixed.\n\nOn Mon, 16 Nov 2026 at 09:30, City <feedback@city.example> wrote:\n"
    "> Thank you for writing.",
    "See below.\n\n-----Original Message-----\nFrom: Jane\nSent: Monday\nTo: City\n\nbins",
    "FYI\n\nBegin forwarded message:\n\nFrom: Jane <j@example.com>\nDate: Monday\n\nbins",
    "Le lundi 16 nov. 2026, Jane a écrit :\n> la poubelle",
    "The bin.\n> quoted one\n> quoted two\n> quoted three",
    "Top\n*From:* Jane\n*Sent:* Monday\n\nold text",
    "On Monday 16 November, Jane Doe\n<jane@example.com> wrote:\n> old",
    "Hi\n________________________________\nFrom: Jane\nTo: City\n\nold",
]


def test_every_quotequail_pattern_holds_a_trigger():
    for pattern in [*REPLY_PATTERNS, *FORWARD_PATTERNS]:
        assert any(t.lower() in pattern.lower() for t in TRIGGERS), pattern


@pytest.mark.parametrize("text", QUOTED)
def test_quoted_history_is_looked_for(text):
    assert quotequail.unwrap(text) is not None
    assert may_have_quote(text)


def test_plain_complaints_skip_quotequail():
    text = (
        "Hello,\n\nOn Monday at 7am the garbage truck drove past 12 Oak Street.\n"
        "I would like it picked up.\n\nCall me at 416-555-0100.\n\nThank you,\nJane Doe"
    )
    assert not may_have_quote(text)
    assert quotequail.unwrap(text) is None


def test_corpus_bodies_agree_with_quotequail():
    for path in sorted(CORPUS.glob("*.eml")):
        text = parse_message(path.read_bytes()).text
        assert may_have_quote(text) or quotequail.unwrap(text) is None, path.name


_PIECES = st.sampled_from(
    [
        "\n",
        " ",
        ">",
        ":",
        "*",
        "(",
        "-----",
        "wrote",
        "On Monday, Jane",
        "2026/11/16 Jane <j@x.example>",
        "Original Message",
        "Forwarded message",
        "the bin",
        "7am",
        *[f"{name}:" for name in HEADER_MAP],
        *[f"{name.upper()} : x" for name in HEADER_MAP],
        *[p.strip("^$").replace("(.*)", "x").replace("\\", "") for p in REPLY_PATTERNS],
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_a_no_is_never_wrong(text):
    assert may_have_quote(text) or quotequail.unwrap(text) is None
