"""The five complaint items from an email, best effort (DESIGN.md: when unsure, it is missing).

An email is not a dialogue: nobody was asked. The greeting, sign-off and signature are set
aside (mail/courtesy.py): they are not what happened, but a sign-off names the writer. We
take the sender's name and address from the headers, else the name the body gives ("My name
is ...", "Regards, Jane Doe"); a phone number or another address given in the body, with
phonenumbers' matcher and email-validator; the date as bot/when.py reads a chat answer (a
past date, with the precision the words give), with the time of day when the mail says it;
and the sentences (bot/sentences.py: wrapped lines joined) that name a person or ask for
something; and where it is (bot/place.py: an address or an intersection the mail names).
Whatever is not found is listed as missing and the resident is asked; what was given is
never asked for.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.extract import ExtractError, find_contact
from bot.model import Inbound, Person, Submission
from bot.place import find_place
from bot.sentences import sentences, unwrap
from bot.when import Precision, When, WhenError, read_time_of_day, read_when
from mail.courtesy import my_name_is, split_courtesy

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


#: A time of day as mail says it: "9:30am", "9:30 a.m.", "at 9:30 in the morning", "7 in the
#: evening", "half past nine", "noon". Bounded pieces only: linear.
_HOUR_WORDS = {
    w: i + 1
    for i, w in enumerate(
        [
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
        ]
    )
}
_HOUR = r"(\d{1,2}|" + "|".join(_HOUR_WORDS) + r")"
_APPROX = r"(?:(at|around|about|approximately|roughly|just after|just before|by) )?"
_DAYPART = (
    r"(?: ?(a\.?m\b\.?|p\.?m\b\.?|o'?clock\b)| in the (morning|afternoon|evening)| at night)?"
)
_TIME_OF_DAY = re.compile(
    r"\b" + _APPROX + r"(?:"
    r"(half past|quarter past|quarter to|(?:ten|twenty|five|twenty-five) (?:past|to)) "
    + _HOUR
    + r"|(\d{1,2})(?::|\.(?=\d\d ?[ap]\.?m))(\d{2})|"
    + _HOUR
    + r"(?= ?(?:a\.?m|p\.?m|o'?clock|in the|at night)))"
    + _DAYPART
    + r"|\b"
    + _APPROX
    + r"(noon|midday|midnight)\b",
    re.IGNORECASE,
)
_OFFSETS = {
    "half past": 30,
    "quarter past": 15,
    "quarter to": -15,
    "ten past": 10,
    "ten to": -10,
    "twenty past": 20,
    "twenty to": -20,
    "five past": 5,
    "five to": -5,
    "twenty-five past": 25,
    "twenty-five to": -25,
}
#: How far after a date phrase its time of day is looked for (the rest of the sentence and
#: the next one: "...on Monday 16 November. It was around 9:30am.").
TIME_AFTER_CHARS = 200
TIME_BEFORE_CHARS = 80


def find_sentence(found: list[str], cue: re.Pattern[str]) -> str | None:
    for sentence in found:
        if cue.search(sentence):
            return sentence[:300]
    return None


def find_when(text: str, now: datetime, tz: ZoneInfo) -> When | None:
    """The first past date in the text, read like a chat answer (bot/when.py), or None.

    Phrases that say when ("yesterday at 3pm", "12 March", "last week", "a couple of weeks
    ago", "since Monday", "on the 24th") are found by one linear pattern, in text order, and
    each is read by `read_when`, so a day stays a day and a week a week; a phrase that is
    unreadable, in the future or unknown is skipped. When unsure, the date is missing. A day
    gets its time when the sentence around it (or the next) gives one."""
    text = text[:DATE_SCAN_CHARS]
    phrases = _WHEN_PHRASE.finditer(text)
    for _, match in zip(range(MAX_DATE_PHRASES), phrases, strict=False):
        try:
            when = read_when(match.group(0).strip(" ,"), now, tz)
        except WhenError:
            continue
        if when.start is not None and when.precision is not Precision.UNKNOWN:
            if when.precision is Precision.DAY:
                return _with_time(text, match, when, now, tz)
            return when
    return None


def _with_time(text: str, match: re.Match[str], day: When, now: datetime, tz: ZoneInfo) -> When:
    after = text[match.end() : match.end() + TIME_AFTER_CHARS]
    ends = [m.end() for m in re.finditer(r"[.!?](?:\s|$)", after)][:2]
    if len(ends) == 2:
        after = after[: ends[1]]
    before = text[max(0, match.start() - TIME_BEFORE_CHARS) : match.start()]
    before = re.split(r"[.!?]\s", before)[-1]
    for window in (after, before):
        said = _time_said(window)
        if said is None:
            continue
        try:
            return read_time_of_day(said, day, now, tz)
        except WhenError:
            return day
    return day


def _time_said(window: str) -> str | None:
    """The first time of day in the window, as bot/when.py reads one ("around 9:30am")."""
    found = _TIME_OF_DAY.search(window)
    if found is None:
        return None
    g = [x.lower() if x else None for x in found.groups()]
    approx, offset, offset_hour, hh, mm, bare, marker, part, approx2, word = g
    if word:
        return f"{'around ' if approx2 in ('around', 'about') else ''}{word}"
    if offset:
        hour, minute = _hour(offset_hour), _OFFSETS[offset]
        if minute < 0:
            hour, minute = hour - 1 or 12, 60 + minute
    elif hh is not None:
        hour, minute = int(hh), int(mm or 0)
    else:
        hour, minute = _hour(bare), 0
    if not 0 <= hour <= 23 or minute > 59:
        return None
    suffix = ""
    if marker and marker[0] in "ap":
        suffix = marker[0] + "m"
    elif part in ("afternoon", "evening") or "night" in found.group(0).lower():
        suffix = "pm"
    elif part == "morning" or (marker and hour <= 12):  # "9 o'clock": as when.py reads 9:00
        suffix = "am" if hour <= 12 else ""
    if suffix and not 1 <= hour <= 12:
        suffix = ""
    vague = approx in ("around", "about", "approximately", "roughly")
    return f"{'around ' if vague else ''}{hour}:{minute:02d}{suffix}"


def _hour(said: str | None) -> int:
    if said is None:
        return -1
    return _HOUR_WORDS[said] if said in _HOUR_WORDS else int(said)


#: Text with no spaces between words (Chinese, Japanese) says something in this many letters.
MIN_WHAT_LETTERS = 12
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def _says_something(text: str) -> bool:
    if len(text.split()) >= MIN_WHAT_WORDS:
        return True
    return sum(1 for _ in zip(range(MIN_WHAT_LETTERS), _CJK.finditer(text), strict=False)) >= (
        MIN_WHAT_LETTERS
    )


def submission_from_email(
    msg: Inbound, received_at: datetime, tz: ZoneInfo, region: str
) -> Submission:
    body = msg.text
    text = f"{msg.subject}\n{body}".strip()
    scan = body[:ITEM_SCAN_CHARS]
    courtesy = split_courtesy(scan)
    own = courtesy.content
    found = sentences(own)
    when = find_when(unwrap(own), received_at, tz)
    try:
        contact = find_contact(scan, region, lenient=True)
    except ExtractError:
        contact = None
    phones = contact.phones if contact else ()
    emails = [e for e in (contact.emails if contact else ()) if e.lower() != msg.from_addr]
    name = msg.from_name or my_name_is(own) or courtesy.signer
    return Submission(
        channel="email",
        received_at=received_at,
        text=text,
        what=own if _says_something(own) else None,
        when_text=when.said if when else None,
        when=when.start if when else None,
        when_end=when.end if when else None,
        when_precision=when.precision.value if when else None,
        who=find_sentence(found, WHO_CUES),
        outcome=find_sentence(found, OUTCOME_CUES),
        person=Person(
            name=name,
            email=msg.from_addr or (emails[0] if emails else None),
            phone=phones[0] if phones else None,
        ),
        subject=msg.subject,
        conversation=msg.from_addr,
        attachments=msg.attachments,
        # Where it is, from the resident's own words (not a signature's postal address), or
        # the subject ("Pothole at 12 Elm St"); conservative: when unsure, no place.
        place=find_place(unwrap(own)) or find_place(msg.subject),
    )
