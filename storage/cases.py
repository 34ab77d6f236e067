"""Cases, people, events, messages and the audit log. Callers wrap writes that belong together
in one `storage.db.write_transaction()`; every function here only runs its own statements.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from bot.model import Decision, Person, Submission

#: The last instant written and its text: a chat turn stamps several rows with one `now`,
#: and isoformat() cost more than the rest of a row. One tuple, replaced whole, so another
#: thread only ever sees a matching pair; it holds the datetime, so `is` cannot be fooled.
_last_utc: tuple[datetime, str] = (datetime.min.replace(tzinfo=UTC), "0001-01-01T00:00:00+00:00")


def utc(at: datetime) -> str:
    """Timestamps are stored as UTC ISO-8601, so they sort and compare as text."""
    global _last_utc
    last = _last_utc
    if last[0] is at:
        return last[1]
    text = at.astimezone(UTC).isoformat(timespec="seconds")
    _last_utc = (at, text)
    return text


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def next_reference(db: sqlite_utils.Database, prefix: str, year: int) -> str:
    """CD-2026-000123: a gapless counter per prefix and year, taken inside the caller's
    transaction. One upsert takes the write lock, counts and reads the new value (it was three
    statements, the read last)."""
    name = f"ref:{prefix}:{year}"
    value = db.execute(
        "INSERT INTO counters (name, value) VALUES (?, 1) "
        "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
        [name],
    ).fetchone()[0]
    return f"{prefix}-{year}-{int(value):06d}"


def insert_person(db: sqlite_utils.Database, person: Person, now: datetime) -> int | None:
    if not (person.name or person.email or person.phone):
        return None
    cursor = db.execute(
        "INSERT INTO people (name, email, phone, created_at) VALUES (?, ?, ?, ?)",
        [person.name, person.email, person.phone, utc(now)],
    )
    return int(cursor.lastrowid or 0)


def insert_case(
    db: sqlite_utils.Database,
    ref: str,
    sub: Submission,
    decision: Decision,
    person_id: int | None,
    now: datetime,
) -> int:
    d = decision.deadlines
    ack = next((v for k, v in d.items() if k.endswith("-ack")), None)

    def due(key: str) -> str | None:
        return utc(d[key]) if key in d else None

    cursor = db.execute(
        """INSERT INTO cases (ref, kind, status, channel, person_id, subject, what, when_text,
               occurred_at, who, outcome, on_behalf_of, missing, rules, sensitive, out_of_scope,
               received_at, ack_due, follow_up_due, response_due, hazard_due, created_at,
               updated_at, conversation, occurred_until, when_precision{place_column})
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                   ?{place_value})""".format(
            # Where it is (schema 11), only when given: a case without a place is the same
            # row as before, so stores migrated in steps (and their tests) still take it.
            place_column=", place" if sub.place else "",
            place_value=", ?" if sub.place else "",
        ),
        [
            ref,
            decision.kind.value,
            decision.status.value,
            sub.channel,
            person_id,
            sub.subject,
            sub.what,
            sub.when_text,
            utc(sub.when) if sub.when else None,
            sub.who,
            sub.outcome,
            sub.on_behalf_of,
            _json(list(decision.missing)),
            _json([{"rule": h.rule, "reason": h.reason} for h in decision.hits]),
            int(decision.sensitive),
            decision.out_of_scope,
            utc(sub.received_at),
            utc(ack) if ack else None,
            due("follow-up"),
            due("email-response"),
            due("hazard-inspection"),
            utc(now),
            utc(now),
            sub.conversation,
            utc(sub.when_end) if sub.when_end else None,
            sub.when_precision,
            # JSON of bot/place.py's Place: {"text", "kind", "address", "lat", "long"}.
            *([sub.place.to_json()] if sub.place else []),
        ],
    )
    return int(cursor.lastrowid or 0)


def add_event(
    db: sqlite_utils.Database,
    case_id: int,
    kind: str,
    actor: str,
    now: datetime,
    data: Mapping[str, Any] | None = None,
) -> None:
    db.execute(
        "INSERT INTO events (case_id, at, type, actor, data) VALUES (?, ?, ?, ?, ?)",
        [case_id, utc(now), kind, actor, _json(dict(data or {}))],
    )


def insert_message(
    db: sqlite_utils.Database,
    *,
    case_id: int | None,
    direction: str,
    channel: str,
    body: str,
    now: datetime,
    subject: str | None = None,
    key: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> int:
    cursor = db.execute(
        """INSERT INTO messages (case_id, direction, channel, message_key, at, subject, body, meta)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        [case_id, direction, channel, key, utc(now), subject, body, _json(dict(meta or {}))],
    )
    return int(cursor.lastrowid or 0)


