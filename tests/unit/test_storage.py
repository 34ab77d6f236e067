"""Tests for the SQLite store: schema and migrations, references, the append-only timeline,
transactions, the outbox, conversations and case reads.

`connect()` sets isolation_level None, so a lone write autocommits; `write_transaction()` (what
production uses) groups writes into one transaction that takes the write lock at its start, a
savepoint when nested; `db.atomic()` is sqlite-utils' own grouping.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlite_utils

from bot.model import Decision, Kind, Person, RuleHit, Status, Submission
from storage.cases import (
    add_event,
    audit,
    count_cases,
    get_case,
    insert_case,
    insert_message,
    insert_person,
    list_cases,
    next_reference,
    utc,
)
from storage.conversations import delete_conversation, load_conversation, save_conversation
from storage.db import (
    MIGRATIONS,
    SCHEMA_VERSION,
    StoreError,
    open_store,
    schema_version,
    write_transaction,
)
from storage.outbox import (
    OutboxItem,
    due_items,
    enqueue,
    insert_draft,
    mark_failed,
    mark_retry,
    mark_sent,
    pending_drafts,
)

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in Toronto
TABLES = (
    "people",
    "cases",
    "events",
    "messages",
    "drafts",
    "outbox",
    "conversations",
    "audit",
    "counters",
)

OpenDb = Callable[..., sqlite_utils.Database]


@pytest.fixture
def fresh_db(tmp_path: Path) -> Iterator[OpenDb]:
    """A factory: fresh_db() opens (and migrates) tmp_path/store.db; fresh_db("x.db") another.
    Every connection opened is closed at teardown."""
    opened: list[sqlite_utils.Database] = []

    def make(name: str = "store.db") -> sqlite_utils.Database:
        db = open_store(tmp_path / name)
        opened.append(db)
        return db

    yield make
    for db in opened:
        db.close()


@pytest.fixture
def db(fresh_db: OpenDb) -> sqlite_utils.Database:
    return fresh_db()


def submission(**overrides: object) -> Submission:
    values: dict[str, object] = {
        "channel": "web",
        "received_at": NOW,
        "text": "The snow plough blocked my driveway again, café owner — 東京",
        "what": "The snow plough blocked my driveway",
        "when_text": "yesterday morning",
        "when": datetime(2026, 3, 1, 13, 0, tzinfo=UTC),
        "who": "the plough driver",
        "outcome": "clear the driveway",
        "person": Person(name="Zoë Tremblay", email="zoe@example.org", phone="+14165550100"),
        "subject": "Driveway",
        "conversation": "web:abc",
    }
    values.update(overrides)
    return Submission(**values)  # type: ignore[arg-type]


def decision(**overrides: object) -> Decision:
    values: dict[str, object] = {
        "kind": Kind.COMPLAINT,
        "status": Status.OPEN,
        "missing": ("who", "outcome"),
        "deadlines": {
            "complaint-ack": datetime(2026, 3, 3, 21, 30, tzinfo=UTC),
            "follow-up": datetime(2026, 3, 16, 20, 30, tzinfo=UTC),
            "email-response": datetime(2026, 3, 23, 20, 30, tzinfo=UTC),
        },
        "replies": (),
        "hits": (RuleHit("complaint-words", "said 'blocked'"),),
        "sensitive": False,
    }
    values.update(overrides)
    return Decision(**values)  # type: ignore[arg-type]


def file_case(
    db: sqlite_utils.Database,
    sub: Submission | None = None,
    dec: Decision | None = None,
    now: datetime = NOW,
) -> tuple[str, int]:
    """What intake does, by hand: reference, person, case, message and an event, atomically."""
    sub = sub or submission()
    dec = dec or decision()
    with db.atomic():
        ref = next_reference(db, "CD", 2026)
        person_id = insert_person(db, sub.person, now)
        case_id = insert_case(db, ref, sub, dec, person_id, now)
        insert_message(
            db, case_id=case_id, direction="in", channel=sub.channel, body=sub.text, now=now
        )
        add_event(db, case_id, "received", sub.channel, now, {"channel": sub.channel})
    return ref, case_id


def count(db: sqlite_utils.Database, table: str) -> int:
    return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def queue(
    db: sqlite_utils.Database,
    key: str,
    *,
    channel: str = "email",
    recipient: str | None = "zoe@example.org",
    now: datetime = NOW,
    case_id: int | None = None,
    body: str = "Thank you",
) -> bool:
    return enqueue(
        db,
        case_id=case_id,
        channel=channel,
        recipient=recipient,
        reply_kind="ack-complaint",
        subject="We received your complaint",
        body=body,
        key=key,
        now=now,
    )


def outbox_row(db: sqlite_utils.Database, item_id: int) -> dict[str, object]:
    cursor = db.execute("SELECT * FROM outbox WHERE id = ?", [item_id])
    names = [c[0] for c in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


# ---------------------------------------------------------------------------------------------
# Opening, schema, migrations


@pytest.mark.parametrize(
    ("pragma", "expected"),
    [
        ("journal_mode", "wal"),
        ("user_version", SCHEMA_VERSION),
        ("foreign_keys", 1),
        ("busy_timeout", 10000),
        ("synchronous", 1),  # NORMAL
    ],
)
def test_connection_settings(db: sqlite_utils.Database, pragma: str, expected: object) -> None:
    assert db.execute(f"PRAGMA {pragma}").fetchone()[0] == expected


def test_schema_version_matches_migrations(db: sqlite_utils.Database) -> None:
    assert SCHEMA_VERSION == len(MIGRATIONS) >= 1
    assert schema_version(db) == SCHEMA_VERSION
    assert set(TABLES) <= set(db.table_names())


def test_autocommit_outside_atomic(db: sqlite_utils.Database, tmp_path: Path) -> None:
    assert db.conn.isolation_level is None
    audit(db, "staff:amy", "looked", None, NOW)
    assert not db.conn.in_transaction
    # Another connection sees the lone write at once: it was committed.
    other = sqlite3.connect(tmp_path / "store.db")
    try:
        assert other.execute("SELECT count(*) FROM audit").fetchone()[0] == 1
    finally:
        other.close()


def test_opening_twice_is_idempotent(fresh_db: OpenDb) -> None:
    first = fresh_db()
    ref, _ = file_case(first)
    schema = first.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    second = fresh_db()
    assert schema_version(second) == SCHEMA_VERSION
    assert second.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall() == (
        schema
    )
    assert count_cases(second) == 1
    assert get_case(second, ref) is not None


def test_newer_store_is_refused(fresh_db: OpenDb) -> None:
    db = fresh_db()
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this caredesk") as caught:
        fresh_db()
    assert f"version {SCHEMA_VERSION + 1}" in str(caught.value)
    # Nothing was changed by the refused open.
    assert schema_version(db) == SCHEMA_VERSION + 1


def test_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("Dear diary, this is not a database.\n" * 200, encoding="utf-8")
    with pytest.raises(StoreError) as caught:
        open_store(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: cannot open the store")
    assert "not a database" in message
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    # The file is left as it was.
    assert path.read_text(encoding="utf-8").startswith("Dear diary")


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open the store"):
        open_store(tmp_path)


def test_older_store_is_brought_forward(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()  # an empty file at version 0
    db = open_store(path)
    try:
        assert schema_version(db) == SCHEMA_VERSION
        assert "cases" in db.table_names()
    finally:
        db.close()


# ---------------------------------------------------------------------------------------------
# References


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        (
            [("CD", 2026)] * 3,
            ["CD-2026-000001", "CD-2026-000002", "CD-2026-000003"],
        ),
        (
            [("CD", 2026), ("CD", 2027), ("CD", 2026), ("CD", 2027)],
            ["CD-2026-000001", "CD-2027-000001", "CD-2026-000002", "CD-2027-000002"],
        ),
        (
            [("CD", 2026), ("SW1", 2026), ("SW1", 2026), ("CD", 2026)],
            ["CD-2026-000001", "SW1-2026-000001", "SW1-2026-000002", "CD-2026-000002"],
        ),
    ],
)
def test_next_reference_counters(
    db: sqlite_utils.Database, calls: list[tuple[str, int]], expected: list[str]
) -> None:
    assert [next_reference(db, prefix, year) for prefix, year in calls] == expected


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (9, "CD-2026-000010"),
        (99_998, "CD-2026-099999"),
        (999_998, "CD-2026-999999"),
    ],
)
def test_next_reference_is_zero_padded_to_six_digits(
    db: sqlite_utils.Database, stored: int, expected: str
) -> None:
    db.execute("INSERT INTO counters (name, value) VALUES ('ref:CD:2026', ?)", [stored])
    assert next_reference(db, "CD", 2026) == expected


def test_next_reference_is_one_statement(db: sqlite_utils.Database) -> None:
    """Taken for every case filed, inside the write transaction: one upsert, not three."""
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    refs = [next_reference(db, "CD", 2026), next_reference(db, "CD", 2026)]
    db.conn.set_trace_callback(None)
    assert refs == ["CD-2026-000001", "CD-2026-000002"]
    assert len(statements) == 2


def test_next_reference_survives_reopening(fresh_db: OpenDb) -> None:
    assert next_reference(fresh_db(), "CD", 2026) == "CD-2026-000001"
    assert next_reference(fresh_db(), "CD", 2026) == "CD-2026-000002"


# ---------------------------------------------------------------------------------------------
# The timeline is append-only


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET type = 'tampered'",
        "UPDATE events SET data = '{}' WHERE id = 1",
        "DELETE FROM events",
        "DELETE FROM events WHERE id = 1",
    ],
)
def test_events_are_append_only(db: sqlite_utils.Database, statement: str) -> None:
    _, case_id = file_case(db)
    before = db.execute("SELECT * FROM events").fetchall()
    with pytest.raises(sqlite3.IntegrityError, match="events are append-only"):
        db.execute(statement)
    assert db.execute("SELECT * FROM events").fetchall() == before
    assert not db.conn.in_transaction
    # Appending still works after the refusal.
    add_event(db, case_id, "note", "staff:amy", NOW)
    assert count(db, "events") == len(before) + 1


def test_refused_event_change_inside_atomic_rolls_back_the_block(db: sqlite_utils.Database) -> None:
    _, case_id = file_case(db)
    with pytest.raises(sqlite3.IntegrityError), db.atomic():
        audit(db, "staff:amy", "edit-timeline", None, NOW)
        db.execute("DELETE FROM events WHERE case_id = ?", [case_id])
    assert count(db, "audit") == 0
    assert count(db, "events") == 1


# ---------------------------------------------------------------------------------------------
# Transactions


class Boom(Exception):
    pass


def write_everything(db: sqlite_utils.Database) -> str:
    """Every kind of row intake writes, inside the caller's transaction."""
    sub = submission()
    ref = next_reference(db, "CD", 2026)
    person_id = insert_person(db, sub.person, NOW)
    case_id = insert_case(db, ref, sub, decision(), person_id, NOW)
    insert_message(db, case_id=case_id, direction="in", channel="web", body=sub.text, now=NOW)
    add_event(db, case_id, "received", "web", NOW, {"channel": "web"})
    add_event(db, case_id, "decided", "policy", NOW, {"kind": "complaint"})
    draft_id = insert_draft(
        db,
        case_id=case_id,
        reply_kind="closing",
        channel="email",
        recipient=sub.person.email,
        subject="Closing",
        body="Done",
        why="policy",
        now=NOW,
    )
    assert queue(db, f"{ref}:ack-complaint:web", channel="web", case_id=case_id)
    assert enqueue(
        db,
        case_id=case_id,
        channel="email",
        recipient=sub.person.email,
        reply_kind="closing",
        subject="Closing",
        body="Done",
        key=f"{ref}:closing:email",
        now=NOW,
        draft_id=draft_id,
    )
    save_conversation(db, "web:abc", "web", {"step": "done"}, NOW, case_id)
    audit(db, "policy", "filed", ref, NOW)
    return ref


