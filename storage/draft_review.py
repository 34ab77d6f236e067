"""What the review queue's actions read and write: one draft, its edits, and its fate.

The decisions (who may approve what, what a stale form means) are `bot/staff/review.py`'s;
this module only stores and reads them. Every write here is meant to run inside the caller's
write transaction, together with the outbox row, the timeline event and the audit row.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlite_utils

from storage.cases import utc

#: The case facts the draft page shows beside the draft.
CASE_FACTS = (
    "what",
    "when_text",
    "who",
    "outcome",
    "on_behalf_of",
)


@dataclass(frozen=True)
class DraftRecord:
    """A draft with what reviewing it needs from its case."""

    id: int
    case_id: int
    ref: str
    case_kind: str
    case_channel: str
    case_status: str
    reply_kind: str
    channel: str
    recipient: str | None
    subject: str
    body: str
    why: str
    status: str
    created_at: str
    due_at: str | None
    revision: int
    author_id: int | None
    returned_to: int | None
    review_note: str | None
    reviewed_by: str | None
    reviewed_at: str | None
    rules: str
    received_at: str
    facts: dict[str, str | None]


_DRAFT = """SELECT d.id, d.case_id, c.ref, c.kind, c.channel, c.status, d.reply_kind, d.channel,
       d.recipient, d.subject, d.body, d.why, d.status, d.created_at, d.due_at, d.revision,
       d.author_id, d.returned_to, d.review_note, d.reviewed_by, d.reviewed_at, c.rules,
       c.received_at, {facts}
FROM drafts d JOIN cases c ON c.id = d.case_id WHERE d.id = ?""".format(
    facts=", ".join(f"c.{f}" for f in CASE_FACTS)
)


def get_draft(db: sqlite_utils.Database, draft_id: int) -> DraftRecord | None:
    row = db.execute(_DRAFT, [draft_id]).fetchone()
    if row is None:
        return None
    names = [f.name for f in fields(DraftRecord) if f.name != "facts"]
    values: dict[str, Any] = dict(zip(names, row[: len(names)], strict=True))
    values["facts"] = dict(zip(CASE_FACTS, row[len(names) :], strict=True))
    return DraftRecord(**values)


def inbound_messages(
    db: sqlite_utils.Database, case_id: int, limit: int = 20
) -> list[dict[str, Any]]:
    """The resident's own messages on the case, oldest first (the draft page shows them)."""
    cursor = db.execute(
        "SELECT id, at, channel, subject, body, message_key FROM messages "
        "WHERE case_id = ? AND direction = 'in' ORDER BY id LIMIT ?",
        [case_id, limit],
    )
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def email_thread(db: sqlite_utils.Database, case_id: int) -> list[str]:
    """The Message-IDs of the resident's emails on the case, oldest first: what our reply
    continues (In-Reply-To, References). Inbound keys are `<Message-ID> sha256:...`."""
    rows = db.execute(
        "SELECT message_key FROM messages WHERE case_id = ? AND direction = 'in' "
        "AND channel = 'email' AND message_key LIKE '<%' ORDER BY id",
        [case_id],
    ).fetchall()
    return [str(r[0]).split(" ", 1)[0] for r in rows]


def makers(db: sqlite_utils.Database, draft: DraftRecord) -> set[int]:
    """Staff who wrote or edited the draft: none of them may be its second person."""
    found = {
        int(r[0])
        for r in db.execute(
            "SELECT DISTINCT staff_id FROM draft_revisions WHERE draft_id = ? "
            "AND staff_id IS NOT NULL",
            [draft.id],
        ).fetchall()
    }
    if draft.author_id is not None:
        found.add(draft.author_id)
    return found


