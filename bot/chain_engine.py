"""How the policy chain is evaluated: the context rules read, the state they settle, and the
loop that tries each rule in order and keeps the trace. The rules themselves, and so the
policy, are the table in bot/chain.py; this module knows no rule by name.

Evaluation order (Mailman's chains in miniature): a rule that *decides* something (hazard,
scope, kind, the acknowledgement clock, the status) is tried only while that is still open, and
the first that fires decides it; every other rule is tried every time; a rule whose action
ends the chain (`unreadable`) leaves the rest "not tried". Everything is recorded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from bot.model import Kind, PlannedReply, RuleHit, Status, Submission, Traced
from bot.phrases import PhraseScan
from bot.policy import Policy, Rules


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
    #: How mail from the Ombudsman's office was verified (policy 04.06, bot/ombudsman.py)...
    ombudsman_office: str | None = None
    #: ...or why a From claiming the Ombudsman's domain could not be trusted.
    ombudsman_claimed: str | None = None


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


class Scans:
    """What the phrase rules find in one text, each scan made once, when a rule first asks."""

    def __init__(self, rules: Rules, text: str) -> None:
        self.rules = rules
        self.text = text

    @cached_property
    def safety(self) -> PhraseScan:
        return self.rules.safety.scan(self.text)

    @cached_property
    def scope(self) -> tuple[str, RuleHit] | None:
        return self.rules.out_of_scope(self.text)

    @cached_property
    def words(self) -> tuple[Kind, RuleHit]:
        return self.rules.classify(self.text)

    @cached_property
    def sensitive(self) -> RuleHit | None:
        return self.rules.sensitive.check(self.text)


#: The scans of the last few texts: mail intake decides a message twice (when assessing it,
#: then inside its transaction with the store's facts), and the phrases are the costly part.
_SCANS: dict[tuple[int, str], Scans] = {}
SCAN_CACHE = 16
_SCANS_LOCK = threading.Lock()


def scans(rules: Rules, text: str) -> Scans:
    """The (memoised) scans of `text`: a pure function, so sharing them changes nothing."""
    with _SCANS_LOCK:
        found = _SCANS.get((id(rules), text))
        if found is None or found.rules is not rules:
            if len(_SCANS) >= SCAN_CACHE:
                _SCANS.pop(next(iter(_SCANS)))
            found = _SCANS[(id(rules), text)] = Scans(rules, text)
        return found


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
    def scans(self) -> Scans:
        return scans(self.rules, self.sub.text)

    @property
    def safety(self) -> PhraseScan:
        return self.scans.safety

    @property
    def scope(self) -> tuple[str, RuleHit] | None:
        return self.scans.scope

    @property
    def words(self) -> tuple[Kind, RuleHit]:
        return self.scans.words

    @property
    def sensitive(self) -> RuleHit | None:
        return self.scans.sensitive

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
