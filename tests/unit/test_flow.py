"""The complaint dialogue, pure: scripted conversations through `step()`, no store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import Config
from bot.flows.complaint import ComplaintFlow, submission_from_state
from bot.model import Kind
from bot.policy import Rules

from ..scripts import FULL

TZ = ZoneInfo("America/Toronto")
NOW = datetime(2026, 11, 25, 16, 38, tzinfo=TZ)
FLOW = ComplaintFlow(Config(), Rules.from_config())


class Talk:
    """A test backend in the errbot spirit: say() a line, read what came back."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now
        self.state, replies = FLOW.start(now)
        self.last = [r.text for r in replies]

    def say(self, *lines: str) -> str:
        for line in lines:
            # Every state must survive a round trip through the store's JSON.
            stored = json.loads(json.dumps(self.state))
            self.state, replies = FLOW.step(stored, line, self.now)
            self.last = [r.text for r in replies]
        return "\n".join(self.last)

    @property
    def step(self) -> str:
        return str(self.state["step"])

    @property
    def data(self) -> dict:
        return self.state["data"]


def test_greeting_says_what_it_does_and_that_a_person_reads_it():
    talk = Talk()
    text = "\n".join(talk.last)
    assert "complaint" in text and "request for service" in text
    assert "A person at the City will read" in text
    assert talk.step == "kind"


def test_full_complaint_collects_the_five_items():
    talk = Talk()
    summary = talk.say(*FULL)
    assert talk.step == "summary"
    assert "Tuesday, November 24, 2026 at 3 p.m." in summary
    assert "+1 905-555-0100" in summary
    talk.say("confirm")
    assert talk.state["status"] == "confirmed"
    sub = submission_from_state(talk.state, "console", NOW, "console:x")
    assert sub.what.startswith("The garbage truck")
    assert sub.when == datetime(2026, 11, 24, 15, 0, tzinfo=TZ)
    assert sub.who == "the driver of truck 42"
    assert sub.outcome == "pick up the garbage and an apology"
    assert (sub.person.name, sub.person.email, sub.person.phone) == (
        "Jane Doe",
        "jane@example.com",
        "+19055550100",
    )
    assert sub.kind_hint is Kind.COMPLAINT and sub.on_behalf_of is None and not sub.safety


def test_states_are_values_the_caller_keeps():
    talk = Talk()
    before = json.dumps(talk.state, sort_keys=True)
    FLOW.step(talk.state, "1", NOW)
    assert json.dumps(talk.state, sort_keys=True) == before


def test_anonymous_allegation_is_explained_then_declined():
    talk = Talk()
    talk.say(*FULL[:6])
    assert talk.step == "name"
    explained = talk.say("I'd rather not")
    assert "02.01" in explained and talk.step == "name"
    summary = talk.say("no")
    assert talk.step == "summary"
    assert "recorded but not investigated" in summary
    talk.say("confirm")
    sub = submission_from_state(talk.state, "console", NOW, "k")
    assert sub.person.name is None


def test_unnamed_third_party_is_noted_at_summary():
    talk = Talk()
    talk.say(*FULL[:7], "someone else")
    assert talk.step == "third_party"
    summary = talk.say("I'd rather not say", "jane@example.com")
    assert "On behalf of: not named" in summary and "02.01" in summary
    sub = submission_from_state(talk.state, "console", NOW, "k")
    assert sub.on_behalf_of == ""


def test_safety_path_tells_to_call_911_and_allows_anonymity():
    talk = Talk()
    reply = talk.say("1", "yes")
    assert "call 911 now" in reply
    assert talk.data["safety"] is True
    talk.say("Gas smell near the school gate on Elm Street", "Elm Street, by the school gate")
    talk.say("right now")
    assert talk.step == "name"
    summary = talk.say("skip")
    assert talk.step == "summary" and "potential hazard" in summary
    assert "not investigated" not in summary
    talk.say("confirm")
    sub = submission_from_state(talk.state, "web", NOW, "k")
    assert sub.safety and sub.person.name is None


