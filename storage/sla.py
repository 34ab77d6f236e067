"""SLA board figures: what each clock has due today, in the next business days, and overdue;
a weekly series; and the one number every staff page shows, the cases past a standard.

The store knows no calendar: the caller passes the bounds ("end of today", "end of the fifth
business day", week starts) computed with the city's business calendar (bot/sla_bounds.py).
Every count is a range scan of a small partial index holding only the cases whose clock still
runs (storage/staff_schema.py), so the figures cost the same with a year of closed cases.

A clock runs until it is met:
- acknowledgement (`ack_due`): until the first reply reached the resident (`acked_at`) or the
  case is closed;
- response (`response_due`) and follow-up (`follow_up_due`): while the case is open;
- hazard inspection (`hazard_due`): while open and no inspection recorded (`hazard_checked_at`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from storage.alerts_schema import ANY_RUNNING, NEXT_DUE
from storage.cases import add_event, utc
from storage.staff_schema import ACK_RUNNING, OPEN_STATUSES


@dataclass(frozen=True)
class Clock:
    name: str  # shown to staff
    column: str  # the deadline column
    running: str  # SQL: the clock has not been met (the partial index's condition)
    index: str


CLOCKS: tuple[Clock, ...] = (
    Clock("acknowledgement", "ack_due", ACK_RUNNING, "cases_ack_running"),
    Clock("response", "response_due", OPEN_STATUSES, "cases_response_running"),
    Clock("follow-up", "follow_up_due", OPEN_STATUSES, "cases_follow_up_running"),
    Clock(
        "hazard inspection",
        "hazard_due",
        f"hazard_checked_at IS NULL AND {OPEN_STATUSES}",
        "cases_hazard_running",
    ),
)


@dataclass(frozen=True)
class BoardBounds:
    """Instants (aware) from the business calendar: `today_end` is the end of the city's
    current day, `horizon_end` the end of the fifth business day after today."""

    now: datetime
    today_end: datetime
    horizon_end: datetime


@dataclass(frozen=True)
class ClockFigures:
    clock: str
    column: str
    due_today: int
    due_soon: int  # after today, within the next five business days
    overdue: int


@dataclass(frozen=True)
class WeekFigures:
    week_start: str  # UTC ISO-8601 of the week's first instant (local midnight)
    received: int
    acknowledged_in_time: int
    #: Received that week and acknowledged late, or still not acknowledged past the deadline.
    overdue: int


def _count(db: sqlite_utils.Database, sql: str, params: Sequence[Any]) -> int:
    return int(db.execute(sql, list(params)).fetchone()[0])


def clock_figures(db: sqlite_utils.Database, bounds: BoardBounds) -> list[ClockFigures]:
    """Due today (not yet past), due in the next five business days, overdue: per clock."""
    now, today, horizon = utc(bounds.now), utc(bounds.today_end), utc(bounds.horizon_end)
    out = []
    for c in CLOCKS:
        base = f"SELECT count(*) FROM cases INDEXED BY {c.index} WHERE {c.running} AND "
        out.append(
            ClockFigures(
                clock=c.name,
                column=c.column,
                due_today=_count(db, base + f"{c.column} >= ? AND {c.column} < ?", [now, today]),
                due_soon=_count(db, base + f"{c.column} >= ? AND {c.column} < ?", [today, horizon]),
                overdue=_count(db, base + f"{c.column} < ?", [now]),
            )
        )
    return out


def _week(
    db: sqlite_utils.Database, start: str, end: str, at: str
) -> tuple[int, int, int, str | None]:
    """received, acknowledged in time, overdue, and the week's latest acknowledgement
    deadline, from the covering index on (received_at, ack_due, acked_at)."""
    row = db.execute(
        """SELECT count(*),
                  coalesce(sum(acked_at IS NOT NULL AND acked_at <= ack_due), 0),
                  coalesce(sum(ack_due IS NOT NULL AND (acked_at > ack_due
                               OR (acked_at IS NULL AND ack_due < ?))), 0),
                  max(ack_due)
           FROM cases INDEXED BY cases_received WHERE received_at >= ? AND received_at < ?""",
        [at, start, end],
    ).fetchone()
    last_due: str | None = row[3]
    return int(row[0]), int(row[1]), int(row[2]), last_due


def weekly_series(
    db: sqlite_utils.Database, week_starts: Sequence[datetime], now: datetime
) -> list[WeekFigures]:
    """One row a week between consecutive `week_starts` (13 bounds give 12 weeks).

    A week is final once it has ended and every acknowledgement deadline of its cases has
    passed: no case can join it (cases are received now), and each of its cases is already
    counted in time, late or missing for good. Final weeks are kept in `sla_weeks`, so the
    board reads the index only for the last week or two, not a quarter of a year's cases."""
    at = utc(now)
    bounds = [utc(w) for w in week_starts]
    kept = {
        (r[0], r[1]): (int(r[2]), int(r[3]), int(r[4]))
        for r in db.execute(
            "SELECT week_start, week_end, received, in_time, overdue FROM sla_weeks "
            "WHERE week_start >= ? AND week_start < ?",
            [bounds[0], bounds[-1]],
        ).fetchall()
    }
    out = []
    for start, end in itertools.pairwise(bounds):
        figures = kept.get((start, end))
        if figures is None:
            received, in_time, late, last_due = _week(db, start, end, at)
            figures = (received, in_time, late)
            if end <= at and (last_due is None or last_due < at):
                db.execute(
                    "INSERT OR REPLACE INTO sla_weeks (week_start, week_end, received, in_time, "
                    "overdue, computed_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [start, end, *figures, at],
                )
        out.append(WeekFigures(start, *figures))
    return out


def overdue_ids_sql(now: datetime) -> tuple[str, list[str]]:
    """SQL (and its parameters) for the ids of cases past any standard at `now`."""
    at = utc(now)
    parts = [
        f"SELECT id FROM cases INDEXED BY {c.index} WHERE {c.running} AND {c.column} < ?"
        for c in CLOCKS
    ]
    return " UNION ".join(parts), [at] * len(parts)


def alerts_count(db: sqlite_utils.Database, now: datetime) -> int:
    """Cases past any standard: the alert on every staff page's header. The same cases as
    `overdue_ids_sql`, counted on one range of the index of each case's earliest running
    deadline (storage/alerts_schema.py) instead of merging four lists of ids."""
    return _count(
        db,
        f"SELECT count(*) FROM cases INDEXED BY cases_next_due "
        f"WHERE {ANY_RUNNING} AND {NEXT_DUE} < ?",
        [utc(now)],
    )


def record_hazard_inspected(
    db: sqlite_utils.Database, case_id: int, actor: str, now: datetime
) -> bool:
    """Stop the hazard clock: the site was inspected. Call inside a transaction. False if it
    was already recorded (nothing is written twice)."""
    cursor = db.execute(
        "UPDATE cases SET hazard_checked_at = ?, updated_at = ? "
        "WHERE id = ? AND hazard_checked_at IS NULL",
        [utc(now), utc(now), case_id],
    )
    if cursor.rowcount != 1:
        return False
    add_event(db, case_id, "hazard-inspected", actor, now)
    return True
