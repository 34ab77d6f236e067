"""What a resident means by "when": a range of time and how precise it is, never a guess.

People answer "when did it happen?" the way they remember it: "yesterday at 3pm", "last week",
"a couple of weeks ago", "on the 24th", "since Monday", "every Tuesday", "I'm not sure". Policy
04.01 b asks for the date and time *where the resident knows them*, so what we keep must say how
much is known: a day without a time stays a day, "last week" stays a week. A `When` holds the
words as said, the resolved range in the city's zone and its `Precision`.

Reading is pure: everything is relative to the `now` passed in (the injectable clock). dateparser
reads plain dates ("12 March", "last Thursday", "2026-03-12"); a few linear regexes (no nested
quantifiers; input cut to `MAX_READ_CHARS`) read what dateparser does not: approximate amounts
("a few days back"), days of the month ("the 24th", always the most recent past one), parts of
the day, ongoing and recurring matters, and typos residents really write ("yestrday", "2 wks").

The range is [start, end): `end` is exclusive and never later than `now`. Precisions:

- minute: a time is known (a range wider than a minute means "at about");
- day: one calendar day, or part of one ("this morning");
- week: a calendar week (Monday to Sunday), a third of a month ("early October"), or a few days
  around an approximate date ("about two weeks ago");
- month: a calendar month ("in October"), or about a month ("a couple of months ago");
- ongoing: still going on. `start` is when it began (None if not said) and `end` is None. A
  recurring matter ("every Tuesday") is ongoing too, with `start`/`end` the most recent
  occurrence: the record stays honest (it keeps happening) and still names a real day;
- unknown: nothing could be read, or the resident does not know; only the words are kept.

Future dates are refused (`WhenError`), with a small tolerance for a clock a few minutes behind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from dateparser.date import DateDataParser

from bot.extract import ExtractError

#: Only this much of an answer is read (and kept as said): an answer to "when" is short.
MAX_READ_CHARS = 200
MAX_SAID_CHARS = 500
#: "just now" typed a few minutes late is not "in the future".
FUTURE_SLACK = timedelta(minutes=5)


class Precision(StrEnum):
    MINUTE = "minute"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    ONGOING = "ongoing"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class When:
    """An answer to "when": the words, the range [start, end) in the city's zone, its precision."""

    said: str
    precision: Precision
    start: datetime | None = None
    end: datetime | None = None

    @property
    def recurring(self) -> bool:
        return self.precision is Precision.ONGOING and self.end is not None

    @property
    def whole_day(self) -> bool:
        """A single calendar day and nothing about the time: worth asking "about what time?"."""
        # Parts of the day ("this morning") start at 6, 12, 17 or 21 o'clock, never midnight.
        return (
            self.precision is Precision.DAY
            and self.start is not None
            and self.start.time() == time(0)
        )


def when_of(
    said: str | None, start: datetime | None, end: datetime | None, precision: str | None
) -> When | None:
    """A `When` again from its stored parts (state, Submission, case row); None if nothing.

    Rows from before precision was kept have a start and no precision: they were read with a
    time (the old dialogue asked for one), so they are minutes."""
    if not said and start is None:
        return None
    if precision:
        kind = Precision(precision)
    else:
        kind = Precision.MINUTE if start is not None else Precision.UNKNOWN
    if kind is Precision.MINUTE and start is not None and end is None:
        end = start + timedelta(minutes=1)
    return When(said or "", kind, start, end)


class WhenError(ExtractError):
    """The answer could not be read as a past date; the message is for the resident."""

    def __init__(self, message: str, *, future: bool = False) -> None:
        super().__init__(message)
        self.future = future


UNREADABLE = (
    "Sorry, I couldn't read that as a date. You can write it like "
    '"yesterday at 3pm", "last week", "12 March at 10am" or "about two weeks ago". '
    'If you\'re not sure, type "not sure".'
)
FUTURE = (
    "That date seems to be in the future. Please give the date it happened, "
    'for example "yesterday at 3pm" or "last week".'
)

# -- words ----------------------------------------------------------------------------------