def test_failed_atomic_block_leaves_no_rows(db: sqlite_utils.Database) -> None:
    seen: dict[str, int] = {}
    with pytest.raises(Boom), db.atomic():
        ref = write_everything(db)
        assert ref == "CD-2026-000001"
        seen = {table: count(db, table) for table in TABLES}
        raise Boom
    # Everything was really written inside the block...
    assert all(seen[table] > 0 for table in TABLES), seen
    # ...and nothing survives it, the reference counter included.
    assert {table: count(db, table) for table in TABLES} == dict.fromkeys(TABLES, 0)
    assert not db.conn.in_transaction
    assert next_reference(db, "CD", 2026) == "CD-2026-000001"


def test_failed_atomic_block_does_not_consume_a_reference(db: sqlite_utils.Database) -> None:
    file_case(db)  # CD-2026-000001, committed
    with pytest.raises(Boom), db.atomic():
        assert write_everything(db) == "CD-2026-000002"
        raise Boom
    assert count_cases(db) == 1
    # Gapless: the rolled-back number is handed out again.
    ref, _ = file_case(db)
    assert ref == "CD-2026-000002"


def test_successful_atomic_block_commits_everything(db: sqlite_utils.Database) -> None:
    with db.atomic():
        ref = write_everything(db)
    assert {table: count(db, table) for table in TABLES} == {
        "people": 1,
        "cases": 1,
        "events": 2,
        "messages": 1,
        "drafts": 1,
        "outbox": 2,
        "conversations": 1,
        "audit": 1,
        "counters": 1,
    }
    assert get_case(db, ref) is not None


