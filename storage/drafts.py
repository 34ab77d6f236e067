"""Drafts held for staff, read for the staff pages (the review queue builds on these)."""

from __future__ import annotations

from typing import Any

import sqlite_utils


def list_pending_drafts(db: sqlite_utils.Database, limit: int = 200) -> list[dict[str, Any]]:
    """Pending drafts, the longest waiting first, with the case's reference and kind.

    No resident's personal data: no names, addresses or message text, so listing them needs
    no audit row."""
    cursor = db.execute(
        """SELECT d.id, d.reply_kind, d.channel, d.why, d.created_at, c.ref, c.kind AS case_kind
           FROM drafts d JOIN cases c ON c.id = d.case_id
           WHERE d.status = 'pending'
           ORDER BY d.created_at, d.id
           LIMIT ?""",
        [limit],
    )
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
