"""Words the complaint dialogue recognises in answers, beyond the few every flow shares
(bot/flows/base.py): kept apart so the flow's table stays readable, and so a city can see
them in one place.
"""

from __future__ import annotations

NO_CONTACT = (
    "That's all right. Without an email address or a phone number, the City can't send you "
    "updates or tell you the outcome, but your message will still be sent. You can add them "
    "at the end with 'edit contact'."
)
SELF_ANSWERS = frozenset(
    {"me", "myself", "self", "mine", "for me", "me myself", "it's me", "1", "i am", "about me"}
)
OTHER_WORDS = frozenset(
    {
        "else",
        "behalf",
        "other",
        "someone",
        "somebody",
        "friend",
        "mother",
        "father",
        "mom",
        "mum",
        "dad",
        "parent",
        "son",
        "daughter",
        "wife",
        "husband",
        "partner",
        "neighbour",
        "neighbor",
        "relative",
        "client",
    }
)
NOT_RIGHT = frozenset({"wrong", "not right", "that's wrong", "incorrect", "not quite", "mistake"})
CHANGE_WORDS = frozenset(
    {"wrong", "change", "fix", "correct", "incorrect", "mistake", "update", "edit", "not"}
)
#: A message after filing that asks for a new complaint (anything else joins the case).
NEW_WORDS = frozenset(
    {
        "new",
        "new complaint",
        "a new complaint",
        "another complaint",
        "another one",
        "new request",
        "new message",
        "new one",
        "start again",
        "start over",
        "start a new one",
        "restart",
        "begin again",
        "something else",
    }
)
NEW_PHRASES = ("new complaint", "another complaint", "new request", "another request")
#: Words that carry no answer on their own: text of only these and abuse is dropped.
ABUSE_FILLER = frozenset(
    {
        "you",
        "your",
        "you're",
        "this",
        "that",
        "is",
        "it",
        "it's",
        "its",
        "what",
        "a",
        "an",
        "the",
        "so",
        "such",
        "total",
        "complete",
        "absolute",
        "all",
        "of",
        "are",
        "i",
        "me",
        "oh",
        "ok",
        "okay",
        "and",
        "go",
        "just",
        "damn",
        "bloody",
        "really",
        "what's",
    }
)
GREETING_WORDS = frozenset({"hi", "hello", "hey", "bonjour", "greetings", "morning", "evening"})