def test_nested_atomic_failure_rolls_back_only_the_inner_block(db: sqlite_utils.Database) -> None:
    with db.atomic():
        ref, _ = file_case(db)  # file_case opens its own (nested) atomic block
        with pytest.raises(Boom), db.atomic():
            audit(db, "staff:amy", "inner", ref, NOW)
            raise Boom
    assert count_cases(db) == 1
    assert count(db, "audit") == 0


# ---------------------------------------------------------------------------------------------
# The outbox


def test_enqueue_is_idempotent_per_key(db: sqlite_utils.Database) -> None:
    assert queue(db, "CD-2026-000001:ack-complaint:email", body="first") is True
    assert queue(db, "CD-2026-000001:ack-complaint:email", body="second") is False
    assert count(db, "outbox") == 1
    assert db.execute("SELECT body FROM outbox").fetchone()[0] == "first"
    assert queue(db, "CD-2026-000001:ack-complaint:web", channel="web") is True
    assert count(db, "outbox") == 2


def test_enqueue_defaults(db: sqlite_utils.Database) -> None:
    queue(db, "k")
    row = outbox_row(db, 1)
    assert row["status"] == "pending"
    assert row["attempts"] == 0
    assert row["next_attempt_at"] == utc(NOW) == "2026-03-02T15:00:00+00:00"
    assert row["sent_at"] is None
    assert row["last_error"] is None