#: "I'm not sure": an answer (precision unknown), not something to read or ask again.
UNSURE_WORDS = re.compile(
    r"\b(?:not sure|unsure|don'?t know|do not know|dunno|no idea|can'?t remember|"
    r"cannot remember|don'?t remember|do not remember|not certain|no clue|unknown|"
    r"can'?t recall|forgot|forget)\b|^(?:skip|pass)\W*$"
)
#: Typos and short forms residents write, to the word dateparser and the patterns expect.
_WORD_FIXES = {
    "yestrday": "yesterday",
    "yesturday": "yesterday",
    "yesterdya": "yesterday",
    "yesteday": "yesterday",
    "yday": "yesterday",
    "ystday": "yesterday",
    "tday": "today",
    "2day": "today",
    "tonite": "tonight",
    "mon": "monday",
    "tue": "tuesday",
    "tues": "tuesday",
    "wed": "wednesday",
    "weds": "wednesday",
    "wednsday": "wednesday",
    "wensday": "wednesday",
    "thu": "thursday",
    "thur": "thursday",
    "thurs": "thursday",
    "thrusday": "thursday",
    "fri": "friday",
    "sat": "saturday",
    "sun": "sunday",
    "min": "minutes",
    "mins": "minutes",
    "minute": "minutes",
    "hr": "hours",
    "hrs": "hours",
    "hour": "hours",
    "wk": "weeks",
    "wks": "weeks",
    "week": "weeks",
    "day": "days",
    "mo": "months",
    "mos": "months",
    "mth": "months",
    "mths": "months",
    "month": "months",
    "yr": "years",
    "yrs": "years",
    "year": "years",
}
_WORD = re.compile(r"[a-z0-9']+")
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTH_RE = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"

# -- patterns (each linear: alternatives and single quantifiers, nothing nested) --------------

_NOW = re.compile(r"^(?:it'?s )?(?:right now|just now|now|at the moment|as we speak)$")
_ONGOING_ONLY = re.compile(
    r"\b(?:going on|ongoing|still happening|still going|still there|it'?s still|continuing|"
    r"happening now|all the time|constantly|keeps happening|every day|daily|every night|"
    r"every morning|every evening|every week|weekly)\b"
)
_SINCE = re.compile(r"\b(?:since|began|begun|started|starting)\b")
_FOR_PAST = re.compile(
    r"\bfor (?:the )?(?:past |last )?(\d{1,3}|a few|a couple of|a couple|several|an?|"
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve) "
    r"(days|weeks|months|hours)\b"
)
_EVERY_WEEKDAY = re.compile(
    r"\b(?:every|each) (monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?\b|"
    r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday)s\b"
)
_AMOUNT_AGO = re.compile(
    r"(?:\b(about|around|roughly|approximately|approx|maybe|probably|almost|nearly|over|"
    r"more than|less than) )?"
    r"\b(\d{1,3}|a few|a couple of|a couple|couple of|few|several|half an?|an?|"
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
    r" ?(minutes|hours|days|weeks|months|years)(?: or so)? (?:ago|back|before|earlier|past)\b"
)
#: "the 24th" (fillers such as "on the" and "of" are already gone).
_DAY_OF_MONTH = re.compile(r"([0-3]?\d)(?:st|nd|rd|th)(?: (this|last) months)?")
_EARLIER_THIS = re.compile(r"\b(?:earlier|before|at the start of|early) this (weeks|months)\b")
_PART_OF_MONTH = re.compile(
    r"\b(beginning|start|early|middle|mid|end|late)(?: of| in|-)? ?"
    r"(last months|this months|" + _MONTH_RE + r")\b"
)
_PART_OF_DAY = re.compile(
    r"\b(?:(this|last|yesterday|in the) )?(morning|afternoon|evening|night|tonight|overnight)\b"
)
_TIME_AMPM = re.compile(
    r"(?:\b(at|around|about|approx|approximately|roughly|@|~) ?)?"
    r"\b(\d{1,2})(?:[:.](\d{2}))? ?([ap])\.? ?m\b\.?"
)
_TIME_24 = re.compile(
    r"(?:\b(at|around|about|approx|approximately|roughly|@|~) ?)?\b(\d{1,2}):(\d{2})\b"
)
_TIME_WORD = re.compile(r"(?:\b(at|around|about) )?\b(noon|midday|midnight)\b")
_FILLER = re.compile(
    r"\b(?:around|about|approximately|approx|roughly|maybe|probably|sometime|some time|"
    r"or so|ish|it was|it happened|i think|i believe|on|at|in|the|of)\b"
)
_BARE_HOUR = re.compile(r"\b(?:at|around|about) \d{1,2}\b(?! ?(?:st|nd|rd|th)\b)")
_CLAUSES = re.compile(r"[,;]| and | but | i think | maybe | or ")
_APPROX_WORDS = frozenset({"about", "around", "roughly", "approximately", "approx", "~"})

