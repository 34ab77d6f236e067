"""Small real stores for the staff pages' storage tests: a case filed the way intake files it
(storage/cases.py), with the clocks and state each test needs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlite_utils

from bot.model import Decision, Kind, Person, RuleHit, Status, Submission
from storage.cases import add_event, insert_case, insert_message, insert_person, next_reference
from storage.db import open_store

#: Monday 2 March 2026, 10:00 in Toronto.
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite_utils.Database]:
    store = open_store(tmp_path / "store.db")
    yield store
    store.close()


def file_case(
    db: sqlite_utils.Database,
    *,
    received: datetime = NOW,
    kind: Kind = Kind.COMPLAINT,
    status: Status = Status.OPEN,
    channel: str = "email",
    deadlines: dict[str, datetime] | None = None,
    what: str = "The snow plough blocked my driveway",
    body: str | None = None,
    who: str = "the plough driver",
    outcome: str = "clear the driveway",
    subject: str = "Driveway",
    hits: tuple[RuleHit, ...] = (),
) -> int:
    """File one case with its inbound message and first event; return its id."""
    sub = Submission(
        channel=channel,
        received_at=received,
        text=body if body is not None else what,
        what=what,
        who=who,
        outcome=outcome,
        person=Person(name="Zoë Tremblay", email="zoe@example.org"),
        subject=subject,
    )
    dec = Decision(
        kind=kind,
        status=status,
        missing=(),
        deadlines=dict(deadlines or {}),
        replies=(),
        hits=hits,
    )
    with db.atomic():
        ref = next_reference(db, "CD", received.year)
        person_id = insert_person(db, sub.person, received)
        case_id = insert_case(db, ref, sub, dec, person_id, received)
        insert_message(
            db, case_id=case_id, direction="in", channel=channel, body=sub.text, now=received
        )
        add_event(db, case_id, "received", channel, received)
    return case_id


def set_case(db: sqlite_utils.Database, case_id: int, **columns: object) -> None:
    sets = ", ".join(f"{k} = ?" for k in columns)
    db.execute(f"UPDATE cases SET {sets} WHERE id = ?", [*columns.values(), case_id])