def test_out_of_scope_is_offered_a_redirect():
    talk = Talk()
    offer = talk.say("1", "no", "I disagree with the council decision to close the library")
    assert talk.step == "scope"
    assert "Council" in offer and "02.03" in offer
    talk.say("yes")
    assert talk.step == "name"  # no when/who/outcome for a redirect
    summary = talk.say("Sam Lee", "sam@example.org")
    assert "different process" in summary
    talk.say("confirm")
    assert submission_from_state(talk.state, "console", NOW, "k").scope_hint == "council"


def test_out_of_scope_can_be_declined_to_carry_on():
    talk = Talk()
    talk.say("1", "no", "My parking ticket was issued while the meter was broken", "no")
    assert talk.step == "where"
    assert submission_from_state(talk.state, "console", NOW, "k").scope_hint == ""


def test_compliment_needs_no_clock_items():
    talk = Talk()
    talk.say("3", "The snow plow crew did a wonderful job on our street")
    assert talk.step == "name"
    summary = talk.say("skip")
    assert talk.step == "summary" and "Compliment or suggestion" in summary
    assert "When:" not in summary


def test_free_text_first_message_answers_several_questions():
    talk = Talk()
    reply = talk.say(
        "The bus driver on route 9 was very rude to my mother, call me at 905-555-0199 please"
    )
    assert "treat it as a complaint" in reply
    assert talk.data["what"].startswith("The bus driver")
    assert talk.data["contact"]["phones"] == ["+19055550199"]
    assert talk.step == "safety"


def test_abusive_language_warns_then_ends_then_cools_off():
    talk = Talk()
    talk.say("1")
    warning = talk.say("this is bullshit")
    assert "abusive language" in warning and talk.state["status"] == "active"
    assert talk.step == "safety"  # the same question is asked again
    ended = talk.say("you idiots")
    assert talk.state["status"] == "ended" and "come back later" in ended
    assert "ended" in talk.say("hello again")
    talk.now = NOW + timedelta(minutes=16)
    assert "What is your message about?" in talk.say("hello")
    assert talk.state["status"] == "active"


def test_edit_at_summary_changes_one_item():
    talk = Talk()
    talk.say(*FULL)
    prompt = talk.say("edit when")
    assert talk.step == "when" and "When did it happen" in prompt
    summary = talk.say("12 March 2026 at 10am")
    assert talk.step == "summary"
    assert "Thursday, March 12, 2026 at 10 a.m." in summary
    assert "Jane Doe" in summary  # the rest is kept


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("banana", "couldn't read that as a date"),
        ("tomorrow at 9am", "in the future"),
        ("next year", "in the future"),
        ("the day of the big storm", "couldn't read that as a date"),
    ],
)
def test_invalid_dates_are_asked_again_with_an_example(answer, expected):
    talk = Talk()
    talk.say(*FULL[:3])
    reply = talk.say(answer)
    assert expected in reply
    assert talk.step == "when" and "when_text" not in talk.data


def test_day_without_time_asks_for_the_time():
    talk = Talk()
    talk.say(*FULL[:3], "12 March")
    assert talk.step == "when_time"
    talk.say("10:30am")
    assert talk.data["when_at"] == "2026-03-12T10:30:00-04:00"
    assert talk.data["when_precision"] == "minute"
    assert talk.step == "who"


def test_an_approximate_time_is_kept_as_about():
    talk = Talk()
    talk.say(*FULL[:3], "12 March", "around 10:30am")
    summary = talk.say(*FULL[4:])
    assert "Thursday, March 12, 2026 at about 10:30 a.m." in summary
    assert '(you said: "12 March, around 10:30am")' in summary


def test_not_sure_of_the_time_keeps_the_day_without_a_time():
    talk = Talk()
    talk.say(*FULL[:3], "12 March", "not sure")
    summary = talk.say(*FULL[4:])
    assert "- When: Thursday, March 12, 2026 (you said" in summary
    assert "a.m." not in summary.split("- When:")[1].split("\n")[0]
    sub = submission_from_state(talk.state, "console", NOW, "console:x")
    assert (sub.when_precision, sub.when, sub.when_end) == (
        "day",
        datetime(2026, 3, 12, tzinfo=TZ),
        datetime(2026, 3, 13, tzinfo=TZ),
    )


def test_an_unreadable_time_is_kept_and_not_asked_again():
    talk = Talk()
    talk.say(*FULL[:3], "12 March")
    reply = talk.say("teatime")
    assert talk.step == "who" and "About what time" not in reply
    assert talk.data["when_text"] == "12 March, teatime"
    assert talk.data["when_precision"] == "day"


