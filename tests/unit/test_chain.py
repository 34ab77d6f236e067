"""The policy chain (bot/chain.py) from tables: its order, each rule firing, a complete trace,
and that every part of a decision comes from a rule that fired (the chain is the only place
decisions are made)."""

from __future__ import annotations

import ast
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.chain import AddressFacts, Facts, chain, evaluate
from bot.config import Config, parse_config
from bot.decide import Policy, classify, decide
from bot.explain import explain
from bot.model import Decision, Kind, Person, Status, Submission

from ..scripts import COMPLAINT, EMAIL

TZ = ZoneInfo("America/Toronto")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)  # a Wednesday
POLICY = Policy.from_config(Config())
REVIEW_MISSING = Policy.from_config(parse_config({"review": {"missing-info": "review"}}))
ROOT = Path(__file__).resolve().parents[2]

CHAT = replace(COMPLAINT, when=None, safety=False)


def email(text: str, **changes: object) -> Submission:
    return replace(EMAIL, text=text, what=text, **changes)  # type: ignore[arg-type]


def chat(text: str, **changes: object) -> Submission:
    return replace(CHAT, text=text, what=text, **changes)  # type: ignore[arg-type]


#: One scenario per rule of the chain in which that rule fires: (rule, submission, facts,
#: policy). A rule added to the chain without a row here fails `test_every_rule_has_a_row`.
FIRES: list[tuple[str, Submission, Facts, Policy]] = [
    ("unreadable", replace(EMAIL, text=""), Facts(unreadable="no text part"), POLICY),
    ("resident-safety", replace(CHAT, safety=True), Facts(), POLICY),
    ("safety-threat", email("There is a gas leak at the arena"), Facts(), POLICY),
    ("safety-threat-ignored", email("The fire hydrant is leaking, please fix"), Facts(), POLICY),
    ("safety-phrase-vs-answer", chat("Smoke everywhere, the driver was rude"), Facts(), POLICY),
    ("resident-confirmed-scope", replace(CHAT, scope_hint="council"), Facts(), POLICY),
    ("council-decision", email("I object to the council decision on the arena"), Facts(), POLICY),
    ("employee-matter", email("My supervisor at the arena treats me badly"), Facts(), POLICY),
    ("own-appeal-process", email("I want to dispute my parking ticket"), Facts(), POLICY),
    ("other-authority", email("The police never answered my call"), Facts(), POLICY),
    ("scope-phrase-vs-answer", chat("I want to dispute my parking ticket"), Facts(), POLICY),
    ("resident-choice", replace(CHAT, kind_hint=Kind.REQUEST), Facts(), POLICY),
    ("complaint-words", email("The clerk was rude to me"), Facts(), POLICY),
    ("praise-words", email("Great job on the new library, well done"), Facts(), POLICY),
    ("request-words", email("There is a pothole on Elm Street"), Facts(), POLICY),
    ("thanks-words", email("Thank you"), Facts(), POLICY),
    ("sarcasm", email("Oh great, the truck came at 5 in the morning as usual"), Facts(), POLICY),
    ("question", email("What day is the leaf collection on Oak Avenue?"), Facts(), POLICY),
    ("hazard-report", email("There is a gas leak at the arena"), Facts(), POLICY),
    ("default-complaint", email("About the arena on Saturday morning"), Facts(), POLICY),
    (
        "council-cao-ombudsman",
        email("I wrote to the mayor and the clerk was rude"),
        Facts(),
        POLICY,
    ),
    ("ombudsman-office", EMAIL, Facts(ombudsman_office="DMARC passed"), POLICY),
    ("email-ack-clock", EMAIL, Facts(), POLICY),
    ("hazard-ack-clock", replace(CHAT, safety=True), Facts(), POLICY),
    ("request-ack-clock", replace(CHAT, kind_hint=Kind.REQUEST), Facts(), POLICY),
    ("complaint-ack-clock", CHAT, Facts(), POLICY),
    ("anonymous-allegation", replace(CHAT, person=Person()), Facts(), POLICY),
    ("out-of-scope", email("I want to dispute my parking ticket"), Facts(), POLICY),
    ("feedback", email("Great job on the new library, well done"), Facts(), POLICY),
    ("enquiry", chat("Where can I buy a dog licence?"), Facts(), POLICY),
    ("acknowledge-hazard", email("There is a gas leak at the arena"), Facts(), POLICY),
    ("acknowledge-email", EMAIL, Facts(), POLICY),
    ("acknowledge-request", replace(CHAT, kind_hint=Kind.REQUEST), Facts(), POLICY),
    ("acknowledge-complaint", CHAT, Facts(), POLICY),
    ("hazard-inspection-clock", email("There is a gas leak at the arena"), Facts(), POLICY),
    ("email-response-clock", EMAIL, Facts(), POLICY),
    ("follow-up-clock", CHAT, Facts(), POLICY),
    ("ask-missing", EMAIL, Facts(), REVIEW_MISSING),
    ("sender-not-verified", EMAIL, Facts(sender_not_verified="dkim=fail"), POLICY),
    ("ombudsman-not-verified", EMAIL, Facts(ombudsman_claimed="not verified"), POLICY),
    ("recent-bounce", EMAIL, Facts(address=AddressFacts(bounced=True)), POLICY),
    ("sender-rate-limit", EMAIL, Facts(address=AddressFacts(acks_today=3)), POLICY),
    ("hourly-rate-limit", EMAIL, Facts(address=AddressFacts(acks_this_hour=10**6)), POLICY),
    (
        "thread-other-sender",
        EMAIL,
        Facts(quoted_case="CD-2026-000001", quoted_from_resident=False),
        POLICY,
    ),
]
NAMES = [rule.name for rule in chain(POLICY.rules)]


