"""The scheduler's store (storage/clocks_schema.py, storage/clocks.py): a case is marked for
a new look by whatever changes what its clocks read, and only then; a claim is taken once;
the migration brings every case that may have a clock of an older store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils

from storage.cases import add_event
from storage.clocks import due_case_ids, record_action, set_next_look
from storage.clocks_schema import CLOCKS_SCHEMA
from storage.db import MIGRATIONS, SCHEMA_VERSION, connect, migrate

from .staff_store import NOW, db, file_case, set_case  # noqa: F401 (a fixture)

LATER = NOW + timedelta(days=3)


def look(store: sqlite_utils.Database, case_id: int) -> str | None:
    row = store.execute("SELECT due_at FROM clocks WHERE case_id = ?", [case_id]).fetchone()
    return None if row is None else str(row[0])


def test_a_new_case_is_looked_at_at_once(db: sqlite_utils.Database) -> None:  # noqa: F811
    case_id = file_case(db)
    assert look(db, case_id) == ""
    assert due_case_ids(db, NOW) == [case_id]


def test_what_the_clocks_read_asks_for_a_new_look_and_nothing_else_does(
    db: sqlite_utils.Database,  # noqa: F811
) -> None:
    case_id = file_case(db)
    set_next_look(db, case_id, LATER)
    assert due_case_ids(db, NOW) == []
    set_case(db, case_id, attention="a note for staff", subject="Driveway, again")
    assert due_case_ids(db, NOW) == []  # not read by any clock
    set_case(db, case_id, expected_at=LATER.isoformat())
    assert look(db, case_id) == ""
    set_next_look(db, case_id, LATER)
    set_case(db, case_id, expected_at=LATER.isoformat())  # the same value: no change
    assert due_case_ids(db, NOW) == []
    add_event(db, case_id, "note-added", "staff:a", NOW)
    assert due_case_ids(db, NOW) == []
    add_event(db, case_id, "department-update", "tracker-sync", NOW, {"source": "email"})
    assert due_case_ids(db, NOW) == [case_id]
    set_next_look(db, case_id, None)
    assert look(db, case_id) is None


def test_an_action_is_claimed_once(db: sqlite_utils.Database) -> None:  # noqa: F811
    case_id = file_case(db)
    assert record_action(db, case_id, "follow-up", 1, NOW, NOW, {"cc": []})
    assert not record_action(db, case_id, "follow-up", 1, NOW, LATER, {"cc": []})
    assert record_action(db, case_id, "follow-up", 2, NOW, LATER)
    assert db.execute("SELECT count(*) FROM clock_actions").fetchone()[0] == 2


def test_the_migration_looks_at_every_case_that_may_have_a_clock(tmp_path: Path) -> None:
    old = connect(tmp_path / "old.db")
    before = MIGRATIONS.index(CLOCKS_SCHEMA)
    for version, statements in enumerate(MIGRATIONS[:before], start=1):
        with old.atomic():
            for statement in statements:
                old.execute(statement)
            old.execute(f"PRAGMA user_version = {version}")
    at = datetime(2026, 3, 2, tzinfo=UTC).isoformat()
    for n, status in enumerate(("open", "closed", "unreadable", "declined"), start=1):
        old.execute(
            "INSERT INTO cases (ref, kind, status, channel, received_at, created_at, "
            "updated_at) VALUES (?, 'complaint', ?, 'email', ?, ?, ?)",
            [f"CD-2026-{n:06d}", status, at, at, at],
        )
    assert migrate(old) == SCHEMA_VERSION
    rows = old.execute("SELECT case_id, due_at FROM clocks ORDER BY case_id").fetchall()
    assert rows == [(1, ""), (3, "")]
