"""Where it is, in the dialogue (issue 12, item 2): asked once of requests, hazards and
complaints, never when the description gave it, "skip" where the policy allows it, and a
shared location taken at any question. Pure through `step()`/`share()`; the last tests go
through the chat service onto a temporary store."""

from __future__ import annotations

import json

from bot.cli import main
from bot.flows.complaint import submission_from_state
from storage.cases import get_case

from .test_chat_service import converse, text_of
from .test_flow import FLOW, NOW, Talk


def share(talk: Talk, lat: float, long: float) -> str:
    talk.state, replies = FLOW.share(json.loads(json.dumps(talk.state)), lat, long, talk.now)
    talk.last = [r.text for r in replies]
    return "\n".join(talk.last)


def test_a_request_is_asked_where_and_an_intersection_is_kept():
    talk = Talk()
    asked = talk.say("2", "no", "Please fix the pothole on King Street, it is deep")
    assert talk.step == "where" and "Where is it?" in asked and "King and Queen" in asked
    talk.say("King and Queen")
    assert talk.step == "when"
    assert talk.data["place"] == {
        "text": "King and Queen",
        "kind": "intersection",
        "address": "King and Queen",
        "lat": None,
        "long": None,
    }
    summary = talk.say("yesterday", "skip")
    assert "- Where: King and Queen" in summary
    talk.say("confirm")
    place = submission_from_state(talk.state, "web", NOW, "k").place
    assert place is not None and place.kind == "intersection"


def test_a_place_in_the_description_is_not_asked_again():
    talk = Talk()
    talk.say("2", "no", "Pothole outside 14 Oak Avenue, please fix")
    assert talk.step == "when" and talk.data["place"]["text"] == "14 Oak Avenue"
    talk = Talk()
    talk.say("There is a big pothole outside 12 Elm Street and a car lost a tyre in it")
    assert talk.data["place"]["kind"] == "address"
    talk.say("no")
    assert talk.step == "when"


def test_a_request_or_a_complaint_may_skip_the_place():
    talk = Talk()
    asked = talk.say("1", "no", "Nobody answered my call to the tax office for a week")
    assert talk.step == "where" and "type 'skip'" in asked
    talk.say("skip")
    assert talk.step == "when" and talk.data["place"] is None
    talk.say("yesterday", "3pm", "the clerk", "a call back", "Jane Doe", "me")
    summary = talk.say("jane@example.com")
    assert "- Where: not given" in summary
    talk.say("confirm")
    assert submission_from_state(talk.state, "web", NOW, "k").place is None


def test_a_hazard_is_told_why_before_skipping_and_then_keeps_what_was_said():
    talk = Talk()
    talk.say("2", "yes", "There is a gas smell coming from a drain by the school")
    assert talk.step == "where" and "skip" not in talk.last[-1]
    why = talk.say("skip")
    assert talk.step == "where" and "needs to know where the hazard is" in why
    talk.say("not sure")
    assert talk.step == "when" and talk.data["place"]["text"] == "not sure"
    talk = Talk()
    talk.say("2", "yes", "There is a gas smell coming from a drain by the school", "skip", "skip")
    assert talk.step == "when" and talk.data["place"] is None
    summary = talk.say("right now", "skip")
    assert "- Where: not known" in summary


def test_compliments_questions_and_redirects_are_not_asked_where():
    talk = Talk()
    talk.say("3", "The snow plow crew did a wonderful job on our street")
    assert talk.step == "name"
    talk = Talk()
    talk.say("1", "no", "My parking ticket was issued while the meter was broken", "yes")
    assert talk.step == "name" and "place" not in talk.data


def test_a_date_given_at_the_where_question_is_asked_again_kindly():
    talk = Talk()
    talk.say("2", "no", "Please fix the pothole on King Street, it is deep")
    out = talk.say("yesterday at 3pm")
    assert talk.step == "where" and "sounds like when" in out and "place" not in talk.data


def test_hostile_answers_are_cleaned_or_asked_again():
    talk = Talk()
    talk.say("2", "no", "Please fix the pothole on King Street, it is deep")
    assert "a bit long" in talk.say("near the park " * 40) and talk.step == "where"
    talk.say("\u202e12 Elm\u200b Street")
    assert talk.data["place"]["text"] == "12 Elm Street"


def test_edit_where_at_the_summary_asks_it_again():
    talk = Talk()
    talk.say("2", "no", "Pothole outside 14 Oak Avenue, please fix", "yesterday", "skip")
    assert talk.step == "summary"
    talk.say("edit where")
    assert talk.step == "where"
    summary = talk.say("outside the Central Library")
    assert talk.step == "summary" and "- Where: outside the Central Library" in summary


