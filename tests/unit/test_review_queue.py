"""The review queue's store query (storage/review.py), the drafts' deadline (storage/outbox.py),
the near-deadline bound (bot/sla_bounds.py) and the migration that adds them to an older store.

Real SQLite stores on temporary files; `now` is always a fixed instant, never the wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from bot.clock import BusinessCalendar, FrozenClock
from bot.model import Decision, Kind, Person, RuleHit, Status, Submission
from bot.sla_bounds import near_deadline_bound
from storage.cases import add_event, insert_case, insert_message, insert_person, next_reference
from storage.db import MIGRATIONS, SCHEMA_VERSION, connect, migrate, schema_version
from storage.outbox import enqueue, insert_draft, mark_sent
from storage.review import EXCERPT_CHARS, review_queue
from storage.search import CaseFilter, check_text_index, search_cases

from .staff_store import NOW, db, file_case

__all__ = ["db"]  # the fixture, imported for pytest

CAL = BusinessCalendar()
CLOCK = FrozenClock(NOW)
NEAR = near_deadline_bound(CAL, CLOCK.now())  # 14:00 in Toronto: four opening hours on


def draft(
    db: sqlite_utils.Database,
    case_id: int,
    *,
    due_at: datetime | None = None,
    why: str = "out of scope: has its own appeal process",
    at: datetime = NOW,
) -> int:
    return insert_draft(
        db,
        case_id=case_id,
        reply_kind="redirect",
        channel="email",
        recipient="zoe@example.org",
        subject="Your message",
        body="Dear resident",
        why=why,
        now=at,
        due_at=due_at,
    )


def ack(at: datetime) -> dict[str, datetime]:
    return {"complaint-ack": at}


@pytest.fixture
def three(db: sqlite_utils.Database) -> dict[str, int]:
    """Drafts filed in one order whose deadlines run in another: tomorrow, passed, near."""
    later = file_case(db, deadlines=ack(NOW + timedelta(days=1)))
    passed = file_case(db, deadlines=ack(NOW - timedelta(hours=1)))
    near = file_case(db, deadlines=ack(NOW + timedelta(hours=3)))
    return {
        "later": draft(db, later),
        "passed": draft(db, passed, at=NOW - timedelta(hours=26)),
        "near": draft(db, near),
    }


def test_queue_orders_by_deadline_and_flags_near_and_overdue(
    db: sqlite_utils.Database, three: dict[str, int]
) -> None:
    page = review_queue(db, CLOCK.now(), NEAR)
    assert [i.draft_id for i in page.items] == [three["passed"], three["near"], three["later"]]
    flags = {i.draft_id: (i.overdue, i.near) for i in page.items}
    assert flags == {
        three["passed"]: (True, False),
        three["near"]: (False, True),
        three["later"]: (False, False),
    }
    assert (page.pending, page.near, page.overdue) == (3, 1, 1)
    assert page.next_after is None
    # At 16:00 the near one is past its deadline, and tomorrow's 10:00 deadline is near:
    # 30 minutes of today and 90 of tomorrow morning are left, the night does not count.
    CLOCK.set(NOW + timedelta(hours=6))
    later = review_queue(db, CLOCK.now(), near_deadline_bound(CAL, CLOCK.now()))
    assert (later.near, later.overdue) == (1, 2)
    CLOCK.set(NOW)


def test_a_tie_on_deadline_keeps_filing_order(db: sqlite_utils.Database) -> None:
    case_id = file_case(db, deadlines=ack(NOW + timedelta(days=1)))
    first, second = draft(db, case_id), draft(db, case_id)
    assert [i.draft_id for i in review_queue(db, NOW, NEAR).items] == [first, second]


def test_only_pending_drafts_are_listed(db: sqlite_utils.Database, three: dict[str, int]) -> None:
    db.execute("UPDATE drafts SET status = 'approved' WHERE id = ?", [three["near"]])
    page = review_queue(db, NOW, NEAR)
    assert three["near"] not in [i.draft_id for i in page.items]
    assert page.pending == 2


def test_item_shows_case_reason_rule_message_deadline_and_wait(db: sqlite_utils.Database) -> None:
    long_text = "My neighbour's tree fell on the fence.   " + "It is still there. " * 30
    case_id = file_case(
        db,
        channel="web",
        deadlines=ack(NOW + timedelta(days=1)),
        body=long_text,
        hits=(
            RuleHit("complaint-words", "said 'fence'"),
            RuleHit("scope-appeal", "has its own appeal process"),
        ),
    )
    draft(db, case_id, why="has its own appeal process", at=NOW - timedelta(minutes=90))
    (item,) = review_queue(db, NOW, NEAR).items
    assert item.ref == "CD-2026-000001"
    assert (item.case_kind, item.case_channel, item.channel) == ("complaint", "web", "email")
    assert (item.why, item.rule) == ("has its own appeal process", "scope-appeal")
    assert item.excerpt.startswith("My neighbour's tree fell on the fence. It is still there.")
    assert len(item.excerpt) == EXCERPT_CHARS and item.excerpt.endswith("…")
    assert item.due_at == "2026-03-03T15:00:00+00:00"
    assert item.waited_seconds == 90 * 60


def test_rule_is_none_when_no_recorded_hit_gave_the_reason(db: sqlite_utils.Database) -> None:
    case_id = file_case(db, deadlines=ack(NOW), hits=(RuleHit("a", "another reason"),))
    draft(db, case_id, why="sensitive: Council involvement")
    assert review_queue(db, NOW, NEAR).items[0].rule is None


@pytest.mark.parametrize(
    ("deadlines", "explicit", "expected"),
    [
        # The case's acknowledgement deadline, before any later clock.
        (
            {"complaint-ack": NOW + timedelta(days=1), "follow-up": NOW + timedelta(days=14)},
            None,
            NOW + timedelta(days=1),
        ),
        # No acknowledgement clock: the earliest other one the case has.
        ({"hazard-inspection": NOW + timedelta(hours=5)}, None, NOW + timedelta(hours=5)),
        # No clock at all: due at once.
        ({}, None, NOW),
        # The caller's deadline wins.
        (
            {"complaint-ack": NOW + timedelta(days=1)},
            NOW + timedelta(hours=2),
            NOW + timedelta(hours=2),
        ),
    ],
)
def test_a_draft_gets_its_deadline_when_created(
    db: sqlite_utils.Database,
    deadlines: dict[str, datetime],
    explicit: datetime | None,
    expected: datetime,
) -> None:
    draft_id = draft(db, file_case(db, deadlines=deadlines), due_at=explicit)
    (due,) = db.execute("SELECT due_at FROM drafts WHERE id = ?", [draft_id]).fetchone()
    assert datetime.fromisoformat(due) == expected


def test_pages_cover_the_queue_once_even_when_drafts_are_approved_between_pages(
    db: sqlite_utils.Database,
) -> None:
    ids = []
    for hours in (5, 1, 3, 3, 2, 4, 3):
        ids.append(draft(db, file_case(db, deadlines=ack(NOW + timedelta(hours=hours)))))
    expected = [i.draft_id for i in review_queue(db, NOW, NEAR, limit=100).items]
    seen: list[int] = []
    page = review_queue(db, NOW, NEAR, limit=3)
    seen += [i.draft_id for i in page.items]
    # A reviewer approves something already seen: the next page neither skips nor repeats.
    db.execute("UPDATE drafts SET status = 'approved' WHERE id = ?", [seen[0]])
    while page.next_after is not None:
        page = review_queue(db, NOW, NEAR, limit=3, after=page.next_after)
        seen += [i.draft_id for i in page.items]
    assert seen == expected
    assert sorted(seen) == sorted(ids)


@pytest.mark.parametrize(
    ("now_local", "expected_local"),
    [
        # Monday 10:00: the same afternoon.
        (datetime(2026, 3, 2, 10, 0), datetime(2026, 3, 2, 14, 0)),
        # Friday 15:00: 1.5 hours on Friday, 2.5 on Monday morning.
        (datetime(2026, 3, 6, 15, 0), datetime(2026, 3, 9, 11, 0)),
        # Saturday night: from Monday's opening.
        (datetime(2026, 3, 7, 22, 0), datetime(2026, 3, 9, 12, 30)),
        # Friday before Family Day (Monday 16 February 2026, closed): Tuesday.
        (datetime(2026, 2, 13, 15, 0), datetime(2026, 2, 17, 11, 0)),
        # Before opening: from 8:30.
        (datetime(2026, 3, 2, 7, 0), datetime(2026, 3, 2, 12, 30)),
    ],
)
def test_near_deadline_counts_opening_hours_only(
    now_local: datetime, expected_local: datetime
) -> None:
    at = now_local.replace(tzinfo=CAL.tz)
    assert near_deadline_bound(CAL, at) == expected_local.replace(tzinfo=CAL.tz).astimezone(UTC)


def test_migration_brings_a_schema_5_store_with_data_forward(tmp_path: Path) -> None:
    """A store as the previous release left it: a case, its message, a sent reply, a pending
    draft. The migration gives the draft its case's deadline, the case its acknowledgement
    time, and indexes the existing text for search."""
    db = connect(tmp_path / "old.db")
    for version in range(1, 6):
        with db.atomic():
            for statement in MIGRATIONS[version - 1]:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version}")
    sub = Submission(
        channel="email",
        received_at=NOW,
        text="Water is leaking from the hydrant on Elm Street",
        what="hydrant leaking",
        person=Person(name="Ana", email="ana@example.org"),
    )
    dec = Decision(
        kind=Kind.COMPLAINT,
        status=Status.OPEN,
        missing=(),
        deadlines={"complaint-ack": NOW + timedelta(days=1)},
        replies=(),
        hits=(),
    )
    with db.atomic():
        ref = next_reference(db, "CD", 2026)
        case_id = insert_case(db, ref, sub, dec, insert_person(db, sub.person, NOW), NOW)
        insert_message(db, case_id=case_id, direction="in", channel="email", body=sub.text, now=NOW)
        add_event(db, case_id, "received", "email", NOW)
        db.execute(
            "INSERT INTO drafts (case_id, reply_kind, channel, subject, body, why, created_at) "
            "VALUES (?, 'redirect', 'email', 's', 'b', 'why', ?)",
            [case_id, NOW.isoformat()],
        )
        db.execute(
            "INSERT INTO outbox (case_id, channel, reply_kind, subject, body, idempotency_key, "
            "status, next_attempt_at, created_at, sent_at) VALUES (?, 'email', 'ack-complaint', "
            "'s', 'b', 'k1', 'sent', ?, ?, ?)",
            [case_id, NOW.isoformat(), NOW.isoformat(), "2026-03-02T15:05:00+00:00"],
        )
    assert schema_version(db) == 5
    assert migrate(db) == SCHEMA_VERSION
    (item,) = review_queue(db, NOW, NEAR).items
    assert (item.ref, item.due_at) == (ref, "2026-03-03T15:00:00+00:00")
    assert item.excerpt == sub.text
    acked = db.execute("SELECT acked_at FROM cases WHERE id = ?", [case_id]).fetchone()[0]
    assert acked == "2026-03-02T15:05:00+00:00"
    assert [r.ref for r in search_cases(db, CaseFilter(text="hydrant elm"), NOW).rows] == [ref]
    check_text_index(db)
    db.close()


def test_sending_the_first_reply_stops_the_acknowledgement_clock(
    db: sqlite_utils.Database,
) -> None:
    case_id = file_case(db, deadlines=ack(NOW + timedelta(days=1)))
    for minutes, key in ((5, "a"), (60, "b")):
        at = NOW + timedelta(minutes=minutes)
        enqueue(db, case_id=case_id, channel="email", recipient="zoe@example.org",
                reply_kind="ack-complaint", subject="s", body="b", key=key, now=at)  # fmt: skip
        item_id = db.execute("SELECT id FROM outbox WHERE idempotency_key = ?", [key]).fetchone()
        with db.atomic():
            assert mark_sent(db, int(item_id[0]), at)
    acked = db.execute("SELECT acked_at FROM cases WHERE id = ?", [case_id]).fetchone()[0]
    assert acked == "2026-03-02T15:05:00+00:00"  # the first one, not the later
