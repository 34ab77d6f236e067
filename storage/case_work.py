"""What staff do to a case from its page: notes, assignment, sensitivity, corrections, status.

The SQL only; bot/staff/cases.py decides what is allowed and wraps each action, its timeline
event and its audit row in one write transaction. Every function here runs its own statements
inside the caller's transaction.

Why notes and corrections have tables of their own: a note or a corrected item can hold
personal data, and the timeline (events) is append-only and never erased. The timeline event
names the row (`{"note": 7}`, `{"item": "what", "correction": 3}`); retention empties the
row's text (storage/retention.py) and the record of who changed what, when, stays.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from storage.cases import add_event, utc

#: Schema 8 (storage/db.py appends it).
CASE_WORK: tuple[str, ...] = (
    # Who works the case now (a staff member), or nobody.
    "ALTER TABLE cases ADD COLUMN assigned_to INTEGER REFERENCES staff(id)",
    """CREATE TABLE case_notes (
        id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL REFERENCES cases(id),
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        staff_id INTEGER REFERENCES staff(id),
        body TEXT NOT NULL
    )""",
    "CREATE INDEX case_notes_case ON case_notes(case_id, id)",
    """CREATE TABLE case_corrections (
        id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL REFERENCES cases(id),
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        staff_id INTEGER REFERENCES staff(id),
        field TEXT NOT NULL,
        old TEXT,
        new TEXT
    )""",
    "CREATE INDEX case_corrections_case ON case_corrections(case_id, id)",
    # A case page reads its drafts and outbox rows by case: without these, each read scans the
    # whole table (a million cases' replies).
    "CREATE INDEX drafts_case ON drafts(case_id)",
    "CREATE INDEX outbox_case ON outbox(case_id)",
)

#: Items staff may correct, and the case column that holds each ("contact" is the person).
ITEM_COLUMNS = {"what": "what", "when": "when_text", "who": "who", "outcome": "outcome"}
CONTACT_FIELDS = ("name", "email", "phone")


@dataclass(frozen=True)
class CaseState:
    """What the checks before an action need to know about a case."""

    id: int
    ref: str
    kind: str
    status: str
    channel: str
    sensitive: bool
    out_of_scope: str | None
    rules: tuple[str, ...]
    missing: tuple[str, ...]
    assigned_to: int | None
    person_id: int | None
    hazard_due: str | None
    hazard_checked_at: str | None


def case_state(db: sqlite_utils.Database, ref: str) -> CaseState | None:
    row = db.execute(
        """SELECT id, ref, kind, status, channel, sensitive, out_of_scope, rules, missing,
                  assigned_to, person_id, hazard_due, hazard_checked_at
           FROM cases WHERE ref = ?""",
        [ref.strip().upper()],
    ).fetchone()
    if row is None:
        return None
    rules = tuple(str(h.get("rule")) for h in json.loads(row[7] or "[]") if isinstance(h, dict))
    return CaseState(
        id=int(row[0]),
        ref=row[1],
        kind=row[2],
        status=row[3],
        channel=row[4],
        sensitive=bool(row[5]),
        out_of_scope=row[6],
        rules=rules,
        missing=tuple(json.loads(row[8] or "[]")),
        assigned_to=row[9],
        person_id=row[10],
        hazard_due=row[11],
        hazard_checked_at=row[12],
    )


def open_work(db: sqlite_utils.Database, case_id: int) -> dict[str, int]:
    """Replies not yet attended to: drafts waiting for review, outbox rows not sent."""
    drafts = db.execute(
        "SELECT count(*) FROM drafts WHERE case_id = ? AND status = 'pending'", [case_id]
    ).fetchone()[0]
    # A satisfaction survey not yet delivered (a web chat's waits for the resident's next
    # visit) is not work on the case: it must not keep a reopened case from closing again.
    outbox = db.execute(
        "SELECT count(*) FROM outbox WHERE case_id = ? AND status != 'sent' "
        "AND reply_kind != 'survey'",
        [case_id],
    ).fetchone()[0]
    return {"drafts": int(drafts), "outbox": int(outbox)}


def _event(
    db: sqlite_utils.Database,
    case_id: int,
    kind: str,
    actor: str,
    now: datetime,
    data: dict[str, Any],
) -> None:
    add_event(db, case_id, kind, actor, now, data)
    db.execute("UPDATE cases SET updated_at = ? WHERE id = ?", [utc(now), case_id])


def add_note(
    db: sqlite_utils.Database,
    case_id: int,
    actor: str,
    staff_id: int | None,
    body: str,
    now: datetime,
) -> int:
    cursor = db.execute(
        "INSERT INTO case_notes (case_id, at, actor, staff_id, body) VALUES (?, ?, ?, ?, ?)",
        [case_id, utc(now), actor, staff_id, body],
    )
    note_id = int(cursor.lastrowid or 0)
    _event(db, case_id, "note-added", actor, now, {"note": note_id})
    return note_id


def assign(
    db: sqlite_utils.Database,
    case: CaseState,
    actor: str,
    staff_id: int | None,
    now: datetime,
) -> None:
    db.execute("UPDATE cases SET assigned_to = ? WHERE id = ?", [staff_id, case.id])
    _event(db, case.id, "assigned", actor, now, {"from": case.assigned_to, "to": staff_id})


def set_sensitive(
    db: sqlite_utils.Database, case: CaseState, actor: str, sensitive: bool, now: datetime
) -> None:
    db.execute("UPDATE cases SET sensitive = ? WHERE id = ?", [int(sensitive), case.id])
    kind = "marked-sensitive" if sensitive else "marked-not-sensitive"
    _event(db, case.id, kind, actor, now, {"old": case.sensitive, "new": sensitive})


def correct_kind(
    db: sqlite_utils.Database, case: CaseState, actor: str, kind: str, now: datetime
) -> None:
    """Kinds are not personal data: old and new go on the timeline itself."""
    db.execute("UPDATE cases SET kind = ? WHERE id = ?", [kind, case.id])
    _event(db, case.id, "kind-corrected", actor, now, {"old": case.kind, "new": kind})


def _correction(
    db: sqlite_utils.Database,
    case: CaseState,
    actor: str,
    staff_id: int | None,
    field: str,
    old: str | None,
    new: str | None,
    now: datetime,
) -> int:
    cursor = db.execute(
        """INSERT INTO case_corrections (case_id, at, actor, staff_id, field, old, new)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        [case.id, utc(now), actor, staff_id, field, old, new],
    )
    return int(cursor.lastrowid or 0)