@pytest.mark.parametrize(
    ("answer", "wording"),
    [
        ("last week", "the week of November 16, 2026"),
        ("a couple of weeks ago", "around November 11, 2026"),
        ("in October", "October 2026"),
        ("since Monday", "ongoing since Monday, November 23, 2026"),
        ("every Tuesday", "it keeps happening; most recently Tuesday, November 24, 2026"),
        ("it's going on now, it began half an hour ago", "at 4:08 p.m."),
        ("not sure", "not known"),
    ],
)
def test_rough_answers_are_accepted_without_asking_the_time(answer, wording):
    talk = Talk()
    talk.say(*FULL[:3])
    talk.say(answer)
    assert talk.step == "who"  # no "About what time?" for a range
    summary = talk.say(*FULL[4:])
    line = next(x for x in summary.splitlines() if x.startswith("- When:"))
    assert wording in line
    assert "12 a.m." not in line


def test_two_unreadable_answers_then_the_words_are_kept_and_never_asked_a_third_time():
    talk = Talk()
    talk.say(*FULL[:3])
    first = talk.say("banana")
    assert talk.step == "when" and "couldn't read that as a date" in first
    assert "rough answer is fine" in first  # the second question is gentler
    second = talk.say("the day of the big storm")
    assert talk.step == "who"  # carried on: no third time
    assert "noted it just as you wrote it" in second
    assert talk.data["when_text"] == "the day of the big storm"
    assert talk.data["when_precision"] == "unknown" and talk.data["when_at"] is None
    summary = talk.say(*FULL[4:])
    assert '- When: in your words: "the day of the big storm"' in summary
    talk.say("confirm")
    sub = submission_from_state(talk.state, "console", NOW, "console:x")
    assert (sub.when_text, sub.when, sub.when_precision) == (
        "the day of the big storm",
        None,
        "unknown",
    )


def test_a_future_date_counts_as_a_try_too():
    talk = Talk()
    talk.say(*FULL[:3])
    assert "in the future" in talk.say("tomorrow")
    talk.say("next week")
    assert talk.step == "who" and talk.data["when_text"] == "next week"


def test_a_good_second_answer_resets_the_tries_for_a_later_edit():
    talk = Talk()
    talk.say(*FULL[:3], "banana", "last week", *FULL[4:])
    assert talk.step == "summary" and talk.data["when_precision"] == "week"
    talk.say("edit when")
    talk.say("banana")
    assert talk.step == "when"  # a fresh question gets its one more try


def test_the_time_is_asked_only_of_complaints():
    talk = Talk()
    talk.say("2", "no", "There is a big pothole in front of 12 Main Street", "yesterday")
    assert talk.step != "when_time"
    assert talk.data["when_precision"] == "day"


@pytest.mark.parametrize("at", [0, 2, 5, 8])
def test_cancel_at_any_step(at):
    talk = Talk()
    talk.say(*FULL[:at])
    reply = talk.say("cancel")
    assert talk.state["status"] == "cancelled"
    assert "Nothing has been sent" in reply


def test_back_help_why_restart():
    talk = Talk()
    talk.say("1", "no")
    assert talk.step == "what"
    talk.say("back")
    assert talk.step == "safety" and "safety" not in talk.data
    assert "911" in talk.say("why")
    assert "'back'" in talk.say("help")
    assert talk.step == "safety"
    talk.say("/restart")
    assert talk.step == "kind" and talk.data == {}


def test_contact_is_validated():
    talk = Talk()
    talk.say(*FULL[:8])
    assert "doesn't look right" in talk.say("jane@@example")
    assert talk.step == "contact"
    # Issue 8: the second unreadable answer is the way out, not a loop (the resident is told).
    assert "couldn't find" in talk.say("call me maybe")
    assert talk.step == "summary" and talk.data["contact"] == {}


@pytest.mark.parametrize("garbage", ["", "   ", "\x00\x07", "\u200b"])
def test_garbage_input_reprompts(garbage):
    talk = Talk()
    talk.say("1")
    reply = talk.say(garbage)
    assert talk.step == "safety"
    assert "is anyone in immediate danger" in reply


