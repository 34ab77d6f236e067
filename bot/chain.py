"""The policy as one chain of rules: an ordered table, evaluated the same way for every channel.

Mail systems have long expressed policy this way (GNU Mailman's rules and chains): each rule
asks one yes/no question of a message, says why, and names what happens when it fires. The
whole policy of `decide()` is the table `chain()` below, read top to bottom
(bot/chain_engine.py evaluates it):

* a rule that *decides* something (whether there is a hazard, the out-of-scope category, the
  kind, the status, the acknowledgement clock) is tried only while that is still open; the
  first that fires decides it, and the later ones are recorded as "not tried";
* every other rule (notes, flags for staff, review, clocks, holds) is tried every time;
* `unreadable` ends the chain: nothing can be decided from a message nothing was read from.

Rules are pure functions of a `Context`: the submission (with the resident's explicit answers,
which win over phrases), the phrase rules of bot/policy.py, and `Facts` that need the store
(a recent bounce, the acknowledgement counts, a quoted case from another sender), gathered by
the caller and passed in as plain data. Evaluating the chain yields the `Decision` and the
trace: every rule, whether it fired, why, and its action, so `caredesk explain`,
`caredesk mail inspect`, `caredesk cases show` and the staff pages show the same reasoning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.chain_engine import (
    Action,
    AddressFacts,
    Context,
    Facts,
    Rule,
    State,
    Test,
    fire,
    miss,
    run,
)
from bot.model import ITEMS, Decision, Kind, RuleHit, Status, Submission, Traced
from bot.policy import REQUIRED, Policy, Rules

__all__ = [
    "AddressFacts",
    "Evaluation",
    "Facts",
    "chain",
    "classification",
    "classify_only",
    "declines",
    "evaluate",
    "is_anonymous",
    "missing_items",
]


# -- helpers the rules share -----------------------------------------------------------------


def is_anonymous(sub: Submission) -> bool:
    """Policy 02.01: no identity, or on behalf of someone not named.

    An email address is an identity for mail (the city can write back and ask for a name);
    in chat the resident is asked for a name and declining to give one is anonymity.
    """
    if sub.on_behalf_of is not None and not sub.on_behalf_of.strip():
        return True
    if sub.person.name:
        return False
    return not (sub.channel == "email" and sub.person.reachable)


def declines(kind: Kind, sub: Submission) -> bool:
    """Policy 02.01 for a classified submission: the test of the chain's `anonymous-allegation`
    rule, which the dialogue's summary ("recorded but not investigated") also uses."""
    return kind in (Kind.COMPLAINT, Kind.OUT_OF_SCOPE) and is_anonymous(sub)


def missing_items(sub: Submission, kind: Kind) -> tuple[str, ...]:
    missing = []
    for item in REQUIRED[kind]:
        if item == "contact":
            if not (sub.person.name and sub.person.reachable):
                missing.append(item)
        elif not (sub.item(item) or "").strip():
            missing.append(item)
    return tuple(missing)


def _ack_clock_name(ctx: Context, state: State) -> str:
    return state.ack_clock or "email-ack"


# -- the tests -------------------------------------------------------------------------------


def t_unreadable(ctx: Context, state: State) -> Test:
    why = ctx.facts.unreadable
    if why is None:
        return miss("the message could be read")
    return fire(f"nothing could be read: {why}", RuleHit("unreadable", why))


def t_resident_safety(ctx: Context, state: State) -> Test:
    if ctx.sub.safety is True:
        why = "the resident said someone is in immediate danger"
        return fire(why, RuleHit("resident-safety", why))
    if ctx.sub.safety is False:
        return miss("the resident said no one is in immediate danger")
    return miss("the danger question was not asked or not answered")


def t_safety_phrase(ctx: Context, state: State) -> Test:
    hit = ctx.safety.hit
    if hit is None:
        return miss("no safety phrase in the text")
    if ctx.sub.safety is False:
        return miss(f"{hit.reason}, but the resident's answer says no danger: the answer wins")
    return fire(hit.reason, hit)


def t_safety_ignored(ctx: Context, state: State) -> Test:
    ignored = ctx.safety.ignored
    if not ignored:
        return miss("no safety phrase was set aside")
    return fire("; ".join(h.reason for h in ignored), *ignored)


def t_safety_vs_answer(ctx: Context, state: State) -> Test:
    hit = ctx.safety.hit
    if hit is None or ctx.sub.safety is not False:
        return miss("no safety phrase contradicts an answer")
    why = (
        "the resident's answers say no one is in immediate danger, but the text "
        f"{hit.reason}; kept as the resident said, for staff to check"
    )
    return fire(why, RuleHit("safety-phrase-vs-answer", why))


