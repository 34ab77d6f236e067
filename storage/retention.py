"""The SQL of the retention job (bot/retention.py decides what is due; this finds and erases).

What is erased is personal data: contact details, the resident's words, raw mail, chat
transcripts, addresses that replies went to, channel update ids. What stays is the anonymised
record the policy asks for (04.08): the case row's kind, status, channel, department, rules,
dates and deadlines, the append-only timeline, and one (emptied) row per message, draft and
outbox item, so counts for trend reports do not change.

Every query counts what is still there to erase, so running the job twice erases nothing
more: a case whose personal data is gone counts zero and is skipped.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from storage.cases import utc

#: Free-text columns of a case that hold what the resident wrote (and the chat key).
CASE_TEXT = (
    "subject",
    "what",
    "when_text",
    "who",
    "outcome",
    "on_behalf_of",
    "conversation",
    # Where it is: often the resident's own address (issue 12).
    "place",
)

ERASED_NOTE = "erased by retention"


@dataclass(frozen=True)
class DueCase:
    """A case past retention with something left to erase, and how much of each kind."""

    id: int
    ref: str
    status: str
    last_activity: str
    conversation: str | None
    counts: dict[str, int]


@dataclass(frozen=True)
class DueConversation:
    """A chat whose transcript is past retention and belongs to no case still kept."""

    key: str
    channel: str
    last_activity: str
    counts: dict[str, int]


def _marks(values: Collection[str]) -> str:
    return ", ".join("?" for _ in values)


#: The latest moment anything happened on a case: the retention age counts from here, so a
#: resident's late reply to a declined case restarts its clock.
_LAST_ACTIVITY = """MAX(
    c.received_at, c.updated_at, COALESCE(c.closed_at, ''),
    COALESCE((SELECT MAX(e.at) FROM events e WHERE e.case_id = c.id), ''),
    COALESCE((SELECT MAX(m.at) FROM messages m WHERE m.case_id = c.id), '')
)"""


def case_counts(db: sqlite_utils.Database, case_id: int) -> dict[str, int]:
    """How many items of each kind of personal data a case still holds."""
    text_check = " OR ".join(f"{c} IS NOT NULL" for c in CASE_TEXT)

    def one(sql: str) -> int:
        return int(db.execute(sql, [case_id]).fetchone()[0])

    return {
        "person": one(
            "SELECT count(*) FROM people p JOIN cases c ON c.person_id = p.id "
            "WHERE c.id = ? AND p.erased_at IS NULL"
        ),
        "case_text": one(f"SELECT count(*) FROM cases WHERE id = ? AND ({text_check})"),
        "messages": one(
            "SELECT count(*) FROM messages WHERE case_id = ? AND (body != '' "
            "OR subject IS NOT NULL OR (direction = 'in' AND meta != '{}'))"
        ),
        "raw_mail": one(
            "SELECT count(*) FROM raw_messages r JOIN messages m ON m.id = r.message_id "
            "WHERE m.case_id = ?"
        ),
        "drafts": one(
            "SELECT count(*) FROM drafts WHERE case_id = ? AND (body != '' OR subject != '' "
            "OR recipient IS NOT NULL OR review_note IS NOT NULL)"
        ),
        "draft_revisions": one(
            "SELECT count(*) FROM draft_revisions r JOIN drafts d ON d.id = r.draft_id "
            "WHERE d.case_id = ? AND (r.body != '' OR r.subject != '')"
        ),
        "outbox": one(
            "SELECT count(*) FROM outbox WHERE case_id = ? AND (body != '' OR subject != '' "
            "OR recipient IS NOT NULL OR headers != '{}')"
        ),
        "bounces": one("SELECT count(*) FROM bounces WHERE case_id = ?"),
        # Staff's notes and corrections can hold personal data (storage/case_work.py).
        "notes": one("SELECT count(*) FROM case_notes WHERE case_id = ? AND body != ''"),
        "corrections": one(
            "SELECT count(*) FROM case_corrections WHERE case_id = ? "
            "AND (old IS NOT NULL OR new IS NOT NULL)"
        ),
    }


def due_cases(
    db: sqlite_utils.Database,
    cutoff: datetime,
    final: Collection[str],
    case_id: int | None = None,
) -> list[DueCase]:
    """Cases in a final status, quiet since before `cutoff`, that still hold personal data
    (with `case_id`: that case, if it is one of them)."""
    only = "AND c.id = ?" if case_id is not None else ""
    rows = db.execute(
        f"""SELECT c.id, c.ref, c.status, {_LAST_ACTIVITY} AS last_at, c.conversation
            FROM cases c WHERE c.status IN ({_marks(final)}) AND last_at < ? {only}
            ORDER BY c.id""",
        [*final, utc(cutoff), *([case_id] if case_id is not None else [])],
    ).fetchall()
    found = []
    for case_id, ref, status, last_at, conversation in rows:
        counts = case_counts(db, int(case_id))
        if any(counts.values()):
            found.append(DueCase(int(case_id), ref, status, last_at, conversation, counts))
    return found


def erase_case(db: sqlite_utils.Database, case_id: int, now: datetime) -> None:
    """Erase one case's personal data, keeping its anonymised record. Call in a transaction."""
    db.execute(
        "UPDATE people SET name = NULL, email = NULL, phone = NULL, erased_at = ? "
        "WHERE erased_at IS NULL AND id = (SELECT person_id FROM cases WHERE id = ?)",
        [utc(now), case_id],
    )
    columns = ", ".join(f"{c} = NULL" for c in CASE_TEXT)
    db.execute(f"UPDATE cases SET {columns} WHERE id = ?", [case_id])
    db.execute(
        "DELETE FROM raw_messages WHERE message_id IN (SELECT id FROM messages WHERE case_id = ?)",
        [case_id],
    )
    db.execute(
        "UPDATE messages SET body = '', subject = NULL, "
        "meta = CASE WHEN direction = 'in' THEN '{}' ELSE meta END WHERE case_id = ?",
        [case_id],
    )
    waiting = "status IN ('pending', 'returned')"
    db.execute(
        "UPDATE drafts SET body = '', subject = '', recipient = NULL, review_note = NULL, "
        f"status = CASE WHEN {waiting} THEN 'rejected' ELSE status END, "
        f"reviewed_by = CASE WHEN {waiting} THEN 'retention' ELSE reviewed_by END, "
        f"reviewed_at = CASE WHEN {waiting} THEN ? ELSE reviewed_at END "
        "WHERE case_id = ?",
        [utc(now), case_id],
    )
    db.execute(
        "UPDATE draft_revisions SET body = '', subject = '' "
        "WHERE draft_id IN (SELECT id FROM drafts WHERE case_id = ?)",
        [case_id],
    )
    _erase_outbox(db, "case_id = ?", [case_id])
    db.execute("DELETE FROM bounces WHERE case_id = ?", [case_id])
    db.execute("UPDATE case_notes SET body = '' WHERE case_id = ?", [case_id])
    db.execute("UPDATE case_corrections SET old = NULL, new = NULL WHERE case_id = ?", [case_id])
    # The survey's answers stay as figures; the resident's words and chat key go (issue 13).
    db.execute("UPDATE surveys SET comment = NULL, recipient = NULL WHERE case_id = ?", [case_id])


