"""`route()`: which department a case is for; pure, and explained like the policy chain.

POLICY.md 04.02: every complaint is forwarded to the department responsible. The routing
rules (`[[routing]]` in the configuration) are a table tried in order; the first rule whose
conditions all hold names the department, and the rest are "not tried", as a decided item is
in the policy chain (bot/chain_engine.py). Every rule tried leaves a `Traced` line, so the
timeline's `routed` event and `caredesk explain` show why a case went where it did. A case
no rule routes is not guessed at: it waits for staff to choose.

Phrases are read by the policy's own phrase matcher (bot/phrases.py), with negation: "there
is no pothole, the sign is down" does not route to roads because of "pothole". They read the
subject, the text and the place the resident gave ("outside the Central Library").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from bot.config import Department, RoutingRule
from bot.model import Decision, Kind, Submission, Traced
from bot.phrases import PhraseRule

#: The reason given when no rule routes a case (also on the timeline).
NO_MATCH = "no rule matched: waiting for staff"


@dataclass(frozen=True)
class Routed:
    """Where a case goes: the department (None: staff choose), the rule that said so, why,
    and every rule's line of the trace."""

    department: Department | None
    rule: str | None
    reason: str
    trace: tuple[Traced, ...] = ()

    def event_data(self) -> dict[str, object]:
        """The `routed` event's data: names and reasons only, never the resident's words
        beyond the matched phrase (the same as the `decided` event's trace)."""
        return {
            "department": self.department.key if self.department else None,
            "rule": self.rule,
            "reason": self.reason,
            "trace": [t.as_dict() for t in self.trace],
        }


#: Words between a negator and a routing phrase for the phrase to count as negated.
ROUTING_NEGATION_WINDOW = 1


@lru_cache(maxsize=256)
def _phrase_rule(rule: RoutingRule) -> PhraseRule:
    """Built once per rule: the matcher indexes its phrases. Negation reaches one word only
    ("no garbage", "not the garbage"): routing asks what a message is about, and "Nobody
    picked up the garbage" is about garbage, though "nobody" is a negator three words
    earlier. The policy's own rules (safety, abuse) keep the wider window."""
    return PhraseRule(
        rule.name,
        rule.description or f"mentions a subject of {rule.department}",
        rule.phrases,
        negation=True,
        negation_window=ROUTING_NEGATION_WINDOW,
    )


def _place_words(sub: Submission) -> str | None:
    """The place the resident gave, in words ("outside the Central Library"), when the text
    does not hold it already: a rule's phrases see it as they see the description. A shared
    location is coordinates: nothing for a phrase."""
    place = sub.place
    if place is None or place.kind == "coordinates" or place.text in sub.text:
        return None
    return place.text


def _test(rule: RoutingRule, sub: Submission, decision: Decision) -> tuple[bool, str]:
    """Whether every condition of `rule` holds, and the reason: the conditions that held, or
    the first that did not."""
    held: list[str] = []
    kind = decision.kind.value
    if rule.kinds:
        if kind not in rule.kinds:
            return False, f"kind is {kind}, not {' or '.join(rule.kinds)}"
        held.append(f"kind is {kind}")
    if rule.categories:
        category = decision.out_of_scope
        if category not in rule.categories:
            return False, f"out-of-scope category is {category or 'none'}, not " + " or ".join(
                rule.categories
            )
        held.append(f"out-of-scope category is {category}")
    if rule.hazard is not None:
        hazard = decision.kind is Kind.HAZARD
        if hazard != rule.hazard:
            return False, "a hazard" if hazard else "not a hazard"
        held.append("a hazard" if hazard else "not a hazard")
    if rule.phrases:
        text = "\n".join(t for t in (sub.subject, sub.text, _place_words(sub)) if t)
        scan = _phrase_rule(rule).scan(text)
        if scan.hit is None:
            ignored = "; ".join(h.reason for h in scan.ignored)
            return False, "no phrase of the rule" + (f" ({ignored})" if ignored else "")
        held.append(scan.hit.reason)
    return True, "; ".join(held) or "routes every case that reaches it"


def route(
    sub: Submission,
    decision: Decision,
    departments: Sequence[Department],
    rules: Sequence[RoutingRule],
) -> Routed:
    """The first rule (in order) whose conditions hold routes the case to its department;
    none: the department is left to staff."""
    by_key = {d.key: d for d in departments}
    trace: list[Traced] = []
    found: Routed | None = None
    for rule in rules:
        department = by_key.get(rule.department)
        action = f"route to {department.name if department else rule.department}"
        if found is not None:
            why = f"not tried: department already decided by {found.rule}"
            trace.append(Traced(rule.name, False, why, action))
            continue
        fired, reason = _test(rule, sub, decision)
        trace.append(Traced(rule.name, fired, reason, action))
        if fired and department is not None:
            found = Routed(department, rule.name, reason)
    if found is None:
        return Routed(None, None, NO_MATCH, tuple(trace))
    return Routed(found.department, found.rule, found.reason, tuple(trace))
