"""The satisfaction survey's SQL (schema: storage/survey_schema.py). Every function runs its
statements inside the caller's transaction; bot/survey.py decides what is asked and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from storage.cases import utc


@dataclass(frozen=True)
class SurveyRow:
    id: int
    case_id: int
    ref: str
    channel: str
    status: str
    asked_at: str


_ROW = "SELECT s.id, s.case_id, c.ref, s.channel, s.status, s.asked_at FROM surveys s "


def _row(found: Any) -> SurveyRow | None:
    return SurveyRow(*found) if found else None


def insert_survey(
    db: sqlite_utils.Database, case_id: int, channel: str, recipient: str | None, now: datetime
) -> bool:
    """The survey of a case, asked now; False when the case already had one (at most one)."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO surveys (case_id, channel, recipient, status, asked_at) "
        "VALUES (?, ?, ?, 'asked', ?)",
        [case_id, channel, recipient, utc(now)],
    )
    return cursor.rowcount == 1


def survey_of_case(db: sqlite_utils.Database, case_id: int) -> SurveyRow | None:
    return _row(
        db.execute(
            _ROW + "JOIN cases c ON c.id = s.case_id WHERE s.case_id = ?", [case_id]
        ).fetchone()
    )


def open_chat_survey(
    db: sqlite_utils.Database, channel: str, conversation: str, since: datetime
) -> SurveyRow | None:
    """The newest survey still waiting for an answer in this chat conversation."""
    return _row(
        db.execute(
            _ROW + "JOIN cases c ON c.id = s.case_id WHERE s.channel = ? AND s.recipient = ? "
            "AND s.status = 'asked' AND s.asked_at >= ? ORDER BY s.id DESC LIMIT 1",
            [channel, conversation, utc(since)],
        ).fetchone()
    )


def opted_out(
    db: sqlite_utils.Database, email: str | None, channel: str, conversation: str | None
) -> bool:
    """Has this resident asked for no surveys: by email address (any of their cases), or in
    this chat conversation?"""
    if email:
        row = db.execute(
            "SELECT 1 FROM people WHERE lower(email) = ? AND survey_opt_out = 1 LIMIT 1",
            [email.strip().lower()],
        ).fetchone()
        if row:
            return True
    if conversation:
        row = db.execute(
            "SELECT 1 FROM surveys WHERE channel = ? AND recipient = ? "
            "AND status = 'opted-out' LIMIT 1",
            [channel, conversation],
        ).fetchone()
        if row:
            return True
    return False


def record_answers(
    db: sqlite_utils.Database,
    survey_id: int,
    handled: bool | None,
    score: int | None,
    timely: bool | None,
    comment: str | None,
    now: datetime,
) -> None:
    """The answers (a later reply replaces what it says and keeps what it leaves out)."""

    def flag(value: bool | None) -> int | None:
        return None if value is None else int(value)

    db.execute(
        "UPDATE surveys SET answered_at = ?, "
        "status = CASE WHEN status = 'opted-out' THEN status ELSE 'answered' END, "
        "handled = COALESCE(?, handled), score = COALESCE(?, score), "
        "timely = COALESCE(?, timely), "
        "comment = CASE WHEN ? IS NULL THEN comment WHEN comment IS NULL THEN ? "
        "ELSE comment || char(10) || ? END WHERE id = ?",
        [utc(now), flag(handled), score, flag(timely), comment, comment, comment, survey_id],
    )


def record_opt_out(db: sqlite_utils.Database, survey_id: int, case_id: int) -> None:
    """No more surveys: for the case's resident (by address) and the survey's conversation."""
    db.execute("UPDATE surveys SET status = 'opted-out' WHERE id = ?", [survey_id])
    db.execute(
        "UPDATE people SET survey_opt_out = 1 "
        "WHERE id = (SELECT person_id FROM cases WHERE id = ?)",
        [case_id],
    )


def survey_answers(db: sqlite_utils.Database, case_id: int) -> dict[str, Any] | None:
    """What the case page shows."""
    cursor = db.execute(
        "SELECT channel, status, asked_at, answered_at, handled, score, timely, comment "
        "FROM surveys WHERE case_id = ?",
        [case_id],
    )
    row = cursor.fetchone()
    if row is None:
        return None
    names = [c[0] for c in cursor.description]
    return dict(zip(names, row, strict=True))