def test_overlong_message_is_refused_politely():
    talk = Talk()
    talk.say("1", "no")
    reply = talk.say("word " * 2000)
    assert "longer than 4000 characters" in reply and talk.step == "what"


def test_a_new_message_after_filing_starts_a_new_conversation():
    # Issue 8: after filing, a message joins the case just filed (see below) unless it asks
    # for a new one; a kind choice ("2") asks for one.
    talk = Talk()
    talk.say(*FULL, "confirm")
    talk.state.update(status="filed", ref="CD-2026-000001")
    reply = talk.say("2")
    assert talk.state["status"] == "active" and talk.data == {"kind": "request"}
    assert "Hello" in reply


def test_something_else_is_classified_so_the_right_questions_follow():
    talk = Talk()
    reply = talk.say("4", "no", "The streetlight outside 14 Oak Avenue has been out for weeks")
    assert "request for service" in reply
    assert talk.data["kind"] == "request" and talk.step == "when"


# -- issue 8: no dead ends; the summary says what decide() will do ------------------------


def summary_of(talk: Talk) -> str:
    assert talk.step == "summary"
    return FLOW.say.summary(talk.data)


def test_safety_accepts_a_sentence_that_starts_with_yes_or_no():
    talk = Talk()
    talk.say("1", "No, nobody is hurt")
    assert talk.data["safety"] is False and talk.step == "what"
    talk = Talk()
    talk.say("1", "yes, there are sparks everywhere")
    assert talk.data["safety"] is True


def test_safety_not_sure_is_an_answer_and_911_is_mentioned():
    talk = Talk()
    reply = talk.say("1", "I don't know")
    assert talk.step == "what" and talk.data["safety"] is None
    assert "911" in reply


def test_safety_choices_once_more_then_a_way_out():
    talk = Talk()
    again = talk.say("1", "banana")
    assert talk.step == "safety" and "yes or no" in again
    out = talk.say("banana")
    assert talk.step == "what" and talk.data["safety"] is None
    assert "not sure" in out and "911" in out


def test_kind_choices_once_more_then_something_else():
    talk = Talk()
    talk.say("zzz")
    assert talk.step == "kind"
    out = talk.say("qqq")
    assert talk.data["kind"] == "other" and talk.step == "safety"
    assert "edit type" in out
    talk = Talk()
    talk.say("not sure")
    assert talk.data["kind"] == "other"


def test_scope_not_sure_or_unreadable_carries_on():
    talk = Talk()
    talk.say("1", "no", "My parking ticket was issued while the meter was broken")
    assert talk.step == "scope"
    talk.say("hmm")
    assert talk.step == "scope"
    out = talk.say("hmm")
    assert talk.step == "where" and talk.data["scope"] == "" and "carry on" in out


def test_scope_no_for_something_else_picks_the_kind():
    talk = Talk()
    talk.say("4", "no", "Please fix the parking ticket machine on Elm Street, it is broken")
    assert talk.step == "scope"
    talk.say("no")
    assert talk.data["kind"] == "request" and talk.step == "where"


def test_who_and_outcome_accept_i_dont_know_and_short_answers_end():
    talk = Talk()
    talk.say(*FULL[:4], "I don't know")
    assert talk.data["who"] == "I don't know" and talk.step == "outcome"
    talk.say("x")
    assert talk.step == "outcome"
    out = talk.say("-")
    assert talk.step == "name" and talk.data["outcome"] == "" and "not known" in out


def test_what_accepts_a_short_answer_the_second_time():
    talk = Talk()
    talk.say("2", "no", "pothole")
    assert talk.step == "what"
    talk.say("pothole Elm")
    assert talk.step == "where" and talk.data["what"] == "pothole Elm"


def test_name_for_a_request_accepts_i_dont_know_and_skip():
    talk = Talk()
    talk.say("2", "no", "Pothole outside 14 Oak Avenue, please fix", "yesterday at 3pm")
    assert talk.step == "name"
    talk.say("I don't know")
    assert talk.data["name"] == "" and talk.step == "summary"


def test_on_behalf_choices_once_more_then_me():
    talk = Talk()
    talk.say(*FULL[:7], "banana")
    assert talk.step == "on_behalf"
    out = talk.say("banana")
    assert talk.data["on_behalf"] == "self" and talk.step == "contact"
    assert "edit name" in out


