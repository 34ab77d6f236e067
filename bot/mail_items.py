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

#: Only this much of a message is searched for dates (dateparser's search is costly)...
DATE_SCAN_CHARS = 2000
#: ...and of it only the first lines that look like they hold a date...
DATE_LINES = 5
#: ...up to this many groups of digits: dateparser tries each (a few ms apiece), so a line
#: of "1.1.1.1..." would otherwise cost it seconds.
DATE_NUMBERS = 12
#: The other items are looked for in this much of the body.
ITEM_SCAN_CHARS = 16 * 1024
#: A date match must carry a digit or one of these words; "May I ask" is not a date.
_DATEISH = re.compile(
    r"\d|\b(?:yesterday|today|tonight|last|this|morning|afternoon|evening|monday|tuesday|"
    r"wednesday|thursday|friday|saturday|sunday)\b",
    re.IGNORECASE,
)
_TIME_ONLY = re.compile(r"^\s*(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*([ap]\.?m\.?)?", re.IGNORECASE)
_NUMBER = re.compile(r"\d+")
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


def date_sample(text: str) -> str:
    """The part of the text worth giving dateparser: bounded in lines and digit groups."""
    lines = [line for line in text[:DATE_SCAN_CHARS].splitlines() if _DATEISH.search(line)]
    sample = "\n".join(lines[:DATE_LINES])
    for index, number in enumerate(_NUMBER.finditer(sample)):
        if index == DATE_NUMBERS:
            return sample[: number.start()]
    return sample


def find_when(text: str, now: datetime, tz: ZoneInfo) -> tuple[str, datetime] | None:
    """The first past date in the text whose day is known, as (words used, datetime)."""
    sample = date_sample(text)
    if not sample:
        return None
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
        return None
    matches = [(t, d) for t, d in found or [] if _DATEISH.search(t)]
    for index, (words, at) in enumerate(matches):
        at = at.astimezone(tz)
        if at > now:
            continue
        if index + 1 < len(matches) and at.hour == 0 and at.minute == 0:
            follow = _TIME_ONLY.match(matches[index + 1][0])
            if follow and (follow.group(2) or follow.group(3)):
                hour = int(follow.group(1)) % 12 if follow.group(3) else int(follow.group(1))
                if follow.group(3) and follow.group(3).lower().startswith("p"):
                    hour += 12
                if hour < 24:
                    at = at.replace(hour=hour, minute=int(follow.group(2) or 0))
                    words = f"{words} {matches[index + 1][0].split()[0]}"
        return words.strip(), at
    return None


def submission_from_email(
    msg: Inbound, received_at: datetime, tz: ZoneInfo, region: str
) -> Submission:
    body = msg.text
    text = f"{msg.subject}\n{body}".strip()
    scan = body[:ITEM_SCAN_CHARS]
    when = find_when(scan, received_at, tz)
    try:
        phones = find_contact(scan, region).phones
    except ExtractError:
        phones = ()
    return Submission(
        channel="email",
        received_at=received_at,
        text=text,
        what=body if len(body.split()) >= MIN_WHAT_WORDS else None,
        when_text=when[0] if when else None,
        when=when[1] if when else None,
        who=find_sentence(scan, WHO_CUES),
        outcome=find_sentence(scan, OUTCOME_CUES),
        person=Person(name=msg.from_name, email=msg.from_addr, phone=phones[0] if phones else None),
        subject=msg.subject,
        conversation=msg.from_addr,
        attachments=msg.attachments,
    )
