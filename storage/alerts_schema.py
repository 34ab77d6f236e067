"""One index for the header's alert count: each case's earliest deadline among its clocks
that still run (storage/sla.py `alerts_count`).

The count of cases past any standard is on every staff page. Read as four partial-index scans
merged by case id (`overdue_ids_sql`, which the overdue case list keeps), it costs a temporary
B-tree of every overdue id: 17-31 ms with 29,000 of a million cases overdue, on each page.
Indexed by the earliest running deadline, a case is past a standard exactly when that one
value is before now, so the count is one range of one index (2 ms for the same store).

The expression follows storage/sla.py's CLOCKS: acknowledgement while `ACK_RUNNING`;
response and follow-up while the case is open; hazard inspection while open and not yet
inspected. A clock that does not run, or has no deadline, counts as `NEVER`, which sorts after
every ISO-8601 timestamp. tests/unit/test_sla.py checks it against `overdue_ids_sql`.
"""

from __future__ import annotations

from storage.staff_schema import ACK_RUNNING, OPEN_STATUSES

NEVER = "'~'"
#: The earliest deadline of the clocks still running, or NEVER. The query must use this very
#: text: SQLite matches an indexed expression by its form.
NEXT_DUE = (
    f"min(CASE WHEN {ACK_RUNNING} THEN coalesce(ack_due, {NEVER}) ELSE {NEVER} END, "
    f"CASE WHEN {OPEN_STATUSES} THEN min(coalesce(response_due, {NEVER}), "
    f"coalesce(follow_up_due, {NEVER}), "
    f"CASE WHEN hazard_checked_at IS NULL THEN coalesce(hazard_due, {NEVER}) ELSE {NEVER} END) "
    f"ELSE {NEVER} END)"
)
#: Some clock may run: only these cases are in the index (closed ones never are).
ANY_RUNNING = f"(({ACK_RUNNING}) OR {OPEN_STATUSES})"

ALERTS_INDEX: tuple[str, ...] = (
    f"CREATE INDEX cases_next_due ON cases({NEXT_DUE}) WHERE {ANY_RUNNING}",
)
