"""Schema 12 (issue 13): the scheduler's due times and the actions it has taken.

- `clocks`: one row a case the scheduler must look at again, and when. A pass reads only
  `due_at <= now` through the index, so a quiet store costs one empty range scan however many
  open cases it holds. The time of the next look is computed with the business calendar by
  the scheduler (bot/clock_rules.py), which SQL cannot do; so when something the rules read
  changes (status, department, deadlines, the expected completion, an inspection, a forward
  or a department's update), the triggers below set `due_at` to '' ("look now": it sorts
  before every timestamp), whoever made the change: intake, staff, tracker sync, forwarding.
  A case with nothing left to do has no row.
- `clock_actions`: every action taken, unique by (case, action, n), written in the same
  transaction as its timeline event and its outbox row or draft. A pass that crashed, or a
  second process, can only repeat an INSERT that is refused: nothing is sent twice.
"""

from __future__ import annotations

#: The case columns the rules read: a change to any of them asks for a new look.
WATCHED = (
    "status",
    "kind",
    "channel",
    "department",
    "follow_up_due",
    "expected_at",
    "hazard_due",
    "hazard_checked_at",
)
#: Timeline events the rules read.
WATCHED_EVENTS = ("department-update", "forwarded", "routed", "department-changed")
LOOK_NOW = "''"

_changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in WATCHED)
_events = ", ".join(f"'{e}'" for e in WATCHED_EVENTS)

CLOCKS_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE clocks (
        case_id INTEGER PRIMARY KEY REFERENCES cases(id),
        due_at TEXT NOT NULL
    )""",
    "CREATE INDEX clocks_due ON clocks(due_at)",
    """CREATE TABLE clock_actions (
        id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL REFERENCES cases(id),
        action TEXT NOT NULL,
        n INTEGER NOT NULL,
        due_at TEXT NOT NULL,
        at TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}',
        UNIQUE (case_id, action, n)
    )""",
    f"""CREATE TRIGGER clocks_case_insert AFTER INSERT ON cases
        BEGIN INSERT OR REPLACE INTO clocks (case_id, due_at) VALUES (new.id, {LOOK_NOW}); END""",
    f"""CREATE TRIGGER clocks_case_update AFTER UPDATE OF {", ".join(WATCHED)} ON cases
        WHEN {_changed}
        BEGIN INSERT OR REPLACE INTO clocks (case_id, due_at) VALUES (new.id, {LOOK_NOW}); END""",
    f"""CREATE TRIGGER clocks_event_insert AFTER INSERT ON events
        WHEN new.type IN ({_events})
        BEGIN INSERT OR REPLACE INTO clocks (case_id, due_at)
              VALUES (new.case_id, {LOOK_NOW}); END""",
    # Cases filed before this schema: every one that may still have a clock is looked at once.
    f"INSERT INTO clocks (case_id, due_at) SELECT id, {LOOK_NOW} FROM cases "
    "WHERE status IN ('open', 'unreadable')",
)
