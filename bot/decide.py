"""`decide()`: what the policy makes of a submission. Pure: no I/O, no clock of its own.

Given the same submission, the same time and the same configuration, it always returns the
same decision, so the whole policy is tested from tables without a database or a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.clock import BusinessCalendar, due_for
from bot.config import Config
from bot.model import Decision, Kind, PlannedReply, RuleHit, Status, Submission
from bot.policy import REQUIRED, Rules

#: Which acknowledgement deadline applies, by channel and kind (POLICY.md, Clocks).
ACK_CLOCK: dict[Kind, str] = {
    Kind.COMPLAINT: "complaint-ack",
    Kind.REQUEST: "request-ack",
    Kind.HAZARD: "hazard-inspection",
    Kind.FEEDBACK: "complaint-ack",
    Kind.OUT_OF_SCOPE: "complaint-ack",
}
ACK_REPLY: dict[Kind, str] = {
    Kind.COMPLAINT: "ack-complaint",
    Kind.REQUEST: "ack-request",
    Kind.HAZARD: "ack-hazard",
    Kind.FEEDBACK: "feedback-thanks",
}


@dataclass(frozen=True)
class Policy:
    """Everything decide() needs besides the submission and the time, built once at start."""

    config: Config
    rules: Rules
    calendar: BusinessCalendar

    @classmethod
    def from_config(cls, config: Config) -> Policy:
        return cls(config, Rules.from_config(config.rules), config.calendar())

    def due(self, sla_kind: str, received: datetime) -> datetime:
        return due_for(sla_kind, received, self.calendar, self.config.sla)


@dataclass(frozen=True)
class Classified:
    """The kind of case, the rules that decided it, the out-of-scope category if any, and the
    flags for staff (a phrase that contradicts what the resident answered)."""

    kind: Kind
    hits: list[RuleHit]
    category: str | None = None
    flags: tuple[RuleHit, ...] = ()


def classify(sub: Submission, rules: Rules) -> Classified:
    """The resident's explicit answers win; phrases decide only what was not asked, and a
    phrase that contradicts an answer becomes a flag, never a silent reclassification."""
    safety = rules.safety.scan(sub.text)
    notes = list(safety.ignored)  # why a safety word did not count ("fire hydrant")
    flags: list[RuleHit] = []

    def decided(kind: Kind, hit: RuleHit, category: str | None = None) -> Classified:
        return Classified(kind, [hit, *notes, *flags], category, tuple(flags))

    if sub.safety is True:
        return decided(
            Kind.HAZARD,
            RuleHit("resident-safety", "the resident said someone is in immediate danger"),
        )
    if safety.hit and sub.safety is None:
        return decided(Kind.HAZARD, safety.hit)
    if safety.hit:
        flags.append(
            RuleHit(
                "safety-phrase-vs-answer",
                "the resident's answers say no one is in immediate danger, but the text "
                f"{safety.hit.reason}; kept as the resident said, for staff to check",
            )
        )
    if sub.scope_hint:
        why = f"the resident confirmed it is {sub.scope_hint!r}"
        return decided(Kind.OUT_OF_SCOPE, RuleHit("resident-confirmed-scope", why), sub.scope_hint)
    scope = rules.out_of_scope(sub.text)
    if scope and sub.scope_hint is None:
        return decided(Kind.OUT_OF_SCOPE, scope[1], scope[0])
    if scope:
        flags.append(
            RuleHit(
                "scope-phrase-vs-answer",
                f"the text may be out of scope ({scope[1].reason}), but the resident carried "
                "on in the complaint process; kept as is, for staff to check",
            )
        )
    if sub.kind_hint is not None:
        why = f"the resident chose {sub.kind_hint.value!r}"
        return decided(sub.kind_hint, RuleHit("resident-choice", why))
    return decided(*rules.classify(sub.text))


def missing_items(sub: Submission, kind: Kind) -> tuple[str, ...]:
    missing = []
    for item in REQUIRED[kind]:
        if item == "contact":
            if not (sub.person.name and sub.person.reachable):
                missing.append(item)
        elif not (sub.item(item) or "").strip():
            missing.append(item)
    return tuple(missing)


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
    """Policy 02.01 for a classified submission: the one test that both decide() and the
    dialogue's summary ("recorded but not investigated") use."""
    return kind in (Kind.COMPLAINT, Kind.OUT_OF_SCOPE) and is_anonymous(sub)


def decide(sub: Submission, now: datetime, policy: Policy) -> Decision:
    """Classify, check the policy gates, set the clocks and plan the replies."""
    classified = classify(sub, policy.rules)
    kind, hits, category, flags = (
        classified.kind,
        classified.hits,
        classified.category,
        classified.flags,
    )
    sensitive_hit = policy.rules.sensitive.check(sub.text)
    if sensitive_hit:
        hits.append(sensitive_hit)
    received = min(sub.received_at, now)  # a clock skewed into the future is not trusted
    email = sub.channel == "email"
    ack_clock = "email-ack" if email else ACK_CLOCK[kind]
    deadlines = {ack_clock: policy.due(ack_clock, received)}
    replies: list[PlannedReply] = []

    def plan(reply_kind: str, why: str) -> None:
        review = policy.config.needs_review(reply_kind) or sensitive_hit is not None
        replies.append(PlannedReply(reply_kind, review, why))

    if declines(kind, sub):
        hits.append(
            RuleHit(
                "anonymous-allegation",
                "no name and contact, or on behalf of "
                "someone not named, and no safety threat (02.01)",
            )
        )
        plan("anonymous-declined", "anonymous allegations are not investigated (02.01)")
        return Decision(
            kind,
            Status.DECLINED,
            missing_items(sub, kind),
            deadlines,
            tuple(replies),
            tuple(hits),
            sensitive_hit is not None,
            category,
            flags,
        )

    if kind is Kind.OUT_OF_SCOPE:
        plan("out-of-scope", f"out of scope (02.03): {category}")
        return Decision(
            kind,
            Status.REDIRECTED,
            (),
            deadlines,
            tuple(replies),
            tuple(hits),
            sensitive_hit is not None,
            category,
            flags,
        )

    missing = missing_items(sub, kind)
    if kind is Kind.FEEDBACK:
        plan("feedback-thanks", "feedback is recorded and thanked; no investigation clock")
        return Decision(
            kind,
            Status.RECORDED,
            missing,
            deadlines,
            tuple(replies),
            tuple(hits),
            sensitive_hit is not None,
            flags=flags,
        )

    if kind is Kind.HAZARD:
        deadlines["hazard-inspection"] = policy.due("hazard-inspection", received)
    if email:
        deadlines["email-response"] = policy.due("email-response", received)
    deadlines["follow-up"] = policy.due("follow-up", received)
    ack = "ack-email" if email and kind is not Kind.HAZARD else ACK_REPLY[kind]
    plan(ack, f"acknowledge within the {ack_clock} window")
    if missing and kind is not Kind.HAZARD and policy.config.needs_review("missing-info"):
        # "auto" means the acknowledgement itself asks for the items; "review" means staff
        # vet a separate request first (POLICY.md: a request for the missing items is drafted).
        plan("missing-info", "ask for the items policy 04.01 needs: " + ", ".join(missing))
    return Decision(
        kind,
        Status.OPEN,
        missing,
        deadlines,
        tuple(replies),
        tuple(hits),
        sensitive_hit is not None,
        flags=flags,
    )