def t_resident_scope(ctx: Context, state: State) -> Test:
    hint = ctx.sub.scope_hint
    if hint:
        why = f"the resident confirmed it is {hint!r}"
        return fire(why, RuleHit("resident-confirmed-scope", why))
    if hint == "":
        return miss("the resident carried on in the complaint process")
    return miss("the scope question was not asked")


def t_scope_phrase(category: str) -> Callable[[Context, State], Test]:
    def test(ctx: Context, state: State) -> Test:
        found = ctx.scope
        if found is None or found[0] != category:
            return miss("no phrase matched")
        if ctx.sub.scope_hint is not None:
            return miss(f"{found[1].reason}, but the resident answered the scope question")
        return fire(found[1].reason, found[1])

    return test


def t_scope_vs_answer(ctx: Context, state: State) -> Test:
    found = ctx.scope
    if found is None or ctx.sub.scope_hint != "":
        return miss("no scope phrase contradicts an answer")
    if state.hazard is not None:
        return miss("a hazard is dealt with whatever its scope")
    why = (
        f"the text may be out of scope ({found[1].reason}), but the resident carried "
        "on in the complaint process; kept as is, for staff to check"
    )
    return fire(why, RuleHit("scope-phrase-vs-answer", why))


def t_resident_choice(ctx: Context, state: State) -> Test:
    if ctx.sub.kind_hint is None:
        return miss("the resident did not choose a type")
    why = f"the resident chose {ctx.sub.kind_hint.value!r}"
    return fire(why, RuleHit("resident-choice", why))


def t_words(name: str) -> Callable[[Context, State], Test]:
    """A kind rule of bot/policy.py: fires when `Rules.classify` decided by it."""

    def test(ctx: Context, state: State) -> Test:
        _kind, hit = ctx.words
        if hit.rule == name:
            return fire(hit.reason, hit)
        return miss("no phrase matched")

    return test


def t_default_kind(names: frozenset[str]) -> Callable[[Context, State], Test]:
    def test(ctx: Context, state: State) -> Test:
        _kind, hit = ctx.words
        if hit.rule in names:
            return miss("a phrase rule decided")
        return fire(hit.reason, hit)

    return test


def t_sensitive(ctx: Context, state: State) -> Test:
    hit = ctx.sensitive
    if hit is None:
        return miss("no mention of Council, the CAO or the Ombudsman")
    return fire(f"{hit.reason}: every reply is drafted for staff", hit)


def t_ack_email(ctx: Context, state: State) -> Test:
    return fire("an email") if ctx.email else miss("not an email")


def t_ack_kind(kind: Kind) -> Callable[[Context, State], Test]:
    def test(ctx: Context, state: State) -> Test:
        if state.final_kind is kind:
            return fire(f"a chat {kind.value}")
        return miss(f"not a {kind.value}")

    return test


def t_always(why: str) -> Callable[[Context, State], Test]:
    return lambda ctx, state: fire(why)


def t_anonymous(ctx: Context, state: State) -> Test:
    kind = state.final_kind
    if kind not in (Kind.COMPLAINT, Kind.OUT_OF_SCOPE):
        return miss(f"a {kind.value} is dealt with without a name (02.01 covers allegations)")
    if not declines(kind, ctx.sub):
        return miss("the resident is identified")
    why = "no name and contact, or on behalf of someone not named, and no safety threat (02.01)"
    return fire(
        "anonymous allegations are not investigated (02.01)",
        RuleHit("anonymous-allegation", why),
    )


def t_out_of_scope(ctx: Context, state: State) -> Test:
    if state.final_kind is Kind.OUT_OF_SCOPE:
        assert state.scope is not None
        return fire(f"out of scope (02.03): {state.scope[0]}")
    if state.scope is not None:
        return miss("a hazard is dealt with whatever its scope")
    return miss("not out of scope")


def t_feedback(ctx: Context, state: State) -> Test:
    if state.final_kind is Kind.FEEDBACK:
        return fire("feedback is recorded and thanked; no investigation clock")
    return miss("not feedback")


def t_enquiry(ctx: Context, state: State) -> Test:
    if state.final_kind is Kind.OTHER:
        return fire("a question is recorded and answered by a person; no investigation clock")
    return miss("not a question or a message for someone else")


