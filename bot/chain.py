"""The policy as one chain of rules: an ordered table, evaluated the same way for every channel.

Mail systems have long expressed policy this way (GNU Mailman's rules and chains): each rule
asks one yes/no question of a message, says why, and names what happens when it fires. The
whole policy of `decide()` is the table `CHAIN` below, read top to bottom:

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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from bot.model import ITEMS, Decision, Kind, PlannedReply, RuleHit, Status, Submission, Traced
from bot.phrases import PhraseScan
from bot.policy import REQUIRED, Rules

if TYPE_CHECKING:
    from bot.decide import Policy


@dataclass(frozen=True)
class AddressFacts:
    """What the store knows about the resident's email address, read by the caller inside its
    writing transaction (bot/ack_limits.py), so two processes cannot both take the last place."""

    bounced: bool = False  # mail to it bounced within [mail] bounce_memory_days
    acks_today: int = 0  # automatic acknowledgements to it in the last 24 hours
    acks_this_hour: int = 0  # automatic acknowledgement emails to anyone in the last hour


@dataclass(frozen=True)
class Facts:
    """Everything the chain needs that is not in the submission: plain data, no store."""

    #: Why nothing could be read from an email (its parse defects), or None.
    unreadable: str | None = None
    #: Why the city's mail server could not verify the sender (Authentication-Results), or None.
    sender_not_verified: str | None = None
    #: The resident's email address as the store knows it; None when not looked up.
    address: AddressFacts | None = None
    #: A case this mail quotes (thread reply) and whether it came from that case's resident.
    quoted_case: str | None = None
    quoted_from_resident: bool = True


@dataclass(frozen=True)
class Action:
    """What a rule does when it fires; data, printed in the trace."""

    verb: str
    arg: str = ""

    def __str__(self) -> str:
        return f"{self.verb} {self.arg}".strip()


@dataclass(frozen=True)
class Test:
    """A rule's answer: whether it fired, why (or why not), and the hits it records."""

    fired: bool
    reason: str
    hits: tuple[RuleHit, ...] = ()


def fire(reason: str, *hits: RuleHit) -> Test:
    return Test(True, reason, hits)


def miss(reason: str) -> Test:
    return Test(False, reason)


class Context:
    """What the rules read. The phrase scans are made once, whichever rules ask."""

    def __init__(
        self,
        sub: Submission,
        rules: Rules,
        policy: Policy | None = None,
        now: datetime | None = None,
        facts: Facts | None = None,
    ) -> None:
        self.sub = sub
        self.rules = rules
        self.policy = policy
        self.now = now or sub.received_at
        self.facts = facts or Facts()

    @cached_property
    def safety(self) -> PhraseScan:
        return self.rules.safety.scan(self.sub.text)

    @cached_property
    def scope(self) -> tuple[str, RuleHit] | None:
        return self.rules.out_of_scope(self.sub.text)

    @cached_property
    def words(self) -> tuple[Kind, RuleHit]:
        return self.rules.classify(self.sub.text)

    @cached_property
    def sensitive(self) -> RuleHit | None:
        return self.rules.sensitive.check(self.sub.text)

    @property
    def email(self) -> bool:
        return self.sub.channel == "email"

    def due(self, clock: str) -> datetime:
        assert self.policy is not None
        # A clock skewed into the future is not trusted.
        return self.policy.due(clock, min(self.sub.received_at, self.now))

    def needs_review(self, reply: str) -> bool:
        assert self.policy is not None
        return self.policy.config.needs_review(reply)


@dataclass
class State:
    """What the rules fired so far have settled; later rules read it."""

    decided: dict[str, str] = field(default_factory=dict)  # dimension -> rule that decided it
    hazard: RuleHit | None = None
    scope: tuple[str, RuleHit] | None = None
    kind: tuple[Kind, RuleHit] | None = None
    status: Status | None = None
    ended: str | None = None
    sensitive: bool = False
    ack_clock: str | None = None
    hits: list[RuleHit] = field(default_factory=list)  # notes, flags, gates, holds: in order
    flags: list[RuleHit] = field(default_factory=list)
    deadlines: dict[str, datetime] = field(default_factory=dict)
    replies: list[PlannedReply] = field(default_factory=list)
    hold: str | None = None  # why automatic replies wait for staff
    email_held: str | None = None  # why no automatic email may go to the resident now
    linked: str | None = None  # a quoted case this mail is filed beside, not into

    @property
    def final_kind(self) -> Kind:
        """A hazard wins over everything; out of scope over the kind the words suggest."""
        if self.ended:
            return Kind.COMPLAINT
        if self.hazard is not None:
            return Kind.HAZARD
        if self.scope is not None:
            return Kind.OUT_OF_SCOPE
        assert self.kind is not None
        return self.kind[0]

    @property
    def deciding_hit(self) -> RuleHit:
        if self.hazard is not None:
            return self.hazard
        if self.scope is not None:
            return self.scope[1]
        assert self.kind is not None
        return self.kind[1]


