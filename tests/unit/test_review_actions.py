"""The review actions without a web server (bot/staff/review.py): edits kept as revisions,
maker-checker, stale forms, retention of edited texts, and the migration that widened the
drafts' statuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from bot.app import Services, build_services
from bot.clock import FrozenClock
from bot.config import Config
from bot.model import Kind, Person, Submission
from bot.retention import run
from bot.staff import review
from mail.identity import identity_of
from storage.db import MIGRATIONS, SCHEMA_VERSION, connect, migrate
from storage.draft_review import get_draft
from storage.outbox import insert_draft, reply_key
from storage.staff import add_staff, get_staff

START = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
WORD = "Zanzibarian"  # a word only the edited text holds


@pytest.fixture
def desk(tmp_path: Path) -> Services:
    services = build_services(
        Config(retention_every_hours=0), tmp_path / "c.db", FrozenClock(START)
    )
    for email in ("maker@city.example", "checker@city.example"):
        add_staff(services.db, email, email.split("@")[0], "agent", "x", START)
    return services


def who(db: sqlite_utils.Database, email: str) -> review.Reviewer:
    account = get_staff(db, email)
    assert account is not None
    return review.Reviewer(account)


def held(services: Services, text: str = "Bins left open") -> int:
    sub = Submission(
        channel="email",
        received_at=START,
        text=text,
        what=text,
        person=Person(email="res@example.org"),
        on_behalf_of="",
        kind_hint=Kind.COMPLAINT,
    )
    filed = services.intake.file(sub, START)
    row = services.db.execute(
        "SELECT d.id FROM drafts d JOIN cases c ON c.id = d.case_id WHERE c.ref = ?", [filed.ref]
    ).fetchone()
    return int(row[0])


def test_an_edit_is_a_revision_and_the_timeline_keeps_only_its_hash(desk: Services) -> None:
    db = desk.db
    draft_id = held(desk)
    maker = who(db, "maker@city.example")
    n = review.edit(db, draft_id, 0, maker, "Your message", f"Dear resident, {WORD}.", START)
    assert n == 1
    assert (
        db.execute("SELECT body FROM draft_revisions WHERE draft_id = ?", [draft_id]).fetchone()[0]
        == f"Dear resident, {WORD}."
    )
    timeline = repr(db.execute("SELECT * FROM events").fetchall())
    assert WORD not in timeline and "draft-edited" in timeline
    # The same text again is no new revision; an untouched form (CRLF, stripped) neither.
    assert (
        review.edit(db, draft_id, 1, maker, " Your  message", f"Dear resident, {WORD}.\r\n", START)
        == 1
    )


def test_maker_checker_for_two_person_kinds(desk: Services) -> None:
    db = desk.db
    draft_id = held(desk)
    maker, checker = who(db, "maker@city.example"), who(db, "checker@city.example")
    review.edit(db, draft_id, 0, maker, "Your message", "Edited text.", START)
    with pytest.raises(review.Refused, match="second person"):
        review.approve(db, desk.config, draft_id, 1, maker, START)
    done = review.approve(db, desk.config, draft_id, 1, checker, START)
    assert done.channel == "email" and done.reply_kind == "anonymous-declined"
    with pytest.raises(review.Stale, match=r"already approved and sent by checker@city\.example"):
        review.approve(db, desk.config, draft_id, 1, checker, START)
    assert (
        db.execute("SELECT count(*) FROM outbox WHERE draft_id = ?", [draft_id]).fetchone()[0] == 1
    )


def test_a_refused_approval_with_a_new_text_keeps_the_text(desk: Services) -> None:
    db = desk.db
    draft_id = held(desk)
    maker = who(db, "maker@city.example")
    with pytest.raises(review.Refused, match="Your changes are saved"):
        review.approve(db, desk.config, draft_id, 0, maker, START, subject="S", body="New text.")
    draft = get_draft(db, draft_id)
    assert draft is not None and (draft.body, draft.revision, draft.status) == (
        "New text.",
        1,
        "pending",
    )


def test_retention_erases_edited_texts_and_review_notes(desk: Services) -> None:
    db = desk.db
    draft_id = held(desk, "Bins left open")
    maker, checker = who(db, "maker@city.example"), who(db, "checker@city.example")
    review.edit(db, draft_id, 0, maker, "Your message", f"Dear resident, {WORD}.", START)
    review.send_back(db, draft_id, 1, checker, f"Drop the word {WORD}.", START)
    later = START + timedelta(days=desk.config.retention_days + 30)
    run(db, desk.config.retention_days, later)
    rows = repr(db.execute("SELECT * FROM draft_revisions").fetchall())
    rows += repr(db.execute("SELECT * FROM drafts").fetchall())
    assert WORD not in rows
    assert db.execute("SELECT status FROM drafts WHERE id = ?", [draft_id]).fetchone()[0] == (
        "rejected"
    )


def test_migration_widens_the_draft_statuses_and_keeps_the_rows(tmp_path: Path) -> None:
    db = connect(tmp_path / "old.db")
    for version, statements in enumerate(MIGRATIONS[:-1], start=1):
        with db.atomic():
            for statement in statements:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version}")
    db.execute(
        "INSERT INTO cases (ref, kind, status, channel, received_at, created_at, updated_at) "
        "VALUES ('CD-2026-000001', 'complaint', 'open', 'email', 'x', 'x', 'x')"
    )
    for status in ("pending", "approved", "rejected"):
        db.execute(
            "INSERT INTO drafts (case_id, reply_kind, channel, subject, body, why, status, "
            "created_at, due_at) VALUES (1, 'closing', 'email', 's', 'b', 'w', ?, 'x', 'y')",
            [status],
        )
    db.execute(
        "INSERT INTO outbox (case_id, draft_id, channel, reply_kind, subject, body, "
        "idempotency_key, next_attempt_at, created_at) "
        "VALUES (1, 2, 'email', 'closing', 's', 'b', 'k', 'x', 'x')"
    )
    assert migrate(db) == SCHEMA_VERSION
    statuses = db.execute("SELECT id, status, revision FROM drafts ORDER BY id").fetchall()
    assert statuses == [(1, "pending", 0), (2, "approved", 0), (3, "rejected", 0)]
    db.execute("UPDATE drafts SET status = 'returned' WHERE id = 1")
    with pytest.raises(Exception, match="CHECK"):
        db.execute("UPDATE drafts SET status = 'lost' WHERE id = 1")
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM drafts WHERE status = 'pending' ORDER BY due_at"
    ).fetchall()
    assert "drafts_queue" in repr(plan)


def test_a_second_draft_of_the_same_kind_gets_its_own_key_and_message_id(
    desk: Services,
) -> None:
    db = desk.db
    first = held(desk)
    case_id = db.execute("SELECT case_id FROM drafts WHERE id = ?", [first]).fetchone()[0]
    second = insert_draft(
        db,
        case_id=case_id,
        reply_kind="anonymous-declined",
        channel="email",
        recipient="res@example.org",
        subject="Again",
        body="A second answer.",
        why="staff wrote again",
        now=START,
    )
    checker = who(db, "checker@city.example")
    a = review.approve(db, desk.config, first, 0, checker, START)
    b = review.approve(db, desk.config, second, 0, checker, START)
    rows = db.execute(
        "SELECT idempotency_key, headers FROM outbox WHERE id IN (?, ?) ORDER BY id",
        [a.outbox_id, b.outbox_id],
    ).fetchall()
    assert rows[0][0] == reply_key(a.ref, "anonymous-declined", "email")
    assert rows[1][0] == reply_key(a.ref, f"anonymous-declined.d{second}", "email")
    ids = [json.loads(h)["Message-ID"] for _, h in rows]
    assert ids[0] != ids[1]
    # A bounce quoting the second Message-ID finds the second row (mail/identity.py).
    found = identity_of(desk.config).reply_in_message_id(ids[1])
    assert found is not None and reply_key(found[0], found[1], "email") == rows[1][0]


def test_a_staff_written_draft_goes_back_to_its_author_who_cannot_approve_it(
    desk: Services,
) -> None:
    db = desk.db
    first = held(desk)
    case_id = db.execute("SELECT case_id FROM drafts WHERE id = ?", [first]).fetchone()[0]
    maker, checker = who(db, "maker@city.example"), who(db, "checker@city.example")
    mine = insert_draft(
        db,
        case_id=case_id,
        reply_kind="out-of-scope",
        channel="email",
        recipient="res@example.org",
        subject="Where to turn",
        body="Written on the case page.",
        why="written by staff",
        now=START,
        author_id=maker.account.id,
    )
    with pytest.raises(review.Refused, match="second person"):
        review.approve(db, desk.config, mine, 0, maker, START)
    review.send_back(db, mine, 0, checker, "Name the appeal body.", START)
    draft = get_draft(db, mine)
    assert draft is not None and (draft.status, draft.returned_to) == ("returned", maker.account.id)
    with pytest.raises(review.Refused, match="sent back to its author"):
        review.edit(db, mine, 0, checker, "Where to turn", "Someone else's words.", START)
    assert review.edit(db, mine, 0, maker, "Where to turn", "The appeal body is X.", START) == 1
    assert review.approve(db, desk.config, mine, 1, checker, START).reply_kind == "out-of-scope"


def test_a_draft_with_a_part_left_for_staff_is_never_sent(desk: Services) -> None:
    """The one-week timeline notice (issue 13) leaves "[Staff: ...]" lines for the reason and
    the new date: approving it as drafted would send the resident our instructions."""
    db = desk.db
    draft_id = held(desk)
    checker = who(db, "checker@city.example")
    blank = "We need more time.\n[Staff: write the reason here, in plain words.]"
    review.edit(db, draft_id, 0, who(db, "maker@city.example"), "Your case", blank, START)
    with pytest.raises(review.Refused, match=r"still has a part for you to write: “\[Staff: write"):
        review.approve(db, desk.config, draft_id, 1, checker, START)
    maker = who(db, "maker@city.example")
    with pytest.raises(review.Refused, match="Your changes are saved"):
        review.approve(
            db, desk.config, draft_id, 1, maker, START, subject="Your case", body=blank + " x"
        )
    assert (
        db.execute("SELECT count(*) FROM outbox WHERE draft_id = ?", [draft_id]).fetchone()[0] == 0
    )
    filled = "We need more time: the crew is waiting for a part. Our new date: 14 December."
    review.edit(db, draft_id, 2, maker, "Your case", filled, START)
    done = review.approve(db, desk.config, draft_id, 3, checker, START)
    assert done.reply_kind == "anonymous-declined"