def t_ack_reply(kind: Kind | None, email: bool = False) -> Callable[[Context, State], Test]:
    def test(ctx: Context, state: State) -> Test:
        if email and not ctx.email:
            return miss("not an email")
        if kind is not None and state.final_kind is not kind:
            return miss(f"not a {kind.value}")
        return fire(f"acknowledge within the {_ack_clock_name(ctx, state)} window")

    return test


def t_open_clock(kind: Kind | None = None, email: bool = False) -> Callable[[Context, State], Test]:
    def test(ctx: Context, state: State) -> Test:
        if state.status is not Status.OPEN:
            return miss(f"the case is {state.status.value if state.status else 'not open'}")
        if kind is not None and state.final_kind is not kind:
            return miss(f"not a {kind.value}")
        if email and not ctx.email:
            return miss("not an email")
        return fire("the case is open")

    return test


def t_ask_missing(ctx: Context, state: State) -> Test:
    if state.status is not Status.OPEN:
        return miss("only an open case asks for items")
    if state.final_kind is Kind.HAZARD:
        return miss("a hazard is inspected first; nothing is asked")
    missing = missing_items(ctx.sub, state.final_kind)
    if not missing:
        return miss("nothing is missing")
    if not ctx.needs_review("missing-info"):
        return miss("the acknowledgement itself asks for: " + ", ".join(missing))
    return fire("ask for the items policy 04.01 needs: " + ", ".join(missing))


def t_not_verified(ctx: Context, state: State) -> Test:
    why = ctx.facts.sender_not_verified
    if why is None:
        return miss("the sender is verified, or the check does not apply")
    return fire(why, RuleHit("sender-not-verified", why))


def t_address(
    check: Callable[[AddressFacts, Context], str | None], rule: str
) -> Callable[[Context, State], Test]:
    def test(ctx: Context, state: State) -> Test:
        facts = ctx.facts.address
        if facts is None:
            return miss("no automatic email to the resident's address")
        why = check(facts, ctx)
        if why is None:
            return miss("within the limit")
        return fire(why, RuleHit(rule, why))

    return test


def _bounced(facts: AddressFacts, ctx: Context) -> str | None:
    assert ctx.policy is not None
    days = ctx.policy.config.mail.bounce_memory_days
    return f"mail to this address bounced in the last {days} days" if facts.bounced else None


def _per_sender(facts: AddressFacts, ctx: Context) -> str | None:
    assert ctx.policy is not None
    limit = ctx.policy.config.mail.ack_per_sender_per_day
    return f"rate limit: {limit} acknowledgements a day" if facts.acks_today >= limit else None


def _per_hour(facts: AddressFacts, ctx: Context) -> str | None:
    assert ctx.policy is not None
    limit = ctx.policy.config.mail.acks_per_hour
    if facts.acks_this_hour >= limit:
        return f"rate limit: {limit} acknowledgement emails an hour in all"
    return None


def t_thread_other(ctx: Context, state: State) -> Test:
    ref = ctx.facts.quoted_case
    if ref is None:
        return miss("quotes no case")
    if ctx.facts.quoted_from_resident and ctx.facts.sender_not_verified is None:
        return miss(f"a reply from case {ref}'s own resident: it joins that case")
    sender = "an unverified sender" if ctx.facts.sender_not_verified else "another address"
    why = f"quotes case {ref} from {sender}: filed on its own"
    return fire(why, RuleHit("thread-other-sender", why))


def t_ombudsman_office(ctx: Context, state: State) -> Test:
    why = ctx.facts.ombudsman_office
    if why is None:
        return miss("not verified mail from the Ombudsman's office")
    return fire(why, RuleHit("ombudsman-office", why))


def t_ombudsman_claimed(ctx: Context, state: State) -> Test:
    why = ctx.facts.ombudsman_claimed
    if why is None:
        return miss("claims no Ombudsman's office address it could not prove")
    return fire(why, RuleHit("ombudsman-not-verified", why))


# -- the table -------------------------------------------------------------------------------