def audit(
    db: sqlite_utils.Database,
    actor: str,
    action: str,
    target: str | None,
    now: datetime,
    detail: Mapping[str, Any] | None = None,
) -> None:
    db.execute(
        "INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
        [utc(now), actor, action, target, _json(dict(detail or {}))],
    )


def _rows(db: sqlite_utils.Database, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def list_cases(
    db: sqlite_utils.Database, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Newest first; no personal data beyond what a case list needs."""
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    return _rows(
        db,
        f"""SELECT ref, kind, status, channel, received_at, ack_due, follow_up_due, missing
            FROM cases {where} ORDER BY id DESC LIMIT ?""",
        [*params, limit],
    )


def get_case(db: sqlite_utils.Database, ref: str) -> dict[str, Any] | None:
    """A case with its person, timeline, drafts, outbox and messages."""
    found = _rows(db, "SELECT * FROM cases WHERE ref = ?", [ref.strip().upper()])
    if not found:
        return None
    case = found[0]
    case_id = case.pop("id")
    person_id = case.pop("person_id")
    people = _rows(db, "SELECT name, email, phone, erased_at FROM people WHERE id = ?", [person_id])
    case["person"] = people[0] if people else None
    case["missing"] = json.loads(case["missing"])
    case["rules"] = json.loads(case["rules"])
    case["sensitive"] = bool(case["sensitive"])
    # Where it is, as an object ({"text", "kind", "address", "lat", "long"}) or None.
    case["place"] = json.loads(case["place"]) if case.get("place") else None
    case["events"] = [
        {**e, "data": json.loads(e["data"])}
        for e in _rows(
            db, "SELECT at, type, actor, data FROM events WHERE case_id = ? ORDER BY id", [case_id]
        )
    ]
    case["drafts"] = _rows(
        db,
        "SELECT id, reply_kind, channel, recipient, subject, body, status, "
        "why, created_at FROM drafts WHERE case_id = ? ORDER BY id",
        [case_id],
    )
    case["outbox"] = _rows(
        db,
        "SELECT id, reply_kind, channel, recipient, subject, body, "
        "status, attempts, created_at, sent_at FROM outbox "
        "WHERE case_id = ? ORDER BY id",
        [case_id],
    )
    case["messages"] = _rows(
        db,
        "SELECT direction, channel, at, subject, body FROM messages WHERE case_id = ? ORDER BY id",
        [case_id],
    )
    # Where it went (issue 12): each forward to a department's tracker, and its answer.
    case["forwards"] = [
        {**f, "errors": json.loads(f["errors"])}
        for f in _rows(
            db,
            "SELECT sequence, department, target, status, external_id, external_url, token, "
            "errors, created_at, updated_at FROM forwards WHERE case_id = ? ORDER BY sequence",
            [case_id],
        )
    ]
    if isinstance(case.get("place"), str):
        case["place"] = json.loads(case["place"])
    return case


def count_cases(db: sqlite_utils.Database) -> int:
    return int(db.execute("SELECT count(*) FROM cases").fetchone()[0])


def cases_of_conversation(
    db: sqlite_utils.Database, conversation: str, ref: str | None = None
) -> list[dict[str, Any]]:
    """The cases one chat conversation filed (newest first): a resident sees only these."""
    sql = (
        "SELECT ref, kind, status, received_at, ack_due, follow_up_due, hazard_due, closed_at "
        "FROM cases WHERE conversation = ?"
    )
    params: list[Any] = [conversation]
    if ref is not None:
        sql += " AND ref = ?"
        params.append(ref.strip().upper())
    return _rows(db, sql + " ORDER BY id DESC LIMIT 20", params)


def claim_update(db: sqlite_utils.Database, channel: str, key: str, now: datetime) -> bool:
    """Record that a channel's update was handled; False if it already was (a redelivery)."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO channel_updates (channel, update_key, at) VALUES (?, ?, ?)",
        [channel, key, utc(now)],
    )
    return cursor.rowcount == 1
