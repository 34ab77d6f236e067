"""The five complaint items from an email, best effort (DESIGN.md: when unsure, it is missing).

An email is not a dialogue: nobody was asked. We take the sender's name and address from the
headers, a phone number with phonenumbers' matcher, the date as bot/when.py reads a chat
answer (a past date, with the precision the words give), and the sentences that name a person
or ask for something. Whatever is not found is listed as missing and the resident is asked.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.extract import ExtractError, find_contact
from bot.model import Inbound, Person, Submission
from bot.when import Precision, When, WhenError, read_when

#: Only this much of a message is searched for dates, and only so many phrases are read: each
#: costs a dateparser call (a few ms, up to ~40 on odd text), and a body is no dialogue.
DATE_SCAN_CHARS = 2000
MAX_DATE_PHRASES = 6
_NUMBER = (
    r"(?:\d{1,3}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|a few|a couple of|several)"
)
_DAY_NAME = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}\.?"
_MONTH_NAME = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december)"
)
_DAY_NUMBER = r"[0-3]?\d(?:st|nd|rd|th)?\b"
_CLOCK = r"(?:\d{1,2}(?::\d{2})? ?[ap]\.?m\b\.?|\d{1,2}:\d{2}\b|noon)"
_AT = r"(?:,? ?(?:at|around|about) ?|,? )" + _CLOCK
_PART = r"(?: (?:morning|afternoon|evening|night))?"
#: Phrases that say when, found without dateparser's costly search: every alternative is a
#: sequence of bounded pieces (no nested quantifiers), so a scan is linear in the text.
_WHEN_PHRASE = re.compile(
    r"\b(?:(?:about|around|roughly) )?" + _NUMBER + r" (?:minutes?|hours?|days?|weeks?|months?)"
    r" (?:ago|back)\b|"
    r"\b(?:last|this|earlier this) (?:week|month)\b|"
    r"\b(?:beginning|start|middle|end) of (?:last|this) month\b|"
    r"\b(?:since|every) (?:" + _DAY_NAME + r"|yesterday|last week)\b|"
    r"\b(?:on )?the [0-3]?\d(?:st|nd|rd|th)\b(?:" + _AT + r")?|"
    r"\b\d{4}-\d{2}-\d{2}(?:[ T]\d{1,2}:\d{2})?\b|"
    r"\b(?:(?:on )?" + _DAY_NAME + r",? )?"  # "On Monday 16 November": the date, not the day
    r"(?:" + _DAY_NUMBER + r" (?:of )?" + _MONTH + r"|" + _MONTH + r" " + _DAY_NUMBER + r")"
    r"(?:,? \d{4}\b)?(?:" + _AT + r")?|"
    r"\bin " + _MONTH_NAME + r"(?: \d{4})?\b|"
    r"(?:(?:at |around |about )?" + _CLOCK + r" )?"
    r"\b(?:(?:last|this|on|next) )?(?:yesterday|today|tonight|last night|this morning|"
    r"this afternoon|this evening|" + _DAY_NAME + r")\b" + _PART + r"(?:" + _AT + r")?",
    re.IGNORECASE,
)
#: The other items are looked for in this much of the body.
ITEM_SCAN_CHARS = 16 * 1024
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
WHO_CUES = re.compile(
    r"\b(?:driver|staff|employee|officer|inspector|crew|clerk|worker|contractor|attendant|"
    r"supervisor|manager|department|councillor|operator|guard|receptionist|agent|lifeguard|"
    r"instructor|cashier|technician|"
    # A title before a name ("Dr. Patel", "Dr Patel"), not a street ("Twyn Rivers Dr just").
    r"(?-i:(?:Mr|Mrs|Ms|Dr)(?:\.|\.? [A-Z])))",
    re.IGNORECASE,
)
OUTCOME_CUES = re.compile(
    r"\b(?:(?:i|we) would like|(?:i|we)'d like|(?:i|we) want|(?:i|we) expect|i am asking|"
    r"i'm asking|i ask that|i request|i am requesting|i would appreciate|i hope that|"
    r"(?:can|could) (?:you|someone|somebody|the city|it|they) (?:please )?\w+)\b|"
    # A plea that opens a sentence or follows a comma: "Please put the nets back."
    r"(?:^|[,;])\s*please \w+",
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

    Phrases that say when ("yesterday at 3pm", "12 March", "last week", "a couple of weeks
    ago", "since Monday", "on the 24th") are found by one linear pattern, in text order, and
    each is read by `read_when`, so a day stays a day and a week a week; a phrase that is
    unreadable, in the future or unknown is skipped. When unsure, the date is missing."""
    phrases = _WHEN_PHRASE.finditer(text[:DATE_SCAN_CHARS])
    for _, match in zip(range(MAX_DATE_PHRASES), phrases, strict=False):
        try:
            when = read_when(match.group(0).strip(" ,"), now, tz)
        except WhenError:
            continue
        if when.start is not None and when.precision is not Precision.UNKNOWN:
            return when
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
        when_text=when.said if when else None,
        when=when.start if when else None,
        when_end=when.end if when else None,
        when_precision=when.precision.value if when else None,
        who=find_sentence(scan, WHO_CUES),
        outcome=find_sentence(scan, OUTCOME_CUES),
        person=Person(name=msg.from_name, email=msg.from_addr, phone=phones[0] if phones else None),
        subject=msg.subject,
        conversation=msg.from_addr,
        attachments=msg.attachments,
    )
