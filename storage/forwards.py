"""Forwards of a case to its department's tracker: queued, attempted, sent, or dead.

The SQL only (schema 11, storage/forward_schema.py). A forward is an outbox row (channel
`tracker`, recipient the department key, key `caredesk-<ref>-<n>`) and a row here. Every
function runs inside the caller's write transaction, except `begin_attempt`, whose caller
commits it before the network call: that commit is what lets a retry after a crash know an
earlier attempt may have created the ticket (issue 12, "exactly once").

The dead-letter list is the forwards whose status is `dead`: a tracker refused them (4xx) or
they failed too many times. Staff read the tracker's own words there and retry once the cause
is fixed; a retry reuses the same outbox row and idempotency key, so it is still one forward.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from bot.place import Place, place_of
from storage.cases import add_event, utc

#: The reply kind of a forward's outbox row (a `dept-` kind: not a reply to the resident).
FORWARD_KIND = "dept-forward"
FORWARDED = "forwarded"
FAILED = "forward-failed"
RETRIED = "forward-retried"
SUPERSEDED = "forward-superseded"


@dataclass(frozen=True)
class Receipt:
    """What the far end said it made of an item, when it says anything: a tracker's id for
    the case (and a link to it), or an Open311 token to exchange for the id later."""

    external_id: str | None = None
    external_url: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class Forward:
    id: int
    case_id: int
    ref: str
    sequence: int
    department: str
    target: str
    outbox_id: int
    status: str
    first_tried_at: str | None
    token: str | None
    external_id: str | None
    external_url: str | None
    errors: tuple[str, ...]
    attempts: int
    last_error: str | None
    created_at: str
    updated_at: str


def forward_key(ref: str, sequence: int) -> str:
    """The idempotency key of the `sequence`th forward of a case; a webhook receives it as
    its Idempotency-Key on every retry (tracker/webhook.py `idempotency_key` is the same)."""
    return f"caredesk-{ref}-{sequence}"


_SELECT = """SELECT f.id, f.case_id, c.ref, f.sequence, f.department, f.target, f.outbox_id,
    f.status, f.first_tried_at, f.token, f.external_id, f.external_url, f.errors,
    o.attempts, o.last_error, f.created_at, f.updated_at
    FROM forwards f JOIN cases c ON c.id = f.case_id JOIN outbox o ON o.id = f.outbox_id"""


def _forward(row: Any) -> Forward:
    return Forward(
        id=row[0],
        case_id=row[1],
        ref=row[2],
        sequence=row[3],
        department=row[4],
        target=row[5],
        outbox_id=row[6],
        status=row[7],
        first_tried_at=row[8],
        token=row[9],
        external_id=row[10],
        external_url=row[11],
        errors=tuple(json.loads(row[12])),
        attempts=row[13],
        last_error=row[14],
        created_at=row[15],
        updated_at=row[16],
    )


def queue_forward(
    db: sqlite_utils.Database,
    *,
    case_id: int,
    ref: str,
    department: str,
    target: str,
    now: datetime,
) -> Forward:
    """Queue the next forward of a case to `department` (its `target` kind). A forward still
    pending for the case is superseded first: the case goes where it is routed now, once."""
    supersede_pending(db, case_id, now)
    (last,) = db.execute(
        "SELECT COALESCE(MAX(sequence), 0) FROM forwards WHERE case_id = ?", [case_id]
    ).fetchone()
    sequence = int(last) + 1
    cursor = db.execute(
        """INSERT INTO outbox (case_id, channel, recipient, reply_kind, subject, body,
               idempotency_key, next_attempt_at, created_at)
           VALUES (?, 'tracker', ?, ?, ?, ?, ?, ?, ?)""",
        [
            case_id,
            department,
            FORWARD_KIND,
            f"{ref} to {department}",
            f"forward {sequence} of {ref} to {department} ({target}), built when sent",
            forward_key(ref, sequence),
            utc(now),
            utc(now),
        ],
    )
    outbox_id = int(cursor.lastrowid or 0)
    db.execute(
        """INSERT INTO forwards (case_id, sequence, department, target, outbox_id,
               created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
        [case_id, sequence, department, target, outbox_id, utc(now), utc(now)],
    )
    add_event(
        db,
        case_id,
        "forward-queued",
        "routing",
        now,
        {"department": department, "target": target, "sequence": sequence},
    )
    found = forward_of_outbox(db, outbox_id)
    assert found is not None
    return found