#: Parts of the day as hours [from, to) on the day; night runs past midnight.
_PARTS = {"morning": (6, 12), "afternoon": (12, 17), "evening": (17, 21), "night": (21, 30)}


def read_when(text: str, now: datetime, tz: ZoneInfo) -> When:
    """Read an answer to "when" relative to `now`; `WhenError` if it cannot be read or is future.

    "I'm not sure" is an answer (precision unknown), not an error."""
    said = " ".join(text.split())[:MAX_SAID_CHARS]
    now = now.astimezone(tz)
    words = _normalise(said[:MAX_READ_CHARS])
    if not words:
        raise WhenError(UNREADABLE)
    found = _read(words, now, tz)
    if found is None:
        if UNSURE_WORDS.search(words):
            return When(said, Precision.UNKNOWN)
        raise WhenError(UNREADABLE)
    precision, start, end = found
    if start is not None and start > now + FUTURE_SLACK:
        raise WhenError(FUTURE, future=True)
    if end is not None and end > now and precision is not Precision.MINUTE:
        end = max(now, start) if start is not None else now
    return When(said, precision, start, end)


def read_time_of_day(text: str, day: When, now: datetime, tz: ZoneInfo) -> When:
    """The answer to "about what time?" on a day already known: minute precision."""
    if day.start is None:
        raise WhenError(UNREADABLE)
    words = _normalise(text[:MAX_READ_CHARS])
    found = _find_time(words)
    if found is None:
        # A bare hour is read only when it cannot be a.m. or p.m. ("15"); "3" is kept as said.
        bare = re.fullmatch(r"(?:at |around |about )?(\d{1,2})", words)
        if not bare or not 13 <= int(bare.group(1)) <= 23:
            raise WhenError(
                'Sorry, I couldn\'t read that as a time. You can write "3pm", "10:30" or '
                '"not sure".'
            )
        found = (time(int(bare.group(1))), bare.group(0).startswith(("around", "about")), bare)
    at_time, approximate, _match = found
    start = datetime.combine(day.start.date(), at_time, tz)
    if start > now.astimezone(tz) + FUTURE_SLACK:
        raise WhenError("That time is later than now. What time was it, roughly?", future=True)
    return When(
        f"{day.said}, {' '.join(text.split())}"[:MAX_SAID_CHARS],
        Precision.MINUTE,
        *_minute(start, approximate),
    )


# -- reading --------------------------------------------------------------------------------

_Found = tuple[Precision, datetime | None, datetime | None]


def _normalise(text: str) -> str:
    text = text.lower().replace("’", "'").replace("‘", "'")
    text = re.sub(r"[^a-z0-9:'~@./,; -]", " ", text)
    text = re.sub(r"\b2day\b", "today", text)
    text = re.sub(
        r"(\d)\s*(wks?|weeks?|days?|hrs?|hours?|mins?|minutes?|months?|mos?)\b", r"\1 \2", text
    )

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        return _WORD_FIXES.get(word, word)

    return " ".join(_WORD.sub(fix, text).split()).strip(" .,;")


def _read(words: str, now: datetime, tz: ZoneInfo) -> _Found | None:
    if _NOW.match(words):
        return (Precision.MINUTE, *_minute(now.replace(second=0, microsecond=0), False))
    weekly = _EVERY_WEEKDAY.search(words)
    if weekly:
        name = weekly.group(1) or weekly.group(2)
        day = _last_weekday(now.date(), _WEEKDAYS.index(name))
        start = _midnight(day, tz)
        return (Precision.ONGOING, start, start + timedelta(days=1))
    since = _SINCE.search(words)
    if since:
        begun = _read_point(words[since.end() :].strip(), now, tz)
        if begun is not None and begun[1] is not None:
            return (Precision.ONGOING, begun[1], None)
    lasting = _FOR_PAST.search(words)
    if lasting:
        amount, _approx = _amount(lasting.group(1))
        start = _back(now, amount, lasting.group(2))
        if lasting.group(2) in ("hours",):
            return (Precision.ONGOING, start.replace(second=0, microsecond=0), None)
        return (Precision.ONGOING, _midnight(start.date(), tz), None)
    if _ONGOING_ONLY.search(words) or since:
        # "still happening, first noticed Monday": a start may be in another clause; "now" is
        # not a start (it was going on before the resident wrote).
        for clause in _CLAUSES.split(words):
            point = _read_point(clause.strip(), now, tz)
            if point is not None and point[1] is not None and point[1] < now - FUTURE_SLACK:
                return (Precision.ONGOING, point[1], None)
        return (Precision.ONGOING, None, None)
    found = _read_point(words, now, tz)
    if found is not None:
        return found
    for clause in _CLAUSES.split(words):
        if clause.strip() and clause.strip() != words:
            found = _read_point(clause.strip(), now, tz)
            if found is not None:
                return found
    return None


