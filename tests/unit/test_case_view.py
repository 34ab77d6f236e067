"""The case page's pure rules: Council/CAO involvement, what stops a close, deadlines in words."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.staff.case_view import council_involved, timeline, unresolved
from storage.case_work import CaseState

TZ = ZoneInfo("America/Toronto")
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
PLAIN = CaseState(
    id=1,
    ref="CD-2026-000001",
    kind="complaint",
    status="open",
    channel="email",
    sensitive=False,
    out_of_scope=None,
    rules=("complaint-words",),
    missing=(),
    assigned_to=None,
    person_id=1,
    hazard_due=None,
    hazard_checked_at=None,
)


@pytest.mark.parametrize(
    ("change", "involved"),
    [
        ({}, False),
        ({"out_of_scope": "council"}, True),
        ({"out_of_scope": "appeal"}, False),
        ({"rules": ("council-cao-ombudsman",)}, True),
        ({"rules": ("council-decision",)}, True),
        ({"sensitive": True}, True),
    ],
)
def test_council_involvement(change: dict[str, object], involved: bool) -> None:
    assert council_involved(replace(PLAIN, **change)) is involved  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "work", "words"),
    [
        ({}, {"drafts": 0, "outbox": 0}, []),
        ({"missing": ("who", "contact")}, {}, ["Items are missing: who was involved, contact"]),
        ({}, {"drafts": 2, "outbox": 0}, ["2 drafted replies are waiting for review."]),
        ({}, {"drafts": 0, "outbox": 1}, ["1 reply has not been sent yet."]),
        ({"hazard_due": "2026-11-26T21:30:00+00:00"}, {}, ["hazard inspection has not"]),
        (
            {"hazard_due": "2026-11-26T21:30:00+00:00", "hazard_checked_at": NOW.isoformat()},
            {},
            [],
        ),
    ],
)
def test_unresolved(change: dict[str, object], work: dict[str, int], words: list[str]) -> None:
    reasons = unresolved(replace(PLAIN, **change), work)  # type: ignore[arg-type]
    assert len(reasons) == len(words)
    for reason, expected in zip(reasons, words, strict=True):
        assert expected in reason


def deadline_titles(case: dict[str, object], now: datetime) -> list[str]:
    entries = timeline(case, [], [], {}, {}, {}, {}, now, TZ)
    return [f"{e.title} ({e.detail})" if e.detail else e.title for e in entries]


def test_deadlines_met_missed_and_due() -> None:
    case: dict[str, object] = {
        "status": "open",
        "ack_due": "2026-11-26T21:30:00+00:00",
        "acked_at": "2026-11-25T16:00:00+00:00",
        "response_due": "2026-11-24T21:30:00+00:00",
        "follow_up_due": "2026-12-09T21:30:00+00:00",
    }
    assert deadline_titles(case, NOW) == [
        "Response deadline missed (not done yet)",
        "Acknowledgement deadline met (done 2026-11-25 11:00)",
        "Follow-up due",
    ]
    late = {**case, "acked_at": "2026-11-27T14:00:00+00:00"}
    assert "Acknowledgement deadline missed (done late, 2026-11-27 09:00)" in deadline_titles(
        late, NOW
    )
    closed = {**case, "status": "closed", "closed_at": "2026-11-25T15:00:00+00:00"}
    assert "Follow-up deadline met (done 2026-11-25 10:00)" in deadline_titles(closed, NOW)


def test_forwarding_and_department_updates_read_as_words() -> None:
    from bot.staff.case_view import _event_words

    def words(kind: str, **data: object) -> tuple[str, str | None, str | None]:
        return _event_words({"type": kind, "data": data}, {}, {}, {})

    assert words("forwarded", department="roads", external_id="1001") == (
        "Forwarded to roads",
        "their id: 1001",
        None,
    )
    assert words("forward-failed", department="roads", error="400: no place")[1] == "400: no place"
    assert words("forward-superseded", department="roads")[0].endswith("the department changed")
    title, detail, body = words(
        "department-update",
        source="open311",
        department="roads",
        status="closed",
        status_notes="Pothole filled",
        expected_datetime=None,
    )
    assert title == "The department updated its request (roads)" and detail == "status closed"
    assert body == "Their note: Pothole filled"


def test_a_follow_up_request_reads_as_words_with_who_was_copied() -> None:
    from bot.staff.case_view import _event_words

    def words(**data: object) -> tuple[str, str | None, str | None]:
        return _event_words({"type": "follow-up-requested", "data": data}, {}, {}, {})

    title, detail, _ = words(
        n=4,
        department="roads",
        copied=[
            {"role": "supervisor", "name": "Roads Supervisor"},
            {"role": "director", "name": ""},
        ],
        marked_for_follow_up="2027-01-07T08:30:00-05:00",
        sent=True,
    )
    assert title == "Follow-up request 4 to roads"
    assert detail == (
        "Copied: the supervisor (Roads Supervisor) and the director. "
        "Next follow-up: 2027-01-07 08:30."
    )
    title, detail, _ = words(n=1, department="parks", copied=[], sent=False, why="no address")
    assert title == "Follow-up request 1 to parks (not sent: no address)"
    assert detail == "Nobody copied."
