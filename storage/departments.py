"""The department a case is for: set by routing at intake, changed by staff on the case page.

The SQL only, run inside the caller's write transaction. Each change goes on the timeline with
the old and the new department (keys, no personal data), so forwarding can re-send a case when
its department changes (issue 12: "a change re-forwards").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlite_utils

from storage.cases import add_event

ROUTED = "routed"
CHANGED = "department-changed"


def department_of(db: sqlite_utils.Database, case_id: int) -> str | None:
    row = db.execute("SELECT department FROM cases WHERE id = ?", [case_id]).fetchone()
    return None if row is None else row[0]


def record_routing(
    db: sqlite_utils.Database, case_id: int, data: dict[str, Any], now: datetime
) -> None:
    """Intake's routing: the department (or none, waiting for staff) and the `routed` event
    naming the rule, in the transaction that files the case."""
    db.execute("UPDATE cases SET department = ? WHERE id = ?", [data.get("department"), case_id])
    add_event(db, case_id, ROUTED, "routing", now, data)


def change_department(
    db: sqlite_utils.Database, case_id: int, actor: str, new: str | None, now: datetime
) -> str | None:
    """Staff choose the department; returns the old one. The event is what re-forwarding
    (issue 12, item 3) will follow."""
    old = department_of(db, case_id)
    db.execute("UPDATE cases SET department = ? WHERE id = ?", [new, case_id])
    add_event(db, case_id, CHANGED, actor, now, {"old": old, "new": new})
    return old
