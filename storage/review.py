"""The review queue: every reply held for staff, the one whose deadline comes first on top.

One index range scan (drafts_queue: status, due_at) gives a page in deadline order; each row
then reads its case by primary key and the resident's first message by (case_id, id), so a
page costs the same with ten drafts pending or ten thousand. Keyset pagination on
(due_at, id): the next page starts after the last row shown, so a draft approved meanwhile
never shifts the rows a reviewer has not seen yet.

Flags are computed against the caller's `now` and `near_before` (the end of the near-deadline
window, e.g. four business hours ahead: bot/sla_bounds.py computes it with the city's
calendar, so the store needs no calendar).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from storage.cases import utc

#: How much of the resident's first message the queue shows (the draft page shows it all).
EXCERPT_CHARS = 200


@dataclass(frozen=True)
class QueueItem:
    """One held reply as the queue lists it. Times are UTC ISO-8601 text, as stored."""

    draft_id: int
    ref: str
    case_kind: str
    case_channel: str
    reply_kind: str
    channel: str
    why: str
    rule: str | None
    excerpt: str
    due_at: str | None
    created_at: str
    waited_seconds: int
    near: bool
    overdue: bool


@dataclass(frozen=True)
class QueuePage:
    items: tuple[QueueItem, ...]
    #: Pass as `after` for the next page; None on the last page.
    next_after: tuple[str, int] | None
    pending: int
    near: int
    overdue: int


def _held_by(rules_json: str, why: str) -> str | None:
    """The name of the rule that held the draft: the case's recorded hit whose reason is the
    draft's `why` (bot/chain_engine.py plans a held reply with its rule's reason)."""
    try:
        hits = json.loads(rules_json or "[]")
    except ValueError:
        return None
    for hit in hits:
        if isinstance(hit, dict) and hit.get("reason") == why:
            rule = hit.get("rule")
            return str(rule) if rule else None
    return None


def _excerpt(text: str | None) -> str:
    flat = " ".join((text or "").split())
    if len(flat) <= EXCERPT_CHARS:
        return flat
    return flat[: EXCERPT_CHARS - 1].rstrip() + "…"


def _count(db: sqlite_utils.Database, sql: str, params: list[Any]) -> int:
    return int(db.execute(sql, params).fetchone()[0])


def review_queue(
    db: sqlite_utils.Database,
    now: datetime,
    near_before: datetime,
    *,
    limit: int = 50,
    after: tuple[str, int] | None = None,
) -> QueuePage:
    """Pending drafts by deadline (then age), `limit` a page, starting after `after`.

    `near` is a deadline before `near_before` not yet passed; `overdue` one at or before
    `now`. The counts cover the whole queue, for the page header and the alert."""
    at, near_at = utc(now), utc(near_before)
    where, params = "d.status = 'pending'", []
    if after is not None:
        where += " AND (d.due_at > ? OR (d.due_at = ? AND d.id > ?))"
        params = [after[0], after[0], after[1]]
    rows = db.execute(
        f"""SELECT d.id, c.ref, c.kind, c.channel, d.reply_kind, d.channel, d.why, c.rules,
                   COALESCE((SELECT substr(m.body, 1, {EXCERPT_CHARS * 2}) FROM messages m
                             WHERE m.case_id = c.id AND m.direction = 'in'
                             ORDER BY m.id LIMIT 1),
                            substr(c.what, 1, {EXCERPT_CHARS * 2})),
                   d.due_at, d.created_at
            FROM drafts d INDEXED BY drafts_queue JOIN cases c ON c.id = d.case_id
            WHERE {where} ORDER BY d.due_at, d.id LIMIT ?""",
        [*params, limit + 1],
    ).fetchall()
    items = []
    for row in rows[:limit]:
        draft_id, ref, kind, case_channel, reply_kind, channel, why, rules = row[:8]
        excerpt, due_at, created_at = row[8:]
        waited = now - datetime.fromisoformat(created_at)
        items.append(
            QueueItem(
                draft_id=int(draft_id),
                ref=ref,
                case_kind=kind,
                case_channel=case_channel,
                reply_kind=reply_kind,
                channel=channel,
                why=why,
                rule=_held_by(rules, why),
                excerpt=_excerpt(excerpt),
                due_at=due_at,
                created_at=created_at,
                waited_seconds=max(0, int(waited.total_seconds())),
                near=due_at is not None and at < due_at < near_at,
                overdue=due_at is not None and due_at <= at,
            )
        )
    last = items[-1] if items else None
    more = len(rows) > limit and last is not None and last.due_at is not None
    pending_sql = "SELECT count(*) FROM drafts INDEXED BY drafts_queue WHERE status = 'pending'"
    return QueuePage(
        items=tuple(items),
        next_after=(str(last.due_at), last.draft_id) if more and last else None,
        pending=_count(db, pending_sql, []),
        near=_count(db, pending_sql + " AND due_at > ? AND due_at < ?", [at, near_at]),
        overdue=_count(db, pending_sql + " AND due_at <= ?", [at]),
    )
