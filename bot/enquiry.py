"""Is a message a question for information, or a message meant for someone else (an enquiry)?

A resident who asks "what day is garbage pickup?" or "is this the right address for transit
lost and found?" is neither unhappy (a complaint, 01.03) nor asking the City to act (a
request): a person answers the question. The test is the message's *shape*, read in one pass
over its words (bot/phrases.py): a sentence that starts with an interrogative ("when is",
"how do I", "is there") and ends with "?" or opens the message, or a phrase that asks for
information anywhere ("who do I contact", "I'm trying to reach"). It does not fire when the
message also asks the City to act ("can you fix", "when will it be repaired"), reports a fault
("not working", "missed"), makes a suggestion or a compliment, or names a hazard: those are
the other kind rules' business. Dissatisfaction is read before this rule in the chain, so
"Why has nobody fixed the pothole?" stays a complaint; "why" questions never count here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.model import RuleHit
from bot.phrases import CLAUSE_MARKS, MAX_SCAN_CHARS, SENTENCE_MARKS, PhraseRule, tokens

#: Words a question starts with ("why" is left out: it is usually a challenge).
INTERROGATIVES = frozenset(
    {
        "what",
        "what's",
        "whats",
        "when",
        "when's",
        "where",
        "where's",
        "how",
        "how's",
        "who",
        "who's",
        "whom",
        "which",
        "is",
        "are",
        "am",
        "does",
        "do",
        "did",
        "can",
        "could",
        "may",
        "will",
        "would",
        "should",
        "has",
        "have",
    }
)
#: Words that may come before the question itself ("Hi, quick question: when is...").
LEAD_WORDS = frozenset(
    {
        "hi",
        "hello",
        "hey",
        "good",
        "morning",
        "afternoon",
        "evening",
        "dear",
        "sir",
        "madam",
        "team",
        "quick",
        "question",
        "just",
        "so",
        "ok",
        "okay",
        "um",
        "and",
        "also",
        "please",
        "sorry",
        "excuse",
        "me",
    }
)
GREETINGS = frozenset({"hi", "hello", "hey"})
#: Asking for information, wherever it is in the message.
INFO_PHRASES = (
    "where can i",
    "where do i",
    "where would i",
    "who do i contact",
    "who do i call",
    "who do i talk to",
    "who do i speak to",
    "who should i",
    "who should we",
    "who can i",
    "is this the right",
    "am i writing to the right",
    "the right address",
    "the right department",
    "the right place",
    "i'm trying to reach",
    "i am trying to reach",
    "trying to get in touch",
    "trying to find out",
    "i was wondering",
    "i'm wondering",
    "can you tell me",
    "could you tell me",
    "can you let me know",
    "could you let me know",
    "please let me know",
    "please advise",
    "do you know",
    "i would like to know",
    "i'd like to know",
    "i want to know",
    "how do i",
    "how can i",
    "how do we",
    "not sure who to contact",
    "not sure who to ask",
    "not sure where to",
    "sent to the wrong",
    "meant for",
)
#: Asking for information with words that otherwise ask the City to act ("can you" + tell).
INFO_ASKS = (
    "can you tell",
    "could you tell",
    "can you let me know",
    "could you let me know",
    "can you confirm",
    "could you confirm",
    "can you advise",
    "could you advise",
    "can you explain",
    "could you explain",
    "can you point me",
    "could you point me",
    "can you direct me",
    "could you direct me",
    "can you help me find",
    "could you help me find",
    "can you send me information",
    "could you send me information",
    "please let me know",
    "please advise",
    "please tell me",
    "please confirm",
    "please direct me",
)
#: The message asks the City to act, or reports a fault: a request (or a complaint), not an
#: enquiry, even when worded as a question ("Can you fix the streetlight?").
ACTS = (
    "can you",
    "could you",
    "would you",
    "will you",
    "can someone",
    "could someone",
    "can somebody",
    "could somebody",
    "can the city",
    "could the city",
    "can we get",
    "could we get",
    "would it be possible",
    "please",
    "fix",
    "fixed",
    "fixing",
    "repair",
    "repaired",
    "repairing",
    "replace",
    "replaced",
    "remove",
    "removed",
    "clean up",
    "cleaned",
    "cleaned up",
    "plow",
    "plowed",
    "plough",
    "ploughed",
    "cleared",
    "salted",
    "sanded",
    "trimmed",
    "picked up",
    "not picked up",
    "not collected",
    "wasn't collected",
    "weren't collected",
    "missed",
    "skipped",
    "be added",
    "be looked at",
    "be checked",
    "be inspected",
    "be installed",
    "be painted",
    "be moved",
    "be emptied",
    "send someone",
    "send a crew",
    "send somebody",
    "come out",
    "look into",
    "take care of",
    "deal with",
    "do something",
    "do about",
    "report a",
    "not working",
    "isn't working",
    "doesn't work",
    "stopped working",
    "out of order",
    "broken",
    "missing",
    "flickering",
    "leaking",
    "overflowing",
    "blocked",
    "blocking",
    "clogged",
    "cracked",
    "dumped",
    "abandoned",
    "left behind",
    "burned out",
    "burnt out",
)
#: A suggestion or a compliment, even with a question in it, is feedback.
FEEDBACK = (
    "suggestion",
    "i suggest",
    "would be nice",
    "it would be great",
    "an idea",
    "just a thought",
    "in my opinion",
    "the city should",
    "should consider",
    "have you considered",
    "have you thought",
    "would help if",
    "it would help",
    "why not",
    "why don't",
    "compliment",
    "compliments",
    "great job",
    "good job",
    "well done",
    "kudos",
    "above and beyond",
    "keep up",
    "good work",
)


@dataclass(frozen=True)
class EnquiryRule:
    """A kind rule of the chain (bot/policy.py), like a `PhraseRule`: `check` names what it
    matched, or returns None. `hazard` is the safety rule: a hazard asked about is reported."""

    name: str
    description: str
    hazard: PhraseRule | None = None
    info: PhraseRule = field(
        default_factory=lambda: PhraseRule("enquiry-info", "asks for information", INFO_PHRASES)
    )
    acts: PhraseRule = field(
        default_factory=lambda: PhraseRule(
            "enquiry-acts", "asks the City to act", ACTS, not_events=INFO_ASKS
        )
    )
    feedback: PhraseRule = field(
        default_factory=lambda: PhraseRule("enquiry-feedback", "a suggestion", FEEDBACK)
    )

    def check(self, text: str) -> RuleHit | None:
        text = text[:MAX_SCAN_CHARS]
        asked = self.info.check(text)
        why = asked.reason.rsplit(": ", 1)[-1] if asked else None
        if why is None:
            question = _question(text)
            if question is None:
                return None
            why = f"the question '{question}'"
        if self.acts.check(text) or self.feedback.check(text):
            return None
        if self.hazard is not None and self.hazard.check(text):
            return None
        return RuleHit(self.name, f"{self.description}: {why}")


def _question(text: str) -> str | None:
    """The first words of the first sentence that is a question: it starts with an
    interrogative and ends with "?" or is the message's first sentence."""
    words = tokens(text)
    start = 0
    first = True
    for end in range(len(words) + 1):
        if end < len(words) and words[end] not in SENTENCE_MARKS:
            continue
        sentence = [w for w in words[start:end] if w not in CLAUSE_MARKS]
        while sentence and sentence[0] in LEAD_WORDS:
            if sentence.pop(0) in GREETINGS and sentence[:1] == ["there"]:
                sentence.pop(0)  # "Hi there, ..." (but "There is a pothole" is no question)
        if sentence:
            asks = end < len(words) and words[end] == "?"
            if sentence[0] in INTERROGATIVES and (asks or first):
                return " ".join(sentence[:4]) + ("..." if len(sentence) > 4 else "")
            first = False
        start = end + 1
    return None