def test_the_chain_in_order():
    """Danger first, then scope, then the kind; the gates after the classification; the
    resident's answers before the phrases that could contradict them."""
    assert NAMES == [
        "unreadable",
        "resident-safety",
        "safety-threat",
        "safety-threat-ignored",
        "safety-phrase-vs-answer",
        "resident-confirmed-scope",
        "council-decision",
        "employee-matter",
        "own-appeal-process",
        "other-authority",
        "scope-phrase-vs-answer",
        "resident-choice",
        "complaint-words",
        "sarcasm",
        "question",
        "praise-words",
        "request-words",
        "hazard-report",
        "thanks-words",
        "default-complaint",
        "council-cao-ombudsman",
        "ombudsman-office",
        "email-ack-clock",
        "hazard-ack-clock",
        "request-ack-clock",
        "complaint-ack-clock",
        "anonymous-allegation",
        "out-of-scope",
        "feedback",
        "enquiry",
        "acknowledge-hazard",
        "acknowledge-email",
        "acknowledge-request",
        "acknowledge-complaint",
        "hazard-inspection-clock",
        "email-response-clock",
        "follow-up-clock",
        "ask-missing",
        "sender-not-verified",
        "ombudsman-not-verified",
        "recent-bounce",
        "sender-rate-limit",
        "hourly-rate-limit",
        "thread-other-sender",
    ]


def test_every_rule_has_a_row():
    assert sorted(row[0] for row in FIRES) == sorted(NAMES)


def fired(decision: Decision) -> list[str]:
    return [t.rule for t in decision.trace if t.fired]


@pytest.mark.parametrize(("rule", "sub", "facts", "policy"), FIRES, ids=[r[0] for r in FIRES])
def test_each_rule_fires(rule, sub, facts, policy):
    decision = decide(sub, NOW, policy, facts)
    assert rule in fired(decision), [(t.rule, t.reason) for t in decision.trace]
    [line] = [t for t in decision.trace if t.rule == rule]
    assert line.reason and line.action


