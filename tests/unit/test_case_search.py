"""Case search (storage/search.py): each filter, full text through FTS5 and its triggers,
keyset pages, and retention's erasure leaving nothing of the erased text in the index.

Real SQLite stores on temporary files; `now` is a fixed instant.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlite_utils

from bot.model import Kind, Status
from storage.cases import insert_message
from storage.retention import erase_case
from storage.search import (
    CaseFilter,
    check_text_index,
    count_text_index,
    fts_query,
    purge_text_index,
    search_cases,
)

from .staff_store import NOW, db, file_case, set_case

__all__ = ["db"]


def refs(db: sqlite_utils.Database, f: CaseFilter, **kw: object) -> list[str]:
    return [r.ref for r in search_cases(db, f, NOW, **kw).rows]  # type: ignore[arg-type]


@pytest.fixture
def store(db: sqlite_utils.Database) -> sqlite_utils.Database:
    """Four cases, newest last: CD-2026-000001 ... 000004."""
    a = file_case(db, what="Garbage was not picked up on Maple Street", channel="email")
    b = file_case(db, kind=Kind.REQUEST, channel="web", what="Pothole outside the library")
    c = file_case(
        db,
        kind=Kind.HAZARD,
        channel="telegram",
        what="A tree branch hangs over the sidewalk",
        deadlines={"hazard-inspection": NOW + timedelta(hours=2)},
    )
    d = file_case(
        db,
        status=Status.DECLINED,
        channel="email",
        what="Staff at the counter were rude",
        deadlines={"complaint-ack": NOW - timedelta(hours=3)},
    )
    set_case(db, a, department="roads", status="closed")
    set_case(db, b, department="roads")
    set_case(db, c, department="forestry")
    assert d == 4
    return db


ALL = ["CD-2026-000004", "CD-2026-000003", "CD-2026-000002", "CD-2026-000001"]


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (CaseFilter(), ALL),
        (CaseFilter(ref="cd-2026-000002"), ["CD-2026-000002"]),
        (CaseFilter(ref="CD-2026-00000"), ALL),
        (CaseFilter(ref="CD-2025"), []),
        (CaseFilter(status="open"), ["CD-2026-000003", "CD-2026-000002"]),
        (CaseFilter(kind="hazard"), ["CD-2026-000003"]),
        (CaseFilter(channel="email"), ["CD-2026-000004", "CD-2026-000001"]),
        (CaseFilter(department="roads"), ["CD-2026-000002", "CD-2026-000001"]),
        (CaseFilter(department="roads", status="open"), ["CD-2026-000002"]),
        # Overdue: 000004's acknowledgement passed unsent; 000003's inspection is not due yet.
        (CaseFilter(overdue=True), ["CD-2026-000004"]),
        (CaseFilter(text="pothole"), ["CD-2026-000002"]),
        (CaseFilter(text="POTHOLES garbage"), []),  # every word must be there
        (CaseFilter(text="potholes"), ["CD-2026-000002"]),  # stemmed
        (CaseFilter(text="pick"), ["CD-2026-000001"]),  # "picked"
        (CaseFilter(text="pot"), []),  # no prefix search
        (CaseFilter(text="maple"), ["CD-2026-000001"]),
        (CaseFilter(text="plough driver"), ALL),  # `who`, on every case
        (CaseFilter(text="driveway", status="open"), ["CD-2026-000003", "CD-2026-000002"]),
        (CaseFilter(text="hydrant"), []),
        (CaseFilter(text='"pothole" OR NEAR( :*'), []),  # operators are words, not syntax
        (CaseFilter(text="   ...  "), []),
    ],
)
def test_filters(store: sqlite_utils.Database, f: CaseFilter, expected: list[str]) -> None:
    assert refs(store, f) == expected


def test_overdue_follows_the_clock(store: sqlite_utils.Database) -> None:
    later = NOW + timedelta(hours=3)
    found = [r.ref for r in search_cases(store, CaseFilter(overdue=True), later).rows]
    assert found == ["CD-2026-000004", "CD-2026-000003"]
    # The acknowledgement sent: 000004 is no longer overdue.
    set_case(store, 4, acked_at=NOW.isoformat())
    found = [r.ref for r in search_cases(store, CaseFilter(overdue=True), later).rows]
    assert found == ["CD-2026-000003"]


def test_text_in_a_later_inbound_message_is_found_and_outbound_text_is_not(
    store: sqlite_utils.Database,
) -> None:
    insert_message(store, case_id=2, direction="in", channel="web", body="Also a sinkhole", now=NOW)
    insert_message(store, case_id=3, direction="out", channel="web", body="sinkhole", now=NOW)
    assert refs(store, CaseFilter(text="sinkhole")) == ["CD-2026-000002"]
    assert refs(store, CaseFilter(text="pothole sinkhole")) == ["CD-2026-000002"]
    check_text_index(store)


def test_a_corrected_item_is_searched_by_its_new_words(store: sqlite_utils.Database) -> None:
    case_id = file_case(store, what="A lamp post leans", body="Please come and look")
    set_case(store, case_id, what="A fallen maple blocks the lane")
    assert refs(store, CaseFilter(text="lamp post")) == []
    assert refs(store, CaseFilter(text="fallen")) == ["CD-2026-000005"]
    assert refs(store, CaseFilter(text="come look")) == ["CD-2026-000005"]
    check_text_index(store)


@pytest.mark.parametrize("text", [None, "driveway"])
def test_pages_are_stable_and_complete(db: sqlite_utils.Database, text: str | None) -> None:
    for _ in range(11):
        file_case(db)
    f = CaseFilter(text=text)
    seen: list[int] = []
    page = search_cases(db, f, NOW, limit=4)
    first_page = [r.id for r in page.rows]
    seen += first_page
    file_case(db)  # a new case arrives while staff page through: it does not shift the pages
    while page.next_before is not None:
        page = search_cases(db, f, NOW, limit=4, before=page.next_before)
        seen += [r.id for r in page.rows]
    assert seen == list(range(11, 0, -1))
    assert [r.id for r in search_cases(db, f, NOW, limit=4).rows] == [12, *first_page[:3]]


def index_blocks(db: sqlite_utils.Database) -> bytes:
    return b"".join(bytes(r[0] or b"") for r in db.execute("SELECT block FROM case_fts_data"))


def test_erasure_removes_the_text_from_the_index(store: sqlite_utils.Database) -> None:
    """Retention erases a case's words (storage/retention.py); the index forgets them in the
    same transaction: no search finds them, no index term is left that only they held. The
    purge after a retention run (bot/retention.py) leaves no copy of them in the index's
    blocks either. ("quokkaesque": no other term shares its first letter, so the index
    stores it whole, not prefix-compressed, and the raw bytes show it.)"""
    insert_message(store, case_id=1, direction="in", channel="email", body="Quokkaesque", now=NOW)
    assert count_text_index(store, "quokkaesque") == 1
    with store.atomic():
        erase_case(store, 1, NOW)
    assert count_text_index(store, "quokkaesque") == 0
    assert count_text_index(store, "maple") == 0
    assert refs(store, CaseFilter(text="garbage")) == []
    store.execute("CREATE VIRTUAL TABLE temp.fts_terms USING fts5vocab(main, case_fts, 'row')")
    terms = {r[0] for r in store.execute("SELECT term FROM temp.fts_terms").fetchall()}
    # Terms are stemmed ("maple" is kept as "mapl").
    assert not [t for t in terms if t.startswith(("quokka", "mapl"))]
    assert "pothol" in terms  # other cases keep theirs
    check_text_index(store)
    # The deletion is a marker that still spells the word until the segments are merged.
    assert b"quokkaesqu" in index_blocks(store)
    purge_text_index(store)
    assert b"quokka" not in index_blocks(store)
    assert refs(store, CaseFilter(text="pothole")) == ["CD-2026-000002"]
    check_text_index(store)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("flood", '"flood"'),
        ("basement  flooding!", '"basement" "flooding"'),
        ('say "hi" NEAR(x)', '"say" "hi" "NEAR" "x"'),
        ("snake_case", '"snake" "case"'),
        ("", None),
    ],
)
def test_fts_query_quotes_every_word(text: str, expected: str | None) -> None:
    assert fts_query(text) == expected
