"""The five items from an email body (bot/mail_items.py), table-driven: body -> items.

Sentences, not lines; the time of day attached to the date; greetings and sign-offs are not
what happened; a contact or name given in the body is not asked for again.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.clock import FrozenClock
from bot.config import Config
from bot.decide import Policy, decide
from bot.intake import missing_label
from bot.mail_items import submission_from_email
from bot.model import Inbound
from bot.sentences import sentences

TZ = ZoneInfo("America/Toronto")
CLOCK = FrozenClock(datetime(2026, 12, 1, 10, 0, tzinfo=TZ))
POLICY = Policy.from_config(Config())
ANY = object()  # the item is present, whatever its words


def inbound(body: str, name: str | None = None, addr: str | None = "r@example.com") -> Inbound:
    return Inbound(
        key="k",
        message_id="<1@example.com>",
        from_addr=addr,
        from_name=name,
        to=("feedback@city.example",),
        subject="A complaint",
        date=None,
        in_reply_to=(),
        references=(),
        text=body,
        headers={},
        content_type="text/plain",
    )


# body, From name, then the items expected: None = missing, ANY = present, str = exactly.
# `when` is (precision, "YYYY-MM-DD HH:MM") or None: the minute said lies in the range read.
CASES = [
    pytest.param(
        "Hello,\n\nWho was involved: I was outside and waved to the driver of\n"
        "the truck, who kept going.\n\nThanks,\nJane",
        None,
        {
            "who": "Who was involved: I was outside and waved to the driver of the truck, "
            "who kept going.",
            "name": "Jane",
        },
        id="a-wrapped-line-is-not-a-sentence-end",
    ),
    pytest.param(
        "The bus driver at Queen St. and Dufferin Ave. drove past us on Monday 30\n"
        "November. I would like the driver retrained.",
        "Ann Lee",
        {
            "who": "The bus driver at Queen St. and Dufferin Ave. drove past us on Monday 30 "
            "November.",
            "outcome": "I would like the driver retrained.",
            "when": ("day", "2026-11-30 00:00"),
        },
        id="street-abbreviations-do-not-end-sentences",
    ),
    pytest.param(
        "On Monday 16 November the bin at 27 Oak Street was missed. It was around 9:30am.\n"
        "The driver saw me waving.",
        "Jane Doe",
        {"when": ("minute", "2026-11-16 09:30"), "when_text": ANY},
        id="time-in-the-next-sentence",
    ),
    pytest.param(
        "The garbage truck skipped our street on Monday 16 November at 9:30 in the morning.",
        "Jane Doe",
        {"when": ("minute", "2026-11-16 09:30")},
        id="time-in-the-morning",
    ),
    pytest.param(
        "On Friday 27 November, about half past nine, the plow blocked our driveway again.",
        "Jane Doe",
        {"when": ("minute", "2026-11-27 09:30")},
        id="time-in-words",
    ),
    pytest.param(
        "The music from the park was still loud on Saturday 28 November at 11 at night "
        "and at 7 in the evening before that.",
        "Jane Doe",
        {"when": ("minute", "2026-11-28 23:00")},
        id="time-at-night",
    ),
    pytest.param(
        "The parking officer was rude to me on 2026-11-20 at 9 a.m. The officer shouted at "
        "me. Please make sure it does not happen again.",
        "Jane Doe",
        {
            "when": ("minute", "2026-11-20 09:00"),
            "who": "The parking officer was rude to me on 2026-11-20 at 9 a.m.",
            "outcome": "Please make sure it does not happen again.",
        },
        id="a.m.-before-a-new-sentence",
    ),
    pytest.param(
        "Dear Sir or Madam,\n\nThe garbage on Elm Road was not collected this week.\n\n"
        "Kind regards,\nJane Doe\n\nSent from my iPhone",
        None,
        {"what": "The garbage on Elm Road was not collected this week.", "name": "Jane Doe"},
        id="greeting-and-sign-off-are-not-what-happened",
    ),
    pytest.param(
        "Good morning,\n\nThanks,\nJane",
        "Jane Doe",
        {"what": None},
        id="only-courtesy-says-nothing",
    ),
    pytest.param(
        "Hi, the streetlight on Pine Avenue has been out for a week.\n\nRegards, Maria Santos",
        None,
        {"what": "the streetlight on Pine Avenue has been out for a week.", "name": "Maria Santos"},
        id="greeting-and-name-on-the-same-line",
    ),
    pytest.param(
        "The crossing guard left before the children arrived today.\n\nThanks for nothing.",
        "Jane Doe",
        {
            "what": "The crossing guard left before the children arrived today.\n\n"
            "Thanks for nothing."
        },
        id="thanks-for-nothing-is-what-happened",
    ),
    pytest.param(
        "My name is Peter Novak and the sidewalk on Birchmount Rd. has not been cleared. "
        "You can reach me at 905-555-0100.",
        None,
        {"name": "Peter Novak", "phone": "+19055550100"},
        id="my-name-is-and-a-phone",
    ),
    pytest.param(
        "The pool was closed without notice.\n-- \nOmar Farouk\n416-555-0134",
        None,
        {
            "name": "Omar Farouk",
            "phone": "+14165550134",
            "what": "The pool was closed without notice.",
        },
        id="signature-block",
    ),
    pytest.param(
        "Meet the crew @ the corner, or write to jane@@example and the pool was closed. "
        "Call 905-555-0100.",
        "Jane Doe",
        {"phone": "+19055550100"},
        id="a-broken-address-does-not-lose-the-phone",
    ),
    pytest.param(
        "The pool was closed without notice. Write to me at jane.home@example.org please.",
        "Jane Doe",
        {"email": "jane.home@example.org"},
        id="an-address-in-the-body-when-from-has-none",
    ),
    pytest.param(
        "The bin was missed on Monday 30 November.\n\nRegards,\nJane Doe",
        "J. Doe (Home)",
        {"name": "J. Doe (Home)"},
        id="the-from-name-wins",
    ),
]


def items(sub) -> dict[str, object]:
    return {
        "what": sub.what,
        "who": sub.who,
        "outcome": sub.outcome,
        "when_text": sub.when_text,
        "when": (sub.when_precision, sub.when, sub.when_end) if sub.when else None,
        "name": sub.person.name,
        "phone": sub.person.phone,
        "email": sub.person.email,
    }


@pytest.mark.parametrize(("body", "name", "expected"), CASES)
def test_items_from_a_body(body, name, expected):
    addr = None if "email" in expected else "r@example.com"
    found = items(submission_from_email(inbound(body, name, addr), CLOCK.now(), TZ, "CA"))
    for item, want in expected.items():
        if want is ANY:
            assert found[item], item
        elif item == "when":
            precision, start, end = found["when"]
            said = datetime.strptime(want[1], "%Y-%m-%d %H:%M").replace(tzinfo=TZ)
            assert precision == want[0] and start <= said < end, (precision, start, end)
        else:
            assert found[item] == want, item


def test_a_time_of_day_is_kept_in_the_words_said():
    body = "On Monday 16 November the bin was missed. It was around 9:30am."
    sub = submission_from_email(inbound(body, "Jane Doe"), CLOCK.now(), TZ, "CA")
    assert sub.when_text is not None and "around 9:30am" in sub.when_text
    # "around": a range about the minute said, not a point
    assert sub.when_end is not None and sub.when is not None and sub.when_end > sub.when


def test_a_time_that_is_unsure_keeps_the_day():
    body = "On Monday 30 November the truck was at number 14 at 5 and left."
    sub = submission_from_email(inbound(body, "Jane Doe"), CLOCK.now(), TZ, "CA")
    assert sub.when_precision == "day"


def test_what_was_given_is_not_asked_for():
    """A sign-off name and the From address: contact is not missing. A bare From and no name
    anywhere: only the name is asked for, never the address the mail came from."""
    body = (
        "Hi,\n\nThe number 22 bus drove past the stop on Monday 30 November. The driver\n"
        "looked at us. I would like the driver reminded to stop.\n\nRegards,\nMaria Santos"
    )
    signed = submission_from_email(inbound(body), CLOCK.now(), TZ, "CA")
    assert "contact" not in decide(signed, CLOCK.now(), POLICY).missing
    unsigned = submission_from_email(
        inbound(body.replace("Maria Santos", "")), CLOCK.now(), TZ, "CA"
    )
    assert "contact" in decide(unsigned, CLOCK.now(), POLICY).missing
    assert missing_label("contact", unsigned) == "your name"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I live on Oak St. The bin was missed.", ["I live on Oak St.", "The bin was missed."]),
        ("Dr. J. Smith saw it! Really? Yes.", ["Dr. J. Smith saw it!", "Really?", "Yes."]),
        ("When: Monday\nWhere: Elm Rd.", ["When: Monday", "Where: Elm Rd."]),
        ("e.g. the bins. The truck", ["e.g. the bins.", "The truck"]),
        (
            "It was at 9 a.m. on Monday 30 November and the truck was\nlate again.",
            ["It was at 9 a.m. on Monday 30 November and the truck was late again."],
        ),
    ],
)
def test_sentences(text, expected):
    assert sentences(text) == expected


def test_sentences_and_items_stay_linear_on_hostile_bodies():
    """Bounded work: a megabyte of dots, abbreviations or line breaks reads in well under a
    second (the issue 8 bound for mail parsing)."""
    for body in ("St. " * 250_000, "a\n" * 500_000, "9:30am " * 150_000, "Hi,\n" * 250_000):
        started = time.perf_counter()
        submission_from_email(inbound(body, "Jane"), CLOCK.now(), TZ, "CA")
        assert time.perf_counter() - started < 1.0


def replies_to(raw: bytes) -> str:
    from bot.mail_cli import rendered_replies
    from bot.mail_intake import assess, mail_identity
    from bot.replies import ReplyRenderer
    from mail.parse import parse_message

    found = assess(parse_message(raw), CLOCK.now(), POLICY, mail_identity(POLICY))
    return "\n".join(r["body"] for r in rendered_replies(POLICY, ReplyRenderer(), found))


def test_the_replies_do_not_ask_for_what_the_mail_gave():
    """The acknowledgement and the missing-info request, as intake would queue them."""
    corpus = Path(__file__).resolve().parents[1] / "corpus" / "mail"
    signed = replies_to((corpus / "70-signoff-name-bare-from.eml").read_bytes())
    assert signed and "your name" not in signed and "how to reach you" not in signed
    unsigned = replies_to(
        (corpus / "70-signoff-name-bare-from.eml").read_bytes().replace(b"Maria Santos\n", b"")
    )
    assert "your name" in unsigned and "how to reach you" not in unsigned