def test_a_live_chat_sees_replies_in_their_grace_but_not_a_survey_before_its_time(
    db: sqlite_utils.Database,
) -> None:
    from storage.outbox import pending_for

    for kind, delay in (("ack-complaint", timedelta(seconds=30)), ("survey", timedelta(hours=24))):
        enqueue(
            db,
            case_id=None,
            channel="web",
            recipient="web:abc",
            reply_kind=kind,
            subject="s",
            body=kind,
            key=f"k-{kind}",
            now=NOW,
            not_before=NOW + delay,
        )
    grace = NOW + timedelta(seconds=60)  # bot/intake.py LIVE_GRACE: what the page shows now
    assert [i.reply_kind for i in pending_for(db, "web", "web:abc", grace)] == ["ack-complaint"]
    later = NOW + timedelta(hours=24)
    assert [i.reply_kind for i in pending_for(db, "web", "web:abc", later)] == [
        "ack-complaint",
        "survey",
    ]


@pytest.fixture
def mixed_outbox(db: sqlite_utils.Database) -> sqlite_utils.Database:
    """ids 1..6: email to zoe (now), email to bob (now), telegram to chat 7 (now),
    email to zoe (in an hour), email to zoe (sent), email to zoe (failed)."""
    queue(db, "a", recipient="zoe@example.org")
    queue(db, "b", recipient="bob@example.org")
    queue(db, "c", channel="telegram", recipient="7")
    queue(db, "d", recipient="zoe@example.org", now=NOW + timedelta(hours=1))
    queue(db, "e", recipient="zoe@example.org")
    queue(db, "f", recipient="zoe@example.org")
    mark_sent(db, 5, NOW)
    mark_failed(db, 6, "mailbox does not exist")
    return db


@pytest.mark.parametrize(
    ("channel", "at", "recipient", "expected"),
    [
        ("email", NOW, None, [1, 2]),
        ("email", NOW - timedelta(seconds=1), None, []),
        ("email", NOW + timedelta(hours=1), None, [1, 2, 4]),
        ("email", NOW + timedelta(hours=1), "zoe@example.org", [1, 4]),
        ("email", NOW, "bob@example.org", [2]),
        ("email", NOW, "nobody@example.org", []),
        ("telegram", NOW, None, [3]),
        ("telegram", NOW, "7", [3]),
        ("telegram", NOW, "8", []),
        ("web", NOW, None, []),
    ],
)
def test_due_items(
    mixed_outbox: sqlite_utils.Database,
    channel: str,
    at: datetime,
    recipient: str | None,
    expected: list[int],
) -> None:
    items = due_items(mixed_outbox, channel, at, recipient=recipient)
    assert [item.id for item in items] == expected
    assert all(item.channel == channel for item in items)


def test_due_items_compares_instants_across_offsets(mixed_outbox: sqlite_utils.Database) -> None:
    toronto_now = NOW.astimezone(ZoneInfo("America/Toronto"))  # 10:00-05:00
    assert toronto_now.isoformat() == "2026-03-02T10:00:00-05:00"
    assert [i.id for i in due_items(mixed_outbox, "email", toronto_now)] == [1, 2]


