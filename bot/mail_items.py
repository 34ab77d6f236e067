"""The five complaint items from an email, best effort (DESIGN.md: when unsure, it is missing).

An email is not a dialogue: nobody was asked. We take the sender's name and address from the
headers, a phone number with phonenumbers' matcher, the date with dateparser's search in the
city's zone (only a past date with a known day counts), and the sentences that name a person
or ask for something. Whatever is not found is listed as missing and the resident is asked.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from dateparser.search import search_dates

from bot.extract import ExtractError, find_contact
from bot.model import Inbound, Person, Submission
from bot.when import Precision, When, WhenError, read_when

#: Only this much of a message is searched for dates (dateparser's search is costly).
DATE_SCAN_CHARS = 2000
#: A date match must carry a digit or one of these words; "May I ask" is not a date.
_DATEISH = re.compile(
    r"\d|\b(?:yesterday|today|tonight|last|this|morning|afternoon|evening|monday|tuesday|"
    r"wednesday|thursday|friday|saturday|sunday|ago|back|since|every)\b",
    re.IGNORECASE,
)
_NUMBER = (
    r"(?:\d{1,3}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|a few|a couple of|several)"
)
_DAY_NAME = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday"
#: Relative and approximate phrases dateparser's search does not find (each linear).
_WHEN_PHRASE = re.compile(
    r"\b(?:(?:about|around|roughly) )?" + _NUMBER + r" (?:minutes?|hours?|days?|weeks?|months?)"
    r" (?:ago|back)\b|"
    r"\b(?:last|this|earlier this) (?:week|month)\b|"
    r"\b(?:beginning|start|middle|end) of (?:last|this) month\b|"
    r"\b(?:since|every) (?:" + _DAY_NAME + r"|yesterday|last week)\b|"
    r"\bon the [0-3]?\d(?:st|nd|rd|th)\b",
    re.IGNORECASE,
)
_TIME_ONLY = re.compile(r"^\s*(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*([ap]\.?m\.?)?", re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
WHO_CUES = re.compile(
    r"\b(?:driver|staff|employee|officer|inspector|crew|clerk|worker|contractor|attendant|"
    r"supervisor|manager|department|councillor|operator|guard|receptionist|agent|lifeguard|"
    r"mr\.?|mrs\.?|ms\.?|dr\.?)\b",
    re.IGNORECASE,
)
OUTCOME_CUES = re.compile(
    r"\b(?:i would like|i'd like|i want|i expect|i am asking|i'm asking|i ask that|"
    r"i request|i am requesting|please (?:fix|repair|remove|replace|send|refund|"
    r"investigate|look into|call|contact|make sure|ensure|apologi[sz]e|stop)|"
    r"i would appreciate|i hope that|can you please|could you please)\b",
    re.IGNORECASE,
)
MIN_WHAT_WORDS = 5


def find_sentence(text: str, cue: re.Pattern[str]) -> str | None:
    for sentence in _SENTENCE.findall(text):
        if cue.search(sentence):
            return " ".join(sentence.split())[:300]
    return None


def find_when(text: str, now: datetime, tz: ZoneInfo) -> When | None:
    """The first past date in the text, read like a chat answer (bot/when.py), or None.

    Two finders, earliest first: dateparser's search (dates with a known day, a time after
    them) and a few linear patterns for what it misses ("last week", "a couple of weeks ago",
    "since Monday", "on the 24th"). Each phrase found is read by `read_when`, so a day
    stays a day and a week a week; one that is unreadable, future or unknown is skipped."""
    sample = text[:DATE_SCAN_CHARS]
    if not _DATEISH.search(sample):
        return None
    candidates = [(m.start(), m.group(0)) for m in _WHEN_PHRASE.finditer(sample)]
    candidates += _searched_dates(sample, now, tz)
    for _position, words in sorted(candidates, key=lambda c: c[0]):
        try:
            when = read_when(words, now, tz)
        except WhenError:
            continue
        if when.start is not None and when.precision is not Precision.UNKNOWN:
            return when
    return None


def _searched_dates(sample: str, now: datetime, tz: ZoneInfo) -> list[tuple[int, str]]:
    """dateparser's search: (position, words), a following time joined to its day."""
    try:
        found = search_dates(
            sample,
            languages=["en"],
            settings={
                "TIMEZONE": str(tz),
                "RETURN_AS_TIMEZONE_AWARE": True,
                "PREFER_DATES_FROM": "past",
                "RELATIVE_BASE": now.astimezone(tz).replace(tzinfo=None),
                "REQUIRE_PARTS": ["day"],
            },
        )
    except Exception:  # dateparser raises assorted errors on odd input; a date is optional
        return []
    matches = [words for words, _at in found or [] if _DATEISH.search(words)]
    out = []
    for index, words in enumerate(matches):
        position = sample.find(words)
        if index + 1 < len(matches):
            follow = _TIME_ONLY.match(matches[index + 1])
            if follow and (follow.group(2) or follow.group(3)):
                words = f"{words} {matches[index + 1]}"
        out.append((position if position >= 0 else len(sample), words.strip()))
    return out


def submission_from_email(
    msg: Inbound, received_at: datetime, tz: ZoneInfo, region: str
) -> Submission:
    body = msg.text
    text = f"{msg.subject}\n{body}".strip()
    when = find_when(body, received_at, tz)
    try:
        phones = find_contact(body, region).phones
    except ExtractError:
        phones = ()
    return Submission(
        channel="email",
        received_at=received_at,
        text=text,
        what=body if len(body.split()) >= MIN_WHAT_WORDS else None,
        when_text=when.said if when else None,
        when=when.start if when else None,
        when_end=when.end if when else None,
        when_precision=when.precision.value if when else None,
        who=find_sentence(body, WHO_CUES),
        outcome=find_sentence(body, OUTCOME_CUES),
        person=Person(name=msg.from_name, email=msg.from_addr, phone=phones[0] if phones else None),
        subject=msg.subject,
        conversation=msg.from_addr,
        attachments=msg.attachments,
    )
