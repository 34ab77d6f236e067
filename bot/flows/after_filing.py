"""After a complaint is filed, the conversation goes on: within a window, what the resident
writes next ("Actually it was Wednesday") belongs to the case just filed, not to a new
complaint, unless they ask for a new one. Pure: the chat service stores the message.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import datetime, timedelta
from typing import Any

from bot.config import Contact
from bot.flows.base import command_of, first_word, normalise
from bot.flows.words import GREETING_WORDS, NEW_PHRASES, NEW_WORDS


def in_window(state: dict[str, Any], now: datetime, hours: int) -> bool:
    """Filed in this conversation (with a reference) less than `hours` ago."""
    confirmed = state.get("confirmed_at")
    if state.get("status") != "filed" or not confirmed or not state.get("ref"):
        return False
    return now - datetime.fromisoformat(confirmed) <= timedelta(hours=hours)


def asks_for_new(text: str, choices: Container[str]) -> bool:
    """'new', 'start again', a greeting, a kind choice, or a sentence about another
    complaint: the resident wants a new conversation, not to add to the last case."""
    answer = normalise(text)
    return (
        answer in NEW_WORDS
        or answer in choices
        or command_of(text) == "restart"
        or first_word(text) in GREETING_WORDS
        or any(phrase in answer for phrase in NEW_PHRASES)
    )


def added_to_case(ref: str) -> str:
    return (
        f"Thank you. I've added your message to your case {ref}, so the staff handling it "
        "will see it. If you meant to start a new complaint instead, type 'new'."
    )


def added_files(ref: str, count: int) -> str:
    noun = "file" if count == 1 else f"{count} files"
    return f"Thank you, I've added the {noun} to your case {ref} as evidence."


def already_filed(ref: str, care: Contact) -> str:
    return (
        f"Your message {ref} has been sent to the City. If you'd like to add something to "
        "it, just type it here. To start a new complaint, type 'new'. To change or withdraw "
        f"it, please call {care.name} at {care.phone}."
    )