def _erase_outbox(db: sqlite_utils.Database, where: str, params: list[Any]) -> None:
    """Empty outbox rows; one still pending is failed, so no worker sends an empty message."""
    db.execute(
        f"""UPDATE outbox SET body = '', subject = '', recipient = NULL, headers = '{{}}',
               last_error = CASE WHEN status = 'pending' THEN ? ELSE last_error END,
               status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END
            WHERE {where}""",
        [ERASED_NOTE, *params],
    )


def due_conversations(
    db: sqlite_utils.Database,
    cutoff: datetime,
    final: Collection[str],
    key: str | None = None,
) -> list[DueConversation]:
    """Chats (state and transcript) quiet since before `cutoff` whose every case is due too.

    One chat can file several cases, so its transcript goes only when none of them is kept:
    a case still holding the chat's key that is open, or final but not yet past retention,
    keeps the whole transcript."""
    only = "WHERE key = ?" if key is not None else ""
    rows = db.execute(
        f"""WITH keys AS (
                SELECT key, channel, updated_at AS at FROM conversations {only}
                UNION ALL
                SELECT key, NULL, at FROM chat_log {only}
            )
            SELECT key, MAX(channel), MAX(at) AS last_at FROM keys GROUP BY key
            HAVING last_at < ? AND NOT EXISTS (
                SELECT 1 FROM cases c WHERE c.conversation = keys.key
                AND NOT (c.status IN ({_marks(final)}) AND {_LAST_ACTIVITY} < ?)
            )
            ORDER BY last_at""",
        [*([key, key] if key is not None else []), utc(cutoff), *final, utc(cutoff)],
    ).fetchall()
    found = []
    for found_key, channel, last_at in rows:
        counts = conversation_counts(db, found_key)
        if any(counts.values()):
            kind = channel or found_key.split(":", 1)[0]
            found.append(DueConversation(found_key, kind, last_at, counts))
    return found


