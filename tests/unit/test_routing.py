"""Departments and routing rules: their validation (bot/config.py) and the pure router
(bot/routing.py): order, phrases with negation, conditions, and a case no rule routes."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import (
    SCOPE_CATEGORIES,
    ConfigError,
    Department,
    RoutingRule,
    load_config,
    parse_config,
)
from bot.model import Decision, Kind, Status, Submission
from bot.policy import REDIRECTS
from bot.routing import NO_MATCH, route

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[2] / "caredesk.example.toml"
MARK = '# Remove the "# " in front of the lines below to use this example.'

ROADS = {"key": "roads", "name": "Transportation Services", "email": "roads@city.example"}
WASTE = {"key": "waste", "name": "Solid Waste", "tracker": "email", "email": "w@city.example"}


def config(departments: list[dict[str, Any]], routing: list[dict[str, Any]] | None = None) -> Any:
    return parse_config({"departments": departments, "routing": routing or []})


def sub(text: str, subject: str | None = None) -> Submission:
    return Submission(channel="email", received_at=NOW, text=text, subject=subject)


def dec(kind: Kind = Kind.COMPLAINT, out_of_scope: str | None = None) -> Decision:
    return Decision(kind, Status.OPEN, (), {}, (), (), out_of_scope=out_of_scope)


def example_config() -> Any:
    """The example file with its commented departments and routing switched on."""
    text = EXAMPLE.read_text(encoding="utf-8")
    head, _, block = text.partition(MARK)
    assert block, "the example's departments block is marked"
    lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in block.splitlines()]
    return parse_config(tomllib.loads(head + "\n".join(lines)), base=EXAMPLE.parent)


# -- configuration ------------------------------------------------------------------------------


def test_no_departments_by_default_in_the_example_and_built_in() -> None:
    loaded = load_config(EXAMPLE)
    assert loaded.departments == () and loaded.routing == ()


def test_a_department_and_a_rule_are_read_with_their_fields() -> None:
    cfg = config(
        [
            {
                **ROADS,
                "tracker": "open311",
                "open311_url": "https://311.city.example/v2/",
                "open311_service_code": "roads",
                "supervisor_name": "Sam Super",
                "supervisor_email": "Sam@City.Example",
                "director_email": "dir@city.example",
            }
        ],
        [{"name": "potholes", "department": "roads", "kinds": ["request"], "phrases": ["Pothole"]}],
    )
    roads = cfg.department("roads")
    assert roads == Department(
        key="roads",
        name="Transportation Services",
        email="roads@city.example",
        tracker="open311",
        open311_url="https://311.city.example/v2/",
        open311_service_code="roads",
        supervisor_name="Sam Super",
        supervisor_email="sam@city.example",
        director_email="dir@city.example",
    )
    assert cfg.routing == (
        RoutingRule("potholes", "roads", kinds=("request",), phrases=("pothole",)),
    )


BAD = [
    pytest.param(
        {"departments": {"key": "x"}}, "departments: must be a list of tables", id="table"
    ),
    pytest.param({"departments": [{"name": "Roads"}]}, "departments[1].key: required", id="key"),
    pytest.param({"departments": [{"key": "roads"}]}, "departments[1].name: required", id="name"),
    pytest.param(
        {"departments": [{"key": "Roads Dept", "name": "R"}]},
        "departments[1].key: 'Roads Dept' must be lower-case letters",
        id="key-chars",
    ),
    pytest.param(
        {"departments": [{**ROADS, "colour": "red"}]},
        "departments[1].colour: unknown key",
        id="unknown-key",
    ),
    pytest.param(
        {"departments": [{**ROADS, "tracker": "jira"}]},
        "departments.roads.tracker: must be one of open311, webhook, email, none",
        id="tracker",
    ),
    pytest.param(
        {"departments": [{**ROADS, "tracker": "open311"}]},
        "departments.roads.open311_url: required when tracker = 'open311'",
        id="open311-url",
    ),
    pytest.param(
        {"departments": [{**ROADS, "tracker": "webhook", "webhook_url": "ftp://x"}]},
        "departments.roads.webhook_url: must be an http:// or https:// URL",
        id="webhook-url",
    ),
    pytest.param(
        {"departments": [{"key": "w", "name": "W", "tracker": "email"}]},
        "departments.w.email: required when tracker = 'email'",
        id="email-target",
    ),
    pytest.param(
        {"departments": [{**ROADS, "director_email": "the director"}]},
        "departments.roads.director_email: 'the director' is not an email address",
        id="director",
    ),
    pytest.param(
        {"departments": [ROADS, ROADS]},
        "departments.roads.key: 'roads' is used by two departments",
        id="duplicate",
    ),
    pytest.param(
        {"departments": [ROADS], "routing": [{"name": "r", "department": "parks"}]},
        "routing.r.department: unknown department 'parks' (roads)",
        id="unknown-department",
    ),
    pytest.param(
        {"routing": [{"name": "r", "department": "roads"}]},
        "routing.r.department: unknown department 'roads' (none are configured",
        id="no-departments",
    ),
    pytest.param(
        {"departments": [ROADS], "routing": [{"department": "roads"}]},
        "routing[1].name: required",
        id="rule-name",
    ),
    pytest.param(
        {
            "departments": [ROADS],
            "routing": [{"name": "r", "department": "roads", "kinds": ["pothole"]}],
        },
        "routing.r.kinds: unknown 'pothole' (known: complaint, request",
        id="kind",
    ),
    pytest.param(
        {
            "departments": [ROADS],
            "routing": [{"name": "r", "department": "roads", "categories": ["bylaw"]}],
        },
        "routing.r.categories: unknown 'bylaw' (known: council, appeal, employee, legislation)",
        id="category",
    ),
    pytest.param(
        {
            "departments": [ROADS],
            "routing": [{"name": "r", "department": "roads", "hazard": "yes"}],
        },
        "routing.r.hazard: must be true or false",
        id="hazard",
    ),
    pytest.param(
        {
            "departments": [ROADS],
            "routing": [{"name": "r", "department": "roads", "phrases": "road"}],
        },
        "routing.r.phrases: must be a list of non-empty strings",
        id="phrases",
    ),
    pytest.param(
        {
            "departments": [ROADS],
            "routing": [{"name": "r", "department": "roads"}, {"name": "r", "department": "roads"}],
        },
        "routing.r: two routing rules have this name",
        id="duplicate-rule",
    ),
]


@pytest.mark.parametrize(("raw", "message"), BAD)
def test_bad_departments_and_rules_name_the_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert message in str(caught.value)


def test_scope_categories_are_the_policy_chains() -> None:
    assert set(SCOPE_CATEGORIES) == set(REDIRECTS)


# -- the router ---------------------------------------------------------------------------------


TWO = config(
    [ROADS, WASTE],
    [
        {"name": "garbage", "department": "waste", "phrases": ["garbage", "missed pickup"]},
        {"name": "roads", "department": "roads", "phrases": ["pothole", "road"]},
        {"name": "everything-else", "department": "roads", "kinds": ["request"]},
    ],
)


def test_the_first_rule_that_holds_wins_and_later_ones_are_not_tried() -> None:
    routed = route(sub("Garbage left on the road again"), dec(), TWO.departments, TWO.routing)
    assert routed.department is not None and routed.department.key == "waste"
    assert routed.rule == "garbage"
    assert "the phrase 'garbage'" in routed.reason
    assert [(t.rule, t.fired) for t in routed.trace] == [
        ("garbage", True),
        ("roads", False),
        ("everything-else", False),
    ]
    assert routed.trace[1].reason == "not tried: department already decided by garbage"
    assert routed.trace[0].action == "route to Solid Waste"


def test_a_negated_phrase_does_not_route() -> None:
    routed = route(
        sub("There was no garbage problem, but a pothole on Elm St"),
        dec(),
        TWO.departments,
        TWO.routing,
    )
    assert routed.rule == "roads"
    assert "negated by 'no'" in routed.trace[0].reason


def test_phrases_are_whole_words_and_the_subject_counts() -> None:
    assert route(sub("a roadside bench"), dec(), TWO.departments, TWO.routing).rule is None
    routed = route(sub("see title", subject="Missed pickup"), dec(), TWO.departments, TWO.routing)
    assert routed.rule == "garbage"


def test_no_rule_holds_the_case_waits_for_staff() -> None:
    routed = route(sub("The library was closed early"), dec(), TWO.departments, TWO.routing)
    assert (routed.department, routed.rule, routed.reason) == (None, None, NO_MATCH)
    assert [t.fired for t in routed.trace] == [False, False, False]
    assert routed.trace[2].reason == "kind is complaint, not request"
    data = routed.event_data()
    assert data["department"] is None and data["reason"] == "no rule matched: waiting for staff"


def test_no_rules_at_all_waits_for_staff() -> None:
    routed = route(sub("pothole"), dec(), TWO.departments, ())
    assert routed == type(routed)(None, None, NO_MATCH, ())


@pytest.mark.parametrize(
    ("rule", "decision", "fired", "reason"),
    [
        ({"kinds": ["hazard"]}, dec(Kind.HAZARD), True, "kind is hazard"),
        ({"hazard": True}, dec(Kind.REQUEST), False, "not a hazard"),
        ({"hazard": False}, dec(Kind.HAZARD), False, "a hazard"),
        (
            {"categories": ["legislation"]},
            dec(Kind.OUT_OF_SCOPE, "legislation"),
            True,
            "out-of-scope category is legislation",
        ),
        (
            {"categories": ["appeal"]},
            dec(Kind.COMPLAINT),
            False,
            "out-of-scope category is none, not appeal",
        ),
        ({}, dec(), True, "routes every case that reaches it"),
        (
            {"kinds": ["complaint"], "phrases": ["pothole"]},
            dec(),
            True,
            "kind is complaint; mentions a subject of roads: the phrase 'pothole'",
        ),
    ],
)
def test_conditions(rule: dict[str, Any], decision: Decision, fired: bool, reason: str) -> None:
    cfg = config([ROADS], [{"name": "r", "department": "roads", **rule}])
    routed = route(sub("a pothole"), decision, cfg.departments, cfg.routing)
    assert routed.trace[0].fired is fired
    assert routed.trace[0].reason == reason
    assert (routed.rule == "r") is fired


@pytest.mark.parametrize(
    ("text", "kind", "department"),
    [
        ("There is a huge pothole on Elm Street", Kind.REQUEST, "transportation"),
        ("My garbage was not picked up, a missed pickup again", Kind.COMPLAINT, "waste"),
        ("The sewer is backing up into the street", Kind.HAZARD, "water"),
        ("A tree in the park lost a branch", Kind.REQUEST, "parks"),
        ("The library staff were rude", Kind.COMPLAINT, None),
        ("It is not a garbage problem: the trees in the park are dying", Kind.REQUEST, "parks"),
        # A negator that is the subject of the sentence does not deny the thing it is about.
        ("Nobody picked up the garbage on Birch Lane", Kind.COMPLAINT, "waste"),
        ("No one has fixed the pothole on King Street", Kind.REQUEST, "transportation"),
        ("Nothing was done about the sewer smell", Kind.COMPLAINT, "water"),
        # ...while a negator right before it still does.
        ("There is no garbage here, just a fallen tree in the park", Kind.REQUEST, "parks"),
        ("It was not the garbage: a branch from a park tree fell", Kind.REQUEST, "parks"),
    ],
)
def test_the_example_routing(text: str, kind: Kind, department: str | None) -> None:
    cfg = example_config()
    assert [d.key for d in cfg.departments] == ["transportation", "waste", "water", "parks"]
    routed = route(sub(text), dec(kind), cfg.departments, cfg.routing)
    assert (routed.department.key if routed.department else None) == department
