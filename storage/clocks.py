"""The scheduler's SQL: which cases are due, what the rules need to know about one, and the
record of each action taken (storage/clocks_schema.py).

Reads run on their own; writes run inside the caller's write transaction (one a case: its
actions, their timeline events and outbox rows or drafts, and its next due time together).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlite_utils

from storage.cases import add_event, utc

#: Timeline events that say a case went to its department (the first one starts the clock
#: of the follow-up ladder when staff set no follow-up date).
FORWARD_EVENTS = ("forwarded", "routed", "department-changed")
DEPARTMENT_UPDATE = "department-update"
#: Staff set the follow-up date on the case page (a new round of the ladder after an update).
FOLLOW_UP_SET = "follow-up-date-set"


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Done:
    """An action already taken for a case."""

    action: str
    n: int
    due_at: datetime
    at: datetime
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseClocks:
    """What the clock rules (bot/clock_rules.py) read about one case. No personal data."""

    id: int
    ref: str
    kind: str
    status: str
    channel: str
    department: str | None
    received_at: datetime
    follow_up_due: datetime | None
    expected_at: datetime | None
    hazard_due: datetime | None
    hazard_checked_at: datetime | None
    #: When the case was first delivered to its current department's tracker (a
    #: `forwarded` event, a sent forward), or None.
    forwarded_at: datetime | None
    #: When the department updated the case (`department-update` events), oldest first.
    updates: tuple[datetime, ...]
    done: tuple[Done, ...]
    #: When staff last set the follow-up date, or None.
    follow_up_set_at: datetime | None = None
    #: When the case was given its current department (routing, a staff change): for a
    #: department without a tracker, staff forward by hand, so this is its forwarding.
    assigned_at: datetime | None = None

    def taken(self, action: str) -> tuple[Done, ...]:
        return tuple(d for d in self.done if d.action == action)


def due_case_ids(db: sqlite_utils.Database, now: datetime, limit: int = 500) -> list[int]:
    """Cases due for a look at `now`, earliest first: one range of the `clocks_due` index."""
    rows = db.execute(
        "SELECT case_id FROM clocks WHERE due_at <= ? ORDER BY due_at LIMIT ?", [utc(now), limit]
    ).fetchall()
    return [int(r[0]) for r in rows]


def case_clocks(db: sqlite_utils.Database, case_id: int) -> CaseClocks | None:
    row = db.execute(
        """SELECT id, ref, kind, status, channel, department, received_at, follow_up_due,
                  expected_at, hazard_due, hazard_checked_at
           FROM cases WHERE id = ?""",
        [case_id],
    ).fetchone()
    if row is None:
        return None
    events = db.execute(
        f"""SELECT type, at, data FROM events WHERE case_id = ?
            AND type IN ({", ".join("?" * (len(FORWARD_EVENTS) + 2))}) ORDER BY id""",
        [case_id, *FORWARD_EVENTS, DEPARTMENT_UPDATE, FOLLOW_UP_SET],
    ).fetchall()
    department = row[5]
    forwarded: list[datetime] = []
    assigned: list[datetime] = []
    updates: list[datetime] = []
    set_at: datetime | None = None
    for kind, at, data in events:
        when = datetime.fromisoformat(at)
        facts = json.loads(data or "{}")
        if kind == DEPARTMENT_UPDATE:
            updates.append(when)
        elif kind == FOLLOW_UP_SET:
            set_at = when
        elif kind == "forwarded":
            if facts.get("department", department) == department:
                forwarded.append(when)
        elif facts.get("department" if kind == "routed" else "new") == department:
            assigned.append(when)
    sent = db.execute(
        "SELECT min(updated_at) FROM forwards WHERE case_id = ? AND status = 'sent' "
        "AND department = ?",
        [case_id, department],
    ).fetchone()[0]
    if sent:
        forwarded.append(datetime.fromisoformat(sent))
    done = tuple(
        Done(a, int(n), datetime.fromisoformat(due), datetime.fromisoformat(at), json.loads(d))
        for a, n, due, at, d in db.execute(
            "SELECT action, n, due_at, at, detail FROM clock_actions WHERE case_id = ? ORDER BY id",
            [case_id],
        ).fetchall()
    )
    received = datetime.fromisoformat(row[6])
    return CaseClocks(
        id=int(row[0]),
        ref=row[1],
        kind=row[2],
        status=row[3],
        channel=row[4],
        department=department,
        received_at=received,
        follow_up_due=_at(row[7]),
        expected_at=_at(row[8]),
        hazard_due=_at(row[9]),
        hazard_checked_at=_at(row[10]),
        forwarded_at=min(forwarded) if forwarded and department else None,
        updates=tuple(updates),
        done=done,
        follow_up_set_at=set_at,
        assigned_at=max(assigned) if assigned and department else None,
    )


def record_action(
    db: sqlite_utils.Database,
    case_id: int,
    action: str,
    n: int,
    due_at: datetime,
    now: datetime,
    detail: Mapping[str, Any] | None = None,
) -> bool:
    """Claim an action; False when it was already taken (the caller then does nothing)."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO clock_actions (case_id, action, n, due_at, at, detail) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [case_id, action, n, utc(due_at), utc(now), json.dumps(dict(detail or {}), default=str)],
    )
    return cursor.rowcount == 1