def test_a_named_resident_may_go_on_without_contact_details():
    talk = Talk()
    out = talk.say(*FULL[:8], "I'd rather not")
    assert talk.step == "summary"
    assert "updates" in out and "outcome" in out
    summary = summary_of(talk)
    assert "Contact: not given" in summary and "not investigated" not in summary
    sub = submission_from_state(talk.state, "console", NOW, "k")
    assert sub.person.name == "Jane Doe" and not sub.person.reachable


def test_unreadable_contact_twice_goes_on_and_says_what_it_means():
    talk = Talk()
    talk.say(*FULL[:8], "call me maybe")
    assert talk.step == "contact"
    out = talk.say("whenever")
    assert talk.step == "summary" and "can't send you updates" in out


def test_summary_unreadable_twice_offers_a_way_out():
    talk = Talk()
    talk.say(*FULL)
    talk.say("hmm")
    assert talk.step == "summary"
    out = talk.say("hmm")
    assert talk.step == "summary" and "'cancel'" in out and "311" in out
    assert "hasn't been sent" in out


def test_summary_understands_which_item_is_wrong():
    talk = Talk()
    talk.say(*FULL)
    talk.say("the date is wrong")
    assert talk.step == "when"
    talk = Talk()
    talk.say(*FULL)
    talk.say("no")
    assert talk.step == "summary"


def test_a_rude_word_inside_a_real_answer_is_warned_and_kept():
    talk = Talk()
    talk.say("1", "no")
    out = talk.say("The damn fucking bus driver skipped my stop on Main Street again")
    assert "abusive language" in out
    assert talk.data["what"].startswith("The damn fucking bus driver")
    assert talk.step == "where" and talk.state["strikes"] == 1


def test_nothing_but_abuse_is_dropped():
    talk = Talk()
    talk.say("1", "no")
    out = talk.say("fuck you")
    assert "abusive language" in out and "what" not in talk.data and talk.step == "what"


@pytest.mark.parametrize(
    "what",
    [
        "The fire hydrant on Elm Street has been leaking for a week",
        "My basement flood rebate has not been paid after six months",
        "Nobody is in danger but the sidewalk on Oak Avenue is cracked",
        "Someone set a fire in the bin behind the library and nobody came",
    ],
)
def test_no_to_the_danger_question_is_never_a_hazard(what):
    talk = Talk()
    talk.say("1", "no", what, "skip", "yesterday at 3pm", "staff", "fix it", "Jane Doe", "me")
    talk.say("j@x.org")
    summary = summary_of(talk)
    assert "potential hazard" not in summary and "Type: Complaint" in summary
    talk.say("confirm")
    sub = submission_from_state(talk.state, "console", NOW, "k")
    assert sub.safety is False


def test_not_sure_about_danger_lets_the_description_decide_and_the_summary_says_so():
    talk = Talk()
    talk.say("1", "not sure", "There is a gas leak smell at 12 Elm Street", "right now", "skip")
    summary = summary_of(talk)
    assert "potential hazard" in summary and "not investigated" not in summary


def test_an_anonymous_redirected_request_is_warned_and_the_summary_says_so():
    talk = Talk()
    talk.say("2", "no", "Please fix my parking ticket, the meter on Elm was broken", "yes")
    assert talk.step == "name"
    assert "02.01" in talk.say("skip")
    summary = talk.say("no")
    assert "different process" in summary and "not investigated" in summary


def test_a_compliment_that_mentions_a_fire_is_not_a_hazard():
    talk = Talk()
    talk.say("3", "The firefighters were wonderful when there was a fire on our street")
    summary = talk.say("skip")
    assert "Compliment or suggestion" in summary and "hazard" not in summary
    assert submission_from_state(talk.state, "web", NOW, "k").safety is False


# -- after filing ----------------------------------------------------------------------


def filed_talk() -> Talk:
    talk = Talk()
    talk.say(*FULL, "confirm")
    talk.state.update(status="filed", ref="CD-2026-000001")
    return talk


def test_a_message_after_filing_is_added_to_the_case():
    talk = filed_talk()
    reply = talk.say("Actually it was Wednesday")
    assert talk.state["status"] == "filed" and talk.state["addendum"] == "Actually it was Wednesday"
    assert "CD-2026-000001" in reply and "'new'" in reply


