"""Drafts awaiting review and the outbox of everything that leaves the machine.

A row is written in the same transaction as the case change that caused it; a worker sends
it and marks it sent. The caller's idempotency key (for a reply: case reference, reply kind
and channel, `CD-2026-000001:ack:email`; for a pause notice: the conversation and the
instant) makes a second enqueue of the same message a no-op, and lets a channel recognise
a retry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlite_utils

from storage.cases import add_event, insert_message, utc
from storage.forwards import Receipt, record_dead, record_forwarded


@dataclass(frozen=True)
class OutboxItem:
    id: int
    case_id: int | None
    channel: str
    recipient: str | None
    reply_kind: str
    subject: str
    body: str
    idempotency_key: str
    attempts: int
    headers: dict[str, str] = field(default_factory=dict)


# The delivery contract lives beside the item it delivers, so that a channel adapter (mail/,
# the chat channels, the tracker forwarders) implements it without importing the worker that
# drives it (bot/outbox_worker.py).


class DeliveryError(Exception):
    """A channel could not deliver; `permanent` says whether trying again can help."""

    def __init__(self, message: str, permanent: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code


class Sender(Protocol):
    """What an outbox worker drives: one channel's way out. `send` raises DeliveryError; it
    may return a Receipt (a tracker's id), recorded in the transaction that marks it sent."""

    channel: str

    async def send(self, item: OutboxItem, now: datetime) -> Receipt | None: ...

    async def close(self) -> None: ...


#: Reply kinds of mail to a department (a forward, a follow-up request), not to the resident:
#: sending one does not stop the resident's acknowledgement clock, and it is marked as
#: automatic mail that is not a reply (mail/smtp.py).
DEPARTMENT_PREFIX = "dept-"
#: The channel of forwards to a department's tracker (bot/forwarder.py).
TRACKER = "tracker"


def to_department(reply_kind: str) -> bool:
    return reply_kind.startswith(DEPARTMENT_PREFIX)


def reply_key(ref: str, reply_kind: str, channel: str) -> str:
    """The idempotency key of a reply: one reply of a kind per case and channel. A second
    enqueue of it is a no-op, and a bounce that quotes the reply's Message-ID finds the row."""
    return f"{ref}:{reply_kind}:{channel}"


def insert_draft(
    db: sqlite_utils.Database,
    *,
    case_id: int,
    reply_kind: str,
    channel: str,
    recipient: str | None,
    subject: str,
    body: str,
    why: str,
    now: datetime,
    due_at: datetime | None = None,
    author_id: int | None = None,
) -> int:
    """A reply held for staff. It must go out by `due_at`; by default the case's
    acknowledgement deadline (the resident's first answer is what is late), else its earliest
    other clock, else now: a held reply with no clock is due at once, never forgotten.
    `author_id`: the staff member who wrote it (None: the policy, from a template); an author
    is a maker, never the second person of a `[review] two_person` kind."""
    cursor = db.execute(
        """INSERT INTO drafts (case_id, reply_kind, channel, recipient, subject, body, why,
               created_at, due_at, author_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, COALESCE(?, (
               SELECT COALESCE(ack_due, response_due, hazard_due, follow_up_due)
               FROM cases WHERE id = ?), ?), ?)""",
        [
            case_id,
            reply_kind,
            channel,
            recipient,
            subject,
            body,
            why,
            utc(now),
            utc(due_at) if due_at else None,
            case_id,
            utc(now),
            author_id,
        ],
    )
    return int(cursor.lastrowid or 0)


def enqueue(
    db: sqlite_utils.Database,
    *,
    case_id: int | None,
    channel: str,
    recipient: str | None,
    reply_kind: str,
    subject: str,
    body: str,
    key: str,
    now: datetime,
    draft_id: int | None = None,
    headers: Mapping[str, str] | None = None,
    not_before: datetime | None = None,
) -> bool:
    """Queue a message; False when the same key was already queued (nothing is added).
    `headers` are channel extras (for email: Message-ID, In-Reply-To, References)."""
    cursor = db.execute(
        """INSERT OR IGNORE INTO outbox (case_id, draft_id, channel, recipient, reply_kind,
               subject, body, idempotency_key, next_attempt_at, created_at, headers)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            case_id,
            draft_id,
            channel,
            recipient,
            reply_kind,
            subject,
            body,
            key,
            utc(not_before or now),
            utc(now),
            json.dumps(dict(headers or {})),
        ],
    )
    return cursor.rowcount == 1


def queue_reply(
    db: sqlite_utils.Database,
    *,
    case_id: int,
    ref: str,
    channel: str,
    recipient: str | None,
    reply_kind: str,
    subject: str,
    body: str,
    now: datetime,
    why: str,
    actor: str = "policy",
    headers: Mapping[str, str] | None = None,
    not_before: datetime | None = None,
) -> bool:
    """A reply of a case into the outbox (once per case, kind and channel: `reply_key`) and,
    when it was new, a `reply-queued` event saying why. False when it was already queued."""
    queued = enqueue(
        db,
        case_id=case_id,
        channel=channel,
        recipient=recipient,
        reply_kind=reply_kind,
        subject=subject,
        body=body,
        key=reply_key(ref, reply_kind, channel),
        now=now,
        headers=headers,
        not_before=not_before,
    )
    if queued:
        data = {"reply": reply_kind, "channel": channel, "why": why}
        add_event(db, case_id, "reply-queued", actor, now, data)
    return queued


_COLUMNS = (
    "id, case_id, channel, recipient, reply_kind, subject, body, idempotency_key, attempts, headers"
)


def _items(rows: list[Any]) -> list[OutboxItem]:
    return [
        OutboxItem(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], json.loads(r[9]))
        for r in rows
    ]


def due_items(
    db: sqlite_utils.Database,
    channel: str,
    now: datetime,
    recipient: str | None = None,
    limit: int = 100,
) -> list[OutboxItem]:
    """Pending items of a channel whose next attempt is due, oldest first."""
    sql = (
        f"SELECT {_COLUMNS} FROM outbox WHERE status = 'pending' AND channel = ? "
        "AND next_attempt_at <= ?"
    )
    params: list[object] = [channel, utc(now)]
    if recipient is not None:
        sql += " AND recipient = ?"
        params.append(recipient)
    rows = db.execute(sql + " ORDER BY id LIMIT ?", [*params, limit]).fetchall()
    return _items(rows)


def pending_for(
    db: sqlite_utils.Database,
    channel: str,
    recipient: str,
    shown_until: datetime | None = None,
) -> list[OutboxItem]:
    """What a live chat shows now of one conversation's pending rows. A chat reply waits a
    grace period for the worker (the open page shows it at once), so with `shown_until`
    (now plus that grace) a row is shown when it is due by then, or is a retry; a row meant
    to leave later (the satisfaction survey, a day after closing) stays queued until then."""
    sql = (
        f"SELECT {_COLUMNS} FROM outbox WHERE status = 'pending' AND channel = ? AND recipient = ?"
    )
    params: list[object] = [channel, recipient]
    if shown_until is not None:
        sql += " AND (attempts > 0 OR next_attempt_at <= ?)"
        params.append(utc(shown_until))
    rows = db.execute(sql + " ORDER BY id LIMIT 50", params).fetchall()
    return _items(rows)


def mark_sent(
    db: sqlite_utils.Database, item_id: int, now: datetime, receipt: Receipt | None = None
) -> bool:
    """Mark a pending item sent and record it on the case: the outbound message (keyed by the
    idempotency key) and a `reply-sent` event; for a forward, the tracker's id and a
    `forwarded` event instead (storage/forwards.py). Call inside a transaction. False if the
    item was not pending (already sent or failed), in which case nothing is recorded twice."""
    cursor = db.execute(
        "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1 "
        "WHERE id = ? AND status = 'pending'",
        [utc(now), item_id],
    )
    if cursor.rowcount != 1:
        return False
    case_id, channel, kind, subject, body, key = db.execute(
        "SELECT case_id, channel, reply_kind, subject, body, idempotency_key "
        "FROM outbox WHERE id = ?",
        [item_id],
    ).fetchone()
    if channel == TRACKER:
        record_forwarded(db, item_id, receipt or Receipt(), now)
        return True
    insert_message(
        db,
        case_id=case_id,
        direction="out",
        channel=channel,
        body=body,
        subject=subject,
        key=key,
        now=now,
        meta={"reply": kind, "outbox_id": item_id},
    )
    if case_id is not None and to_department(kind):
        add_event(db, case_id, "department-mail-sent", channel, now, {"mail": kind})
    elif case_id is not None:
        # The first reply the resident receives stops the acknowledgement clock.
        db.execute(
            "UPDATE cases SET acked_at = ? WHERE id = ? AND acked_at IS NULL", [utc(now), case_id]
        )
        add_event(db, case_id, "reply-sent", channel, now, {"reply": kind, "outbox_id": item_id})
    return True


def mark_retry(
    db: sqlite_utils.Database, item_id: int, error: str, now: datetime, delay: timedelta
) -> None:
    db.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
        "WHERE id = ?",
        [error[:500], utc(now + delay), item_id],
    )


def mark_failed(
    db: sqlite_utils.Database, item_id: int, error: str, now: datetime | None = None
) -> bool:
    """Give up on an item. A forward goes on the dead-letter list with the tracker's words
    (with its event and the case flagged): then True."""
    db.execute(
        "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
        [error[:500], item_id],
    )
    return now is not None and record_dead(db, item_id, error, now)


def pending_drafts(db: sqlite_utils.Database) -> int:
    return int(db.execute("SELECT count(*) FROM drafts WHERE status = 'pending'").fetchone()[0])
