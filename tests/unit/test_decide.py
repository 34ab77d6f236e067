"""decide() from tables: kind, status, missing items, clocks and which replies wait for a person."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.config import Config, parse_config
from bot.decide import Policy, decide
from bot.model import Kind, Person, Status

from ..scripts import COMPLAINT, EMAIL

TZ = ZoneInfo("America/Toronto")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)  # a Wednesday
POLICY = Policy.from_config(Config())

COMPLETE = replace(COMPLAINT, channel="console", kind_hint=Kind.COMPLAINT)


def iso(at: datetime) -> str:
    return at.isoformat()


CASES = [
    # id, submission, kind, status, missing, replies (kind, review), deadline kinds
    (
        "complete chat complaint",
        COMPLETE,
        Kind.COMPLAINT,
        Status.OPEN,
        (),
        [("ack-complaint", False)],
        {"complaint-ack", "follow-up"},
    ),
    (
        "email complaint lacking items: ack asks for them",
        EMAIL,
        Kind.COMPLAINT,
        Status.OPEN,
        ("when", "who", "outcome", "contact"),
        [("ack-email", False)],
        {"email-ack", "email-response", "follow-up"},
    ),
    (
        "anonymous chat complaint is declined for review",
        replace(COMPLETE, person=Person()),
        Kind.COMPLAINT,
        Status.DECLINED,
        ("contact",),
        [("anonymous-declined", True)],
        {"complaint-ack"},
    ),
    (
        "named but for an unnamed third party is declined",
        replace(COMPLETE, on_behalf_of=""),
        Kind.COMPLAINT,
        Status.DECLINED,
        (),
        [("anonymous-declined", True)],
        {"complaint-ack"},
    ),
    (
        "anonymous hazard is accepted",
        replace(COMPLETE, person=Person(), safety=True),
        Kind.HAZARD,
        Status.OPEN,
        (),
        [("ack-hazard", False)],
        {"hazard-inspection", "follow-up"},
    ),
    (
        "safety phrase in free text makes a hazard",
        replace(EMAIL, text="There is a gas leak outside 12 Elm St", what="gas leak"),
        Kind.HAZARD,
        Status.OPEN,
        (),
        [("ack-hazard", False)],
        {"email-ack", "hazard-inspection", "email-response", "follow-up"},
    ),
    (
        "council decision is redirected for review",
        replace(EMAIL, text="I object to the council decision to close the library"),
        Kind.OUT_OF_SCOPE,
        Status.REDIRECTED,
        (),
        [("out-of-scope", True)],
        {"email-ack"},
    ),
    (
        "employee matter is redirected",
        replace(EMAIL, text="My supervisor at the works yard keeps changing my shifts"),
        Kind.OUT_OF_SCOPE,
        Status.REDIRECTED,
        (),
        [("out-of-scope", True)],
        {"email-ack"},
    ),
    (
        "the resident's confirmed scope wins",
        replace(COMPLETE, scope_hint="appeal"),
        Kind.OUT_OF_SCOPE,
        Status.REDIRECTED,
        (),
        [("out-of-scope", True)],
        {"complaint-ack"},
    ),
    (
        "Council or Ombudsman involvement waits for a person",
        replace(COMPLETE, text="I already wrote to the Mayor and the Ombudsman about it"),
        Kind.COMPLAINT,
        Status.OPEN,
        (),
        [("ack-complaint", True)],
        {"complaint-ack", "follow-up"},
    ),
    (
        "a compliment is recorded and thanked",
        replace(
            EMAIL,
            text="Great job by the snow crew on our street this morning",
            what="Great job by the snow crew",
        ),
        Kind.FEEDBACK,
        Status.RECORDED,
        (),
        [("feedback-thanks", False)],
        {"email-ack"},
    ),
    (
        "a pothole is a request for service",
        replace(EMAIL, text="There is a deep pothole on Main Street, please fix it"),
        Kind.REQUEST,
        Status.OPEN,
        ("when", "contact"),
        [("ack-email", False)],
        {"email-ack", "email-response", "follow-up"},
    ),
]


@pytest.mark.parametrize(
    ("sub", "kind", "status", "missing", "replies", "clocks"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decide_table(sub, kind, status, missing, replies, clocks):
    decision = decide(sub, NOW, POLICY)
    assert decision.kind is kind
    assert decision.status is status
    assert decision.missing == missing
    assert [(r.kind, r.review) for r in decision.replies] == replies
    assert set(decision.deadlines) == clocks
    assert decision.hits, "every decision names the rule that made it"


def test_deadlines_follow_the_business_calendar():
    decision = decide(COMPLETE, NOW, POLICY)
    assert iso(decision.deadlines["complaint-ack"]) == "2026-11-26T16:30:00-05:00"
    assert iso(decision.deadlines["follow-up"]) == "2026-12-09T16:30:00-05:00"
    email = decide(EMAIL, NOW, POLICY)
    assert iso(email.deadlines["email-ack"]) == "2026-11-27T16:30:00-05:00"
    # 15 business days from Wed Nov 25, none of them holidays: Dec 16.
    assert iso(email.deadlines["email-response"]) == "2026-12-16T16:30:00-05:00"


def test_deadlines_skip_christmas():
    sub = replace(COMPLETE, received_at=datetime(2026, 12, 24, 16, 55, tzinfo=TZ))
    decision = decide(sub, datetime(2026, 12, 24, 17, 0, tzinfo=TZ), POLICY)
    assert iso(decision.deadlines["complaint-ack"]) == "2026-12-29T16:30:00-05:00"


def test_receipt_in_the_future_is_not_trusted():
    sub = replace(COMPLETE, received_at=datetime(2027, 1, 5, 9, 0, tzinfo=TZ))
    assert decide(sub, NOW, POLICY).deadlines == decide(COMPLETE, NOW, POLICY).deadlines


def test_decide_is_pure_and_repeatable():
    assert decide(EMAIL, NOW, POLICY) == decide(EMAIL, NOW, POLICY)


def test_missing_info_reviewed_when_configured():
    policy = Policy.from_config(parse_config({"review": {"missing-info": "review"}}))
    decision = decide(EMAIL, NOW, policy)
    assert [(r.kind, r.review) for r in decision.replies] == [
        ("ack-email", False),
        ("missing-info", True),
    ]


def test_acknowledgement_can_be_configured_for_review():
    policy = Policy.from_config(parse_config({"review": {"ack-complaint": "review"}}))
    assert [(r.kind, r.review) for r in decide(COMPLETE, NOW, policy).replies] == [
        ("ack-complaint", True)
    ]


def test_extra_phrases_from_configuration():
    policy = Policy.from_config(parse_config({"rules": {"safety": ["ice dam"]}}))
    sub = replace(EMAIL, text="An ice dam has formed on the library roof")
    assert decide(sub, NOW, policy).kind is Kind.HAZARD
    assert decide(sub, NOW, POLICY).kind is not Kind.HAZARD


def test_rule_hit_explains_itself():
    sub = replace(EMAIL, text="There is a downed wire on Elm St")
    hit = decide(sub, NOW, POLICY).hits[0]
    assert hit.rule == "safety-threat"
    assert "downed wire" in hit.reason


def test_the_example_configuration_is_valid_and_matches_the_defaults():
    from pathlib import Path

    from bot.config import load_config

    example = load_config(Path(__file__).resolve().parents[2] / "caredesk.example.toml")
    defaults = Config()
    assert example.sla == defaults.sla
    assert example.review == defaults.review
    assert example.care == defaults.care and example.ombudsman == defaults.ombudsman
    assert example.city.extra_closures  # the example shows how closures are written


# -- issue 8: phrase rules know negation and context; the resident's answer wins ----------

RULES = POLICY.rules


@pytest.mark.parametrize(
    "text",
    [
        "no fire",
        "There is no fire, just a lot of litter",
        "It is not dangerous, but it is ugly",
        "Nobody is in danger",
        "no one is in danger right now",
        "The fire hydrant on Elm St is leaking",
        "The fire route sign fell over",
        "The fire hall parking lot has potholes",
        "I applied to the flood rebate program in May",
        "My basement flood rebate never arrived",
        "When will the smoke detector rebate be paid?",
        "I don't smell gas any more",
        "The council should fire the contractor",
    ],
)
def test_safety_phrases_in_negation_or_naming_a_thing_are_not_hazards(text):
    assert RULES.safety.check(text) is None
    assert decide(replace(EMAIL, text=text), NOW, POLICY).kind is not Kind.HAZARD


@pytest.mark.parametrize(
    "text",
    [
        "there is a fire",
        "There is a live wire on the sidewalk",
        "Gas smell outside number 12",
        "It smells like gas in the lobby",
        "A sparking wire is hanging over the path",
        "Water pouring into the street from a broken main",
        "A tree fell on a car on Oak Avenue",
        "The fire hydrant is fine but there is a fire in the park",
        "No idea why, but there is smoke coming from the manhole",
        "No one noticed the fire until it spread to the fence",
    ],
)
def test_real_hazards_are_still_hazards(text):
    assert RULES.safety.check(text) is not None
    assert decide(replace(EMAIL, text=text), NOW, POLICY).kind is Kind.HAZARD


def test_an_ignored_phrase_says_why():
    scan = RULES.safety.scan("The fire hydrant on Elm St is leaking")
    assert scan.hit is None
    assert [i.reason for i in scan.ignored] == [
        "the phrase 'fire' was ignored: 'fire hydrant' names a thing, not an event"
    ]
    negated = RULES.safety.scan("Nobody is in danger")
    assert negated.ignored and "negated by 'nobody'" in negated.ignored[0].reason
    decision = decide(replace(EMAIL, text="The fire hydrant is leaking"), NOW, POLICY)
    assert any("names a thing" in h.reason for h in decision.hits)


def test_negation_applies_to_the_other_phrase_rules():
    kind, _hit = RULES.classify("This is not a complaint, just a big thank you to the crew")
    assert kind is Kind.FEEDBACK
    assert RULES.out_of_scope("This is not about a parking ticket, the bin was not emptied") is None
    assert RULES.out_of_scope("I got a parking ticket while the meter was broken") is not None


def test_a_negator_in_another_clause_does_not_count():
    assert RULES.safety.check("No answer from 311, and there is a fire behind the school")
    assert RULES.safety.check("I called, but nobody came; now the basement is flooded")


def test_phrase_rules_are_linear_on_hostile_text():
    # Bounded and linear: a megabyte of one word, and of "no fire" repeated, are read at once.
    assert RULES.safety.check("a" * 1_000_000) is None
    assert RULES.safety.check("no fire " * 100_000) is None


def test_the_residents_no_wins_over_a_safety_phrase_and_staff_are_told():
    sub = replace(COMPLETE, text="Someone set a fire in the bin and nobody came", safety=False)
    decision = decide(sub, NOW, POLICY)
    assert decision.kind is Kind.COMPLAINT and decision.status is Status.OPEN
    [flag] = [h for h in decision.hits if h.rule == "safety-phrase-vs-answer"]
    assert "no one is in immediate danger" in flag.reason and "'fire'" in flag.reason
    assert flag in decision.flags


def test_the_residents_yes_makes_a_hazard_without_any_phrase():
    decision = decide(replace(COMPLETE, safety=True), NOW, POLICY)
    assert decision.kind is Kind.HAZARD and decision.hits[0].rule == "resident-safety"
    assert decision.flags == ()


def test_not_asked_lets_the_phrases_decide():
    sub = replace(EMAIL, text="Someone set a fire in the bin behind the arena")
    assert sub.safety is None
    decision = decide(sub, NOW, POLICY)
    assert decision.kind is Kind.HAZARD and decision.flags == ()


def test_the_residents_no_to_the_scope_question_wins_and_staff_are_told():
    sub = replace(COMPLETE, text="My parking ticket was issued while the meter was broken")
    decision = decide(sub, NOW, POLICY)  # scope_hint "": the resident said carry on
    assert decision.kind is Kind.COMPLAINT and decision.status is Status.OPEN
    assert [h.rule for h in decision.flags] == ["scope-phrase-vs-answer"]


def test_things_named_after_hazards_are_configurable():
    policy = Policy.from_config(parse_config({"rules": {"safety_not_events": ["smoke break"]}}))
    sub = replace(EMAIL, text="The crew took a long smoke break outside my house")
    assert decide(sub, NOW, POLICY).kind is Kind.HAZARD
    assert decide(sub, NOW, policy).kind is not Kind.HAZARD


def test_no_streetlight_is_still_a_request():
    kind, _hit = RULES.classify("There is no streetlight on our road at all")
    assert kind is Kind.REQUEST


def test_thanks_for_nothing_is_a_complaint():
    assert RULES.classify("Thanks for nothing, the bins are full again")[0] is Kind.COMPLAINT
    assert RULES.classify("No thanks needed, just letting you know")[0] is not Kind.FEEDBACK
