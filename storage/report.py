"""What a month's trend report reads (policy 03.04): the cases received in a range of instants,
their escalation requests, the phrase their routing matched, and survey answers if a survey
table exists. Figures are computed from these rows by bot/report.py (pure); the calendar (the
city's month as two UTC instants) is the caller's.

Why rows and not counts in SQL: a month is a few thousand cases read on one range of the
`cases_received` index, and every figure of the report (breakdowns, standards, medians,
topics) comes from the same rows, so they can never disagree with each other.

Whether a clock still runs is not re-derived here: each row carries the `running` condition of
storage/sla.py's CLOCKS (the same SQL the SLA board and the header's alert count use), so
"overdue now" in a report is the board's overdue, restricted to the month's cases.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from storage.cases import utc
from storage.sla import CLOCKS

#: Events that record a request sent to a department to follow a case up (the escalation
#: ladder, issue 13 item 2; data `n`, the request's number). The 3rd request copies the
#: Supervisor/Division Head, the 4th the Director (POLICY.md), so the highest number per case
#: says how far up it went.
ESCALATION_EVENTS: tuple[str, ...] = ("follow-up-requested",)
#: A hazard not inspected in time, raised to the supervisor (issue 13 item 4).
HAZARD_ALERT_EVENT = "hazard-alert"
ROUTED_EVENT = "routed"
SURVEY_TABLE = "surveys"


@dataclass(frozen=True)
class ReportCase:
    """One case received in the month: what the figures need, no personal data."""

    id: int
    kind: str
    status: str
    channel: str
    department: str | None
    out_of_scope: str | None
    received_at: str  # UTC ISO-8601, as stored
    ack_due: str | None
    acked_at: str | None
    response_due: str | None
    closed_at: str | None
    #: Deadline column -> (deadline, the clock still runs): storage/sla.py CLOCKS' condition.
    clocks: Mapping[str, tuple[str | None, bool]]
    #: The policy chain's hits recorded on the case: [{"rule", "reason"}].
    rules: tuple[Mapping[str, str], ...]


@dataclass(frozen=True)
class Ladder:
    """A case's follow-up requests: how many events, and the highest request number (`n`
    in the event's data; the count when the events carry none). They differ when a
    department's update stopped the ladder and a later one started again at 1."""

    requests: int
    highest: int


@dataclass(frozen=True)
class MonthRows:
    cases: tuple[ReportCase, ...]
    #: case id -> its follow-up requests (ESCALATION_EVENTS), for the cases that have any.
    escalations: Mapping[int, Ladder]
    #: ids of the cases with a hazard alert on their timeline.
    hazard_alerts: frozenset[int]
    #: case id -> the reasons of its `routed` events (the department's rule and phrase).
    routing: Mapping[int, tuple[str, ...]]
    #: The survey rows of the month's cases: status, answered_at, handled, timely, score.
    surveys: tuple[Mapping[str, Any], ...]


def _running_columns() -> str:
    return ", ".join(f"({c.running}) AS running_{c.column}" for c in CLOCKS)


_CASE_COLUMNS = (
    "id, kind, status, channel, department, out_of_scope, received_at, ack_due, acked_at, "
    "response_due, closed_at, rules, " + ", ".join(c.column for c in CLOCKS)
)
_IN_MONTH = "received_at >= ? AND received_at < ?"


def _rules(text: str | None) -> tuple[Mapping[str, str], ...]:
    if not text or text == "[]":  # most cases: no phrase rule fired (json.loads costs more)
        return ()
    try:
        return tuple(r for r in json.loads(text) if isinstance(r, dict))
    except ValueError:
        return ()


def _cases(db: sqlite_utils.Database, start: str, end: str) -> tuple[ReportCase, ...]:
    cursor = db.execute(
        f"SELECT {_CASE_COLUMNS}, {_running_columns()} FROM cases "
        f"INDEXED BY cases_received WHERE {_IN_MONTH} ORDER BY received_at, id",
        [start, end],
    )
    names = [c[0] for c in cursor.description]
    out = []
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        rules = _rules(row["rules"])
        out.append(
            ReportCase(
                id=int(row["id"]),
                kind=row["kind"],
                status=row["status"],
                channel=row["channel"],
                department=row["department"],
                out_of_scope=row["out_of_scope"],
                received_at=row["received_at"],
                ack_due=row["ack_due"],
                acked_at=row["acked_at"],
                response_due=row["response_due"],
                closed_at=row["closed_at"],
                clocks={
                    c.column: (row[c.column], bool(row[f"running_{c.column}"])) for c in CLOCKS
                },
                rules=rules,
            )
        )
    return tuple(out)


