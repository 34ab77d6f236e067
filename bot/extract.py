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
#: A small tolerance so "just now" typed a few seconds late is not "in the future".
_FUTURE_SLACK = timedelta(minutes=5)
#: Periods precise enough to count as a date (the day is known) and as a time.
_DAY_PERIODS = frozenset({"day", "time", "part_of_day"})
_TIME_PERIODS = frozenset({"time", "part_of_day"})

_EMAIL_CANDIDATE = re.compile(r"[^\s,;<>()\[\]]+@[^\s,;<>()\[\]]+")


class ExtractError(ValueError):
    """The text does not hold what was asked for; the message is for the resident."""


@dataclass(frozen=True)
class When:
    at: datetime  # aware, in the city's zone
    has_time: bool  # False: only the day is known


def clean_text(text: str, limit: int) -> str:
    """Normalise what a resident typed: Unicode NFC, no control characters, trimmed."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = text.strip()
    if len(text) > limit:
        raise ExtractError(
            f"That message is longer than {limit} characters. Please shorten it, "
            "or send the most important part first."
        )
    return text


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
    """Every valid email address and phone number in the text; an invalid address is an error."""
    emails = []
    for candidate in _EMAIL_CANDIDATE.findall(text):
        candidate = candidate.strip(".:!?'\"")
        try:
            result = validate_email(candidate, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ExtractError(
                f"That email address doesn't look right ({exc}). Could you check it?"
            ) from None
        emails.append(result.normalized)
    without_emails = _EMAIL_CANDIDATE.sub(" ", text)
    phones = [
        phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        for match in phonenumbers.PhoneNumberMatcher(without_emails, region)
    ]
    return ContactDetails(tuple(dict.fromkeys(emails)), tuple(dict.fromkeys(phones)))


def format_phone(e164: str) -> str:
    """A phone number as people in its country write it."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))
