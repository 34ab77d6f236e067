"""A month's trend report (policy 03.04: complaints are monitored for trends, areas of concern
and opportunities); pure: rows in (storage/report.py), figures out, no store and no clock.

The month is the city's: from local midnight on the 1st to local midnight on the 1st of the
next month, in the city's time zone (a case received at 23:30 on 31 October in Toronto is an
October case, though it is 1 November in UTC). Every figure is about the cases *received* in
that month, counted as of the report's moment (`as_of`, the injected clock's now).

How each figure is counted, and why:
- Within standard. A clock with a deadline is *met* when its event came at or before the
  deadline (acknowledgement: `acked_at`, the first reply that reached the resident;
  response: `closed_at`, when the case was closed, as the case page's timeline judges it),
  *late* when it came after, *waiting* when it has not come and the deadline has passed, and
  *not yet due* otherwise. The percentage is met / (met + late + waiting): the share of the
  deadlines that have been decided. This is the SLA board's weekly rule (storage/sla.py
  `weekly_series`: in time when `acked_at <= ack_due`; late or missing past the deadline),
  so a month's acknowledgement figures equal the sum of its weeks on the board.
- Overdue now: a case whose clock still runs (storage/sla.py CLOCKS' condition, carried on
  each row) and whose deadline is before `as_of`: the board's overdue, for the month's cases.
- Escalations: follow-up requests sent to departments (`follow-up-requested` events, written
  by the scheduler). The policy's ladder copies the Supervisor/Division Head on the 3rd request
  and the Director on the 4th, so each case's highest request number says how far it went up;
  and hazard alerts (`hazard-alert` events: an inspection not recorded in time, raised to the
  supervisor). Zero when the scheduler has written none.
- Median times in hours (calendar hours, receipt to the first reply that reached the resident,
  and receipt to closing), over the cases that have that moment.
- Survey: the satisfaction surveys of the month's cases (bot/survey.py); none sent yet:
  "no survey was sent for these cases".
- Topics: the phrases the city's own rules matched, not words counted from what residents
  wrote. Free text holds names, addresses and phone numbers that would have to be filtered
  out (and a stop-word list never catches them all); it is erased by retention, so a word
  count of an old month would change after the fact; and one resident's repeated words
  would weigh as much as many residents. The phrases come from the configuration (routing
  rules: "pothole", "missed pickup"; the policy's hazard and out-of-scope rules), so they
  are the city's own vocabulary, hold no personal data, survive retention (the `rules`
  column and the `routed` event are kept), and each case counts once per phrase.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from storage.report import Ladder, MonthRows, ReportCase
from storage.sla import CLOCKS

#: Staff's words for each kind (the residents' words are in bot/model.py KIND_LABELS).
KIND_WORDS: dict[str, str] = {
    "complaint": "Complaint",
    "request": "Request for service",
    "feedback": "Feedback, compliment or suggestion",
    "out-of-scope": "Out of scope",
    "hazard": "Potential hazard",
    "other": "Question or enquiry",
}
CHANNEL_WORDS: dict[str, str] = {
    "email": "Email",
    "web": "Web chat",
    "telegram": "Telegram",
    "console": "Terminal",
}
#: Policy 02.03's out-of-scope categories; None: the case is in scope.
CATEGORY_WORDS: dict[str | None, str] = {
    None: "In scope",
    "legislation": "Covered by legislation, a by-law or a policy (02.03 a)",
    "appeal": "Has its own appeal or complaint process (02.03 b)",
    "council": "A decision of Council or a Standing Committee (02.03 c)",
    "employee": "An internal employee matter (02.03 d)",
}
NO_DEPARTMENT = "No department yet (waiting for staff)"
#: Rules whose phrase names what a case is about (the kind-word rules name how it was said).
TOPIC_RULES = frozenset(
    {
        "safety-threat",
        "council-decision",
        "employee-matter",
        "own-appeal-process",
        "other-authority",
    }
)
TOP_TOPICS = 10
#: The report's two standards: the name, the deadline column, the column of the event that
#: meets it.
STANDARDS = (("acknowledgement", "ack_due", "acked_at"), ("response", "response_due", "closed_at"))
STANDARD_TITLES = {
    "acknowledgement": "Acknowledged within standard",
    "response": "Responded within standard",
}
#: The follow-up request that copies the Supervisor/Division Head, and the Director (POLICY.md).
SUPERVISOR_REQUEST, DIRECTOR_REQUEST = 3, 4
NO_SURVEY = "no survey was sent for these cases"

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_PHRASE = re.compile(r": the phrase '(.+)'$")
_NEAR = re.compile(r": '(.+)' with '(.+)'$")


class MonthError(ValueError):
    """A month typed by a person that is not one: the message says how to write it."""


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def words(self) -> str:
        return f"{date(self.year, self.month, 1):%B %Y}"

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """Local midnight on the 1st, and on the 1st of the next month (exclusive)."""
        after = self.next()
        return (
            datetime(self.year, self.month, 1, tzinfo=tz),
            datetime(after.year, after.month, 1, tzinfo=tz),
        )

    @classmethod
    def of(cls, at: datetime, tz: ZoneInfo) -> Month:
        here = at.astimezone(tz)
        return cls(here.year, here.month)


def parse_month(text: str) -> Month:
    """`2026-11` -> Month(2026, 11); anything else is a MonthError saying how to write it."""
    match = _MONTH.fullmatch(text.strip())
    if not match:
        raise MonthError(f"{text!r} is not a month: write it as YYYY-MM, for example 2026-11")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise MonthError(f"{text!r} is not a month: the month must be 01 to 12")
    if not 1970 <= year <= 9998:
        raise MonthError(f"{text!r} is not a month: the year must be 1970 to 9998")
    return Month(year, month)


@dataclass(frozen=True)
class Count:
    key: str | None
    label: str
    count: int
    percent: float | None  # of the month's cases


@dataclass(frozen=True)
class Standard:
    clock: str  # "acknowledgement", "response"
    applies: int  # cases with this deadline
    met: int
    late: int  # done after the deadline
    waiting: int  # not done, deadline passed
    not_yet_due: int
    percent: float | None  # met / (met + late + waiting); None when nothing is decided yet

    @property
    def decided(self) -> int:
        return self.met + self.late + self.waiting

    @property
    def title(self) -> str:
        """ "Acknowledged within standard", "Responded within standard"."""
        return STANDARD_TITLES.get(self.clock, f"{self.clock.capitalize()} within standard")


@dataclass(frozen=True)
class Overdue:
    cases: int  # distinct cases past at least one deadline
    by_clock: tuple[Count, ...]  # per clock of storage/sla.py (percent: None)


@dataclass(frozen=True)
class Escalations:
    requests: int  # follow-up requests sent, in all
    cases: int  # cases with at least one
    supervisor: int  # cases that reached the 3rd request (Supervisor/Division Head copied)
    director: int  # cases that reached the 4th (Director copied)
    hazard_alerts: int  # hazard cases raised to the supervisor (inspection not recorded in time)


@dataclass(frozen=True)
class Medians:
    to_acknowledge_hours: float | None
    acknowledged: int
    to_close_hours: float | None
    closed: int


@dataclass(frozen=True)
class Survey:
    available: bool
    sent: int = 0
    answered: int = 0
    handled_yes: int = 0
    handled_answers: int = 0
    timely_yes: int = 0
    timely_answers: int = 0
    mean_score: float | None = None
    scores: int = 0

    @property
    def handled_percent(self) -> float | None:
        return percent(self.handled_yes, self.handled_answers)

    @property
    def timely_percent(self) -> float | None:
        return percent(self.timely_yes, self.timely_answers)


@dataclass(frozen=True)
class Topic:
    phrase: str
    cases: int


@dataclass(frozen=True)
class Day:
    day: date
    count: int


@dataclass(frozen=True)
class MonthReport:
    month: Month
    timezone: str
    start: datetime  # local
    end: datetime  # local, exclusive
    as_of: datetime  # local
    cases: int
    kinds: tuple[Count, ...]
    channels: tuple[Count, ...]
    departments: tuple[Count, ...]
    categories: tuple[Count, ...]
    standards: tuple[Standard, ...]
    overdue: Overdue
    escalations: Escalations
    medians: Medians
    survey: Survey
    topics: tuple[Topic, ...]
    days: tuple[Day, ...]

    @property
    def empty(self) -> bool:
        return self.cases == 0

    @property
    def note(self) -> str:
        """One sentence for the top of every format."""
        if self.empty:
            return f"No cases were received in {self.month.words}."
        return (
            f"{self.cases:,} case{'' if self.cases == 1 else 's'} received in {self.month.words}."
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape (`caredesk report --format json`)."""
        survey: dict[str, Any] = {"available": self.survey.available}
        if self.survey.available:
            survey.update(
                asdict(self.survey),
                handled_percent=self.survey.handled_percent,
                timely_percent=self.survey.timely_percent,
            )
        else:
            survey["note"] = NO_SURVEY
        return {
            "month": self.month.key,
            "timezone": self.timezone,
            "from": self.start.isoformat(),
            "until": self.end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "cases": self.cases,
            "empty": self.empty,
            "note": self.note,
            "by_kind": [asdict(c) for c in self.kinds],
            "by_channel": [asdict(c) for c in self.channels],
            "by_department": [asdict(c) for c in self.departments],
            "by_category": [asdict(c) for c in self.categories],
            "standards": {s.clock: {**asdict(s), "decided": s.decided} for s in self.standards},
            "overdue_now": {
                "cases": self.overdue.cases,
                "by_clock": {c.label: c.count for c in self.overdue.by_clock},
            },
            "escalations": asdict(self.escalations),
            "median_hours": asdict(self.medians),
            "survey": survey,
            "topics": [asdict(t) for t in self.topics],
            "by_day": [{"day": d.day.isoformat(), "count": d.count} for d in self.days],
        }