@pytest.mark.parametrize(
    "text", ["new", "new complaint", "start again", "restart", "Hello, I have another complaint"]
)
def test_asking_for_a_new_complaint_after_filing_starts_one(text):
    talk = filed_talk()
    talk.say(text)
    assert talk.state["status"] == "active" and "addendum" not in talk.state


def test_after_the_window_a_message_starts_a_new_conversation():
    talk = filed_talk()
    talk.now = NOW + timedelta(hours=25)
    talk.say("Actually it was Wednesday")
    assert talk.state["status"] == "active" and "addendum" not in talk.state


def test_my_name_is_is_not_part_of_the_name():
    talk = Talk()
    talk.say(*FULL[:6], "My name is Jane Doe")
    assert talk.data["name"] == "Jane Doe"


@pytest.mark.parametrize(
    "answer",
    ["I want an apology and the driver retrained", "the driver of the truck was rude"],
)
def test_a_sentence_at_the_name_question_is_not_taken_as_the_name(answer):
    talk = Talk()
    talk.say(*FULL[:6], answer)
    assert "name" not in talk.data and talk.step == "name"
    assert any("rather than a name" in line for line in talk.last)


@pytest.mark.parametrize("name", ["Jane Doe", "Mary-Anne de la Cruz", "José Álvarez-Núñez", "Li"])
def test_names_people_have_are_accepted(name):
    talk = Talk()
    talk.say(*FULL[:6], name)
    assert talk.data["name"] == name


@pytest.mark.parametrize(
    ("answer", "confirmed"),
    [("yes please", True), ("confirm it", True), ("yes but the date is wrong", False)],
)
def test_summary_reads_short_confirmations_and_not_a_yes_with_a_correction(answer, confirmed):
    talk = Talk()
    talk.say(*FULL, answer)
    assert (talk.state["status"] == "confirmed") is confirmed
    if not confirmed:
        assert talk.step == "when"


def test_something_else_described_as_a_question_is_filed_as_an_enquiry():
    talk = Talk()
    talk.say("4", "no")
    out = talk.say("How do I register my son for the March break camp at the arena?")
    assert talk.data["kind"] == "other" and "a question or other message" in out
    assert talk.step == "name" and "skip" in out  # no when, who or outcome; the name optional
    talk.say("skip")
    assert talk.step == "summary"
    assert "- Type: Question or other message" in talk.last[-1]
    assert "recorded but not investigated" not in talk.last[-1]  # 02.01 is for allegations


def test_a_question_as_the_first_message_skips_the_danger_question():
    talk = Talk()
    out = talk.say("Where can I buy a dog licence?")
    assert talk.data["kind"] == "other" and talk.data["what"].startswith("Where can I")
    assert talk.step == "name" and "danger" not in out
    complaint = Talk()
    complaint.say("Why has nobody fixed the swings at the park?")
    assert complaint.data["kind"] == "complaint"


def test_edit_type_to_something_else_lets_the_description_decide():
    talk = Talk()
    talk.say("2", "no", "When is the next hazardous waste day in Pickering?")
    talk.say("not sure")  # when did you notice it
    while talk.step != "summary":
        talk.say("skip")
    talk.say("edit type", "4")
    assert talk.data["kind"] == "other" and talk.step == "summary"
    assert "- Type: Question or other message" in talk.last[-1]


def test_a_greeting_at_the_first_question_is_greeted_back_not_refused():
    talk = Talk()
    for greeting in ("hi", "hello?", "Good morning!"):
        talk.say(greeting)
        assert talk.step == "kind"
        assert not any("didn't catch" in line for line in talk.last)
    talk.say("complaint")
    assert talk.data["kind"] == "complaint"


def test_the_danger_question_names_what_the_resident_wrote_that_can_be_dangerous():
    talk = Talk()
    talk.say("there's a wire sparking on the sidewalk outside 12 Elm St, kids walk past it")
    assert talk.step == "safety"
    assert "You mentioned 'wire sparking', which can be dangerous." in talk.last[-1]
    talk = Talk()
    talk.say(FULL[2])  # nothing dangerous in it: the plain question
    assert talk.last[-1].startswith("First, is anyone in immediate danger")
