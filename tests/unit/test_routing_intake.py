"""Routing at intake: the department is stored in the case's own transaction and the timeline
names the rule; `explain` shows the department when departments are configured."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from bot.config import Config, parse_config
from bot.decide import Policy
from bot.explain import explain, format_explanation
from bot.place import read_place, shared_location
from storage.cases import get_case

from ..conftest import NOW, MakeServices
from .test_storage import submission

ROUTED_CONFIG = parse_config(
    {
        "departments": [
            {"key": "roads", "name": "Transportation Services"},
            {"key": "waste", "name": "Solid Waste", "tracker": "email", "email": "w@city.example"},
        ],
        "routing": [
            {"name": "garbage", "department": "waste", "phrases": ["garbage"]},
            {"name": "potholes", "department": "roads", "phrases": ["pothole"]},
        ],
    }
)


def case_row(db: sqlite_utils.Database, ref: str) -> tuple[int, str | None]:
    row = db.execute("SELECT id, department FROM cases WHERE ref = ?", [ref]).fetchone()
    return int(row[0]), row[1]


def events(db: sqlite_utils.Database, case_id: int, kind: str) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT actor, data FROM events WHERE case_id = ? AND type = ? ORDER BY id",
        [case_id, kind],
    ).fetchall()
    return [{"actor": actor, **json.loads(data)} for actor, data in rows]


def test_intake_stores_the_department_and_the_routed_event(make_services: MakeServices) -> None:
    s = make_services(ROUTED_CONFIG)
    text = "There is no garbage on it, but a pothole on Elm St that needs fixing"
    filed = s.intake.file(submission(received_at=NOW, when=None, text=text), NOW)
    case_id, department = case_row(s.db, filed.ref)
    assert department == "roads"
    [routed] = events(s.db, case_id, "routed")
    assert routed["actor"] == "routing"
    assert routed["department"] == "roads" and routed["rule"] == "potholes"
    assert "the phrase 'pothole'" in routed["reason"]
    assert [(t["rule"], t["fired"]) for t in routed["trace"]] == [
        ("garbage", False),
        ("potholes", True),
    ]
    assert "negated by 'no'" in routed["trace"][0]["reason"]


def test_a_case_no_rule_routes_waits_for_staff(make_services: MakeServices) -> None:
    s = make_services(ROUTED_CONFIG)
    filed = s.intake.file(submission(received_at=NOW, when=None), NOW)  # a snow plough
    case_id, department = case_row(s.db, filed.ref)
    assert department is None
    [routed] = events(s.db, case_id, "routed")
    assert routed["department"] is None and routed["rule"] is None
    assert routed["reason"] == "no rule matched: waiting for staff"


def test_without_departments_nothing_is_routed(make_services: MakeServices) -> None:
    s = make_services(Config())
    filed = s.intake.file(submission(received_at=NOW, when=None, text="a pothole"), NOW)
    case_id, department = case_row(s.db, filed.ref)
    assert department is None and events(s.db, case_id, "routed") == []


def test_explain_names_the_department_only_when_departments_are_configured() -> None:
    text = "Please fix the pothole on Elm St"
    found = explain(text, NOW, Policy.from_config(ROUTED_CONFIG)).as_dict()
    assert found["department"]["key"] == "roads"
    assert found["department"]["name"] == "Transportation Services"
    assert found["department"]["rule"] == "potholes"
    plain = explain(text, NOW, Policy.from_config(Config())).as_dict()
    assert "department" not in plain
    assert set(found) - set(plain) == {"department"}


PLACE_CONFIG = parse_config(
    {
        "departments": [
            {"key": "libraries", "name": "Public Library"},
            {"key": "roads", "name": "Transportation Services"},
        ],
        "routing": [
            {"name": "library", "department": "libraries", "phrases": ["library"]},
            {"name": "potholes", "department": "roads", "phrases": ["pothole"]},
        ],
    }
)


def test_the_place_the_resident_gave_is_read_by_routing_phrases(
    make_services: MakeServices,
) -> None:
    """Issue 12, item 2: "outside the Central Library", answered to "where", routes to the
    library as the same words in the description would; a shared location has no words."""
    s = make_services(PLACE_CONFIG)
    text = "Someone dumped a sofa and three bags of trash"
    at_library = read_place("outside the Central Library")
    filed = s.intake.file(submission(received_at=NOW, text=text, place=at_library), NOW)
    case_id, department = case_row(s.db, filed.ref)
    assert department == "libraries"
    [routed] = events(s.db, case_id, "routed")
    assert "the phrase 'library'" in routed["reason"]
    shared = shared_location(43.65, -79.38)
    filed = s.intake.file(submission(received_at=NOW, text=text, place=shared), NOW)
    assert case_row(s.db, filed.ref)[1] is None
    assert get_case(s.db, filed.ref)["place"]["lat"] == 43.65


def test_explain_shows_the_place_a_message_gives() -> None:
    found = explain(
        "Please fix the pothole outside 12 Elm Street", NOW, Policy.from_config(Config())
    )
    assert found.as_dict()["place"] == {
        "text": "12 Elm Street",
        "kind": "address",
        "address": "12 Elm Street",
        "lat": None,
        "long": None,
    }
    assert "where     12 Elm Street (address)" in format_explanation(found)
    none = explain("The driver was rude to me on Monday", NOW, Policy.from_config(Config()))
    assert none.as_dict()["place"] is None and "where     not found" in format_explanation(none)