@pytest.mark.parametrize(("rule", "sub", "facts", "policy"), FIRES, ids=[r[0] for r in FIRES])
def test_the_trace_is_complete_and_in_order(rule, sub, facts, policy):
    """Every rule is in the trace once, in table order, with a reason, fired or not."""
    trace = decide(sub, NOW, policy, facts).trace
    assert [t.rule for t in trace] == NAMES
    assert all(t.reason.strip() for t in trace)


def test_a_deciding_rule_stops_the_later_ones_of_its_question():
    trace = {t.rule: t for t in decide(replace(CHAT, safety=True), NOW, POLICY).trace}
    assert trace["resident-safety"].fired
    assert not trace["safety-threat"].fired
    assert trace["safety-threat"].reason == "not tried: hazard already decided by resident-safety"


def test_unreadable_ends_the_chain():
    decision = decide(replace(EMAIL, text=""), NOW, POLICY, Facts(unreadable="no text part"))
    assert decision.status is Status.UNREADABLE and decision.replies == ()
    assert list(decision.deadlines) == ["email-ack"]
    assert [h.rule for h in decision.hits] == ["unreadable"]
    assert fired(decision) == ["unreadable"]
    assert all(t.reason == "not tried: unreadable" for t in decision.trace[1:])


# -- every part of a decision comes from a fired rule -------------------------------------------

VERB_STATUS = {
    "decline": Status.DECLINED,
    "redirect": Status.REDIRECTED,
    "record": Status.RECORDED,
    "acknowledge": Status.OPEN,
    "unreadable": Status.UNREADABLE,
}


@pytest.mark.parametrize(("rule", "sub", "facts", "policy"), FIRES, ids=[r[0] for r in FIRES])
def test_every_part_of_the_decision_traces_back_to_a_fired_rule(rule, sub, facts, policy):
    decision = decide(sub, NOW, policy, facts)
    rules = {r.name: r for r in chain(policy.rules)}
    actions = [(t.rule, rules[t.rule].action) for t in decision.trace if t.fired]
    verbs = [a.verb for _name, a in actions]
    # The status: exactly one fired rule set it.
    assert [VERB_STATUS[v] for v in verbs if v in VERB_STATUS] == [decision.status]
    # Each reply was planned by a fired rule; one that waits for staff has a reason to.
    planned = [a.arg for _n, a in actions if a.verb in ("decline", "redirect", "record")]
    planned += [a.arg for _n, a in actions if a.verb in ("acknowledge", "ask")]
    assert sorted(r.kind for r in decision.replies) == sorted(planned)
    for reply in decision.replies:
        if reply.review:
            assert (
                policy.config.needs_review(reply.kind)
                or "review" in verbs
                or "hold" in verbs
                or ("hold-email" in verbs and sub.channel == "email")
            ), reply
    # Each clock was set by a fired rule.
    clocks = {a.arg for _n, a in actions if a.verb == "clock"}
    if decision.status is Status.UNREADABLE:
        clocks.add("email-ack")
    assert set(decision.deadlines) == clocks
    # Each recorded hit and each flag names a rule that fired.
    names = set(fired(decision))
    for hit in decision.hits:
        assert hit.rule in names or hit.rule.removesuffix("-ignored") + "-ignored" in names, hit
    assert {f.rule for f in decision.flags} <= {n for n, a in actions if a.verb == "flag"}
    assert decision.sensitive == ("review" in verbs)
    assert (decision.linked is not None) == ("link" in verbs)
    assert (decision.email_held is not None) == ("hold-email" in verbs)


def test_only_the_chain_builds_decisions():
    """No other module constructs a Decision or plans a reply: the table is the policy."""
    builders = {"Decision", "PlannedReply"}
    found = []
    for folder in ("bot", "mail", "storage"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "id", getattr(node.func, "attr", None))
                    if name in builders or (
                        name == "replace" and node.args and _is_decision(node.args[0])
                    ):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    # bot/stored_case.py reads back what was decided (no rule run, no reply planned) so a
    # closing reply can be composed for a stored case.
    owners = ("bot/chain.py:", "bot/chain_engine.py:", "bot/stored_case.py:")
    assert found and all(f.startswith(owners) for f in found), found


