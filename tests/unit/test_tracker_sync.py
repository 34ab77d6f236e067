"""The pure parts of status sync (bot/tracker_sync.py, bot/department_closing.py): what counts
as a change the department made, times read from the tracker, and the department's words in
the closing reply, named as theirs."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config import Department
from bot.department_closing import resolution
from bot.tracker_sync import (
    DepartmentSync,
    changed_fields,
    held_state,
    is_closed,
    parse_instant,
    update_data,
)
from bot.tracker_targets import external_link
from tracker.open311 import RequestStatus

TORONTO = ZoneInfo("America/Toronto")
ROADS = Department(key="roads", name="Transportation Services", tracker="open311")


def seen(**fields: Any) -> RequestStatus:
    return RequestStatus(service_request_id="1001", status=fields.pop("status", "open"), **fields)


@pytest.mark.parametrize(
    ("held", "status", "expected"),
    [
        pytest.param({}, seen(), [], id="a-new-request-saying-open-is-not-news"),
        pytest.param({}, seen(status="Open"), [], id="status-case-does-not-matter"),
        pytest.param({}, seen(status="closed"), ["status"], id="closed-at-once"),
        pytest.param(
            {},
            seen(status_notes="Crew booked", agency_responsible="Roads crew B"),
            ["status_notes", "agency_responsible"],
            id="first-notes",
        ),
        pytest.param(
            {"status": "open", "status_notes": "Crew booked"},
            seen(status_notes="Crew  booked "),
            [],
            id="same-words-other-spacing",
        ),
        pytest.param(
            {"status": "open", "expected_datetime": "2026-12-01T12:00:00-05:00"},
            seen(expected_datetime="2026-12-02T12:00:00-05:00"),
            ["expected_datetime"],
            id="new-date",
        ),
        pytest.param(
            {"status": "open", "status_notes": "Crew booked"},
            seen(),
            ["status_notes"],
            id="notes-withdrawn",
        ),
    ],
)
def test_changed_fields(held: dict[str, Any], status: RequestStatus, expected: list[str]) -> None:
    assert changed_fields(held_state(held), status) == expected


def test_the_baseline_is_a_request_just_made() -> None:
    assert held_state({}) == {
        "status": "open",
        "status_notes": None,
        "agency_responsible": None,
        "expected_datetime": None,
    }
    last = {"status": "closed", "status_notes": "Filled", "changed": ["status"], "other": 1}
    assert held_state(last)["status"] == "closed"
    assert "changed" not in held_state(last)


@pytest.mark.parametrize(
    ("status", "closed"),
    [("closed", True), ("Closed ", True), ("open", False), ("", False), (None, False)],
)
def test_is_closed(status: str | None, closed: bool) -> None:
    assert is_closed(status) is closed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T12:00:00Z", datetime(2026, 12, 1, 12, tzinfo=UTC)),
        ("2026-12-01T12:00:00-05:00", datetime(2026, 12, 1, 17, tzinfo=UTC)),
        # No offset: the city's own time (winter: UTC-5).
        ("2026-12-01T12:00:00", datetime(2026, 12, 1, 17, tzinfo=UTC)),
        ("next week", None),
        (None, None),
        ("", None),
    ],
)
def test_parse_instant(text: str | None, expected: datetime | None) -> None:
    assert parse_instant(text, TORONTO) == expected


def test_the_event_keeps_what_the_department_said() -> None:
    data = update_data(
        ROADS,
        seen(status="closed", status_notes="Filled", updated_datetime="2026-12-01T12:00:00Z"),
        ["status", "status_notes"],
    )
    assert data == {
        "source": "open311",
        "department": "roads",
        "external_id": "1001",
        "status": "closed",
        "status_notes": "Filled",
        "agency_responsible": None,
        "expected_datetime": None,
        "updated_datetime": "2026-12-01T12:00:00Z",
        "changed": ["status", "status_notes"],
    }


def test_the_department_is_named_as_the_source_of_its_note() -> None:
    assert resolution(ROADS, "Pothole filled\nwith asphalt.") == (
        "Transportation Services told us the work is finished. "
        "Their note says: \u201cPothole filled with asphalt.\u201d"
    )
    assert resolution(ROADS, None) == "Transportation Services told us the work is finished."
    assert resolution(ROADS, "   ") == "Transportation Services told us the work is finished."


def test_a_department_line_says_what_was_done_or_what_is_wrong() -> None:
    good = DepartmentSync("roads", ids_resolved=1, checked=3, updates=2, closing_drafts=1)
    assert good.ok
    assert good.line().startswith("roads: OK, 1 id(s) resolved")
    bad = DepartmentSync("roads", checked=3, problems=["requests.json: HTTP 503: 503: down"])
    assert not bad.ok
    assert bad.line().startswith("roads: requests.json: HTTP 503")


def test_the_link_to_a_request_follows_the_departments_template() -> None:
    # A stand-in with the department's `link` template (config: departments.<key>.link).
    linked = SimpleNamespace(key="roads", link="https://311.city.example/requests/{id}")
    assert external_link(linked, "10 01") == "https://311.city.example/requests/10%2001"
    assert external_link(ROADS, "1001") is None