# -- the figures ------------------------------------------------------------------------------


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _counts(
    values: Iterable[str | None],
    known: Sequence[str | None],
    label: Callable[[Any], str],
    total: int,
) -> tuple[Count, ...]:
    """Every known key (zero included, so months compare row by row), then any other key
    found; most frequent first, ties in the known order."""
    found = Counter(values)
    keys = list(dict.fromkeys([*known, *sorted(found, key=lambda k: (k is None, k or ""))]))
    order = {k: i for i, k in enumerate(keys)}
    keys.sort(key=lambda k: (-found[k], order[k]))
    return tuple(Count(k, label(k), found[k], percent(found[k], total)) for k in keys)


def standard(
    clock: str, cases: Sequence[ReportCase], due_column: str, done_column: str, as_of: datetime
) -> Standard:
    met = late = waiting = later = 0
    for case in cases:
        due_text = getattr(case, due_column)
        if not due_text:
            continue
        due, done_text = _at(due_text), getattr(case, done_column)
        if done_text:
            if _at(done_text) <= due:
                met += 1
            else:
                late += 1
        elif due < as_of:
            waiting += 1
        else:
            later += 1
    decided = met + late + waiting
    return Standard(clock, decided + later, met, late, waiting, later, percent(met, decided))


def overdue_now(cases: Sequence[ReportCase], as_of: datetime) -> Overdue:
    per_clock: Counter[str] = Counter()
    late_cases = 0
    for case in cases:
        late = False
        for c in CLOCKS:
            due, running = case.clocks.get(c.column, (None, False))
            if running and due and _at(due) < as_of:
                per_clock[c.name] += 1
                late = True
        late_cases += late
    by_clock = tuple(Count(c.column, c.name, per_clock[c.name], None) for c in CLOCKS)
    return Overdue(late_cases, by_clock)