def supersede_pending(db: sqlite_utils.Database, case_id: int, now: datetime) -> int:
    """Stop the case's pending (or dead) forwards: a new department supersedes them. A forward
    already sent stays sent: its ticket exists, and the timeline says where it went."""
    rows = db.execute(
        "SELECT id, outbox_id, department, sequence FROM forwards "
        "WHERE case_id = ? AND status IN ('pending', 'dead')",
        [case_id],
    ).fetchall()
    for forward_id, outbox_id, department, sequence in rows:
        db.execute(
            "UPDATE outbox SET status = 'failed', last_error = 'superseded by a new department' "
            "WHERE id = ? AND status = 'pending'",
            [outbox_id],
        )
        db.execute(
            "UPDATE forwards SET status = 'superseded', updated_at = ? WHERE id = ?",
            [utc(now), forward_id],
        )
        add_event(
            db,
            case_id,
            SUPERSEDED,
            "routing",
            now,
            {"department": department, "sequence": sequence},
        )
    return len(rows)


def forward_of_outbox(db: sqlite_utils.Database, outbox_id: int) -> Forward | None:
    row = db.execute(f"{_SELECT} WHERE f.outbox_id = ?", [outbox_id]).fetchone()
    return None if row is None else _forward(row)


def forward_by_id(db: sqlite_utils.Database, forward_id: int) -> Forward | None:
    row = db.execute(f"{_SELECT} WHERE f.id = ?", [forward_id]).fetchone()
    return None if row is None else _forward(row)


def forwards_of_case(db: sqlite_utils.Database, case_id: int) -> list[Forward]:
    rows = db.execute(f"{_SELECT} WHERE f.case_id = ? ORDER BY f.sequence", [case_id])
    return [_forward(r) for r in rows.fetchall()]


def begin_attempt(db: sqlite_utils.Database, outbox_id: int, now: datetime) -> str | None:
    """Note that an attempt starts now; returns when the first attempt began if one did
    before (then it may have created the ticket, and the sender looks it up first). The
    caller commits this before it calls the tracker."""
    row = db.execute(
        "SELECT first_tried_at FROM forwards WHERE outbox_id = ?", [outbox_id]
    ).fetchone()
    if row is None:
        return None
    if row[0] is None:
        db.execute(
            "UPDATE forwards SET first_tried_at = ?, updated_at = ? WHERE outbox_id = ?",
            [utc(now), utc(now), outbox_id],
        )
        return None
    return str(row[0])


def record_forwarded(
    db: sqlite_utils.Database, outbox_id: int, receipt: Receipt, now: datetime
) -> None:
    """The tracker accepted the forward: its id (or an Open311 token to exchange for it) on
    the forward and the case, and a `forwarded` event."""
    db.execute(
        """UPDATE forwards SET status = 'sent', external_id = ?, external_url = ?, token = ?,
               errors = '[]', updated_at = ? WHERE outbox_id = ?""",
        [receipt.external_id, receipt.external_url, receipt.token, utc(now), outbox_id],
    )
    forward = forward_of_outbox(db, outbox_id)
    if forward is None:
        return
    if receipt.external_id is not None:
        db.execute(
            "UPDATE cases SET external_id = ?, external_url = ?, updated_at = ? WHERE id = ?",
            [receipt.external_id, receipt.external_url, utc(now), forward.case_id],
        )
    add_event(
        db,
        forward.case_id,
        FORWARDED,
        forward.target,
        now,
        {
            "department": forward.department,
            "target": forward.target,
            "sequence": forward.sequence,
            "external_id": receipt.external_id,
            "token": receipt.token,
        },
    )