def test_edit_what_reads_the_place_of_the_new_description_but_keeps_an_answer():
    talk = Talk()
    talk.say("2", "no", "Pothole outside 14 Oak Avenue, please fix", "yesterday", "skip")
    talk.say("edit what")
    summary = talk.say("Pothole outside 90 Elm Street, please fix")
    assert "- Where: 90 Elm Street" in summary
    talk.say("edit what")
    talk.say("The pothole is deep and getting deeper")
    assert talk.step == "where"  # the old description's place went with it
    talk.say("King and Queen")
    talk.say("edit what")
    summary = talk.say("Pothole outside 14 Oak Avenue, please fix")
    assert "- Where: King and Queen" in summary  # the resident's own answer stays


def test_a_location_shared_at_the_where_question_answers_it():
    talk = Talk()
    talk.say("2", "no", "Please fix the pothole on King Street, it is deep")
    out = share(talk, 43.653226, -79.3831843)
    assert "noted the location you shared" in out and talk.step == "when"
    assert talk.data["place"]["kind"] == "coordinates"
    summary = talk.say("yesterday", "skip")
    assert "- Where: the location you shared (43.65323, -79.38318)" in summary
    talk.say("back")  # from the summary: the last answer (name) is asked again
    assert talk.step == "name"


def test_a_location_shared_at_another_question_is_kept_and_that_question_asked_again():
    talk = Talk()
    talk.say("2", "no")
    assert talk.step == "what"
    out = share(talk, 43.65, -79.38)
    assert "back to my question" in out and talk.step == "what"
    assert "What would you like the City to do" in talk.last[-1]
    talk.say("Please fix the pothole, it is deep")
    assert talk.step == "when"  # where is not asked: the shared location is the place
    assert talk.data["place"]["lat"] == 43.65


def test_a_location_shared_first_starts_a_conversation_with_it():
    state, replies = FLOW.share(None, 43.65, -79.38, NOW)
    assert state["status"] == "active" and state["step"] == "kind"
    assert state["data"]["place"]["kind"] == "coordinates"
    assert "thank you for contacting" in replies[0].text


def test_a_location_off_the_map_is_refused_kindly_and_the_question_stays():
    talk = Talk()
    talk.say("2", "no", "Please fix the pothole on King Street, it is deep")
    out = share(talk, 123.0, 500.0)
    assert "off the map" in out and "share it again" in out
    assert talk.step == "where" and "place" not in talk.data


def test_a_location_off_the_map_changes_nothing_after_filing_and_greets_a_newcomer():
    talk = Talk()
    talk.say("2", "no", "Pothole outside 14 Oak Avenue, please fix", "yesterday", "skip")
    talk.say("confirm")
    filed = {**talk.state, "status": "filed", "ref": "CD-2026-000001"}
    state, replies = FLOW.share(filed, -91.0, 0.0, NOW)
    assert state == filed and "off the map" in replies[0].text and "addendum" not in state
    state, replies = FLOW.share(None, 0.0, 181.0, NOW)
    assert state["step"] == "kind" and "place" not in state["data"]
    assert "off the map" in replies[1].text and "What is your message about" in replies[-1].text


def test_a_location_shared_soon_after_filing_is_added_to_the_case():
    talk = Talk()
    talk.say("2", "no", "Pothole outside 14 Oak Avenue, please fix", "yesterday", "skip")
    talk.say("confirm")
    filed = {**talk.state, "status": "filed", "ref": "CD-2026-000001"}
    state, replies = FLOW.share(filed, 43.65, -79.38, NOW)
    assert state["addendum"] == "Location shared: 43.65000, -79.38000"
    assert "CD-2026-000001" in replies[0].text


def test_a_shared_location_is_filed_on_the_case_and_shown_by_cases_show(
    make_services, tmp_path, capsys
):
    s = make_services(path=tmp_path / "caredesk.db")
    converse(s.chat, ["2", "no", "Please fix the pothole on King Street, it is deep"])
    turn = s.chat.handle("console", "console:t", "", location=(43.653226, -79.3831843))
    assert "noted the location you shared" in text_of(turn)
    turn = converse(s.chat, ["yesterday", "skip", "confirm"])
    case = get_case(s.db, turn.ref)
    assert case["place"] == {
        "text": "43.65323, -79.38318",
        "kind": "coordinates",
        "address": None,
        "lat": 43.65323,
        "long": -79.38318,
    }
    assert ("resident", "(shared a location)", []) in s.chat.transcript("console:t")
    assert main(["--db", str(tmp_path / "caredesk.db"), "cases", "show", turn.ref]) == 0
    shown = capsys.readouterr().out
    assert "where         43.65323, -79.38318 (coordinates)  lat 43.65323, long -79.38318" in shown
    assert main(["--db", str(tmp_path / "caredesk.db"), "cases", "show", turn.ref, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["place"] == case["place"]