def classification(rules: Rules) -> tuple[Rule, ...]:
    """The first part of the chain: danger, scope, kind. The dialogue's summary runs only this
    part, so what it tells the resident and what `decide()` files never disagree. The phrase
    rules come from `rules` (bot/policy.py, extended by the configuration)."""
    scope = tuple(
        Rule(
            phrase.name,
            phrase.description,
            t_scope_phrase(category),
            Action("out-of-scope", category),
            "scope",
        )
        for category, phrase in rules.scope
    )
    kinds = tuple(
        Rule(phrase.name, phrase.description, t_words(phrase.name), Action("kind", kind), "kind")
        for kind, phrase in rules.kinds
    )
    names = frozenset(phrase.name for _kind, phrase in rules.kinds)
    return (
        Rule(
            "unreadable",
            "nothing could be read from the email: staff read the raw message",
            t_unreadable,
            Action("unreadable", "for staff, nothing sent; email-ack clock"),
        ),
        Rule(
            "resident-safety",
            "the resident answered that someone is in immediate danger",
            t_resident_safety,
            Action("hazard"),
            "hazard",
        ),
        Rule(
            rules.safety.name,
            rules.safety.description + " (only when the resident was not asked)",
            t_safety_phrase,
            Action("hazard"),
            "hazard",
        ),
        Rule(
            rules.safety.name + "-ignored",
            "a safety word that names a thing, or is negated, is set aside",
            t_safety_ignored,
            Action("note"),
        ),
        Rule(
            "safety-phrase-vs-answer",
            "a safety phrase contradicts the resident's 'no danger' answer",
            t_safety_vs_answer,
            Action("flag"),
        ),
        Rule(
            "resident-confirmed-scope",
            "the resident confirmed the message is for another process (02.03)",
            t_resident_scope,
            Action("out-of-scope", "as confirmed"),
            "scope",
        ),
        *scope,
        Rule(
            "scope-phrase-vs-answer",
            "an out-of-scope phrase, but the resident chose to carry on",
            t_scope_vs_answer,
            Action("flag"),
        ),
        Rule(
            "resident-choice",
            "the resident chose the type of message",
            t_resident_choice,
            Action("kind", "as chosen"),
            "kind",
        ),
        *kinds,
        Rule(
            "default-complaint",
            "no phrase matched: a complaint, so a person reads it",
            t_default_kind(names),
            Action("kind", Kind.COMPLAINT),
            "kind",
        ),
    )


def _ack(name: str, clock: str, test: Callable[[Context, State], Test]) -> Rule:
    return Rule(name, f"the acknowledgement clock is {clock}", test, Action("clock", clock), "ack")


def _status(
    name: str, description: str, test: Callable[[Context, State], Test], verb: str, reply: str
) -> Rule:
    return Rule(name, description, test, Action(verb, reply), "status")


GATES: tuple[Rule, ...] = (
    Rule(
        "council-cao-ombudsman",
        "involves Council, the CAO or the Ombudsman: staff vet every reply",
        t_sensitive,
        Action("review", "every reply"),
    ),
    Rule(
        "ombudsman-office",
        "verified mail from the Ombudsman's office (04.06): never acknowledged automatically; "
        "a supervisor handles it and the City Clerk is told",
        t_ombudsman_office,
        Action("review", "every reply"),
    ),
    _ack("email-ack-clock", "email-ack", t_ack_email),
    _ack("hazard-ack-clock", "hazard-inspection", t_ack_kind(Kind.HAZARD)),
    _ack("request-ack-clock", "request-ack", t_ack_kind(Kind.REQUEST)),
    _ack("complaint-ack-clock", "complaint-ack", t_always("any other chat message")),
    _status(
        "anonymous-allegation",
        "an anonymous complaint is recorded, not investigated (02.01)",
        t_anonymous,
        "decline",
        "anonymous-declined",
    ),
    _status(
        "out-of-scope",
        "a matter for another process is pointed there (02.03)",
        t_out_of_scope,
        "redirect",
        "out-of-scope",
    ),
    _status(
        "feedback",
        "a compliment or suggestion is recorded and thanked",
        t_feedback,
        "record",
        "feedback-thanks",
    ),
    _status(
        "enquiry",
        "a question, or a message for someone else, is recorded; staff answer it",
        t_enquiry,
        "record",
        "enquiry-answer",
    ),
    _status(
        "acknowledge-hazard",
        "a hazard is acknowledged with the inspection date",
        t_ack_reply(Kind.HAZARD),
        "acknowledge",
        "ack-hazard",
    ),
    _status(
        "acknowledge-email",
        "an email is acknowledged by email",
        t_ack_reply(None, email=True),
        "acknowledge",
        "ack-email",
    ),
    _status(
        "acknowledge-request",
        "a request for service is acknowledged",
        t_ack_reply(Kind.REQUEST),
        "acknowledge",
        "ack-request",
    ),
    _status(
        "acknowledge-complaint",
        "a complaint is acknowledged",
        t_ack_reply(None),
        "acknowledge",
        "ack-complaint",
    ),
    Rule(
        "hazard-inspection-clock",
        "a hazard is inspected within its window",
        t_open_clock(Kind.HAZARD),
        Action("clock", "hazard-inspection"),
    ),
    Rule(
        "email-response-clock",
        "an email is answered within its window",
        t_open_clock(email=True),
        Action("clock", "email-response"),
    ),
    Rule(
        "follow-up-clock",
        "an open case is followed up",
        t_open_clock(),
        Action("clock", "follow-up"),
    ),
    Rule(
        "ask-missing",
        "a separate request for the missing items, vetted by staff (04.01)",
        t_ask_missing,
        Action("ask", "missing-info"),
    ),
    Rule(
        "sender-not-verified",
        "the city's mail server could not verify the sender: replies wait for staff",
        t_not_verified,
        Action("hold", "every reply"),
    ),
    Rule(
        "ombudsman-not-verified",
        "From names the Ombudsman's office but the city's mail server did not verify it: "
        "treated as a resident's mail, replies wait for staff, the Clerk is not told",
        t_ombudsman_claimed,
        Action("hold", "every reply"),
    ),
    Rule(
        "recent-bounce",
        "mail to the resident's address bounced recently: no automatic email",
        t_address(_bounced, "recent-bounce"),
        Action("hold-email"),
    ),
    Rule(
        "sender-rate-limit",
        "too many acknowledgements to this address today: no automatic email",
        t_address(_per_sender, "sender-rate-limit"),
        Action("hold-email"),
    ),
    Rule(
        "hourly-rate-limit",
        "too many acknowledgement emails this hour: no automatic email",
        t_address(_per_hour, "hourly-rate-limit"),
        Action("hold-email"),
    ),
    Rule(
        "thread-other-sender",
        "quotes a case, but not from its resident (or not verified): filed on its own, linked",
        t_thread_other,
        Action("link"),
    ),
)