def conversation_counts(db: sqlite_utils.Database, key: str) -> dict[str, int]:
    def one(sql: str) -> int:
        return int(db.execute(sql, [key]).fetchone()[0])

    return {
        "chat_lines": one("SELECT count(*) FROM chat_log WHERE key = ?"),
        "conversation": one("SELECT count(*) FROM conversations WHERE key = ?"),
        # Notices addressed to the chat itself (e.g. "conversation paused"), tied to no case.
        "outbox": one("SELECT count(*) FROM outbox WHERE case_id IS NULL AND recipient = ?"),
    }


def erase_conversation(db: sqlite_utils.Database, key: str) -> None:
    db.execute("DELETE FROM chat_log WHERE key = ?", [key])
    db.execute("DELETE FROM conversations WHERE key = ?", [key])
    _erase_outbox(db, "case_id IS NULL AND recipient = ?", [key])


def cases_of_conversation_key(db: sqlite_utils.Database, key: str) -> list[str]:
    """References of the cases a chat filed (before their link is erased): for the audit."""
    rows = db.execute("SELECT ref FROM cases WHERE conversation = ? ORDER BY id", [key])
    return [str(r[0]) for r in rows.fetchall()]


def loose_messages_count(db: sqlite_utils.Database, cutoff: datetime) -> dict[str, int]:
    """Mail stored without a case (automatic replies, bounces, suppressed messages)."""
    at = utc(cutoff)
    messages = db.execute(
        "SELECT count(*) FROM messages WHERE case_id IS NULL AND at < ? "
        "AND (body != '' OR subject IS NOT NULL OR (direction = 'in' AND meta != '{}'))",
        [at],
    ).fetchone()[0]
    raw = db.execute(
        "SELECT count(*) FROM raw_messages r JOIN messages m ON m.id = r.message_id "
        "WHERE m.case_id IS NULL AND m.at < ?",
        [at],
    ).fetchone()[0]
    return {"messages": int(messages), "raw_mail": int(raw)}


def erase_loose_messages(db: sqlite_utils.Database, cutoff: datetime) -> None:
    at = utc(cutoff)
    db.execute(
        "DELETE FROM raw_messages WHERE message_id IN "
        "(SELECT id FROM messages WHERE case_id IS NULL AND at < ?)",
        [at],
    )
    db.execute(
        "UPDATE messages SET body = '', subject = NULL, "
        "meta = CASE WHEN direction = 'in' THEN '{}' ELSE meta END "
        "WHERE case_id IS NULL AND at < ?",
        [at],
    )


def old_update_ids_count(db: sqlite_utils.Database, cutoff: datetime) -> int:
    row = db.execute("SELECT count(*) FROM channel_updates WHERE at < ?", [utc(cutoff)])
    return int(row.fetchone()[0])


def erase_old_update_ids(db: sqlite_utils.Database, cutoff: datetime) -> None:
    """Channel update ids only guard against a redelivery (hours); old ones identify a chat."""
    db.execute("DELETE FROM channel_updates WHERE at < ?", [utc(cutoff)])


def old_bounces_count(db: sqlite_utils.Database, cutoff: datetime) -> int:
    row = db.execute("SELECT count(*) FROM bounces WHERE at < ?", [utc(cutoff)])
    return int(row.fetchone()[0])


def erase_old_bounces(db: sqlite_utils.Database, cutoff: datetime) -> None:
    db.execute("DELETE FROM bounces WHERE at < ?", [utc(cutoff)])