def last_editor(db: sqlite_utils.Database, draft_id: int) -> int | None:
    row = db.execute(
        "SELECT staff_id FROM draft_revisions WHERE draft_id = ? ORDER BY n DESC LIMIT 1",
        [draft_id],
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def save_revision(
    db: sqlite_utils.Database,
    draft: DraftRecord,
    staff_id: int,
    subject: str,
    body: str,
    now: datetime,
) -> int | None:
    """Store an edited text as the draft's next revision; a draft sent back to its author
    waits for review again. None when the draft changed meanwhile (nothing written)."""
    n = draft.revision + 1
    cursor = db.execute(
        "UPDATE drafts SET subject = ?, body = ?, revision = ?, status = 'pending', "
        "returned_to = NULL WHERE id = ? AND revision = ? AND status IN ('pending', 'returned')",
        [subject, body, n, draft.id, draft.revision],
    )
    if cursor.rowcount != 1:
        return None
    db.execute(
        "INSERT INTO draft_revisions (draft_id, n, at, staff_id, subject, body) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [draft.id, n, utc(now), staff_id, subject, body],
    )
    return n


def close_draft(
    db: sqlite_utils.Database,
    draft_id: int,
    revision: int,
    status: str,
    actor: str,
    now: datetime,
    *,
    note: str | None = None,
    returned_to: int | None = None,
) -> bool:
    """Move a pending (or sent back) draft at `revision` to `status` (approved, rejected,
    returned). False when it is not waiting at that revision: someone else handled or
    changed it."""
    cursor = db.execute(
        "UPDATE drafts SET status = ?, reviewed_by = ?, reviewed_at = ?, review_note = ?, "
        "returned_to = ? WHERE id = ? AND status IN ('pending', 'returned') AND revision = ?",
        [status, actor, utc(now), note, returned_to, draft_id, revision],
    )
    return cursor.rowcount == 1


def outbox_key_taken(db: sqlite_utils.Database, key: str) -> bool:
    row = db.execute("SELECT 1 FROM outbox WHERE idempotency_key = ?", [key]).fetchone()
    return row is not None


def outbox_of_draft(db: sqlite_utils.Database, draft_id: int) -> tuple[int, str] | None:
    """(id, channel) of the outbox row an approved draft became."""
    row = db.execute(
        "SELECT id, channel FROM outbox WHERE draft_id = ? ORDER BY id LIMIT 1", [draft_id]
    ).fetchone()
    return (int(row[0]), str(row[1])) if row else None


def next_pending(db: sqlite_utils.Database, skip: int | None = None) -> int | None:
    """The pending draft whose deadline comes first (the queue's top row)."""
    row = db.execute(
        "SELECT id FROM drafts INDEXED BY drafts_queue WHERE status = 'pending' AND id != ? "
        "ORDER BY due_at, id LIMIT 1",
        [skip if skip is not None else -1],
    ).fetchone()
    return int(row[0]) if row else None


def returned_to_staff(db: sqlite_utils.Database, staff_id: int) -> list[dict[str, Any]]:
    """Drafts sent back to one staff member, with the comment, the earliest deadline first."""
    cursor = db.execute(
        "SELECT d.id, c.ref, d.reply_kind, d.due_at, d.reviewed_by, d.review_note "
        "FROM drafts d JOIN cases c ON c.id = d.case_id "
        "WHERE d.status = 'returned' AND d.returned_to = ? ORDER BY d.due_at, d.id LIMIT 100",
        [staff_id],
    )
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def edited_drafts(db: sqlite_utils.Database, draft_ids: list[int]) -> set[int]:
    """Which of these drafts a person wrote or changed (never approved in bulk)."""
    if not draft_ids:
        return set()
    marks = ", ".join("?" for _ in draft_ids)
    rows = db.execute(
        f"SELECT id FROM drafts WHERE id IN ({marks}) AND (revision > 0 OR author_id IS NOT NULL)",
        draft_ids,
    ).fetchall()
    return {int(r[0]) for r in rows}


def refs_of(db: sqlite_utils.Database, draft_ids: list[int]) -> dict[int, str]:
    """Case references of some drafts, for the messages after an action."""
    if not draft_ids:
        return {}
    marks = ", ".join("?" for _ in draft_ids)
    rows = db.execute(
        f"SELECT d.id, c.ref FROM drafts d JOIN cases c ON c.id = d.case_id "
        f"WHERE d.id IN ({marks})",
        draft_ids,
    ).fetchall()
    return {int(r[0]): str(r[1]) for r in rows}


#: The draft status each outcome a page reports leaves behind.
_OUTCOME_STATUS = {"approved": "approved", "sent-back": "returned", "rejected": "rejected"}


def did_outcome(
    db: sqlite_utils.Database, ref: str, outcome: str, staff_id: int, actor: str
) -> bool:
    """Whether this staff member really did `outcome` to a draft of case `ref`. A page says
    the outcome of the last action from its address, which anyone can write into a link
    ("Approved and sent" for a draft nobody approved): it is said only when it is true."""
    if outcome in ("saved", "resubmitted"):
        row = db.execute(
            "SELECT 1 FROM draft_revisions r JOIN drafts d ON d.id = r.draft_id "
            "JOIN cases c ON c.id = d.case_id WHERE c.ref = ? AND r.staff_id = ? LIMIT 1",
            [ref, staff_id],
        ).fetchone()
        return row is not None
    status = _OUTCOME_STATUS.get(outcome)
    if status is None:
        return False
    row = db.execute(
        "SELECT 1 FROM drafts d JOIN cases c ON c.id = d.case_id "
        "WHERE c.ref = ? AND d.status = ? AND d.reviewed_by = ? LIMIT 1",
        [ref, status, actor],
    ).fetchone()
    return row is not None


def approved_by(db: sqlite_utils.Database, draft_ids: list[int], actor: str) -> list[int]:
    """Of these drafts, the ones this reviewer approved (for the bulk summary, as above)."""
    if not draft_ids:
        return []
    marks = ", ".join("?" for _ in draft_ids)
    found = {
        int(r[0])
        for r in db.execute(
            f"SELECT id FROM drafts WHERE id IN ({marks}) AND status = 'approved' "
            "AND reviewed_by = ?",
            [*draft_ids, actor],
        ).fetchall()
    }
    return [i for i in draft_ids if i in found]