def _read_point(words: str, now: datetime, tz: ZoneInfo) -> _Found | None:
    """A date, a day, a week or a month in the past (or a moment), from one clause."""
    if not words or UNSURE_WORDS.fullmatch(words):
        return None
    clock = _find_time(words)
    rest = words
    if clock is not None:
        rest = (words[: clock[2].start()] + " " + words[clock[2].end() :]).strip()
    else:
        # "thursday at 5": a bare hour may be a.m. or p.m.; the day is read, the hour asked.
        rest = _BARE_HOUR.sub(" ", rest).strip()
    part = _PART_OF_DAY.search(rest)
    if part is not None:
        rest = (rest[: part.start()] + " " + rest[part.end() :]).strip()
    day = _read_day_or_range(rest, now, tz, part, clock is not None)
    if day is None:
        return None
    precision, start, _end = day
    if precision is Precision.DAY and start is not None:
        if clock is not None:
            at = datetime.combine(start.date(), clock[0], tz)
            return (Precision.MINUTE, *_minute(at, clock[1]))
        if part is not None:
            name = "night" if part.group(2) in ("tonight", "overnight") else part.group(2)
            first, last = _PARTS[name]
            base = start.replace(hour=0, minute=0)
            return (Precision.DAY, base + timedelta(hours=first), base + timedelta(hours=last))
    return day


def _read_day_or_range(
    rest: str, now: datetime, tz: ZoneInfo, part: re.Match[str] | None, clock: bool
) -> _Found | None:
    today = now.date()
    bare = _FILLER.sub(" ", rest)
    bare = " ".join(bare.split())
    if not bare:
        if part is None:
            return (Precision.DAY, *_day(today, tz)) if clock else None
        # "this morning", "tonight", "in the evening" (today); "last night", "overnight"
        yesterday = part.group(1) in ("last", "yesterday") or part.group(2) == "overnight"
        day = today - timedelta(days=1) if yesterday else today
        return (Precision.DAY, *_day(day, tz))
    if bare in ("today", "earlier today", "earlier"):
        return (Precision.DAY, *_day(today, tz))
    amount = _AMOUNT_AGO.search(rest)
    if amount is not None:
        return _amount_ago(amount, now, tz)
    earlier = _EARLIER_THIS.search(rest)
    if earlier is not None:
        if earlier.group(1) == "weeks":
            monday = today - timedelta(days=today.weekday())
            return (Precision.WEEK, _midnight(monday, tz), now)
        return (Precision.MONTH, _midnight(today.replace(day=1), tz), now)
    third = _PART_OF_MONTH.search(rest)
    if third is not None:
        return _part_of_month(third, now, tz)
    if re.fullmatch(r"(?:last|past|previous) weeks|the weeks before|a weeks ago", bare):
        monday = today - timedelta(days=today.weekday() + 7)
        return (Precision.WEEK, _midnight(monday, tz), _midnight(monday + timedelta(days=7), tz))
    if bare in ("this weeks", "weeks"):
        monday = today - timedelta(days=today.weekday())
        return (Precision.WEEK, _midnight(monday, tz), now)
    nth = _DAY_OF_MONTH.fullmatch(bare)
    if nth is not None:
        found = _day_of_month(int(nth.group(1)), nth.group(2), today)
        return (Precision.DAY, *_day(found, tz)) if found else None
    return _calendar_date(bare, now, tz) or _dateparser(bare, now, tz)


