"""Pull structured items out of what residents write, with well-kept libraries.

email-validator checks addresses, phonenumbers finds and normalises phone numbers (dates are
read by bot/when.py). When unsure, these return an error for the resident instead of a guess:
asking again is better than recording it wrong.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

_EMAIL_CANDIDATE = re.compile(r"[^\s,;<>()\[\]]+@[^\s,;<>()\[\]]+")


class ExtractError(ValueError):
    """The text does not hold what was asked for; the message is for the resident."""


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
