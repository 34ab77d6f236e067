"""Words the complaint dialogue recognises in answers, beyond the few every flow shares
(bot/flows/base.py): kept apart so the flow's table stays readable, and so a city can see
them in one place.
"""

from __future__ import annotations

import re

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
#: The answers to "What is your message about?" (the numbers are the choices' order).
KINDS = {
    "1": "complaint",
    "complaint": "complaint",
    "a complaint": "complaint",
    "complain": "complaint",
    "2": "request",
    "request": "request",
    "request for service": "request",
    "service request": "request",
    "a request": "request",
    "3": "feedback",
    "compliment": "feedback",
    "suggestion": "feedback",
    "feedback": "feedback",
    "compliment or suggestion": "feedback",
    "a compliment": "feedback",
    "4": "other",
    "something else": "other",
    "other": "other",
    "else": "other",
}
#: `edit ITEM` at the summary: the words for each item.
EDITABLE = {
    "what": "what",
    "details": "what",
    "description": "what",
    "what happened": "what",
    "where": "where",
    "place": "where",
    "address": "where",
    "location": "where",
    "when": "when",
    "date": "when",
    "time": "when",
    "who": "who",
    "people": "who",
    "involved": "who",
    "outcome": "outcome",
    "result": "outcome",
    "name": "name",
    "contact": "contact",
    "email": "contact",
    "phone": "contact",
    "type": "kind",
    "kind": "kind",
    "danger": "kind",
    "safety": "kind",
    "hazard": "kind",
}
CONFIRM_WORDS = frozenset({"confirm", "confirmed", "send", "submit"})
#: "My name is Jane Doe" -> "Jane Doe".
NAME_INTRO = re.compile(r"^(?:my name is|my name's|i am|i'm|it's|this is|name:)\s+", re.I)
#: Words that start a sentence, or that a sentence has and a name does not ("I want an
#: apology" typed at the name question is an answer to another question).
SENTENCE_STARTS = frozenset({"i", "we", "the", "it", "they", "please", "this", "that", "there"})
SENTENCE_WORDS = frozenset(
    {"a", "an", "and", "the", "to", "of", "is", "was", "want", "would", "please", "not"}
)

RESUME_WORDS = frozenset({"resume", "continue", "carry on", "go on"})
GREETINGS = frozenset(
    {"hi", "hello", "hey", "good morning", "good afternoon", "bonjour", "hi there", "hello there"}
)
