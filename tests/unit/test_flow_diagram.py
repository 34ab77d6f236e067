"""The dialogue's diagram is drawn from its table and cannot drift: the one in the table
module's docstring equals the generated one, every arrow points at a real state, and every move
a scripted conversation makes is an arrow of the diagram, and every arrow is taken by one
(issue 10)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.cli import main
from bot.config import Config
from bot.flows import steps
from bot.flows.base import command_of
from bot.flows.complaint import ComplaintFlow
from bot.flows.diagram import fenced, in_docstring
from bot.flows.steps import ANY_QUESTION, AROUND
from bot.policy import Rules

TZ = ZoneInfo("America/Toronto")
NOW = datetime(2026, 11, 25, 16, 38, tzinfo=TZ)
FLOW = ComplaintFlow(Config(), Rules.from_config())
OUTSIDE = {"filed", "paused", "cancelled", "ended", ANY_QUESTION}


def arrows() -> set[tuple[str, str]]:
    rows = {(s.name, a.to) for s in FLOW.table.values() for a in s.arrows}
    return rows | {(source, a.to) for source, a in AROUND}


def test_the_committed_diagram_is_the_one_drawn_from_the_table():
    committed = in_docstring(steps.__doc__ or "")
    assert committed == fenced(FLOW.table.values()), (
        "the diagram in bot/flows/steps.py is stale: paste the output of `caredesk flow diagram`"
    )


def test_caredesk_flow_diagram_prints_it(capsys):
    assert main(["flow", "diagram"]) == 0
    assert capsys.readouterr().out == fenced(FLOW.table.values())


def test_every_arrow_points_at_a_state_and_every_step_can_be_reached():
    names = set(FLOW.table)
    assert all(target in names | OUTSIDE for _source, target in arrows())
    assert all(source in names | OUTSIDE | {"[*]"} for source, _target in arrows())
    reached, frontier = set(), ["[*]"]
    while frontier:
        here = frontier.pop()
        for source, target in arrows():
            if source in (here, ANY_QUESTION if here in names else None) and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert names | OUTSIDE <= reached


def test_the_diagram_shows_the_free_text_shortcut_and_the_states_around_the_questions():
    text = fenced(FLOW.table.values())
    assert "kind --> safety: free text" in text
    for state in ("paused", "cancelled", "ended", "filed"):
        assert f"--> {state}:" in text and f"    {state} --> " in text


SCRIPTS = {
    "complaint": [
        "1",
        "no",
        "The garbage truck skipped our street and the driver was rude when I asked why",
        "King and Queen",
        "yesterday",
        "3pm",
        "the driver of truck 42",
        "pick up the garbage and an apology",
        "Jane Doe",
        "someone else",
        "John Doe",
        "jane@example.com",
        "confirm",
    ],
    "free text, anonymous": [
        "The garbage truck skipped our street again and the driver was rude to me",
        "no",
        "skip",
        "blorp",
        "yesterday at 3pm",
        "the driver",
        "an apology",
        "no",
        "no",
        "confirm",
    ],
    "compliment": [
        "3",
        "The staff at the library were very kind and helpful today",
        "Jane Doe",
        "905-555-0100",
        "confirm",
    ],
    "compliment as free text": [
        "hello",
        "The staff at the library were very kind and helpful to my kids today",
        "Jane Doe",
        "skip",
        "confirm",
    ],
    "hazard": ["2", "yes", "There is a gas smell outside 12 Oak Avenue", "right now", "skip"],
    "hazard as free text": ["There is a gas leak smell outside 12 Oak Avenue right now", "yes"],
    "request": [
        "2",
        "no",
        "Please fix the pothole on King Street",
        "in front of 40 King Street",
        "last week",
        "Jane Doe",
        "jane@example.com",
    ],
    "out of scope": [
        "1",
        "no",
        "I want to appeal my parking ticket decision",
        "yes",
        "Jane Doe",
        "skip",
        "confirm",
    ],
    "out of scope, carry on": ["1", "no", "I want to appeal my parking ticket decision", "no"],
    "out of scope, carry on, the place given": [
        "1",
        "no",
        "I want to appeal my parking ticket decision, the meter at 12 Oak Avenue was broken",
        "no",
    ],
    "hazard, the place not known": [
        "2",
        "yes",
        "There is a gas smell coming from a drain by the school",
        "skip",
        "not sure",
        "right now",
    ],
    "question": ["When is the library open on Sunday?", "skip", "confirm"],
    "cancelled": ["1", "cancel", "1"],
    "ended": ["1", "you idiot", "you idiot", "<a day later>", "2"],
    "restarted": ["1", "restart", "3"],
    "filed, then more": [
        "When is the library open on Sunday?",
        "skip",
        "confirm",
        "<filed>",
        "Actually I meant Saturday",
        "new",
    ],
    "edited": ["3", "The pool staff were lovely today", "Jane Doe", "skip", "edit name"],
    "for me": [
        "1",
        "no",
        "The bus driver shouted at me at the stop on King Street",
        "skip",
        "today at 9am",
        "the driver of bus 12",
        "an apology",
        "Jane Doe",
        "me",
    ],
    "free text out of scope": [
        "I want to appeal my parking ticket decision from the tribunal last month",
        "no",
    ],
    "paused": ["1", "<pause>", "no", "<pause>", "resume", "Potholes all along King Street"],
}


def moves(script: list[str]) -> list[tuple[str, str]]:
    """(from, to) for every message of a script, as the diagram draws it: a command or abuse
    works at any question; a message after the conversation stopped starts a new one (at
    `kind`) and is its first answer. What the chat service does around the flow is a token:
    "<pause>" pauses a silent conversation, "<filed>" files a confirmed one, "<a day later>"
    moves the clock."""
    now = NOW
    state, _replies = FLOW.start(now)
    seen = [("[*]", state["step"])]
    for text in script:
        if text == "<pause>":
            seen.append((ANY_QUESTION, "paused"))
            state = {**state, "status": "expired"}
            continue
        if text == "<filed>":
            state = {**state, "status": "filed", "ref": "CD-2026-000001"}
            continue
        if text == "<a day later>":
            now += timedelta(days=1)
            continue
        asked = state["step"]
        before = {"active": asked, "expired": "paused", "confirmed": "filed"}.get(
            state["status"], state["status"]
        )
        state, _replies = FLOW.step(json.loads(json.dumps(state)), text, now)
        after = {"active": state["step"], "confirmed": "filed"}.get(
            state["status"], state["status"]
        )
        if command_of(text) or FLOW.rules.abuse.check(text):
            seen.append((ANY_QUESTION, ANY_QUESTION if after == before else after))
        elif before == "paused":
            seen += [("paused", ANY_QUESTION)] + ([(asked, after)] if after != asked else [])
        elif before in OUTSIDE and after in FLOW.table:
            seen += [(before, "kind")] + ([("kind", after)] if after != "kind" else [])
        elif before == "summary" and after in FLOW.table and after != "summary":
            seen.append(("summary", ANY_QUESTION))  # edit ITEM
        else:
            seen.append((before, after))
    return seen


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_move_of_a_scripted_conversation_is_an_arrow_of_the_diagram(name):
    seen = moves(SCRIPTS[name])
    assert seen, name
    assert set(seen) <= arrows(), set(seen) - arrows()


def test_every_arrow_of_the_diagram_is_taken_by_a_scripted_conversation():
    seen = {move for script in SCRIPTS.values() for move in moves(script)}
    assert arrows() - seen == set()