def record_dead(db: sqlite_utils.Database, outbox_id: int, error: str, now: datetime) -> bool:
    """The forward is given up (refused, or too many tries): onto the dead-letter list with
    the tracker's words, a `forward-failed` event, and the case flagged for staff. False when
    the outbox row is not a forward."""
    forward = forward_of_outbox(db, outbox_id)
    if forward is None:
        return False
    db.execute(
        "UPDATE forwards SET status = 'dead', errors = ?, updated_at = ? WHERE id = ?",
        [json.dumps([error[:1000]]), utc(now), forward.id],
    )
    add_event(
        db,
        forward.case_id,
        FAILED,
        forward.target,
        now,
        {"department": forward.department, "sequence": forward.sequence, "error": error[:500]},
    )
    db.execute(
        "UPDATE cases SET attention = ?, updated_at = ? WHERE id = ?",
        [
            f"the forward to {forward.department} failed: see the dead-letter list",
            utc(now),
            forward.case_id,
        ],
    )
    return True


def retry(db: sqlite_utils.Database, forward_id: int, actor: str, now: datetime) -> bool:
    """Put a dead forward back in the queue (same outbox row, same key). False when it is not
    dead (already retried, sent or superseded)."""
    forward = forward_by_id(db, forward_id)
    if forward is None or forward.status != "dead":
        return False
    db.execute(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE id = ?",
        [utc(now), forward.outbox_id],
    )
    db.execute(
        "UPDATE forwards SET status = 'pending', updated_at = ? WHERE id = ?",
        [utc(now), forward.id],
    )
    add_event(
        db,
        forward.case_id,
        RETRIED,
        actor,
        now,
        {"department": forward.department, "sequence": forward.sequence},
    )
    return True


def dead_letters(db: sqlite_utils.Database, limit: int = 200) -> list[Forward]:
    """Forwards staff must look at, oldest first."""
    rows = db.execute(
        f"{_SELECT} WHERE f.status = 'dead' ORDER BY f.updated_at, f.id LIMIT ?", [limit]
    )
    return [_forward(r) for r in rows.fetchall()]


def count_dead(db: sqlite_utils.Database) -> int:
    return int(db.execute("SELECT count(*) FROM forwards WHERE status = 'dead'").fetchone()[0])


@dataclass(frozen=True)
class CaseForForward:
    """What a tracker is told about a case, read when the forward is sent (so a correction
    staff made before it went is what the department sees)."""

    ref: str
    kind: str
    status: str
    department: str | None
    what: str | None
    when_text: str | None
    who: str | None
    outcome: str | None
    out_of_scope: str | None
    received_at: str
    deadlines: dict[str, str]
    place: Place | None  # where it is, as the case holds it (None: not given)
    rule: str | None  # the routing rule that chose the department
    name: str | None
    email: str | None
    phone: str | None


def case_for_forward(db: sqlite_utils.Database, case_id: int) -> CaseForForward | None:
    row = db.execute(
        """SELECT c.ref, c.kind, c.status, c.department, c.what, c.when_text, c.who, c.outcome,
               c.out_of_scope, c.received_at, c.ack_due, c.response_due, c.hazard_due,
               c.follow_up_due, c.place, p.name, p.email, p.phone
           FROM cases c LEFT JOIN people p ON p.id = c.person_id WHERE c.id = ?""",
        [case_id],
    ).fetchone()
    if row is None:
        return None
    deadlines = {
        name: value
        for name, value in zip(("ack", "response", "hazard", "follow_up"), row[10:14], strict=True)
        if value
    }
    routed = db.execute(
        "SELECT data FROM events WHERE case_id = ? AND type IN ('routed', 'department-changed') "
        "ORDER BY id DESC LIMIT 1",
        [case_id],
    ).fetchone()
    rule = json.loads(routed[0]).get("rule") if routed else None
    return CaseForForward(
        ref=row[0],
        kind=row[1],
        status=row[2],
        department=row[3],
        what=row[4],
        when_text=row[5],
        who=row[6],
        outcome=row[7],
        out_of_scope=row[8],
        received_at=row[9],
        deadlines=deadlines,
        place=place_of(row[14]),
        rule=rule,
        name=row[15],
        email=row[16],
        phone=row[17],
    )


def retrying(db: sqlite_utils.Database, limit: int = 200) -> list[Forward]:
    """Forwards still pending after at least one failed attempt: the tracker is down or slow.
    Nothing for staff to do yet, but worth seeing before they become dead letters."""
    rows = db.execute(
        f"{_SELECT} WHERE f.status = 'pending' AND o.attempts > 0 ORDER BY f.id LIMIT ?", [limit]
    )
    return [_forward(r) for r in rows.fetchall()]
