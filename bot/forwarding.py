"""Which cases go to a department's tracker, and queueing them (POLICY.md 04.02).

A case is forwarded when it is open and is something a department acts on (a complaint, a
request for service, a hazard), and its department has a tracker target. The forward is
queued in the caller's write transaction, beside the change that caused it: intake's routing,
or staff choosing another department (which supersedes a forward not yet sent). The tracker
worker (bot/forwarder.py) sends it.

Declined, redirected, recorded and unreadable cases are not forwarded: there is nothing for a
department to do, and an anonymous allegation must not travel further than the policy allows.
A case no rule routes waits for staff, who choose its department on the case page.
"""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from bot.config import Config, Department
from bot.model import Kind, Status
from storage.forwards import Forward, queue_forward

FORWARDED_KINDS = frozenset({Kind.COMPLAINT.value, Kind.REQUEST.value, Kind.HAZARD.value})


def forwardable(kind: str, status: str, department: Department | None) -> bool:
    return (
        department is not None
        and department.tracker != "none"
        and kind in FORWARDED_KINDS
        and status == Status.OPEN.value
    )


def forward_if_due(
    db: sqlite_utils.Database, config: Config, case_id: int, now: datetime
) -> Forward | None:
    """Queue the case's next forward when the case is forwardable to its current department
    (call inside the write transaction that routed or re-routed it)."""
    row = db.execute(
        "SELECT ref, kind, status, department FROM cases WHERE id = ?", [case_id]
    ).fetchone()
    if row is None:
        return None
    ref, kind, status, key = row
    department = config.department(key) if key else None
    if department is None or not forwardable(kind, status, department):
        return None
    return queue_forward(
        db, case_id=case_id, ref=ref, department=department.key, target=department.tracker, now=now
    )