_MONTH_WORD = (
    r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|" + "|".join(_MONTHS) + r")\.?"
)
_ORDINAL = r"([0-3]?\d)(?:st|nd|rd|th)?"
#: "monday 16 november", "16 nov 2025", "november 16th, 2025", "2025-11-16": the dates most
#: mail says, read without dateparser (about 10 ms a phrase, the largest cost of a mail).
_CALENDAR_DATE = re.compile(
    r"(?:(" + "|".join(_WEEKDAYS) + r"),? )?"
    r"(?:" + _ORDINAL + r" " + _MONTH_WORD + r"|" + _MONTH_WORD + r" " + _ORDINAL + r")"
    r"(?:,? (\d{4}))?"
)
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_NAMED_DAY = re.compile(r"(?:last )?(" + "|".join(_WEEKDAYS) + r")|(?:day before )?yesterday")


def _calendar_date(bare: str, now: datetime, tz: ZoneInfo) -> _Found | None:
    """A day and month (and year) said plainly, or "yesterday", or a weekday ("last monday"),
    read as dateparser reads it (the most recent such day when no year is given, the last
    such weekday before today); None for anything else, which goes to dateparser: a
    weekday that does not fit the date, a day the month does not have, a future date."""
    today = now.date()
    named = _NAMED_DAY.fullmatch(bare)
    if named is not None:
        if named.group(1) is not None:  # a weekday: the last one before today
            back = (today.weekday() - _WEEKDAYS.index(named.group(1)) - 1) % 7 + 1
        else:
            back = 2 if bare.startswith("day before") else 1
        return (Precision.DAY, *_day(today - timedelta(days=back), tz))
    iso = _ISO_DATE.fullmatch(bare)
    match = None if iso else _CALENDAR_DATE.fullmatch(bare)
    try:
        if iso is not None:
            day = date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        elif match is not None:
            weekday, num1, month1, month2, num2, year = match.groups()
            name = (month1 or month2)[:3]
            month = next(i for i, m in enumerate(_MONTHS, 1) if m.startswith(name))
            number = int(num1 or num2)
            day = date(int(year) if year else today.year, month, number)
            if not year and day > today:
                day = day.replace(year=today.year - 1)
            if weekday is not None and _WEEKDAYS[day.weekday()] != weekday:
                return None
        else:
            return None
    except ValueError:  # no such day (31 april, 29 february in most years)
        return None
    if day > today:
        return None
    return (Precision.DAY, *_day(day, tz))


def warm(now: datetime) -> None:
    """Load dateparser's language data now (about 0.3 s, once a process), not while a
    resident waits: the common answers are read without it, so nothing else loads it early."""
    _dateparser("12 March", now, ZoneInfo("UTC"))


def _dateparser(words: str, now: datetime, tz: ZoneInfo) -> _Found | None:
    """Plain dates ("12 March", "last Thursday", "2026-03-12", "in October")."""
    for plural in ("weeks", "months", "days", "years", "hours", "minutes"):
        words = words.replace(plural, plural[:-1])
    parser = DateDataParser(
        languages=["en"],
        settings={
            "TIMEZONE": str(tz),
            "RETURN_AS_TIMEZONE_AWARE": True,
            "PREFER_DATES_FROM": "past",
            "RELATIVE_BASE": now.replace(tzinfo=None),
            "RETURN_TIME_AS_PERIOD": True,
        },
    )
    try:
        data = parser.get_date_data(words)
    except Exception:  # dateparser raises assorted errors on odd input; "unreadable" is honest
        return None
    if data.date_obj is None:
        return None
    at = data.date_obj.astimezone(tz)
    if at > now + FUTURE_SLACK:
        return (Precision.DAY, at, None)  # refused by the caller, whatever its period ("next year")
    has_weekday = any(name in words for name in _WEEKDAYS)
    if data.period in ("time", "part_of_day"):
        return (Precision.MINUTE, *_minute(at, False))
    if data.period == "day":
        return (Precision.DAY, *_day(at.date(), tz))
    if data.period == "week" and not has_weekday:
        monday = at.date() - timedelta(days=at.date().weekday())
        return (Precision.WEEK, _midnight(monday, tz), _midnight(monday + timedelta(days=7), tz))
    if data.period == "month" and not has_weekday:
        first = at.date().replace(day=1)
        return (Precision.MONTH, _midnight(first, tz), _midnight(_next_month(first), tz))
    return None  # a year alone, or dateparser misreading "thursday at 5" as a month