def test_due_items_limit_and_fields(mixed_outbox: sqlite_utils.Database) -> None:
    [item] = due_items(mixed_outbox, "email", NOW, limit=1)
    assert item == OutboxItem(
        id=1,
        case_id=None,
        channel="email",
        recipient="zoe@example.org",
        reply_kind="ack-complaint",
        subject="We received your complaint",
        body="Thank you",
        idempotency_key="a",
        attempts=0,
    )


def test_mark_retry_pushes_the_next_attempt(db: sqlite_utils.Database) -> None:
    queue(db, "k")
    mark_retry(db, 1, "451 try later", NOW, timedelta(minutes=5))
    row = outbox_row(db, 1)
    assert row["status"] == "pending"
    assert row["attempts"] == 1
    assert row["last_error"] == "451 try later"
    assert row["next_attempt_at"] == utc(NOW + timedelta(minutes=5))
    assert due_items(db, "email", NOW) == []
    assert due_items(db, "email", NOW + timedelta(minutes=4, seconds=59)) == []
    [item] = due_items(db, "email", NOW + timedelta(minutes=5))
    assert item.attempts == 1
    mark_retry(db, 1, "x" * 2000, NOW + timedelta(minutes=5), timedelta(minutes=10))
    row = outbox_row(db, 1)
    assert row["attempts"] == 2
    assert row["last_error"] == "x" * 500
    assert row["next_attempt_at"] == utc(NOW + timedelta(minutes=15))


def test_mark_sent(db: sqlite_utils.Database) -> None:
    queue(db, "k")
    mark_sent(db, 1, NOW + timedelta(seconds=3))
    row = outbox_row(db, 1)
    assert row["status"] == "sent"
    assert row["attempts"] == 1
    assert row["sent_at"] == utc(NOW + timedelta(seconds=3))
    assert due_items(db, "email", NOW + timedelta(days=1)) == []


def test_mark_failed(db: sqlite_utils.Database) -> None:
    queue(db, "k")
    mark_retry(db, 1, "timeout", NOW, timedelta(seconds=30))
    mark_failed(db, 1, "550 no such user " + "y" * 1000)
    row = outbox_row(db, 1)
    assert row["status"] == "failed"
    assert row["attempts"] == 2
    assert str(row["last_error"]).startswith("550 no such user")
    assert len(str(row["last_error"])) == 500
    assert row["sent_at"] is None
    assert due_items(db, "email", NOW + timedelta(days=1)) == []


def test_pending_drafts(db: sqlite_utils.Database) -> None:
    _, case_id = file_case(db)
    assert pending_drafts(db) == 0
    for kind in ("closing", "interim-ack"):
        insert_draft(
            db,
            case_id=case_id,
            reply_kind=kind,
            channel="email",
            recipient=None,
            subject="s",
            body="b",
            why="w",
            now=NOW,
        )
    db.execute("UPDATE drafts SET status = 'approved' WHERE id = 1")
    assert pending_drafts(db) == 1


# ---------------------------------------------------------------------------------------------
# Conversations

STATE = {
    "step": "when",
    "what": "Le déneigement a bloqué mon entrée — « encore »",
    "who": "運転手",
    "emoji": "☃️",
    "answers": [1, None, True],
}


def test_conversation_round_trip(db: sqlite_utils.Database) -> None:
    assert load_conversation(db, "telegram:42") is None
    save_conversation(db, "telegram:42", "telegram", STATE, NOW)
    assert load_conversation(db, "telegram:42") == STATE
    # Stored as readable UTF-8 JSON, not \\u escapes.
    raw = db.execute("SELECT state FROM conversations WHERE key = 'telegram:42'").fetchone()[0]
    assert "déneigement" in raw
    assert "運転手" in raw


def test_conversation_update_keeps_created_at_and_case(db: sqlite_utils.Database) -> None:
    _, case_id = file_case(db)
    later = NOW + timedelta(minutes=7)
    save_conversation(db, "web:abc", "web", {"step": "what"}, NOW)
    save_conversation(db, "web:abc", "web", {"step": "who"}, NOW, case_id=case_id)
    save_conversation(db, "web:abc", "web", STATE, later)  # no case_id: the old one stays
    assert load_conversation(db, "web:abc") == STATE
    row = db.execute(
        "SELECT channel, case_id, created_at, updated_at FROM conversations WHERE key = 'web:abc'"
    ).fetchone()
    assert row == ("web", case_id, utc(NOW), utc(later))
    assert count(db, "conversations") == 1


