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

from bot.phone_digits import PhoneMatcher, may_hold_phone

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


@dataclass(frozen=True)
class ContactDetails:
    emails: tuple[str, ...]
    phones: tuple[str, ...]  # E.164, e.g. +14165550100


def find_contact(text: str, region: str, lenient: bool = False) -> ContactDetails:
    """Every valid email address and phone number in the first CONTACT_SCAN_CHARS of the text;
    an invalid address is an error (for a chat answer: the resident is asked again), or, when
    `lenient` (an email body, where nobody can be asked), is passed over."""
    text = text[:CONTACT_SCAN_CHARS]
    emails = []
    for candidate in _address_candidates(text):
        candidate = candidate.strip(".:!?'\"")
        if len(candidate) > MAX_ADDRESS_CHARS:
            if lenient:
                continue
            raise ExtractError("That email address is too long. Could you check it?")
        try:
            result = validate_email(candidate, check_deliverability=False)
        except EmailNotValidError as exc:
            if lenient:
                continue
            raise ExtractError(
                f"That email address doesn't look right ({exc}). Could you check it?"
            ) from None
        emails.append(result.normalized)
    # Without "@" there is no address to blank out (and the sub calls Python once a word).
    without_emails = (
        _ADDRESS_RUN.sub(lambda m: " " if _is_address(m.group(0)) else m.group(0), text)
        if "@" in text
        else text
    )
    phones = (
        [
            phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            for match in PhoneMatcher(without_emails, region, max_tries=PHONE_MAX_TRIES)
        ]
        if may_hold_phone(without_emails, region)
        else []
    )
    return ContactDetails(tuple(dict.fromkeys(emails)), tuple(dict.fromkeys(phones)))


def _is_address(run: str) -> bool:
    return "@" in run[1:-1]


def _address_candidates(text: str) -> list[str]:
    if "@" not in text:
        return []
    return [run for run in _ADDRESS_RUN.findall(text) if _is_address(run)]


def format_phone(e164: str) -> str:
    """A phone number as people in its country write it."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))