@dataclass(frozen=True)
class Rule:
    """One row of the chain: a name, what it asks, its test, and its action when it fires.

    `decides` names what the rule settles ("hazard", "scope", "kind", "status", "ack-clock"):
    the first rule that fires settles it, later ones are not tried."""

    name: str
    description: str
    test: Callable[[Context, State], Test]
    action: Action
    decides: str | None = None


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


# -- evaluation ------------------------------------------------------------------------------


def _apply(rule: Rule, test: Test, ctx: Context, state: State) -> None:
    """Carry out a fired rule's action on the state. The verbs are few and fixed; which rule
    fires, and when, is the table's business."""
    verb, arg = rule.action.verb, rule.action.arg
    hit = test.hits[0] if test.hits else RuleHit(rule.name, test.reason)
    if verb == "unreadable":
        state.ended = rule.name
        state.status = Status.UNREADABLE
        state.hits.extend(test.hits)
        if ctx.policy is not None:
            state.deadlines["email-ack"] = ctx.due("email-ack")
    elif verb == "hazard":
        state.hazard = hit
    elif verb == "out-of-scope":
        state.scope = (ctx.sub.scope_hint or arg, hit)
    elif verb == "kind":
        state.kind = (
            (ctx.sub.kind_hint or ctx.words[0], hit) if arg == "as chosen" else (ctx.words[0], hit)
        )
    elif verb in ("note", "flag", "review"):
        state.hits.extend(test.hits)
        if verb == "flag":
            state.flags.extend(test.hits)
        if verb == "review":
            state.sensitive = True
    elif verb == "clock":
        state.deadlines[arg] = ctx.due(arg)
        if rule.decides == "ack":
            state.ack_clock = arg
    elif verb in ("decline", "redirect", "record", "acknowledge", "ask"):
        state.hits.extend(test.hits)
        if verb != "ask":
            state.status = {
                "decline": Status.DECLINED,
                "redirect": Status.REDIRECTED,
                "record": Status.RECORDED,
                "acknowledge": Status.OPEN,
            }[verb]
        review = ctx.needs_review(arg) or state.sensitive
        state.replies.append(PlannedReply(arg, review, test.reason))
    elif verb in ("hold", "hold-email"):
        state.hits.extend(test.hits)
        if verb == "hold" or ctx.email:  # for a chat, only the email copy is held
            state.hold = state.hold or test.reason
        if verb == "hold-email":
            state.email_held = state.email_held or test.reason
    elif verb == "link":
        state.hits.extend(test.hits)
        state.linked = ctx.facts.quoted_case
    else:  # a new verb needs its effect written here
        raise ValueError(f"rule {rule.name}: unknown action {verb!r}")


def run(table: Sequence[Rule], ctx: Context) -> tuple[State, tuple[Traced, ...]]:
    """Try every rule of `table` in order; the state and the trace."""
    state = State()
    trace: list[Traced] = []
    for rule in table:
        if state.ended:
            trace.append(Traced(rule.name, False, f"not tried: {state.ended}", str(rule.action)))
            continue
        if rule.decides and rule.decides in state.decided:
            why = f"not tried: {rule.decides} already decided by {state.decided[rule.decides]}"
            trace.append(Traced(rule.name, False, why, str(rule.action)))
            continue
        test = rule.test(ctx, state)
        trace.append(Traced(rule.name, test.fired, test.reason, str(rule.action)))
        if test.fired:
            if rule.decides:
                state.decided[rule.decides] = rule.name
            _apply(rule, test, ctx, state)
    if state.hold:
        held = f"held for staff: {state.hold}"
        state.replies = [r if r.review else PlannedReply(r.kind, True, held) for r in state.replies]
    return state, tuple(trace)


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