def _is_decision(node: ast.expr) -> bool:
    return "decision" in ast.unparse(node).lower()


# -- the resident's explicit answers still win ------------------------------------------------


def test_a_no_danger_answer_wins_over_a_safety_phrase_and_is_flagged():
    decision = decide(chat("Smoke everywhere, the driver was rude"), NOW, POLICY)
    trace = {t.rule: t for t in decision.trace}
    assert decision.kind is Kind.COMPLAINT
    assert not trace["safety-threat"].fired and "the answer wins" in trace["safety-threat"].reason
    assert [f.rule for f in decision.flags] == ["safety-phrase-vs-answer"]


def test_carrying_on_wins_over_a_scope_phrase_and_is_flagged():
    decision = decide(chat("I want to dispute my parking ticket"), NOW, POLICY)
    assert decision.status is Status.OPEN and decision.out_of_scope is None
    assert [f.rule for f in decision.flags] == ["scope-phrase-vs-answer"]


def test_a_hazard_is_not_redirected_and_is_not_flagged_for_scope():
    decision = decide(chat("Smoke from the police station", safety=True), NOW, POLICY)
    assert decision.kind is Kind.HAZARD and decision.status is Status.OPEN
    assert decision.flags == ()


def test_the_residents_choice_wins_over_the_words():
    decision = decide(replace(CHAT, kind_hint=Kind.FEEDBACK), NOW, POLICY)
    assert decision.kind is Kind.FEEDBACK and decision.hits[0].rule == "resident-choice"


def test_the_summary_classifies_with_the_same_chain():
    for row in FIRES:
        sub = row[1]
        found, decision = classify(sub, POLICY.rules), decide(sub, NOW, POLICY)
        if decision.status is not Status.UNREADABLE:
            assert found.kind is decision.kind
            assert tuple(found.hits) == decision.hits[: len(found.hits)]
            assert found.flags == decision.flags


# -- store facts, passed in as data -------------------------------------------------------------


def test_a_limit_holds_an_emails_replies_but_only_the_copy_of_a_chat():
    bounced = Facts(address=AddressFacts(bounced=True))
    mail = decide(EMAIL, NOW, POLICY, bounced)
    assert all(r.review and "bounced" in r.why for r in mail.replies)
    web = decide(CHAT, NOW, POLICY, bounced)
    assert [(r.kind, r.review) for r in web.replies] == [("ack-complaint", False)]
    assert web.email_held and "bounced" in web.email_held


def test_a_reply_from_the_cases_own_verified_resident_joins_it():
    facts = Facts(quoted_case="CD-2026-000001", quoted_from_resident=True)
    assert decide(EMAIL, NOW, POLICY, facts).linked is None
    unverified = replace(facts, sender_not_verified="no trusted result")
    assert decide(EMAIL, NOW, POLICY, unverified).linked == "CD-2026-000001"


def test_holds_keep_their_first_reason():
    facts = Facts(
        sender_not_verified="dkim=fail", address=AddressFacts(bounced=True, acks_today=99)
    )
    decision = decide(EMAIL, NOW, POLICY, facts)
    assert {r.why for r in decision.replies} == {"held for staff: dkim=fail"}
    assert [h.rule for h in decision.hits][-3:] == [
        "sender-not-verified",
        "recent-bounce",
        "sender-rate-limit",
    ]