def set_next_look(db: sqlite_utils.Database, case_id: int, at: datetime | None) -> None:
    """When the scheduler must look at the case again; None: never (no row is kept)."""
    if at is None:
        db.execute("DELETE FROM clocks WHERE case_id = ?", [case_id])
    else:
        db.execute(
            "INSERT OR REPLACE INTO clocks (case_id, due_at) VALUES (?, ?)", [case_id, utc(at)]
        )


def move_follow_up(db: sqlite_utils.Database, case_id: int, due: datetime, now: datetime) -> None:
    """The file is marked for follow-up on `due` (the next request of the ladder)."""
    db.execute(
        "UPDATE cases SET follow_up_due = ?, updated_at = ? WHERE id = ?",
        [utc(due), utc(now), case_id],
    )


def set_follow_up(
    db: sqlite_utils.Database, case_id: int, at: datetime, actor: str, now: datetime
) -> datetime | None:
    """Staff's follow-up date, on the timeline; returns the one it replaces."""
    row = db.execute("SELECT follow_up_due FROM cases WHERE id = ?", [case_id]).fetchone()
    old = _at(row[0]) if row else None
    move_follow_up(db, case_id, at, now)
    add_event(
        db,
        case_id,
        FOLLOW_UP_SET,
        actor,
        now,
        {"old": old.isoformat() if old else None, "new": at.isoformat()},
    )
    return old


def set_expected(
    db: sqlite_utils.Database, case_id: int, at: datetime, now: datetime
) -> datetime | None:
    """Staff's anticipated completion date; returns the one it replaces."""
    row = db.execute("SELECT expected_at FROM cases WHERE id = ?", [case_id]).fetchone()
    old = _at(row[0]) if row else None
    db.execute(
        "UPDATE cases SET expected_at = ?, updated_at = ? WHERE id = ?",
        [utc(at), utc(now), case_id],
    )
    return old


def set_attention(db: sqlite_utils.Database, case_id: int, why: str, now: datetime) -> None:
    """Flag the case for staff (storage/mail.py has the same for mail; one column)."""
    db.execute(
        "UPDATE cases SET attention = ?, updated_at = ? WHERE id = ?",
        [why[:200], utc(now), case_id],
    )


def clear_attention(db: sqlite_utils.Database, case_id: int, prefix: str) -> None:
    """Clear the flag if it is still the one this module set (starting with `prefix`)."""
    db.execute(
        "UPDATE cases SET attention = NULL WHERE id = ? AND substr(attention, 1, ?) = ?",
        [case_id, len(prefix), prefix],
    )


def latest_forward_sequence(db: sqlite_utils.Database, case_id: int) -> int | None:
    row = db.execute(
        "SELECT max(sequence) FROM forwards WHERE case_id = ? AND status = 'sent'", [case_id]
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def outbox_key_exists(db: sqlite_utils.Database, key: str) -> bool:
    return (
        db.execute("SELECT 1 FROM outbox WHERE idempotency_key = ?", [key]).fetchone() is not None
    )


def event(
    db: sqlite_utils.Database,
    case_id: int,
    kind: str,
    now: datetime,
    data: Mapping[str, Any] | None = None,
) -> None:
    """A timeline event written by the scheduler (actor `scheduler`)."""
    add_event(db, case_id, kind, "scheduler", now, data)


@dataclass(frozen=True)
class Overdue:
    """A case past a standard, for the digest and the staff pages."""

    ref: str
    standard: str
    due: datetime


def overdue_cases(db: sqlite_utils.Database, now: datetime, limit: int = 500) -> list[Overdue]:
    """Every (case, standard) past its deadline at `now`, earliest first (storage/sla.py's
    clocks, each read through its own partial index)."""
    from storage.sla import CLOCKS

    at = utc(now)
    out: list[Overdue] = []
    for c in CLOCKS:
        for ref, due in db.execute(
            f"SELECT ref, {c.column} FROM cases INDEXED BY {c.index} "
            f"WHERE {c.running} AND {c.column} < ? ORDER BY {c.column} LIMIT ?",
            [at, limit],
        ).fetchall():
            out.append(Overdue(ref, c.name, datetime.fromisoformat(due)))
    out.sort(key=lambda o: (o.due, o.ref))
    return out[:limit]