def _escalations(db: sqlite_utils.Database, start: str, end: str) -> dict[int, Ladder]:
    marks = ", ".join("?" for _ in ESCALATION_EVENTS)
    rows = db.execute(
        f"""SELECT e.case_id, count(*), max(CAST(json_extract(e.data, '$.n') AS INTEGER))
            FROM cases c INDEXED BY cases_received JOIN events e ON e.case_id = c.id
            WHERE c.{_IN_MONTH} AND e.type IN ({marks}) GROUP BY e.case_id""",
        [start, end, *ESCALATION_EVENTS],
    ).fetchall()
    return {int(r[0]): Ladder(int(r[1]), int(r[1]) if r[2] is None else int(r[2])) for r in rows}


def _hazard_alerts(db: sqlite_utils.Database, start: str, end: str) -> frozenset[int]:
    rows = db.execute(
        f"""SELECT DISTINCT e.case_id FROM cases c INDEXED BY cases_received
            JOIN events e ON e.case_id = c.id WHERE c.{_IN_MONTH} AND e.type = ?""",
        [start, end, HAZARD_ALERT_EVENT],
    ).fetchall()
    return frozenset(int(r[0]) for r in rows)


def _routing(db: sqlite_utils.Database, start: str, end: str) -> dict[int, tuple[str, ...]]:
    """The reason of each `routed` event: names the routing rule and the phrase it matched
    (bot/routing.py keeps the resident's words out of it)."""
    rows = db.execute(
        f"""SELECT e.case_id, json_extract(e.data, '$.reason') FROM cases c
            INDEXED BY cases_received JOIN events e ON e.case_id = c.id
            WHERE c.{_IN_MONTH} AND e.type = ? ORDER BY e.id""",
        [start, end, ROUTED_EVENT],
    ).fetchall()
    out: dict[int, tuple[str, ...]] = {}
    for case_id, reason in rows:
        if isinstance(reason, str):
            out[int(case_id)] = (*out.get(int(case_id), ()), reason)
    return out


def store_file(db: sqlite_utils.Database) -> str:
    """The file of the store `db` is open on; "" for an in-memory one."""
    row = db.execute("PRAGMA database_list").fetchone()
    return str(row[2] or "")


def _surveys(db: sqlite_utils.Database, start: str, end: str) -> tuple[Mapping[str, Any], ...]:
    """The satisfaction surveys of the month's cases (storage/survey_schema.py): whether each
    was answered and how. Never the comment: the resident's own words stay on the case."""
    cursor = db.execute(
        f"""SELECT s.status, s.answered_at, s.handled, s.timely, s.score
            FROM {SURVEY_TABLE} s JOIN cases c ON c.id = s.case_id
            WHERE c.{_IN_MONTH} ORDER BY s.id""",
        [start, end],
    )
    names = [c[0] for c in cursor.description]
    return tuple(dict(zip(names, r, strict=True)) for r in cursor.fetchall())


def month_rows(db: sqlite_utils.Database, start: datetime, end: datetime) -> MonthRows:
    """Everything the report of the cases received in [start, end) reads, in one snapshot
    (one read transaction, so a case filed meanwhile is in every figure or in none)."""
    lo, hi = utc(start), utc(end)
    own = not db.conn.in_transaction
    if own:
        db.conn.execute("BEGIN")
    try:
        cases = _cases(db, lo, hi)
        escalations = _escalations(db, lo, hi)
        alerts = _hazard_alerts(db, lo, hi)
        routing = _routing(db, lo, hi)
        surveys = _surveys(db, lo, hi)
    finally:
        if own:
            db.conn.execute("COMMIT")
    return MonthRows(cases, escalations, alerts, routing, surveys)