def _resolve_missing(db: sqlite_utils.Database, case: CaseState, item: str, filled: bool) -> None:
    """A corrected item is no longer missing (or is missing again when emptied)."""
    missing = [m for m in case.missing if m != item]
    if not filled:
        missing.append(item)
    db.execute(
        "UPDATE cases SET missing = ? WHERE id = ?",
        [json.dumps(sorted(set(missing), key=_item_order)), case.id],
    )


def _item_order(item: str) -> int:
    order = ("what", "when", "who", "outcome", "contact")
    return order.index(item) if item in order else len(order)


def correct_item(
    db: sqlite_utils.Database,
    case: CaseState,
    actor: str,
    staff_id: int | None,
    item: str,
    value: str | None,
    now: datetime,
) -> int:
    """One of what, when, who, outcome: the old and new text kept in case_corrections.
    A corrected "when" is the staff's words; the resolved instant is cleared, not guessed."""
    column = ITEM_COLUMNS[item]
    old = db.execute(f"SELECT {column} FROM cases WHERE id = ?", [case.id]).fetchone()[0]
    if item == "when":
        db.execute(
            "UPDATE cases SET when_text = ?, occurred_at = NULL, occurred_until = NULL, "
            "when_precision = NULL WHERE id = ?",
            [value, case.id],
        )
    else:
        db.execute(f"UPDATE cases SET {column} = ? WHERE id = ?", [value, case.id])
    _resolve_missing(db, case, item, bool(value))
    correction = _correction(db, case, actor, staff_id, item, old, value, now)
    _event(db, case.id, "item-corrected", actor, now, {"item": item, "correction": correction})
    return correction


def correct_place(
    db: sqlite_utils.Database,
    case: CaseState,
    actor: str,
    staff_id: int | None,
    place_json: str | None,
    said: str | None,
    now: datetime,
) -> int:
    """Where it is (issue 12), as staff found it: the stored place replaced (or cleared), the
    old and new words kept in case_corrections. A forward waiting on the dead-letter list for
    a place can then be retried."""
    row = db.execute("SELECT place FROM cases WHERE id = ?", [case.id]).fetchone()
    stored = json.loads(row[0]) if row and row[0] else None
    old = stored.get("text") if isinstance(stored, dict) else None
    db.execute("UPDATE cases SET place = ? WHERE id = ?", [place_json, case.id])
    correction = _correction(db, case, actor, staff_id, "place", old, said, now)
    _event(db, case.id, "item-corrected", actor, now, {"item": "place", "correction": correction})
    return correction


