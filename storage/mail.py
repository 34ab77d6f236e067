"""What the feedback mailbox needs from the store: raw mail, duplicates, bounces, rate limits,
and where IMAP intake stands in each folder."""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlite_utils

from storage.cases import utc


def message_seen(db: sqlite_utils.Database, key: str) -> bool:
    """Message-ID + raw hash (or the hash alone) already stored: intake is idempotent on it.

    Older stores keyed mail by the bare Message-ID; such a row counts only when its stored
    raw bytes have the same hash, so the same mail fetched again after an upgrade is still
    filed once, and a borrowed Message-ID still suppresses nothing."""
    row = db.execute("SELECT 1 FROM messages WHERE message_key = ?", [key]).fetchone()
    if row is not None:
        return True
    message_id, _, digest = key.rpartition(" sha256:")
    if not message_id:
        return False
    legacy = db.execute(
        "SELECT r.raw FROM messages m JOIN raw_messages r ON r.message_id = m.id "
        "WHERE m.message_key = ?",
        [message_id],
    ).fetchone()
    return legacy is not None and hashlib.sha256(legacy[0]).hexdigest() == digest


def store_raw(
    db: sqlite_utils.Database, message_id: int, raw: bytes, limit: int | None = None
) -> None:
    """Keep the message as it arrived; at most `limit` bytes of it, and when it was cut to
    them the message says so in its meta (`raw_cut_at`): staff read the rest in the mailbox."""
    if limit is not None and len(raw) >= limit:
        raw = raw[:limit]
        db.execute(
            "UPDATE messages SET meta = json_set(meta, '$.raw_cut_at', ?) WHERE id = ?",
            [limit, message_id],
        )
    db.execute(
        "INSERT INTO raw_messages (message_id, raw, size) VALUES (?, ?, ?)",
        [message_id, raw, len(raw)],
    )


def find_case(db: sqlite_utils.Database, ref: str) -> tuple[int, str] | None:
    """(id, status) of a case by reference."""
    row = db.execute("SELECT id, status FROM cases WHERE ref = ?", [ref.upper()]).fetchone()
    return (int(row[0]), str(row[1])) if row else None


def set_case_status(db: sqlite_utils.Database, case_id: int, status: str, now: datetime) -> None:
    db.execute(
        "UPDATE cases SET status = ?, updated_at = ?, closed_at = NULL WHERE id = ?",
        [status, utc(now), case_id],
    )


def set_attention(db: sqlite_utils.Database, case_id: int, why: str, now: datetime) -> None:
    """Flag a case for staff (shown in lists); the event timeline says why in full."""
    db.execute(
        "UPDATE cases SET attention = ?, updated_at = ? WHERE id = ?",
        [why[:200], utc(now), case_id],
    )


def record_bounce(
    db: sqlite_utils.Database, address: str, case_id: int | None, now: datetime
) -> None:
    db.execute(
        "INSERT INTO bounces (address, at, case_id) VALUES (?, ?, ?)",
        [address.lower(), utc(now), case_id],
    )


def bounced_since(db: sqlite_utils.Database, address: str, since: datetime) -> bool:
    row = db.execute(
        "SELECT 1 FROM bounces WHERE address = ? AND at >= ? LIMIT 1",
        [address.lower(), utc(since)],
    ).fetchone()
    return row is not None


def acks_since(db: sqlite_utils.Database, address: str, since: datetime) -> int:
    """Automatic acknowledgements queued for an address since a time (the rate limit).

    By the address's own index: left to itself SQLite chose the channel index (no
    statistics tell it that a recipient is rarer than a channel) and read every email queued
    that day, for every message: a backlog of N took time in N squared."""
    row = db.execute(
        "SELECT count(*) FROM outbox INDEXED BY outbox_recipient WHERE channel = 'email' "
        "AND recipient = ? AND created_at >= ? AND draft_id IS NULL",
        [address.lower(), utc(since)],
    ).fetchone()
    return int(row[0])


def acks_all_since(db: sqlite_utils.Database, since: datetime) -> int:
    """Automatic emails queued to anyone since a time (the global hourly cap), by the partial
    index of automatic emails: only the hour's acknowledgements are read."""
    row = db.execute(
        "SELECT count(*) FROM outbox WHERE channel = 'email' AND created_at >= ? "
        "AND draft_id IS NULL",
        [utc(since)],
    ).fetchone()
    return int(row[0])


def case_email(db: sqlite_utils.Database, case_id: int) -> str | None:
    """The address of a case's resident (lower-case), if the case has one."""
    row = db.execute(
        "SELECT p.email FROM cases c JOIN people p ON p.id = c.person_id WHERE c.id = ?",
        [case_id],
    ).fetchone()
    return str(row[0]).lower() if row and row[0] else None


def outbox_by_key(db: sqlite_utils.Database, key: str) -> tuple[int, str | None, int | None] | None:
    """(id, recipient, case_id) of an outbox item by its idempotency key."""
    row = db.execute(
        "SELECT id, recipient, case_id FROM outbox WHERE idempotency_key = ?", [key]
    ).fetchone()
    return (int(row[0]), row[1], row[2]) if row else None


def load_mail_state(db: sqlite_utils.Database, folder: str) -> tuple[int, int] | None:
    """(uidvalidity, last_uid) of a folder, if intake has been there."""
    row = db.execute(
        "SELECT uidvalidity, last_uid FROM mail_state WHERE folder = ?", [folder]
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else None


def save_mail_state(
    db: sqlite_utils.Database, folder: str, uidvalidity: int, last_uid: int, now: datetime
) -> None:
    db.execute(
        """INSERT INTO mail_state (folder, uidvalidity, last_uid, updated_at)
           VALUES (?, ?, ?, ?)
           ON CONFLICT(folder) DO UPDATE SET uidvalidity = excluded.uidvalidity,
               last_uid = excluded.last_uid, updated_at = excluded.updated_at""",
        [folder, uidvalidity, last_uid, utc(now)],
    )


def begin_attempt(
    db: sqlite_utils.Database, folder: str, uidvalidity: int, uid: int, now: datetime
) -> int:
    """Count one more start of intake on a message; returns the count (1 the first time).

    Counted before processing and committed at once, so a message that kills the process
    is counted too, and the count survives a restart."""
    db.execute(
        """INSERT INTO mail_attempts (folder, uidvalidity, uid, attempts, updated_at)
           VALUES (?, ?, ?, 1, ?)
           ON CONFLICT(folder, uidvalidity, uid) DO UPDATE
           SET attempts = attempts + 1, updated_at = excluded.updated_at""",
        [folder, uidvalidity, uid, utc(now)],
    )
    row = db.execute(
        "SELECT attempts FROM mail_attempts WHERE folder = ? AND uidvalidity = ? AND uid = ?",
        [folder, uidvalidity, uid],
    ).fetchone()
    return int(row[0])


def fail_attempt(
    db: sqlite_utils.Database, folder: str, uidvalidity: int, uid: int, error: str
) -> None:
    """Why the last attempt failed (the exception's type and message, no mail content)."""
    db.execute(
        "UPDATE mail_attempts SET last_error = ? WHERE folder = ? AND uidvalidity = ? AND uid = ?",
        [error[:200], folder, uidvalidity, uid],
    )


def forget_attempts(
    db: sqlite_utils.Database, folder: str, uidvalidity: int, uids: list[int]
) -> None:
    """The messages left the folder (moved or flagged): their counts are no longer needed."""
    db.conn.executemany(
        "DELETE FROM mail_attempts WHERE folder = ? AND uidvalidity = ? AND uid = ?",
        [(folder, uidvalidity, uid) for uid in uids],
    )
