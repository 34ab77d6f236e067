"""Case search for the staff pages: filters, free text (SQLite FTS5), newest first, in pages.

Newest first is descending case id (ids are given in the order cases are filed). Pages are
keyset pages: the next one asks for ids below the last one shown, which is one range scan of
an index wherever the page is (OFFSET would read and drop every earlier row: page 1,000 would
cost a thousand pages). With text, the FTS5 index (rowid = case id, storage/staff_schema.py)
is walked in descending rowid order and the other filters checked on each match, so the
first page of common words reads only as far as the page.

Overdue means a clock past `now` that still runs: the acknowledgement not yet sent, or an
open case's response, follow-up or hazard-inspection deadline (storage/sla.py, the same
definition the alert count uses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from storage.cases import utc
from storage.sla import CLOCKS, overdue_ids_sql

#: Letters and digits: the tokenizer's own separators (underscore included) split words.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
#: Above this the query is cut: a pasted letter is not a search.
MAX_TERMS = 12


@dataclass(frozen=True)
class CaseFilter:
    """What staff asked for; None (or empty) means "any"."""

    ref: str | None = None  # a whole reference, or its start ("CD-2026-00")
    status: str | None = None
    kind: str | None = None
    channel: str | None = None
    department: str | None = None
    overdue: bool = False
    text: str | None = None
    #: One clock's deadline in [start, end) while that clock still runs (the SLA board's
    #: links: due today, in the next five business days, overdue).
    due: DueWindow | None = None


@dataclass(frozen=True)
class DueWindow:
    column: str  # a deadline column of storage/sla.py's CLOCKS: ack_due, response_due...
    start: datetime | None  # None: no lower bound (overdue)
    end: datetime


@dataclass(frozen=True)
class CaseRow:
    id: int
    ref: str
    kind: str
    status: str
    channel: str
    department: str | None
    received_at: str
    ack_due: str | None
    acked_at: str | None
    response_due: str | None
    follow_up_due: str | None
    hazard_due: str | None
    subject: str | None
    #: Issue 13: what the alerts read (which standards are past, and why staff are needed).
    hazard_checked_at: str | None = None
    attention: str | None = None


@dataclass(frozen=True)
class CasePage:
    rows: tuple[CaseRow, ...]
    #: Pass as `before` for the next (older) page; None on the last page.
    next_before: int | None


def fts_query(text: str) -> str | None:
    """Staff's words as an FTS5 query: every word must appear (stemmed: "flood" finds
    "flooding", storage/staff_schema.py). Each word is quoted, so FTS5 operators and
    punctuation a person types (AND, NEAR, quotes, colons) are just words. None if no word.
    No prefix queries: FTS5 reads every match of a prefix before the first page."""
    words = _WORD.findall(text)[:MAX_TERMS]
    if not words:
        return None
    return " ".join(f'"{w}"' for w in words)


def _conditions(f: CaseFilter, now: datetime) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if f.ref:
        ref = f.ref.strip().upper()
        # One range on the unique index covers both: the reference itself and those after it.
        where.append("c.ref >= ? AND c.ref < ?")
        params += [ref, ref + "\U0010ffff"]
    for column in ("status", "kind", "channel", "department"):
        value = getattr(f, column)
        if value:
            where.append(f"c.{column} = ?")
            params.append(value)
    if f.overdue:
        sql, overdue_params = overdue_ids_sql(now)
        where.append(f"c.id IN ({sql})")
        params += overdue_params
    if f.due is not None:
        clock = next(c for c in CLOCKS if c.column == f.due.column)
        sql = (
            f"SELECT id FROM cases INDEXED BY {clock.index} WHERE {clock.running} "
            f"AND {clock.column} < ?"
        )
        due_params = [utc(f.due.end)]
        if f.due.start is not None:
            sql += f" AND {clock.column} >= ?"
            due_params.append(utc(f.due.start))
        where.append(f"c.id IN ({sql})")
        params += due_params
    return where, params


_ROW = """c.id, c.ref, c.kind, c.status, c.channel, c.department, c.received_at, c.ack_due,
          c.acked_at, c.response_due, c.follow_up_due, c.hazard_due, c.subject,
          c.hazard_checked_at, c.attention"""


def search_cases(
    db: sqlite_utils.Database,
    f: CaseFilter,
    now: datetime,
    *,
    limit: int = 50,
    before: int | None = None,
) -> CasePage:
    """One page of cases matching every filter, newest first, older than case id `before`."""
    where, params = _conditions(f, now)
    match = fts_query(f.text) if f.text else None
    if f.text and match is None:
        return CasePage((), None)
    if match is not None:
        where = ["case_fts MATCH ?", *where]
        params = [match, *params]
        if before is not None:
            where.append("t.rowid < ?")
            params.append(before)
        # CROSS JOIN: walk the text index (newest first), look each case up by id.
        sql = (
            f"SELECT {_ROW} FROM case_fts t CROSS JOIN cases c ON c.id = t.rowid "
            f"WHERE {' AND '.join(where)} ORDER BY t.rowid DESC LIMIT ?"
        )
    else:
        if before is not None:
            where.append("c.id < ?")
            params.append(before)
        sql = (
            f"SELECT {_ROW} FROM cases c {'WHERE ' + ' AND '.join(where) if where else ''} "
            "ORDER BY c.id DESC LIMIT ?"
        )
    found = db.execute(sql, [*params, limit + 1]).fetchall()
    rows = tuple(CaseRow(*r) for r in found[:limit])
    return CasePage(rows, rows[-1].id if len(found) > limit else None)


def count_text_index(db: sqlite_utils.Database, text: str) -> int:
    """How many cases the text index matches (for the erasure test and the bench)."""
    match = fts_query(text)
    if match is None:
        return 0
    return int(
        db.execute("SELECT count(*) FROM case_fts WHERE case_fts MATCH ?", [match]).fetchone()[0]
    )


def check_text_index(db: sqlite_utils.Database) -> None:
    """Raise sqlite3.DatabaseError unless the text index agrees exactly with the case text."""
    db.execute("INSERT INTO case_fts(case_fts, rank) VALUES ('integrity-check', 1)")


def purge_text_index(db: sqlite_utils.Database) -> None:
    """Merge the text index into one segment. FTS5 records a deletion (retention's erasure
    included) as a marker in a new segment and keeps the old entry until the segments are
    merged; marker and entry both hold the word. After this neither is left on disk. It
    rewrites the whole index: run it after erasures, not on every write."""
    db.execute("INSERT INTO case_fts(case_fts) VALUES ('optimize')")