def correct_contact(
    db: sqlite_utils.Database,
    case: CaseState,
    actor: str,
    staff_id: int | None,
    contact: dict[str, str | None],
    now: datetime,
) -> list[int]:
    """The resident's name, email and phone (the people row; one is made if there was none).
    Each changed field is one correction row; the timeline event lists their ids."""
    person_id = case.person_id
    old: dict[str, str | None] = dict.fromkeys(CONTACT_FIELDS)
    if person_id is not None:
        row = db.execute(
            "SELECT name, email, phone FROM people WHERE id = ?", [person_id]
        ).fetchone()
        old = dict(zip(CONTACT_FIELDS, row, strict=True))
    changed = [f for f in CONTACT_FIELDS if (contact.get(f) or None) != (old[f] or None)]
    if not changed:
        return []
    if person_id is None:
        cursor = db.execute(
            "INSERT INTO people (name, email, phone, created_at) VALUES (?, ?, ?, ?)",
            [contact.get("name"), contact.get("email"), contact.get("phone"), utc(now)],
        )
        person_id = int(cursor.lastrowid or 0)
        db.execute("UPDATE cases SET person_id = ? WHERE id = ?", [person_id, case.id])
    else:
        db.execute(
            "UPDATE people SET name = ?, email = ?, phone = ?, erased_at = NULL WHERE id = ?",
            [contact.get("name"), contact.get("email"), contact.get("phone"), person_id],
        )
    ids = [
        _correction(db, case, actor, staff_id, f"contact {f}", old[f], contact.get(f), now)
        for f in changed
    ]
    reachable = bool(contact.get("email") or contact.get("phone"))
    _resolve_missing(db, case, "contact", reachable)
    _event(db, case.id, "item-corrected", actor, now, {"item": "contact", "corrections": ids})
    return ids


def set_status(
    db: sqlite_utils.Database, case: CaseState, actor: str, status: str, now: datetime
) -> None:
    closed_at = utc(now) if status == "closed" else None
    db.execute(
        "UPDATE cases SET status = ?, closed_at = ? WHERE id = ?", [status, closed_at, case.id]
    )
    _event(db, case.id, "status-changed", actor, now, {"old": case.status, "new": status})


# -- what the case page reads -----------------------------------------------------------------


def _rows(db: sqlite_utils.Database, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def notes_of(db: sqlite_utils.Database, case_id: int) -> dict[int, dict[str, Any]]:
    rows = _rows(
        db,
        "SELECT id, at, actor, body FROM case_notes WHERE case_id = ? ORDER BY id",
        [case_id],
    )
    return {int(r["id"]): r for r in rows}


def corrections_of(db: sqlite_utils.Database, case_id: int) -> dict[int, dict[str, Any]]:
    rows = _rows(
        db,
        "SELECT id, at, actor, field, old, new FROM case_corrections WHERE case_id = ? ORDER BY id",
        [case_id],
    )
    return {int(r["id"]): r for r in rows}


def events_of(db: sqlite_utils.Database, case_id: int) -> list[dict[str, Any]]:
    return [
        {**e, "data": json.loads(e["data"])}
        for e in _rows(
            db,
            "SELECT id, at, type, actor, data FROM events WHERE case_id = ? ORDER BY id",
            [case_id],
        )
    ]


def messages_of(db: sqlite_utils.Database, case_id: int) -> list[dict[str, Any]]:
    return [
        {**m, "meta": json.loads(m["meta"] or "{}")}
        for m in _rows(
            db,
            "SELECT id, direction, channel, message_key, at, subject, body, meta FROM messages "
            "WHERE case_id = ? ORDER BY id",
            [case_id],
        )
    ]


def drafts_of(db: sqlite_utils.Database, case_id: int) -> list[dict[str, Any]]:
    return _rows(
        db,
        "SELECT id, reply_kind, channel, subject, body, status, why, created_at, due_at, "
        "reviewed_by, reviewed_at FROM drafts WHERE case_id = ? ORDER BY id",
        [case_id],
    )


def outbox_of(db: sqlite_utils.Database, case_id: int) -> list[dict[str, Any]]:
    return _rows(
        db,
        "SELECT id, reply_kind, channel, subject, status, attempts, last_error, created_at, "
        "sent_at FROM outbox WHERE case_id = ? ORDER BY id",
        [case_id],
    )