def _find_time(words: str) -> tuple[time, bool, re.Match[str]] | None:
    """A clock time in the words: (time, said "about"/"around", the match)."""
    for match in (_TIME_AMPM.search(words), _TIME_24.search(words)):
        if match is None:
            continue
        hour, minute = int(match.group(2)), int(match.group(3) or 0)
        if match.re is _TIME_AMPM:
            if not 1 <= hour <= 12:
                continue
            hour = hour % 12 + (12 if match.group(4) == "p" else 0)
        if hour > 23 or minute > 59:
            continue
        return time(hour, minute), match.group(1) in _APPROX_WORDS, match
    word = _TIME_WORD.search(words)
    if word is not None:
        hour = 0 if word.group(2) == "midnight" else 12
        return time(hour), word.group(1) in _APPROX_WORDS, word
    return None


def _amount(words: str) -> tuple[float, bool]:
    """How many, and whether it was vague ("a couple", "a few", "several")."""
    if words.isdigit():
        return float(words), False
    if words.startswith("half"):
        return 0.5, False
    if "couple" in words:
        return 2.0, True
    if "few" in words:
        return 3.0, True
    if words == "several":
        return 4.0, True
    return float(_NUMBERS.get(words, 1)), False


def _amount_ago(match: re.Match[str], now: datetime, tz: ZoneInfo) -> _Found:
    count, vague = _amount(match.group(2))
    approximate = vague or match.group(1) is not None
    unit = match.group(3)
    point = _back(now, count, unit)
    if unit in ("minutes", "hours"):
        return (Precision.MINUTE, *_minute(point.replace(second=0, microsecond=0), approximate))
    if unit == "days" and not approximate:
        return (Precision.DAY, *_day(point.date(), tz))
    if unit in ("days", "weeks"):
        # A few days either side of the date meant: "about two weeks ago" is no exact day.
        spread = max(1, round(count / 3)) if unit == "days" else 3
        centre = point.date()
        start = _midnight(centre - timedelta(days=spread), tz)
        return (Precision.WEEK, start, _midnight(centre + timedelta(days=spread + 1), tz))
    spread = 15 if unit == "months" else 30
    centre = point.date()
    start = _midnight(centre - timedelta(days=spread), tz)
    return (Precision.MONTH, start, _midnight(centre + timedelta(days=spread + 1), tz))


def _part_of_month(match: re.Match[str], now: datetime, tz: ZoneInfo) -> _Found | None:
    today = now.date()
    which = match.group(2)
    if which == "last months":
        first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    elif which == "this months":
        first = today.replace(day=1)
    else:
        month = next(i for i, name in enumerate(_MONTHS, 1) if name.startswith(which[:3]))
        year = today.year if month <= today.month else today.year - 1
        first = date(year, month, 1)
    thirds = {"beginning": (1, 11), "start": (1, 11), "early": (1, 11), "middle": (11, 21)}
    thirds |= {"mid": (11, 21), "end": (21, 0), "late": (21, 0)}
    begin, finish = thirds[match.group(1)]
    until = first.replace(day=finish) if finish else _next_month(first)
    return (Precision.WEEK, _midnight(first.replace(day=begin), tz), _midnight(until, tz))


def _day_of_month(day: int, which: str | None, today: date) -> date | None:
    """The most recent past `day`th (today included); "of last month" goes back one month."""
    first = today.replace(day=1)
    if which == "last":
        first = (first - timedelta(days=1)).replace(day=1)
    for _ in range(13):
        try:
            found = first.replace(day=day)
        except ValueError:
            found = None
        if found is not None and found <= today:
            return found
        first = (first - timedelta(days=1)).replace(day=1)
    return None


def _last_weekday(today: date, weekday: int) -> date:
    return today - timedelta(days=(today.weekday() - weekday) % 7)


def _back(now: datetime, count: float, unit: str) -> datetime:
    if unit == "months":
        return now - timedelta(days=round(30.44 * count))
    if unit == "years":
        return now - timedelta(days=round(365.25 * count))
    return now - timedelta(**{unit: count})


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz)


def _day(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return _midnight(day, tz), _midnight(day + timedelta(days=1), tz)


def _minute(at: datetime, approximate: bool) -> tuple[datetime, datetime]:
    """A moment; "about 3pm" is the half hour around it."""
    if approximate:
        return at - timedelta(minutes=15), at + timedelta(minutes=15)
    return at, at + timedelta(minutes=1)


def _next_month(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)
