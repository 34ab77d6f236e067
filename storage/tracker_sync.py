"""The SQL of status sync (bot/tracker_sync.py): what to ask a department's Open311 tracker
about, and what it answered, written onto the case.

Reads run on their own; writes run inside the caller's write transaction, like the rest of
storage/. The department's last word per case is read back from the timeline (the latest
Open311 `department-update` event for the case's current service request), so what counts
as a change is judged against exactly what staff were last shown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from storage.cases import add_event, utc

#: The timeline events status sync writes.
FORWARDED_ID = "forwarded-id"
DEPARTMENT_UPDATE = "department-update"
#: Who wrote them (the `actor` of the event).
ACTOR = "tracker-sync"
#: The reply drafted when a department closes its service request.
CLOSING = "closing"


@dataclass(frozen=True)
class PendingToken:
    """A forward the Open311 server answered with a token: its id is not known yet."""

    forward_id: int
    case_id: int
    ref: str
    token: str


@dataclass(frozen=True)
class Tracked:
    """An open case with a service request in this department's tracker, and the
    department's last word about it (`last`: the data of the latest Open311 update event
    for this request, empty when there was none)."""

    case_id: int
    ref: str
    external_id: str
    since: str
    last: Mapping[str, Any]


def pending_tokens(db: sqlite_utils.Database, department: str) -> list[PendingToken]:
    rows = db.execute(
        """SELECT f.id, f.case_id, c.ref, f.token
           FROM forwards f JOIN cases c ON c.id = f.case_id
           WHERE f.department = ? AND f.token IS NOT NULL AND f.external_id IS NULL
             AND f.status = 'sent'
           ORDER BY f.id""",
        [department],
    ).fetchall()
    return [PendingToken(int(r[0]), int(r[1]), str(r[2]), str(r[3])) for r in rows]


def resolve_token(
    db: sqlite_utils.Database,
    token: PendingToken,
    department: str,
    external_id: str,
    external_url: str | None,
    now: datetime,
) -> bool:
    """The id the server made for `token`: on the forward, and on the case unless a later
    forward of the case has replaced this one. False (and nothing written) when the forward
    already has its id (another pass got there first)."""
    done = db.execute(
        """UPDATE forwards SET external_id = ?, external_url = ?, updated_at = ?
           WHERE id = ? AND external_id IS NULL""",
        [external_id, external_url, utc(now), token.forward_id],
    ).rowcount
    if done != 1:
        return False
    db.execute(
        """UPDATE cases SET external_id = ?, external_url = ?, updated_at = ?
           WHERE id = ? AND NOT EXISTS (
               SELECT 1 FROM forwards g
               WHERE g.case_id = ? AND g.id <> ? AND g.status <> 'superseded'
                 AND g.sequence > (SELECT sequence FROM forwards WHERE id = ?))""",
        [
            external_id,
            external_url,
            utc(now),
            token.case_id,
            token.case_id,
            token.forward_id,
            token.forward_id,
        ],
    )
    add_event(
        db,
        token.case_id,
        FORWARDED_ID,
        ACTOR,
        now,
        {"department": department, "external_id": external_id},
    )
    return True


def tracked_cases(db: sqlite_utils.Database, department: str) -> list[Tracked]:
    """Open cases whose current service request is in `department`'s tracker."""
    rows = db.execute(
        """SELECT c.id, c.ref, f.external_id, COALESCE(f.first_tried_at, f.created_at),
                  (SELECT e.data FROM events e
                   WHERE e.case_id = c.id AND e.type = ?
                     AND json_extract(e.data, '$.source') = 'open311'
                     AND json_extract(e.data, '$.external_id') = f.external_id
                   ORDER BY e.id DESC LIMIT 1)
           FROM forwards f JOIN cases c ON c.id = f.case_id
           WHERE f.department = ? AND f.external_id IS NOT NULL AND f.status = 'sent'
             AND c.external_id = f.external_id AND c.status = 'open'
           ORDER BY f.id""",
        [DEPARTMENT_UPDATE, department],
    ).fetchall()
    return [
        Tracked(int(r[0]), str(r[1]), str(r[2]), str(r[3]), json.loads(r[4]) if r[4] else {})
        for r in rows
    ]


def record_update(
    db: sqlite_utils.Database,
    case_id: int,
    data: Mapping[str, Any],
    *,
    tracker_status: str,
    tracker_updated_at: datetime,
    expected_at: datetime | None,
    now: datetime,
) -> None:
    """A change the department made: the event on the timeline, its gist on the case."""
    db.execute(
        """UPDATE cases SET tracker_status = ?, tracker_updated_at = ?, expected_at = ?,
               updated_at = ?
           WHERE id = ?""",
        [
            tracker_status,
            utc(tracker_updated_at),
            utc(expected_at) if expected_at else None,
            utc(now),
            case_id,
        ],
    )
    add_event(db, case_id, DEPARTMENT_UPDATE, ACTOR, now, data)


def has_closing_reply(db: sqlite_utils.Database, case_id: int) -> bool:
    """A closing reply waits for staff or has gone (or is going) to the resident: a second
    one must not be drafted. A rejected draft does not count."""
    row = db.execute(
        """SELECT EXISTS (SELECT 1 FROM drafts WHERE case_id = ? AND reply_kind = ?
                            AND status IN ('pending', 'approved'))
               OR EXISTS (SELECT 1 FROM outbox WHERE case_id = ? AND reply_kind = ?)""",
        [case_id, CLOSING, case_id, CLOSING],
    ).fetchone()
    return bool(row[0])


def last_synced(db: sqlite_utils.Database, department: str) -> datetime | None:
    row = db.execute(
        "SELECT last_synced_at FROM tracker_sync WHERE department = ?", [department]
    ).fetchone()
    return datetime.fromisoformat(row[0]) if row else None


def mark_synced(db: sqlite_utils.Database, department: str, at: datetime, now: datetime) -> None:
    """`at`: when the pass that just succeeded began (changes after it are the next pass's)."""
    db.execute(
        """INSERT INTO tracker_sync (department, last_synced_at, updated_at) VALUES (?, ?, ?)
           ON CONFLICT (department) DO UPDATE
           SET last_synced_at = excluded.last_synced_at, updated_at = excluded.updated_at""",
        [department, utc(at), utc(now)],
    )
