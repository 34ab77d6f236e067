"""What every dialogue flow is made of: steps in a table, outcomes, and the words that work
at any step. A flow is pure: `step(state, text, now) -> (state, replies)`, where state is plain
JSON-able data the store persists, so a conversation survives a restart of the service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

State = dict[str, Any]
Data = dict[str, Any]

#: Words that work at any step (with or without a leading "/", as Telegram sends them).
COMMANDS: Mapping[str, str] = {
    "back": "back",
    "go back": "back",
    "previous": "back",
    "cancel": "cancel",
    "quit": "cancel",
    "exit": "cancel",
    "stop": "cancel",
    "help": "help",
    "?": "help",
    "why": "why",
    "why?": "why",
    "why do you need this": "why",
    "why do you need that": "why",
    "restart": "restart",
    "start over": "restart",
    "start": "restart",
}

YES = frozenset(
    {"yes", "y", "yeah", "yep", "yup", "sure", "ok", "okay", "correct", "right", "true", "oui"}
)
NO = frozenset({"no", "n", "nope", "nah", "false", "non", "no one", "nobody", "none"})
UNSURE = frozenset(
    {
        "not sure",
        "don't know",
        "dont know",
        "do not know",
        "unsure",
        "no idea",
        "idk",
        "dunno",
        "i'm not sure",
        "im not sure",
        "i am not sure",
        "not known",
        "i do not know",
        "i have no idea",
        "can't remember",
        "cant remember",
        "i can't remember",
        "i don't remember",
        "don't remember",
        "i don't know",
        "i dont know",
        "unknown",
        "skip",
        "pass",
    }
)
REFUSE = frozenset(
    {
        "no",
        "skip",
        "anonymous",
        "anon",
        "rather not",
        "i'd rather not",
        "i would rather not",
        "prefer not",
        "prefer not to say",
        "no thanks",
        "no thank you",
        "none",
        "n/a",
        "na",
        "not telling",
        "i don't want to",
        "i dont want to",
        "pass",
        "nope",
    }
)


#: Phrases that mean "I won't say", wherever they occur in a short answer.
REFUSAL_PHRASES = (
    "rather not",
    "prefer not",
    "anonymous",
    "don't want to",
    "dont want to",
    "not telling",
    "won't say",
    "not say",
    "no name",
)


def is_refusal(text: str) -> bool:
    answer = normalise(text)
    return answer in REFUSE or (
        len(answer.split()) <= 8 and any(p in answer for p in REFUSAL_PHRASES)
    )


def normalise(text: str) -> str:
    """Lower case, single spaces, no leading slash or trailing punctuation: for matching words."""
    text = " ".join(text.lower().replace("’", "'").split())
    # rstrip, not a `[.!]+$` pattern: that one retried from every dot of a long run of dots.
    return text.lstrip("/").rstrip(".!").strip()


def command_of(text: str) -> str | None:
    return COMMANDS.get(normalise(text))


def first_word(text: str) -> str:
    """The first word of an answer, without the punctuation after it: "No, nobody" -> "no"."""
    words = normalise(text).split(" ", 1)
    return words[0].rstrip(",;:.!-") if words else ""


def is_unsure(text: str) -> bool:
    return normalise(text).rstrip("?") in UNSURE


#: Unreadable answers to one question before its way out (a default, explained) is taken:
#: the choices are offered once more, never a third time.
MAX_TRIES = 2


class Reask(Exception):
    """The answer does not fit the step; the message says why and the step is asked again."""


@dataclass(frozen=True)
class Outcome:
    """What a parser took from an answer."""

    updates: Mapping[str, Any] = field(default_factory=dict)
    say: tuple[str, ...] = ()
    #: Set the conversation's status instead of moving to the next step (e.g. "confirmed").
    status: str | None = None
    #: Ask this step next (instead of the first one still unanswered).
    then: str | None = None


@dataclass(frozen=True)
class Arrow:
    """One arrow of the dialogue's diagram: where an answer (or an event) leads, and when."""

    to: str
    label: str = ""


@dataclass(frozen=True, kw_only=True)
class Step:
    """One row of a flow's table: when it is asked, what it fills, what to ask, how to read
    the answer, and where the answer leads (the arrows the diagram is drawn from)."""

    name: str
    #: Asked only when this holds of the data so far (and `fills` is not all answered yet).
    applies: Callable[[Data], bool]
    fills: tuple[str, ...]
    prompt: Callable[[Data], str]
    parse: Callable[[str, Data, datetime], Outcome]
    choices: Callable[[Data], tuple[str, ...]] = lambda data: ()
    #: The way out after MAX_TRIES unreadable answers: a sensible default with an explanation
    #: (it may raise Reask to say how to leave instead). None: the step asks again.
    fallback: Callable[[str, Data, datetime], Outcome] | None = None
    why: str
    help: str
    #: Where an answer leads, for the diagram (bot/flows/steps.py); the flow itself always goes
    #: to the first step, in table order, that applies and is unanswered.
    arrows: tuple[Arrow, ...] = ()