def chain(rules: Rules) -> tuple[Rule, ...]:
    """The whole chain, in the order it is evaluated."""
    return (*_classification(rules), *GATES)


#: The classification rules built for a `Rules` (one per configuration, built once).
_BUILT: dict[int, tuple[Rules, tuple[Rule, ...]]] = {}


def _classification(rules: Rules) -> tuple[Rule, ...]:
    built = _BUILT.get(id(rules))
    if built is None or built[0] is not rules:
        if len(_BUILT) > 8:
            _BUILT.clear()
        built = _BUILT[id(rules)] = (rules, classification(rules))
    return built[1]


@dataclass(frozen=True)
class Evaluation:
    """The chain's result: the decision, its trace, and the three questions the classifier
    answers separately (what the words say the kind is, hazard, scope), which `explain` and
    the evaluation bench read."""

    decision: Decision
    trace: tuple[Traced, ...]
    kind: Kind | None  # the kind the resident's choice or the words give, hazard or not
    hazard: bool
    scope: str | None


def evaluate(
    sub: Submission, now: datetime, policy: Policy, facts: Facts | None = None
) -> Evaluation:
    ctx = Context(sub, policy.rules, policy, now, facts)
    state, trace = run(chain(policy.rules), ctx)
    if state.ended:
        decision = Decision(
            kind=Kind.COMPLAINT,
            status=Status.UNREADABLE,
            missing=ITEMS,
            deadlines=state.deadlines,
            replies=(),
            hits=tuple(state.hits),
            trace=trace,
        )
        return Evaluation(decision, trace, None, False, None)
    kind = state.final_kind
    assert state.status is not None
    category = state.scope[0] if kind is Kind.OUT_OF_SCOPE and state.scope else None
    decision = Decision(
        kind=kind,
        status=state.status,
        missing=() if state.status is Status.REDIRECTED else missing_items(sub, kind),
        deadlines=state.deadlines,
        replies=tuple(state.replies),
        hits=(state.deciding_hit, *state.hits),
        sensitive=state.sensitive,
        out_of_scope=category,
        flags=tuple(state.flags),
        trace=trace,
        email_held=state.email_held,
        linked=state.linked,
    )
    return Evaluation(
        decision,
        trace,
        state.kind[0] if state.kind else None,
        state.hazard is not None,
        state.scope[0] if state.scope else None,
    )


def classify_only(sub: Submission, rules: Rules) -> tuple[State, tuple[Traced, ...]]:
    """The classification part of the chain alone (no clocks, no configuration)."""
    return run(_classification(rules), Context(sub, rules))