def escalations(
    ladders: Mapping[int, Ladder], alerts: frozenset[int], case_ids: Iterable[int]
) -> Escalations:
    found = [ladders[i] for i in case_ids if i in ladders]
    return Escalations(
        requests=sum(x.requests for x in found),
        cases=sum(1 for x in found if x.requests),
        supervisor=sum(1 for x in found if x.highest >= SUPERVISOR_REQUEST),
        director=sum(1 for x in found if x.highest >= DIRECTOR_REQUEST),
        hazard_alerts=len(alerts),
    )


def _hours(start: str, end: str | None) -> float | None:
    if not end:
        return None
    return (_at(end) - _at(start)) / timedelta(hours=1)


def medians(cases: Sequence[ReportCase]) -> Medians:
    to_ack = [h for c in cases if (h := _hours(c.received_at, c.acked_at)) is not None]
    to_close = [h for c in cases if (h := _hours(c.received_at, c.closed_at)) is not None]

    def median(values: list[float]) -> float | None:
        return round(statistics.median(values), 1) if values else None

    return Medians(median(to_ack), len(to_ack), median(to_close), len(to_close))


def _yes(value: Any) -> bool | None:
    """A stored answer as True, False or None (not answered): 1/0, true/false, yes/no."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("1", "yes", "true", "y"):
            return True
        if word in ("0", "no", "false", "n"):
            return False
        return None
    return bool(value)


def survey(rows: Sequence[Mapping[str, Any]]) -> Survey:
    """Answers as the survey table keeps them: `handled`, `timely`, `score` (1-5); a row with
    none of them and no `answered_at` was sent, not answered (an opt-out is not an answer).
    Comments are never shown: they are the resident's own words."""
    if not rows:
        return Survey(available=False)
    answered = handled_yes = handled_n = timely_yes = timely_n = 0
    scores: list[int] = []
    for row in rows:
        handled = _yes(row.get("handled"))
        timely = _yes(row.get("timely"))
        score = row.get("score")
        score = int(score) if isinstance(score, int | float) and 1 <= score <= 5 else None
        if handled is not None or timely is not None or score is not None or row.get("answered_at"):
            answered += 1
        if handled is not None:
            handled_n += 1
            handled_yes += handled
        if timely is not None:
            timely_n += 1
            timely_yes += timely
        if score is not None:
            scores.append(score)
    return Survey(
        available=True,
        sent=len(rows),
        answered=answered,
        handled_yes=handled_yes,
        handled_answers=handled_n,
        timely_yes=timely_yes,
        timely_answers=timely_n,
        mean_score=round(statistics.fmean(scores), 2) if scores else None,
        scores=len(scores),
    )


