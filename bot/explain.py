"""`explain()`: the policy chain's whole reasoning about one free-text message; pure.

Staff, the city and the evaluation bench ask "what would caredesk make of this?" without a
mailbox or a dialogue. The message is read as an email body would be (bot/mail_items.py: the
date, who, outcome and a phone number found in it), from a resident whose name and address
are known unless `anonymous`, and put through the same chain `decide()` uses. Nothing is
stored or sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot.chain import evaluate
from bot.decide import Policy
from bot.mail_items import submission_from_email
from bot.model import Decision, Inbound, Kind, PlannedReply, Traced
from bot.place import Place
from bot.routing import route
from bot.when import when_of

#: The identified resident `explain` assumes: a placeholder, never a real person.
ASSUMED_NAME = "A. Resident"
ASSUMED_EMAIL = "resident@example.org"
#: `--channel chat` reads the message as the web chat's (the dialogue's questions unanswered).
CHANNELS = {"email": "email", "chat": "web"}
#: The kinds a message is labelled with, apart from hazard and scope (issue 9).
KIND_LABELS = {
    Kind.COMPLAINT: "complaint",
    Kind.REQUEST: "request",
    Kind.FEEDBACK: "feedback",
    Kind.OTHER: "other",
}


@dataclass(frozen=True)
class Explanation:
    """What the chain made of a message, as `caredesk explain` prints it."""

    text: str
    channel: str
    assumptions: tuple[str, ...]
    kind: str  # complaint | request | feedback | other: what the words say, hazard or not
    hazard: bool
    scope: str | None  # legislation | appeal | council | employee, or None
    when: dict[str, str | None] | None
    decision: Decision
    #: Where routing sends it (bot/routing.py), when departments are configured; else None.
    department: dict[str, Any] | None = None
    #: Where it is, as the mail's words give it (bot/place.py); None: no place found.
    place: Place | None = None

    @property
    def trace(self) -> tuple[Traced, ...]:
        return self.decision.trace

    @property
    def replies(self) -> tuple[PlannedReply, ...]:
        return self.decision.replies

    def as_dict(self) -> dict[str, Any]:
        d = self.decision
        return {
            "text": self.text,
            "channel": self.channel,
            "assumptions": list(self.assumptions),
            "kind": self.kind,
            "hazard": self.hazard,
            "scope": self.scope,
            "when": self.when,
            "place": self.place.as_dict() if self.place else None,
            "status": d.status.value,
            "decided_kind": d.kind.value,
            "missing": list(d.missing),
            "replies": [
                {"kind": r.kind, "waits_for_staff": r.review, "why": r.why} for r in d.replies
            ],
            "rules": [h.rule for h in d.hits],
            "flags": [h.rule for h in d.flags],
            "trace": [t.as_dict() for t in d.trace],
            **({"department": self.department} if self.department is not None else {}),
        }


def assumptions(channel: str, anonymous: bool, now: datetime) -> tuple[str, ...]:
    """The assumptions `explain` makes, said plainly: printed with every explanation."""
    who = (
        "no name and no address (anonymous)"
        if anonymous
        else f"an identified resident ({ASSUMED_NAME}, {ASSUMED_EMAIL})"
    )
    how = (
        "an email with no subject, read as intake reads a body"
        if channel == "email"
        else "a web chat whose questions (danger, type, other process) were not answered, so "
        "the words decide, as for an email"
    )
    return (
        f"{how}, from {who}",
        f"received {now.isoformat(timespec='seconds')}; dates in it are read relative to that",
        "no mail history: no bounce, no rate limit reached, sender verified, quotes no case",
    )


def explain(
    text: str, now: datetime, policy: Policy, channel: str = "email", anonymous: bool = False
) -> Explanation:
    """The chain's decision and trace for `text`, as if it arrived at `now` by `channel`
    ("email" or "chat") from an identified resident (or an anonymous one)."""
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
    cfg = policy.config
    inbound = Inbound(
        key="explain",
        message_id=None,
        from_addr=None if anonymous else ASSUMED_EMAIL,
        from_name=None if anonymous else ASSUMED_NAME,
        to=(),
        subject="",
        date=now,
        in_reply_to=(),
        references=(),
        text=text,
        headers={},
        content_type="text/plain",
    )
    sub = submission_from_email(inbound, now, cfg.tz, cfg.dialogue.phone_region)
    if channel == "chat":
        sub = replace(sub, channel=CHANNELS[channel], subject=None, conversation=None)
    found = evaluate(sub, now, policy)
    told = when_of(sub.when_text, sub.when, sub.when_end, sub.when_precision)
    when = (
        {
            "said": told.said,
            "start": told.start.isoformat() if told.start else None,
            "end": told.end.isoformat() if told.end else None,
            "precision": told.precision.value,
        }
        if told
        else None
    )
    department = None
    if cfg.departments:
        routed = route(sub, found.decision, cfg.departments, cfg.routing)
        department = {
            "key": routed.department.key if routed.department else None,
            "name": routed.department.name if routed.department else None,
            "rule": routed.rule,
            "reason": routed.reason,
            "trace": [t.as_dict() for t in routed.trace],
        }
    return Explanation(
        place=sub.place,
        department=department,
        text=text,
        channel=channel,
        assumptions=assumptions(channel, anonymous, now.astimezone(cfg.tz)),
        kind=KIND_LABELS.get(found.kind, "other") if found.kind else "other",
        hazard=found.hazard,
        scope=found.scope,
        when=when,
        decision=found.decision,
    )


def format_explanation(e: Explanation) -> str:
    """The trace as text: every rule, [x] when it fired, its reason and its action."""
    d = e.decision
    replies = ", ".join(
        f"{r.kind} ({'waits for staff' if r.review else 'automatic'})" for r in d.replies
    )
    when = e.when
    lines = [
        f"message   {e.text}",
        *(f"assumed   {a}" for a in e.assumptions),
        f"result    {d.status.value}: kind {e.kind}, hazard {'yes' if e.hazard else 'no'}, "
        f"scope {e.scope or 'none'}",
        f"when      {when['said']} = {when['start']} .. {when['end']} ({when['precision']})"
        if when
        else "when      not found",
        f"where     {e.place.text} ({e.place.kind})" if e.place else "where     not found",
        f"missing   {', '.join(d.missing) or 'nothing'}",
        f"replies   {replies or 'none'}",
        *(
            [f"department {e.department['name'] or 'none'}: {e.department['reason']}"]
            if e.department is not None
            else []
        ),
        "trace     ([x] fired, [ ] did not)",
        *format_trace([t.as_dict() for t in d.trace]),
    ]
    return "\n".join(lines)


def decided_trace(events: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The policy chain's trace as recorded on a case's timeline when it was decided
    (bot/intake.py, the `decided` event): what `caredesk cases show` and the staff case page
    print. Empty for a case filed before traces were recorded."""
    for event in events:
        if event["type"] == "decided":
            trace: list[Mapping[str, Any]] = event["data"].get("trace", [])
            return trace
    return []


def format_trace(trace: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line a rule: [x] when it fired, its name, why, and its action. `caredesk explain`
    and `caredesk cases show` print a trace with this."""
    width = max((len(str(t["rule"])) for t in trace), default=10)
    return [
        f"  [{'x' if t['fired'] else ' '}] {t['rule']:<{width}}  {t['reason']}  -> {t['action']}"
        for t in trace
    ]
