"""What the complaint dialogue says: each step's question, why it is asked and how to answer
(`why` and `help`), the summary, and the notices around the questions (greeting, pause,
cancel, abuse). Kept apart from the table (bot/flows/steps.py) so the dialogue's shape reads
on one page, and from the parsers (bot/flows/answers.py) so the wording can be reviewed as
one text: plain language, about grade 8, kind and exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config import Config
from bot.decide import Classified, classify, declines
from bot.extract import format_phone
from bot.flows.base import Data
from bot.flows.data import (
    asks_where,
    hazard,
    name_optional,
    submission_from_state,
    when_of_data,
)
from bot.model import Kind
from bot.place import place_of
from bot.policy import REDIRECTS, Rules
from bot.when import Precision
from bot.wording import describe_when

KIND_CHOICES = ("Complaint", "Request for service", "Compliment or suggestion", "Something else")
KIND_NAMES = {
    "complaint": "Complaint",
    "request": "Request for service",
    "feedback": "Compliment or suggestion",
    "other": "Question or other message",
}
KIND_ARTICLES = {
    "complaint": "a complaint",
    "request": "a request for service",
    "feedback": "a compliment or suggestion",
    "other": "a question or other message",
}
COMMAND_HELP = (
    "At any time you can type: 'back' to change your last answer, 'why' to learn "
    "why we ask, 'restart' to start again, or 'cancel' to stop."
)
#: Any fixed time: the summary classifies the conversation, which needs no clock.
SUMMARY_TIME = datetime(2000, 1, 1, tzinfo=UTC)

#: `why`: the reason each question is asked (the policy section where there is one).
WHY = {
    "kind": "Knowing what kind of message this is lets us send it to the right people and "
    "apply the right timelines: a complaint is investigated and followed up, a "
    "compliment is shared with the team.",
    "safety": "If someone is in danger, 911 is the fastest help. Hazards reported to the "
    "City are inspected within one business day, even if you don't give your name.",
    "what": "The details help the department understand exactly what happened and act on it "
    "(City policy 04.01 a).",
    "scope": "The City's complaint policy (02.03) does not cover some matters because they "
    "have their own process; sending you there gets you an answer faster.",
    "where": "The department needs to know where to go: to inspect a hazard, fix what is "
    "broken or look into what happened there.",
    "when": "The date and time let the department check its records, schedules and logs "
    "for that day (policy 04.01 b).",
    "when_time": "The time of day helps staff find the right shift, route or record.",
    "who": "Knowing who was involved lets us ask the right people about it (policy 04.01 c).",
    "outcome": "Telling us what you'd like to happen helps us aim for a resolution that works "
    "for you (policy 04.01 d).",
    "name": "The City's policy (02.01) is that anonymous complaints can't be investigated, "
    "except immediate threats to safety. Your name is kept confidential and used "
    "only to handle your message.",
    "on_behalf": "Complaints made for someone who isn't named can't be investigated (policy "
    "02.01), so we ask who the complaint is for.",
    "third_party": "The City can only investigate a complaint for someone else when that "
    "person is named (policy 02.01).",
    "contact": "So we can acknowledge your message, give you updates and tell you the outcome "
    "(policy 04.01 e). Your details are kept confidential.",
    "summary": "This is your chance to check everything before it's sent to the City.",
}

#: `help`: how to answer each question.
HELP = {
    "kind": "Choose 1 for a complaint (you're unhappy with a City service or action), 2 for a "
    "request for service (a pothole, a missed pickup...), 3 for a compliment or "
    "suggestion, or 4 for something else.",
    "safety": "Answer yes if anyone could be hurt right now, otherwise no. If you're not sure, "
    "type 'not sure'.",
    "what": "Describe what happened in a few sentences: where (the street or place), what "
    "you saw or experienced, and what went wrong.",
    "scope": "Type yes to record your message so staff can point you to the right process, "
    "or no if I've misunderstood and you'd like to carry on.",
    "where": "Type a street address (12 Elm Street), the nearest corner (King and Queen) or a "
    "landmark (outside the Central Library). On Telegram you can also share your location "
    "with the paperclip button.",
    "when": 'Write the date and time, for example "yesterday at 3pm", "12 March at '
    '10am" or "2026-03-12 14:00". A rough answer is fine too: "last week", "about '
    'two weeks ago", "since Monday". If you\'re not sure, type "not sure".',
    "when_time": "Write a time like 3pm or 10:30, or 'not sure'.",
    "who": 'Anything that identifies them helps: a name, a role ("the bus driver"), a '
    "truck number, a department. If you don't know, type 'not sure'.",
    "outcome": "For example: an apology, a repair, a refund, a change to a schedule, or simply "
    "that it doesn't happen again.",
    "name": "Type your full name, for example Jane Doe.",
    "on_behalf": "Type 'me' if it's about you, or 'someone else'.",
    "third_party": "Type their full name, or 'skip'.",
    "contact": "For example jane@example.com or 905-555-0100. If you'd rather not give any, "
    "type 'skip'.",
    "summary": "Type 'confirm' to send it, 'edit' followed by the item to change (what, where, "
    "when, who, outcome, name, contact or type), or 'cancel'.",
}


# -- the questions, in table order ---------------------------------------------------------


def ask_kind(d: Data) -> str:
    return "What is your message about? You can choose one, or just tell me in your own words."


def ask_safety(d: Data) -> str:
    question = (
        "is anyone in immediate danger, or is there a hazard right now, such as a gas "
        "leak, a downed wire, flooding or a sinkhole? (yes / no)"
    )
    if d.get("safety_phrase"):
        return f"You mentioned {d['safety_phrase']}, which can be dangerous. First, {question}"
    return f"First, {question}"


def ask_what(d: Data) -> str:
    if hazard(d):
        return "Please describe the hazard and where it is (the street, address or landmark)."
    if d.get("kind") == "feedback":
        return "Please tell me your compliment or suggestion."
    if d.get("kind") == "request":
        return "What would you like the City to do, and where (the street or address)?"
    return (
        "Please tell me what happened, in as much detail as you can: where it was, "
        "what you saw or experienced, and what went wrong."
    )


def ask_scope(d: Data) -> str:
    process = REDIRECTS[d["scope_found"]]
    return (
        f"Thank you. It sounds like this may be about {process}. The City's complaint "
        "process doesn't cover that (policy 02.03), but I can record your message and a "
        "member of staff will point you to the right place. Shall I do that? "
        "(yes / no, I'd like to carry on)"
    )


def ask_where(d: Data) -> str:
    if hazard(d):
        return (
            "Where is it? Please give the street address, the nearest corner (for example "
            "King and Queen) or a landmark, so the City can find it."
        )
    if d.get("kind") == "request":
        return (
            "Where is it? Please give the street address, the nearest corner (for example "
            "King and Queen) or a landmark. If it isn't at one place, type 'skip'."
        )
    return (
        "Where did it happen? Please give the street address, the nearest corner or a "
        "landmark. If it isn't about a place, type 'skip'."
    )


def ask_when(d: Data) -> str:
    if d.get("when_tries"):
        return (
            "When did it happen, as best you remember? A rough answer is fine, such as "
            '"last week", "about two weeks ago" or "on the 24th", or type "not sure".'
        )
    if hazard(d):
        return 'When did you notice it? (for example "right now" or "this morning")'
    if d.get("kind") == "request":
        return 'When did you first notice it? (for example "yesterday" or "12 March")'
    return (
        "When did it happen? Please include the date and, if you can, the time "
        '(for example "yesterday at 3pm" or "12 March at 10am").'
    )


def ask_when_time(d: Data) -> str:
    return "About what time was it? (for example 3pm, or 'not sure')"


def ask_who(d: Data) -> str:
    return (
        "Who was involved? For example a staff member's name or role, a department, a "
        "contractor or a vehicle number. If you don't know, describe them."
    )


def ask_outcome(d: Data) -> str:
    return "What outcome are you looking for? What would you like the City to do?"


def ask_name(d: Data) -> str:
    if name_optional(d):
        return "May I have your name, so we can update you? (or type 'skip' to stay anonymous)"
    if d.get("anon_warned"):
        return "Would you like to give your name? (type your name, or 'no')"
    return "May I have your full name?"


def ask_on_behalf(d: Data) -> str:
    return (
        "Is this about something that happened to you, or are you writing on behalf of "
        "someone else? (me / someone else)"
    )


def ask_third_party(d: Data) -> str:
    return "What is the name of the person you're writing for? We'll keep it confidential."


def ask_contact(d: Data) -> str:
    return "How can we reach you? Please give an email address, a phone number, or both."


@dataclass(frozen=True)
class Wording:
    """The words that depend on the city: its name and numbers, and its rules (the summary
    shows what decide() will make of the conversation)."""

    config: Config
    rules: Rules

    def greeting(self) -> str:
        return (
            f"Hello, and thank you for contacting the {self.config.city.name} "
            f"{self.config.care.name}. I can take a complaint, a request for service, a "
            "compliment or a suggestion, and pass it to the City. A person at the City will "
            "read everything you send. You can type 'help' at any time."
        )

    def paused_notice(self, minutes: int) -> str:
        return (
            f"I've paused our conversation because there was no message for {minutes} "
            "minutes. Nothing you told me is lost, and nothing has been sent yet. Send "
            "'resume' to carry on where we left off, or 'restart' to begin again."
        )

    def ended(self) -> str:
        care = self.config.care
        return (
            "I'm ending our conversation now because of the language used. You're welcome to "
            "come back later, when you're ready, and we'll work on your concern together. "
            f"You can also call {care.name} at {care.phone} ({care.hours})."
        )

    def outlook(self, d: Data) -> tuple[Classified, bool]:
        """What decide() will make of the conversation as it stands, and whether it declines
        it (02.01). The summary shows exactly this, so the two never disagree: the rules have
        one owner, the policy chain (bot/chain.py)."""
        sub = submission_from_state({"data": d}, "chat", SUMMARY_TIME, None)
        found = classify(sub, self.rules)
        return found, declines(found.kind, sub)

    def summary(self, d: Data) -> str:
        found, declined = self.outlook(d)
        if found.kind is Kind.HAZARD:
            kind = "Report of a potential hazard"
        elif found.kind is Kind.OUT_OF_SCOPE:
            kind = KIND_NAMES.get(d.get("kind", ""), KIND_NAMES["other"])
        else:
            kind = KIND_NAMES[found.kind.value]
        lines = ["Here is what I have. Please check it:", f"- Type: {kind}", f"- What: {d['what']}"]
        if found.kind is Kind.OUT_OF_SCOPE:
            lines.append("- Note: this may be for a different process; staff will point you to it")
        if "place" in d and (asks_where(d) or d["place"]):
            lines.append(f"- Where: {where_summary(d)}")
        if "when_text" in d:
            lines.append(f"- When: {when_summary(d)}")
        if "who" in d:
            lines.append(f"- Who was involved: {d['who'] or 'not known'}")
        if "outcome" in d:
            lines.append(f"- Outcome you're looking for: {d['outcome'] or 'not known'}")
        lines.append(f"- Your name: {d.get('name') or 'not given'}")
        if d.get("on_behalf") == "other":
            lines.append(f"- On behalf of: {d.get('third_party') or 'not named'}")
        contact = d.get("contact") or {}
        methods = [*contact.get("emails", []), *map(format_phone, contact.get("phones", []))]
        lines.append(f"- Contact: {', '.join(methods) or 'not given'}")
        if not methods and not declined:
            add = (
                "'edit contact' to add one"
                if d.get("name")
                else "'edit name' to add your name and then a way to reach you"
            )
            lines.append(
                "\nPlease note: without an email address or a phone number, the City can't "
                f"send you updates or tell you the outcome. You can type {add}."
            )
        if declined:
            lines.append(
                "\nPlease note: under the City's Customer Service Policy (02.01), a "
                "complaint without a name, or for someone who isn't named, can be "
                "recorded but not investigated. You can type 'edit name' to add yours."
            )
        lines.append(
            "\nType 'confirm' to send it, 'edit' and the item to change (for example "
            "'edit when'), or 'cancel'."
        )
        return "\n".join(lines)


def where_summary(d: Data) -> str:
    place = place_of(d.get("place"))
    if place is None:
        return "not known" if hazard(d) else "not given"
    return place.describe()


def when_summary(d: Data) -> str:
    when = when_of_data(d)
    wording = describe_when(when)
    if when is None or when.precision is Precision.UNKNOWN or not when.said:
        return wording
    return f'{wording} (you said: "{when.said}")'


# -- around the questions ------------------------------------------------------------------

RESUMED = "Welcome back. Let's carry on where we left off."
WELCOME_BACK = "Welcome back."
NO_TEXT = "I didn't receive any text."
CANCELLED = (
    "I've cancelled this conversation. Nothing has been sent to the City. "
    "If you'd like to start again, just send a new message."
)
RESTARTED = "Let's start again."
LOCATION_NOTED = "Thank you, I've noted the location you shared."
LOCATION_UNREAD = "Please share it again, or type the street address or the nearest corner."
LOCATION_KEPT = (
    "Thank you, I've noted the location you shared as the place this is about. You can "
    "change it at the end with 'edit where'. Now, back to my question:"
)
FIRST_QUESTION = "This is the first question."
ABUSE_WARNING = (
    "I can hear that you're frustrated, and I want to help you get this to the "
    "right people. Please keep the conversation free of abusive language; if it "
    "continues I'll have to end our conversation. Let's carry on."
)
STILL_ENDED = (
    "Our earlier conversation was ended. Please come back a little later and "
    "we'll be glad to help with your concern."
)
