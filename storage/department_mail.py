"""The SQL of a department's email reply landing on its case (bot/department_replies.py).

Run inside the caller's write transaction. Which departments may answer for a case is read
from the store, not from the mail: the case's current department, then every department the
case was forwarded to (a department that had the case before staff moved it may still answer
its forward).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlite_utils

from storage.cases import add_event, utc

#: The timeline event of a department's news about a case (shared with Open311 status sync).
DEPARTMENT_UPDATE = "department-update"


def case_departments(db: sqlite_utils.Database, case_id: int) -> list[str]:
    """Keys of the departments that may answer for a case: its current one first, then the
    ones it was forwarded to, oldest forward first; each once."""
    current = db.execute("SELECT department FROM cases WHERE id = ?", [case_id]).fetchone()
    forwarded = db.execute(
        "SELECT department FROM forwards WHERE case_id = ? ORDER BY sequence", [case_id]
    ).fetchall()
    keys = [current[0] if current else None, *(row[0] for row in forwarded)]
    return list(dict.fromkeys(k for k in keys if k))


def record_department_update(
    db: sqlite_utils.Database,
    case_id: int,
    actor: str,
    data: Mapping[str, Any],
    now: datetime,
) -> None:
    """The `department-update` event and the time of the department's last word on the case."""
    add_event(db, case_id, DEPARTMENT_UPDATE, actor, now, data)
    db.execute(
        "UPDATE cases SET tracker_updated_at = ?, updated_at = ? WHERE id = ?",
        [utc(now), utc(now), case_id],
    )