def test_conversations_are_kept_apart_and_deleted(db: sqlite_utils.Database) -> None:
    save_conversation(db, "console:default", "console", {"n": 1}, NOW)
    save_conversation(db, "console:other", "console", {"n": 2}, NOW)
    delete_conversation(db, "console:default")
    assert load_conversation(db, "console:default") is None
    assert load_conversation(db, "console:other") == {"n": 2}
    delete_conversation(db, "console:missing")  # deleting nothing is fine
    assert count(db, "conversations") == 1


# ---------------------------------------------------------------------------------------------
# Reading cases


def test_get_case_returns_everything(db: sqlite_utils.Database) -> None:
    ref, case_id = file_case(db)
    add_event(db, case_id, "decided", "policy", NOW, {"kind": "complaint", "missing": ["who"]})
    insert_draft(
        db,
        case_id=case_id,
        reply_kind="closing",
        channel="email",
        recipient="zoe@example.org",
        subject="Your complaint is closed",
        body="Bonjour Zoë",
        why="staff close complaints",
        now=NOW,
    )
    queue(db, f"{ref}:ack-complaint:web", channel="web", recipient="web:abc", case_id=case_id)
    insert_message(
        db, case_id=case_id, direction="out", channel="web", body="Merci", now=NOW, subject="Re"
    )

    case = get_case(db, ref)
    assert case is not None
    assert "id" not in case and "person_id" not in case
    assert case["ref"] == ref == "CD-2026-000001"
    assert (case["kind"], case["status"], case["channel"]) == ("complaint", "open", "web")
    assert case["person"] == {
        "name": "Zoë Tremblay",
        "email": "zoe@example.org",
        "phone": "+14165550100",
        "erased_at": None,
    }
    assert case["missing"] == ["who", "outcome"]
    assert case["rules"] == [{"rule": "complaint-words", "reason": "said 'blocked'"}]
    assert case["sensitive"] is False
    assert case["what"] == "The snow plough blocked my driveway"
    assert case["when_text"] == "yesterday morning"
    assert case["occurred_at"] == "2026-03-01T13:00:00+00:00"
    assert case["received_at"] == utc(NOW)
    assert case["ack_due"] == "2026-03-03T21:30:00+00:00"
    assert case["follow_up_due"] == "2026-03-16T20:30:00+00:00"
    assert case["response_due"] == "2026-03-23T20:30:00+00:00"
    assert case["hazard_due"] is None
    assert [(e["type"], e["actor"], e["data"]) for e in case["events"]] == [
        ("received", "web", {"channel": "web"}),
        ("decided", "policy", {"kind": "complaint", "missing": ["who"]}),
    ]
    [draft] = case["drafts"]
    assert (draft["reply_kind"], draft["status"], draft["body"]) == (
        "closing",
        "pending",
        "Bonjour Zoë",
    )
    [item] = case["outbox"]
    assert (item["reply_kind"], item["channel"], item["recipient"], item["status"]) == (
        "ack-complaint",
        "web",
        "web:abc",
        "pending",
    )
    assert [(m["direction"], m["body"]) for m in case["messages"]] == [
        ("in", submission().text),
        ("out", "Merci"),
    ]


@pytest.mark.parametrize("typed", ["CD-2026-000001", " cd-2026-000001 ", "cd-2026-000001"])
def test_get_case_normalises_the_reference(db: sqlite_utils.Database, typed: str) -> None:
    file_case(db)
    case = get_case(db, typed)
    assert case is not None and case["ref"] == "CD-2026-000001"


def test_get_case_unknown_reference(db: sqlite_utils.Database) -> None:
    file_case(db)
    assert get_case(db, "CD-2026-000002") is None


def test_get_case_without_person_and_sensitive(db: sqlite_utils.Database) -> None:
    sub = submission(person=Person(), when=None)
    dec = decision(
        kind=Kind.HAZARD,
        status=Status.DECLINED,
        missing=(),
        hits=(),
        sensitive=True,
        deadlines={"hazard-inspection": datetime(2026, 3, 3, 21, 30, tzinfo=UTC)},
    )
    ref, _ = file_case(db, sub, dec)
    case = get_case(db, ref)
    assert case is not None
    assert case["person"] is None
    assert count(db, "people") == 0  # nobody to store
    assert case["missing"] == [] and case["rules"] == []
    assert case["sensitive"] is True
    assert case["occurred_at"] is None
    assert case["ack_due"] is None
    assert case["hazard_due"] == "2026-03-03T21:30:00+00:00"


