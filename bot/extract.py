"""Pull structured items out of what residents write, with well-kept libraries.

dateparser reads dates ("yesterday at 3pm", "12 March") in the city's own zone, email-validator
checks addresses, phonenumbers finds and normalises phone numbers. When unsure, these return
an error for the resident instead of a guess: asking again is better than recording it wrong.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from dateparser.date import DateDataParser
from email_validator import EmailNotValidError, validate_email

#: Words people put around a time that dateparser does not understand.
_FILLER = re.compile(
    r"\b(?:around|about|approximately|approx\.?|roughly|maybe|probably|sometime|some time|"
    r"at around|at about|or so|ish|on|it was|it happened)\b",
    re.IGNORECASE,
)
#: dateparser reads at most this much of an answer: it tries every group of digits (a few ms
#: each), so a long answer of "1.1.1..." cost it half a second, on the event loop.
WHEN_CHARS = 120
#: A small tolerance so "just now" typed a few seconds late is not "in the future".
_FUTURE_SLACK = timedelta(minutes=5)
#: Periods precise enough to count as a date (the day is known) and as a time.
_DAY_PERIODS = frozenset({"day", "time", "part_of_day"})
_TIME_PERIODS = frozenset({"time", "part_of_day"})

#: A run of characters that can belong to an address. A run is a candidate when it has an "@"
#: with something on both sides. Splitting into runs first keeps the search linear: the old
#: single pattern (`run@run`) retried from every character of a long run, quadratic in its length.
_ADDRESS_RUN = re.compile(r"[^\s,;<>()\[\]]+")
#: No address is longer than this (RFC 5321: 64 + 1 + 255); longer runs are not validated.
MAX_ADDRESS_CHARS = 320
#: find_contact reads only this much: a chat message is at most this long anyway, and
#: phonenumbers' matcher costs far more than a regex on long runs of digits and dots.
CONTACT_SCAN_CHARS = 4000
#: How many phone-like candidates the matcher may try before giving up.
PHONE_MAX_TRIES = 100


class ExtractError(ValueError):
    """The text does not hold what was asked for; the message is for the resident."""


@dataclass(frozen=True)
class When:
    at: datetime  # aware, in the city's zone
    has_time: bool  # False: only the day is known


#: A text this many times over the limit is refused before it is normalised: NFC composes at
#: most a few code points into one, so it could never come under the limit.
_NFC_SHRINK = 4
#: What a stored copy of a text cut to the limit ends with.
CUT_MARK = " [cut: the message was longer]"


def cut_to(text: str, limit: int) -> str:
    """A text as it may be stored: at most `limit` characters, marked when it was cut.

    A message refused as too long is still a record of what was said (the transcript), but
    is not kept in full: the store holds no more than the dialogue would have accepted."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(CUT_MARK))] + CUT_MARK


def clean_text(text: str, limit: int) -> str:
    """Normalise what a resident typed: Unicode NFC, no control characters, trimmed."""
    if len(text) > _NFC_SHRINK * limit:
        raise _too_long(limit)
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = text.strip()
    if len(text) > limit:
        raise _too_long(limit)
    return text


def _too_long(limit: int) -> ExtractError:
    return ExtractError(
        f"That message is longer than {limit} characters. Please shorten it, "
        "or send the most important part first."
    )


def _parser(now: datetime, tz: ZoneInfo) -> DateDataParser:
    base = now.astimezone(tz).replace(tzinfo=None)
    return DateDataParser(
        languages=["en"],
        settings={
            "TIMEZONE": str(tz),
            "RETURN_AS_TIMEZONE_AWARE": True,
            "PREFER_DATES_FROM": "past",
            "RELATIVE_BASE": base,
            "RETURN_TIME_AS_PERIOD": True,
        },
    )


def parse_when(text: str, now: datetime, tz: ZoneInfo) -> When:
    """A past date (and time, if given) from free text, resolved in the city's zone."""
    text = text[:WHEN_CHARS]
    cleaned = " ".join(_FILLER.sub(" ", text).split())
    data = _parser(now, tz).get_date_data(cleaned or text)
    if data.date_obj is None:
        raise ExtractError(
            "Sorry, I couldn't read that as a date. You can write it like "
            '"yesterday at 3pm", "12 March at 10am" or "2026-03-12 14:00".'
        )
    at = data.date_obj.astimezone(tz)
    if at > now + _FUTURE_SLACK:
        raise ExtractError(
            "That date seems to be in the future. Please give the date it happened, "
            'for example "yesterday at 3pm".'
        )
    if data.period not in _DAY_PERIODS:
        raise ExtractError(
            'Could you tell me the day it happened? For example "last Tuesday" or '
            '"12 March". If you\'re not sure of the exact day, your best guess is fine.'
        )
    return When(at=at, has_time=data.period in _TIME_PERIODS)


def parse_time_of_day(text: str, day: datetime, now: datetime, tz: ZoneInfo) -> datetime:
    """A time on an already-known day ("3pm", "around 10:30")."""
    text = text[:WHEN_CHARS]
    cleaned = " ".join(_FILLER.sub(" ", text).split())
    data = _parser(now, tz).get_date_data(cleaned or text)
    if data.date_obj is None or data.period not in _TIME_PERIODS:
        raise ExtractError(
            'Sorry, I couldn\'t read that as a time. You can write "3pm", "10:30" or "not sure".'
        )
    t = data.date_obj.astimezone(tz)
    at = day.astimezone(tz).replace(hour=t.hour, minute=t.minute, second=0, microsecond=0)
    if at > now + _FUTURE_SLACK:
        raise ExtractError("That time is later than now. What time was it, roughly?")
    return at


@dataclass(frozen=True)
class ContactDetails:
    emails: tuple[str, ...]
    phones: tuple[str, ...]  # E.164, e.g. +14165550100


def find_contact(text: str, region: str) -> ContactDetails:
    """Every valid email address and phone number in the first CONTACT_SCAN_CHARS of the text;
    an invalid address is an error."""
    text = text[:CONTACT_SCAN_CHARS]
    emails = []
    for candidate in _address_candidates(text):
        candidate = candidate.strip(".:!?'\"")
        if len(candidate) > MAX_ADDRESS_CHARS:
            raise ExtractError("That email address is too long. Could you check it?")
        try:
            result = validate_email(candidate, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ExtractError(
                f"That email address doesn't look right ({exc}). Could you check it?"
            ) from None
        emails.append(result.normalized)
    without_emails = _ADDRESS_RUN.sub(
        lambda m: " " if _is_address(m.group(0)) else m.group(0), text
    )
    phones = [
        phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        for match in phonenumbers.PhoneNumberMatcher(
            without_emails, region, max_tries=PHONE_MAX_TRIES
        )
    ]
    return ContactDetails(tuple(dict.fromkeys(emails)), tuple(dict.fromkeys(phones)))


def _is_address(run: str) -> bool:
    return "@" in run[1:-1]


def _address_candidates(text: str) -> list[str]:
    return [run for run in _ADDRESS_RUN.findall(text) if _is_address(run)]


def format_phone(e164: str) -> str:
    """A phone number as people in its country write it."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))