def phrases_of(reason: str) -> tuple[str, ...]:
    """The phrase a rule matched, from its reason ("...: the phrase 'pothole'", or "...:
    'fire' with 'smoke'"); () when the reason names none."""
    if match := _PHRASE.search(reason):
        return (match.group(1),)
    if match := _NEAR.search(reason):
        return (f"{match.group(1)} with {match.group(2)}",)
    return ()


def topics(
    cases: Sequence[ReportCase], routing: Mapping[int, Sequence[str]], top: int = TOP_TOPICS
) -> tuple[Topic, ...]:
    found: Counter[str] = Counter()
    for case in cases:
        reasons = [r.get("reason", "") for r in case.rules if r.get("rule") in TOPIC_RULES]
        reasons += routing.get(case.id, ())
        found.update({p for reason in reasons for p in phrases_of(str(reason))})
    ranked = sorted(found.items(), key=lambda item: (-item[1], item[0]))
    return tuple(Topic(phrase, n) for phrase, n in ranked[:top])


def days(cases: Sequence[ReportCase], month: Month, tz: ZoneInfo) -> tuple[Day, ...]:
    found = Counter(_at(c.received_at).astimezone(tz).date() for c in cases)
    first = date(month.year, month.month, 1)
    after = month.next()
    last = date(after.year, after.month, 1)
    return tuple(
        Day(first + timedelta(days=i), found[first + timedelta(days=i)])
        for i in range((last - first).days)
    )


def month_report(
    rows: MonthRows,
    month: Month,
    tz: ZoneInfo,
    as_of: datetime,
    departments: Mapping[str, str],
) -> MonthReport:
    """The report of `month` from its rows. `departments`: key -> name, in the configuration's
    order (each is listed, zero included)."""
    cases = rows.cases
    total = len(cases)
    start, end = month.bounds(tz)

    def dept_label(key: str | None) -> str:
        return NO_DEPARTMENT if key is None else departments.get(key, key)

    return MonthReport(
        month=month,
        timezone=tz.key,
        start=start,
        end=end,
        as_of=as_of.astimezone(tz).replace(microsecond=0),
        cases=total,
        kinds=_counts(
            (c.kind for c in cases), list(KIND_WORDS), lambda k: KIND_WORDS.get(k, k), total
        ),
        channels=_counts(
            (c.channel for c in cases),
            list(CHANNEL_WORDS),
            lambda k: CHANNEL_WORDS.get(k, k),
            total,
        ),
        departments=_counts((c.department for c in cases), [*departments, None], dept_label, total),
        categories=_counts(
            (c.out_of_scope for c in cases),
            list(CATEGORY_WORDS),
            lambda k: CATEGORY_WORDS.get(k, k),
            total,
        ),
        standards=tuple(standard(name, cases, due, done, as_of) for name, due, done in STANDARDS),
        overdue=overdue_now(cases, as_of),
        escalations=escalations(rows.escalations, rows.hazard_alerts, (c.id for c in cases)),
        medians=medians(cases),
        survey=survey(rows.surveys),
        topics=topics(cases, rows.routing),
        days=days(cases, month, tz),
    )
