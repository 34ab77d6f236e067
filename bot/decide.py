"""`decide()`: what the policy makes of a submission. Pure: no I/O, no clock of its own.

The policy itself is the chain of rules in bot/chain.py; this module is its entry point.
Given the same submission, time, facts and configuration, it always returns the same decision,
so the whole policy is tested from tables without a database or a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.chain import Facts, classify_only, declines, evaluate, is_anonymous, missing_items
from bot.model import Decision, Kind, RuleHit, Submission
from bot.policy import Policy, Rules

__all__ = [
    "Classified",
    "Facts",
    "Policy",
    "classify",
    "decide",
    "declines",
    "is_anonymous",
    "missing_items",
]


@dataclass(frozen=True)
class Classified:
    """The kind of case, the rules that decided it, the out-of-scope category if any, and the
    flags for staff (a phrase that contradicts what the resident answered)."""

    kind: Kind
    hits: list[RuleHit]
    category: str | None = None
    flags: tuple[RuleHit, ...] = ()


def classify(sub: Submission, rules: Rules) -> Classified:
    """The classification part of the policy chain (bot/chain.py) alone: what the dialogue's
    summary shows. The resident's explicit answers win; phrases decide only what was not
    asked, and a phrase that contradicts an answer becomes a flag."""
    state, _trace = classify_only(sub, rules)
    kind = state.final_kind
    category = state.scope[0] if kind is Kind.OUT_OF_SCOPE and state.scope else None
    return Classified(kind, [state.deciding_hit, *state.hits], category, tuple(state.flags))


def decide(sub: Submission, now: datetime, policy: Policy, facts: Facts | None = None) -> Decision:
    """The policy chain's decision for a submission; pure. `facts` carries what only the store
    knows (a recent bounce, rate counts, a quoted case), gathered by the caller."""
    return evaluate(sub, now, policy, facts).decision