# -- explain ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "hazard", "scope", "status"),
    [
        ("The driver was rude to me yesterday", "complaint", False, None, "open"),
        ("There is a pothole on Elm Street", "request", False, None, "open"),
        ("Great job on the new library, well done", "feedback", False, None, "recorded"),
        ("What day is the leaf collection on Oak Avenue?", "other", False, None, "recorded"),
        (
            "Is this the right address for the arena's lost and found?",
            "other",
            False,
            None,
            "recorded",
        ),
        ("There is a gas leak, the driver was rude", "complaint", True, None, "open"),
        ("I want to dispute my parking ticket", "complaint", False, "appeal", "redirected"),
        (
            "I object to the council decision on the arena",
            "complaint",
            False,
            "council",
            "redirected",
        ),
    ],
)
def test_explain_answers_each_question_separately(text, kind, hazard, scope, status):
    found = explain(text, NOW, POLICY)
    assert (found.kind, found.hazard, found.scope) == (kind, hazard, scope)
    assert found.decision.status.value == status
    assert [t.rule for t in found.trace] == NAMES
    assert found.as_dict()["trace"][0] == {
        "rule": "unreadable",
        "fired": False,
        "reason": "the message could be read",
        "action": str(chain(POLICY.rules)[0].action),
    }


def test_explain_reads_the_date_and_says_its_assumptions():
    found = explain("The bin was not collected yesterday at 3pm", NOW, POLICY)
    assert found.when == {
        "said": "yesterday at 3pm",
        "start": "2026-11-24T15:00:00-05:00",
        "end": "2026-11-24T15:01:00-05:00",
        "precision": "minute",
    }
    assert any("identified resident" in a for a in found.assumptions)
    anonymous = explain("The clerk was rude to me", NOW, POLICY, anonymous=True)
    assert anonymous.decision.status is Status.DECLINED
    web = explain("The clerk was rude to me", NOW, POLICY, channel="chat")
    assert "complaint-ack" in web.decision.deadlines and web.decision.replies[0].kind == (
        "ack-complaint"
    )
    with pytest.raises(ValueError, match="channel"):
        explain("x", NOW, POLICY, channel="fax")


def test_an_enquiry_is_recorded_with_a_drafted_answer_and_no_follow_up_clock():
    found = explain("How do I book the community centre hall for a party?", NOW, POLICY)
    d = found.decision
    assert (found.as_dict()["kind"], d.kind, d.status) == ("other", Kind.OTHER, Status.RECORDED)
    assert set(d.deadlines) == {"email-ack"} and d.next_date == d.deadlines["email-ack"]
    assert [(r.kind, r.review) for r in d.replies] == [("enquiry-answer", True)]
    anonymous = explain("When is the next hazardous waste day?", NOW, POLICY, anonymous=True)
    assert anonymous.decision.status is Status.RECORDED  # not an allegation: 02.01 not applied
    web = explain("Where can I buy a dog licence?", NOW, POLICY, channel="chat")
    assert set(web.decision.deadlines) == {"complaint-ack"}


def test_explain_and_decide_agree():
    sub = email("The clerk was rude to me")
    found = evaluate(sub, NOW, POLICY)
    assert found.decision == decide(sub, NOW, POLICY)


# -- mail: the loop guard's trace comes first ---------------------------------------------------


@pytest.mark.parametrize(
    "path", sorted((ROOT / "tests" / "corpus" / "mail").glob("*.eml")), ids=lambda p: p.name
)
def test_the_loop_guard_trace_names_the_rule_check_autoreply_finds(path):
    from bot.mail_intake import assess, guard_trace, mail_identity
    from mail.autoreply import RULES, check_autoreply
    from mail.parse import parse_message

    me = mail_identity(POLICY)
    inbound = parse_message(path.read_bytes())
    guard = guard_trace(inbound, me)
    assert [t.rule for t in guard] == [r.name for r in RULES]
    hit = check_autoreply(inbound, me)
    assert [t.rule for t in guard if t.fired] == ([hit.rule] if hit else [])
    found = assess(inbound, NOW, POLICY, me)
    assert found.trace[: len(guard)] == guard
    if found.decision is not None:
        assert found.trace[len(guard) :] == found.decision.trace