def test_list_cases_newest_first_and_by_status(db: sqlite_utils.Database) -> None:
    statuses = [Status.OPEN, Status.RECORDED, Status.OPEN, Status.DECLINED]
    refs = [
        file_case(db, dec=decision(status=s), now=NOW + timedelta(minutes=i))[0]
        for i, s in enumerate(statuses)
    ]
    assert [r["ref"] for r in list_cases(db)] == refs[::-1]
    assert [r["ref"] for r in list_cases(db, "open")] == [refs[2], refs[0]]
    assert [r["ref"] for r in list_cases(db, "declined")] == [refs[3]]
    assert list_cases(db, "closed") == []
    assert [r["ref"] for r in list_cases(db, limit=2)] == [refs[3], refs[2]]
    first = list_cases(db)[0]
    assert set(first) == {
        "ref",
        "kind",
        "status",
        "channel",
        "received_at",
        "ack_due",
        "follow_up_due",
        "missing",
    }
    assert count_cases(db) == 4


# ---------------------------------------------------------------------------------------------
# Two processes on one file


def test_two_connections_write_one_after_another(fresh_db: OpenDb) -> None:
    a = fresh_db()
    b = fresh_db()
    ref_a, _ = file_case(a)
    ref_b, _ = file_case(b)
    ref_a2, _ = file_case(a)
    assert [ref_a, ref_b, ref_a2] == ["CD-2026-000001", "CD-2026-000002", "CD-2026-000003"]
    assert [r["ref"] for r in list_cases(a)] == [ref_a2, ref_b, ref_a]
    assert [r["ref"] for r in list_cases(b)] == [ref_a2, ref_b, ref_a]


def test_second_writer_waits_for_the_first(fresh_db: OpenDb, tmp_path: Path) -> None:
    """While one connection holds the write lock, another's atomic block waits (busy_timeout)
    instead of failing, and then takes the next reference."""
    a = fresh_db()
    result: dict[str, object] = {}
    asking = threading.Event()

    def other_process() -> None:
        b = open_store(tmp_path / "store.db")  # its own connection, in its own thread
        # atomic() begins deferred: b's first write (the counter) is what asks for the lock.
        b.conn.set_trace_callback(
            lambda sql: sql.startswith("INSERT INTO counters") and asking.set()
        )
        try:
            result["ref"] = file_case(b)[0]
        except Exception as exc:
            result["error"] = exc
        finally:
            b.close()

    with a.atomic():
        assert next_reference(a, "CD", 2026) == "CD-2026-000001"
        thread = threading.Thread(target=other_process)
        thread.start()
        assert asking.wait(10)  # b asks for the write lock that a holds: it cannot have it
        assert "ref" not in result and "error" not in result
    thread.join(15)
    assert not thread.is_alive()
    assert result == {"ref": "CD-2026-000002"}


# ---------------------------------------------------------------------------------------------
# write_transaction, as production uses it, between two connections on one file


class OtherWriter:
    """A second connection on the store in its own thread (SQLite connections belong to the
    thread that opens them), as another process would be: `write(...)` runs a
    write_transaction there; `asking` is set once it has asked SQLite for the write lock."""

    def __init__(self, path: Path, busy_ms: int | None = None) -> None:
        self.path = path
        self.busy_ms = busy_ms
        self.asking = threading.Event()
        self.result: dict[str, object] = {}
        self.thread: threading.Thread | None = None

    def write(self, key: str) -> OtherWriter:
        def run() -> None:
            b = open_store(self.path)
            if self.busy_ms is not None:
                b.execute(f"PRAGMA busy_timeout = {self.busy_ms}")
            b.conn.set_trace_callback(lambda sql: sql == "BEGIN IMMEDIATE" and self.asking.set())
            try:
                with write_transaction(b):
                    save_conversation(b, key, "web", {"step": 1}, NOW)
                self.result["written"] = key
            except Exception as exc:
                self.result["error"] = exc
            self.result["left_open"] = b.conn.in_transaction
            b.close()

        self.thread = threading.Thread(target=run)
        self.thread.start()
        return self

    def done(self) -> dict[str, object]:
        assert self.thread is not None
        self.thread.join(15)
        assert not self.thread.is_alive()
        return self.result


def test_write_transaction_holds_the_write_lock_until_it_commits(
    fresh_db: OpenDb, tmp_path: Path
) -> None:
    """BEGIN IMMEDIATE: the lock is taken at the start, so another writer waits for the
    commit (busy_timeout), then writes; nothing of the first is visible to it before."""
    a = fresh_db()
    with write_transaction(a):
        save_conversation(a, "web:a", "web", {"step": 1}, NOW)
        other = OtherWriter(tmp_path / "store.db").write("web:b")
        assert other.asking.wait(10)  # b asks for the lock a holds: it cannot have it
        assert other.result == {}
        save_conversation(a, "web:a2", "web", {"step": 2}, NOW)  # a still writes meanwhile
    assert other.done() == {"written": "web:b", "left_open": False}
    keys = [k for (k,) in a.execute("SELECT key FROM conversations ORDER BY key")]
    assert keys == ["web:a", "web:a2", "web:b"]


