"""Generated months of cases for the trend report's tests: a few hundred cases from September to
early December 2026, spread over kinds, channels, departments and out-of-scope categories,
acknowledged on time, late or never, some closed, some escalated, routed by phrases.

Each case is filed the way intake files it (tests/unit/staff_store.py `file_case`, the
routing event by storage/departments.py `record_routing`), and what the test meant is kept
beside it as a `Made` record: the tests compute the expected figures from these records with
their own arithmetic, never through bot/report.py.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import overload
from zoneinfo import ZoneInfo

import sqlite_utils

from bot.config import Config, Department
from bot.model import Kind, RuleHit, Status
from storage.cases import add_event
from storage.departments import record_routing

from .staff_store import file_case, set_case

TORONTO = ZoneInfo("America/Toronto")
#: The report's moment: Thursday 3 December 2026, 10:00 in Toronto.
AS_OF = datetime(2026, 12, 3, 10, 0, tzinfo=TORONTO)
DEPARTMENTS = {
    "roads": ("Roads and Sidewalks", ("pothole", "sidewalk", "street light")),
    "waste": ("Waste Collection", ("missed pickup", "green bin")),
    "water": ("Water and Sewers", ("water main", "flooding")),
}
CONFIG = Config(
    retention_every_hours=0,
    departments=tuple(Department(key, name) for key, (name, _p) in DEPARTMENTS.items()),
)
HAZARD_PHRASES = ("gas leak", "downed wire")
CHANNELS = ("email", "web", "telegram", "console")
CATEGORIES = ("legislation", "appeal", "council", "employee")
#: A resident's name in every case's text: it must never appear in a report.
RESIDENT = "Zoë Tremblay"


@dataclass
class Made:
    """What one generated case is, every instant in UTC."""

    id: int
    received: datetime
    kind: str
    channel: str
    status: str
    department: str | None
    category: str | None
    ack_due: datetime
    acked: datetime | None
    response_due: datetime | None
    closed: datetime | None
    follow_up_due: datetime | None
    hazard_due: datetime | None
    hazard_checked: datetime | None
    requests: int
    hazard_alert: bool
    topics: set[str] = field(default_factory=set)


@overload
def _utc(at: datetime) -> datetime: ...
@overload
def _utc(at: None) -> None: ...
def _utc(at: datetime | None) -> datetime | None:
    """Compared as instants: two aware datetimes of one ZoneInfo compare by wall clock."""
    return at.astimezone(UTC).replace(microsecond=0) if at else None


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat(timespec="seconds") if at else None


def file_made(
    db: sqlite_utils.Database,
    rng: random.Random,
    received: datetime,
) -> Made:
    kind = rng.choice(list(Kind))
    channel = rng.choice(CHANNELS)
    status = rng.choices(
        [Status.OPEN, Status.CLOSED, Status.RECORDED, Status.REDIRECTED],
        weights=[50, 35, 10, 5],
    )[0]
    category = rng.choice(CATEGORIES) if kind is Kind.OUT_OF_SCOPE else None
    department = rng.choice([*DEPARTMENTS, None])
    ack_due = received + timedelta(days=2 if channel == "email" else 1)
    how = rng.choices(["on time", "late", "never"], weights=[70, 15, 15])[0]
    acked = {
        "on time": received + timedelta(minutes=rng.randint(1, 24 * 60)),
        "late": ack_due + timedelta(minutes=rng.randint(1, 3 * 24 * 60)),
        "never": None,
    }[how]
    closed = (
        received + timedelta(minutes=rng.randint(30, 30 * 24 * 60))
        if status is Status.CLOSED
        else None
    )
    response_due = (
        received + timedelta(days=21)
        if channel == "email" and kind in (Kind.COMPLAINT, Kind.REQUEST)
        else None
    )
    follow_up_due = received + timedelta(days=14) if department else None
    hazard_due = received + timedelta(days=1) if kind is Kind.HAZARD else None
    hazard_checked = hazard_due - timedelta(hours=2) if hazard_due and rng.random() < 0.5 else None
    deadlines = {"complaint-ack": ack_due}
    if response_due:
        deadlines["email-response"] = response_due
    if follow_up_due:
        deadlines["follow-up"] = follow_up_due
    if hazard_due:
        deadlines["hazard-inspection"] = hazard_due
    topics: set[str] = set()
    # A kind-word hit: how it was said, not what about, so never a topic.
    hits = [RuleHit("complaint-words", "expresses dissatisfaction: the phrase 'unacceptable'")]
    if kind is Kind.HAZARD:
        phrase = rng.choice(HAZARD_PHRASES)
        hits.append(
            RuleHit("safety-threat", f"mentions an immediate safety threat: the phrase '{phrase}'")
        )
        topics.add(phrase)
    if kind is Kind.HAZARD and rng.random() < 0.3:
        hits.append(
            RuleHit("safety-threat", "mentions an immediate safety threat: 'smoke' with 'basement'")
        )
        topics.add("smoke with basement")
    case_id = file_case(
        db,
        received=received,
        kind=kind,
        status=status,
        channel=channel,
        deadlines=deadlines,
        what=f"{RESIDENT} at 12 Elm Street says it is unacceptable",
        hits=tuple(hits),
    )
    if department:
        phrase = rng.choice(DEPARTMENTS[department][1])
        reason = f"kind is {kind.value}; mentions a subject of {department}: the phrase '{phrase}'"
        topics.add(phrase)
    else:
        reason = "no rule matched: waiting for staff"
    record_routing(
        db, case_id, {"department": department, "rule": department, "reason": reason}, received
    )
    set_case(
        db,
        case_id,
        acked_at=_iso(acked),
        closed_at=_iso(closed),
        out_of_scope=category,
        hazard_checked_at=_iso(hazard_checked),
    )
    requests = rng.choices([0, 1, 2, 3, 4, 6], weights=[60, 12, 10, 8, 6, 4])[0]
    for n in range(requests):
        add_event(
            db,
            case_id,
            "follow-up-requested",
            "scheduler",
            received + timedelta(days=14 + n),
            {"n": n + 1, "sent": True},
        )
    hazard_alert = kind is Kind.HAZARD and hazard_checked is None and rng.random() < 0.6
    if hazard_alert:
        assert hazard_due is not None
        add_event(db, case_id, "hazard-alert", "scheduler", hazard_due, {})
    if rng.random() < 0.1:  # other events never count as escalations
        add_event(db, case_id, "note-added", "staff:a@city.example.org", received)
    return Made(
        id=case_id,
        received=_utc(received),
        kind=kind.value,
        channel=channel,
        status=status.value,
        department=department,
        category=category,
        ack_due=_utc(ack_due),
        acked=_utc(acked),
        response_due=_utc(response_due),
        closed=_utc(closed),
        follow_up_due=_utc(follow_up_due),
        hazard_due=_utc(hazard_due),
        hazard_checked=_utc(hazard_checked),
        requests=requests,
        hazard_alert=hazard_alert,
        topics=topics,
    )


def fill_months(db: sqlite_utils.Database, seed: int = 13) -> list[Made]:
    """About 400 cases from 1 September to 2 December 2026 (local), plus the edges of November:
    23:30 on 31 October (3:30 on 1 November in UTC: October's), the first minute of
    1 November (the day the clocks go back), the last minute of 30 November, and midnight on
    1 December (December's)."""
    rng = random.Random(seed)
    made = []
    start = datetime(2026, 9, 1, tzinfo=TORONTO)
    for _ in range(400):
        offset = timedelta(minutes=rng.randint(0, 92 * 24 * 60))
        made.append(file_made(db, rng, (start + offset).astimezone(TORONTO)))
    for edge in (
        datetime(2026, 10, 31, 23, 30, tzinfo=TORONTO),
        datetime(2026, 11, 1, 0, 0, tzinfo=TORONTO),
        datetime(2026, 11, 30, 23, 59, tzinfo=TORONTO),
        datetime(2026, 12, 1, 0, 0, tzinfo=TORONTO),
    ):
        made.append(file_made(db, rng, edge))
    return made


def in_month(made: list[Made], year: int, month: int) -> list[Made]:
    """The cases received in that month of Toronto's calendar, by the test's own reckoning."""
    return [
        m
        for m in made
        if (m.received.astimezone(TORONTO).year, m.received.astimezone(TORONTO).month)
        == (year, month)
    ]