def test_a_second_writer_out_of_patience_gets_busy_and_keeps_nothing_open(
    fresh_db: OpenDb, tmp_path: Path
) -> None:
    """A writer whose busy_timeout runs out while another holds the lock gets "database is
    locked", is left outside any transaction, and can write once the lock is free."""
    a = fresh_db()
    with write_transaction(a):
        save_conversation(a, "web:a", "web", {"step": 1}, NOW)
        refused = OtherWriter(tmp_path / "store.db", busy_ms=50).write("web:b").done()
    error = refused["error"]
    assert isinstance(error, sqlite3.OperationalError) and "locked" in str(error)
    assert refused["left_open"] is False
    assert load_conversation(a, "web:b") is None
    assert OtherWriter(tmp_path / "store.db", busy_ms=0).write("web:b").done() == {
        "written": "web:b",
        "left_open": False,
    }


def test_a_reader_is_not_held_up_by_a_writer_and_sees_only_commits(
    fresh_db: OpenDb,
) -> None:
    """WAL: a reader on another connection reads at once while a write_transaction is open,
    and sees the store as it was before it."""
    a, b = fresh_db(), fresh_db()
    b.execute("PRAGMA busy_timeout = 0")  # a wait would fail the test, not slow it
    with write_transaction(a):
        save_conversation(a, "web:a", "web", {"step": 1}, NOW)
        assert load_conversation(b, "web:a") is None
    assert load_conversation(b, "web:a") == {"step": 1}


def test_an_error_rolls_back_and_frees_the_lock_at_once(fresh_db: OpenDb, tmp_path: Path) -> None:
    """An exception (also one that is not an Exception, as a cancelled task's) undoes the
    whole transaction and releases the lock: another writer gets it without waiting."""
    a = fresh_db()
    for error in (RuntimeError("mid-turn"), KeyboardInterrupt()):
        with pytest.raises(type(error)), write_transaction(a):
            save_conversation(a, "web:a", "web", {"step": 1}, NOW)
            raise error
        assert not a.conn.in_transaction
        other = OtherWriter(tmp_path / "store.db", busy_ms=0).write(f"web:{type(error).__name__}")
        assert other.done() == {"written": f"web:{type(error).__name__}", "left_open": False}
    assert load_conversation(a, "web:a") is None


def test_a_nested_write_transaction_commits_only_with_the_outermost(
    fresh_db: OpenDb,
) -> None:
    """The inner one is a savepoint inside the outer transaction: its writes reach another
    connection only when the outermost commits, and its own error undoes only its part."""
    a, b = fresh_db(), fresh_db()
    with write_transaction(a):
        with write_transaction(a):
            save_conversation(a, "web:inner", "web", {"step": 1}, NOW)
        assert a.conn.in_transaction
        assert load_conversation(b, "web:inner") is None  # not committed yet
        with pytest.raises(RuntimeError), write_transaction(a):
            save_conversation(a, "web:undone", "web", {"step": 1}, NOW)
            raise RuntimeError("inner")
        save_conversation(a, "web:outer", "web", {"step": 2}, NOW)
    assert not a.conn.in_transaction
    assert load_conversation(b, "web:inner") == {"step": 1}
    assert load_conversation(b, "web:outer") == {"step": 2}
    assert load_conversation(b, "web:undone") is None


def test_write_transaction_rolls_back_all_or_only_the_inner_part(
    db: sqlite_utils.Database,
) -> None:
    """The outermost transaction has no savepoint of its own: an error still undoes all of
    it; a nested one is a savepoint, so an error caught inside undoes only its own part."""
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    with pytest.raises(RuntimeError), write_transaction(db):
        save_conversation(db, "web:a", "web", {"step": 1}, now)
        raise RuntimeError("mid-turn")
    assert load_conversation(db, "web:a") is None and not db.conn.in_transaction
    with write_transaction(db):
        save_conversation(db, "web:b", "web", {"step": 1}, now)
        with pytest.raises(RuntimeError), write_transaction(db):
            save_conversation(db, "web:c", "web", {"step": 1}, now)
            raise RuntimeError("inner")
    assert load_conversation(db, "web:b") == {"step": 1}
    assert load_conversation(db, "web:c") is None
