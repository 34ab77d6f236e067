"""The complaint dialogue: a declarative table of steps, pure.

It collects what the city's policy requires of a complaint (04.01: what, when, who, outcome,
contact), asks early about immediate danger, declines anonymous allegations politely (02.01)
unless safety is at stake, and points out-of-scope matters (02.03) to the right process.

```mermaid
stateDiagram-v2
    [*] --> kind: greeting
    kind --> safety: complaint / request / something else
    kind --> what: compliment or suggestion
    safety --> what: yes = call 911, hazard case
    what --> scope: sounds out of scope
    scope --> name: yes, record it for a redirect
    scope --> when: no, carry on
    what --> when
    when --> when: unreadable once (the 2nd time, the words are kept)
    when --> when_time: a complaint, and only a whole day was given
    when --> who
    when_time --> who
    who --> outcome
    outcome --> name
    name --> name: refused once = explain policy 02.01
    name --> on_behalf
    on_behalf --> third_party: someone else
    on_behalf --> contact
    third_party --> contact
    contact --> summary
    summary --> summary: edit ITEM = ask that item again
    summary --> filed: confirm = decide() + store + acknowledgement
    filed --> filed: a message within add_to_case_hours joins the case
    filed --> kind: new / start again / a greeting / after the window
```
No dead ends: a question with fixed choices offers them once more after an answer it cannot
read, then takes the step's `fallback` (a default it explains, or a way out), never a loop.
The summary shows what `decide()` will do (`outlook()`), so the two never disagree.
Steps that do not apply (no "who" for a compliment) are skipped by their `applies` rule; the
next step is always the first one, in table order, that applies and is still unanswered, so
`back`, `edit` and `restart` only have to clear data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

from bot.config import Config
from bot.decide import Classified, classify, declines
from bot.extract import ExtractError, clean_text, find_contact, format_phone
from bot.flows.after_filing import added_to_case, already_filed, asks_for_new, in_window
from bot.flows.base import (
    MAX_TRIES,
    NO,
    UNSURE,
    YES,
    Data,
    Outcome,
    Reask,
    State,
    Step,
    command_of,
    first_word,
    is_refusal,
    is_unsure,
    normalise,
)
from bot.flows.words import (
    ABUSE_FILLER,
    CHANGE_WORDS,
    NEW_WORDS,
    NO_CONTACT,
    NOT_RIGHT,
    OTHER_WORDS,
    SELF_ANSWERS,
)
from bot.model import Attachment, Kind, Person, Reply, Submission
from bot.phrases import tokens
from bot.policy import REDIRECTS, Rules
from bot.when import (
    MAX_SAID_CHARS,
    Precision,
    When,
    WhenError,
    read_time_of_day,
    read_when,
    when_of,
)
from bot.wording import describe_when

STATE_VERSION = 1

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
KIND_CHOICES = ("Complaint", "Request for service", "Compliment or suggestion", "Something else")
KIND_NAMES = {
    "complaint": "Complaint",
    "request": "Request for service",
    "feedback": "Compliment or suggestion",
    "other": "Question or other message",
}
EDITABLE = {
    "what": "what",
    "details": "what",
    "description": "what",
    "what happened": "what",
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
KIND_ARTICLES = {
    "complaint": "a complaint",
    "request": "a request for service",
    "feedback": "a compliment or suggestion",
    "other": "a question or other message",
}
CONFIRM_WORDS = frozenset({"confirm", "confirmed", "send", "submit"})
#: "My name is Jane Doe" -> "Jane Doe".
NAME_INTRO = re.compile(r"^(?:my name is|my name's|i am|i'm|it's|this is|name:)\s+", re.I)
#: A first message at least this long is taken as the description of what happened.
FREE_TEXT_WORDS = 8
#: Answers to "when" that cannot be read: asked once more, then kept as the resident's words.
WHEN_TRIES = 2


def _hazard(d: Data) -> bool:
    """Yes to the danger question; or "not sure" and the description names a hazard (then the
    policy's phrases decide, as decide() will: see `safety_found`)."""
    return d.get("safety") is True or (
        "safety" in d and d["safety"] is None and bool(d.get("safety_found"))
    )


def _investigated(d: Data) -> bool:
    """Complaints (not hazards, not redirects) need the full five items."""
    return d.get("kind") == "complaint" and not _hazard(d) and not d.get("scope")


def _name_optional(d: Data) -> bool:
    """Only allegations need a name (02.01); hazards, requests, compliments and questions do
    not, but a redirect does (decide() declines an anonymous out-of-scope message too)."""
    return _hazard(d) or (d.get("kind") in ("feedback", "request", "other") and not d.get("scope"))


def _text_item(key: str) -> Callable[[str, Data, datetime], Outcome]:
    """A parser for an item that is free text of at least a couple of characters; "I don't
    know" is an honest answer and is kept as said."""

    def parse(text: str, d: Data, now: datetime) -> Outcome:
        if len(text.strip()) < 2:
            raise Reask("Could you say a little more? If you don't know, type 'not sure'.")
        return Outcome({key: text})

    return parse


def _not_known(key: str) -> Callable[[str, Data, datetime], Outcome]:
    """The way out of a free-text item: note it as not known, and carry on."""

    def fallback(text: str, d: Data, now: datetime) -> Outcome:
        return Outcome({key: ""}, say=("That's all right; I'll note it as not known.",))

    return fallback


#: Words that start a sentence, or that a sentence has and a name does not ("I want an
#: apology" typed at the name question is an answer to another question).
SENTENCE_STARTS = frozenset({"i", "we", "the", "it", "they", "please", "this", "that", "there"})
SENTENCE_WORDS = frozenset(
    {"a", "an", "and", "the", "to", "of", "is", "was", "want", "would", "please", "not"}
)


def _reads_like_a_sentence(name: str) -> bool:
    words = [w.strip(".,!?").lower() for w in name.split()]
    return (
        len(words) > 6
        or (len(words) > 1 and words[0] in SENTENCE_STARTS)
        or sum(w in SENTENCE_WORDS for w in words) >= 2
    )


def _min_words(text: str, words: int, message: str) -> str:
    if len(text.split()) < words:
        raise Reask(message)
    return text


@dataclass(frozen=True)
class ComplaintFlow:
    """The dialogue, bound to the city's configuration and rules."""

    config: Config
    rules: Rules

    # -- public interface -----------------------------------------------------------------

    def start(self, now: datetime) -> tuple[State, list[Reply]]:
        state = self._new_state(now)
        return state, [Reply(self._greeting()), self._prompt(state)]

    def step(self, state: State | None, text: str, now: datetime) -> tuple[State, list[Reply]]:
        """One turn: the resident's text in, the new state and the replies out."""
        if state is not None and state.get("status") == "expired":
            state = {**state, "status": "active"}
            if normalise(text) in RESUME_WORDS:
                return state, self.resume(state)
            new_state, replies = self.step(state, text, now)
            return new_state, [Reply("Welcome back."), *replies]
        if state is not None and state.get("status") == "filed":
            return self._after_filing(state, text, now)
        if state is None or state.get("status") not in ("active",):
            return self._begin_again(state, text, now)
        state = _copy(state)
        try:
            text = clean_text(text, self.config.dialogue.max_message_chars)
        except ExtractError as exc:
            return state, [Reply(str(exc)), self._prompt(state)]
        if not text:
            return state, [Reply("I didn't receive any text."), self._prompt(state)]
        abuse = self.rules.abuse.check(text)
        if abuse:
            return self._abuse(state, text, now)
        command = command_of(text)
        if command:
            return self._command(state, command, now)
        return self._answer(state, text, now)

    def current_step(self, state: State) -> str:
        return str(state["step"])

    def choices(self, state: State) -> tuple[str, ...]:
        return self._step(state["step"]).choices(state["data"])

    def paused_notice(self, minutes: int) -> str:
        return (
            f"I've paused our conversation because there was no message for {minutes} "
            "minutes. Nothing you told me is lost, and nothing has been sent yet. Send "
            "'resume' to carry on where we left off, or 'restart' to begin again."
        )

    def resume(self, state: State) -> list[Reply]:
        """What to say when a resident comes back to an unfinished conversation."""
        return [Reply("Welcome back. Let's carry on where we left off."), self._prompt(state)]

    # -- turn handling ----------------------------------------------------------------------

    def _new_state(self, now: datetime) -> State:
        state: State = {
            "v": STATE_VERSION,
            "status": "active",
            "data": {},
            "history": [],
            "strikes": 0,
            "tries": {},
            "started_at": now.isoformat(),
            "step": "",
        }
        state["step"] = self._next(state["data"])
        return state

    def _begin_again(
        self, old: State | None, text: str, now: datetime
    ) -> tuple[State, list[Reply]]:
        if old is not None and old.get("status") == "ended":
            ended = datetime.fromisoformat(old["ended_at"])
            if now - ended < timedelta(minutes=self.config.dialogue.abuse_cooloff_minutes):
                return old, [
                    Reply(
                        "Our earlier conversation was ended. Please come back a little later and "
                        "we'll be glad to help with your concern."
                    )
                ]
        state, replies = self.start(now)
        if command_of(text) or normalise(text) in GREETINGS | NEW_WORDS or not text.strip():
            return state, replies
        new_state, answer = self.step(state, text, now)
        return new_state, [replies[0], *answer]

    def _answer(self, state: State, text: str, now: datetime) -> tuple[State, list[Reply]]:
        step = self._step(state["step"])
        data = state["data"]
        try:
            outcome = step.parse(text, data, now)
        except (Reask, ExtractError) as exc:
            tries = state["tries"][step.name] = state["tries"].get(step.name, 0) + 1
            if step.fallback is None or tries < MAX_TRIES:
                return state, [Reply(str(exc), step.choices(data))]
            try:  # the choices were offered once more: now the way out, never a loop
                outcome = step.fallback(text, data, now)
            except Reask as way_out:
                return state, [Reply(str(way_out), step.choices(data))]
        state["tries"].pop(step.name, None)
        data.update(outcome.updates)
        if step.name != "summary":
            state["history"].append(step.name)
        if outcome.status:
            state["status"] = outcome.status
            state["confirmed_at"] = now.isoformat()
            return state, [Reply(s) for s in outcome.say]
        state["step"] = outcome.then or self._next(data)
        return state, [*(Reply(s) for s in outcome.say), self._prompt(state)]

    def _command(self, state: State, command: str, now: datetime) -> tuple[State, list[Reply]]:
        step = self._step(state["step"])
        if command == "help":
            return state, [Reply(step.help + "\n\n" + COMMAND_HELP), self._prompt(state)]
        if command == "why":
            return state, [Reply(step.why), self._prompt(state)]
        if command == "cancel":
            state["status"] = "cancelled"
            return state, [
                Reply(
                    "I've cancelled this conversation. Nothing has been sent to the City. "
                    "If you'd like to start again, just send a new message."
                )
            ]
        if command == "restart":
            state, replies = self.start(now)
            return state, [Reply("Let's start again."), *replies]
        # back
        if not state["history"]:
            return state, [Reply("This is the first question."), self._prompt(state)]
        previous = state["history"].pop()
        for key in self._step(previous).fills:
            state["data"].pop(key, None)
        state["step"] = self._next(state["data"])
        return state, [self._prompt(state)]

    def _abuse(self, state: State, text: str, now: datetime) -> tuple[State, list[Reply]]:
        """A warning first; a real answer around a rude word is kept (only text that is
        nothing but abuse is dropped); the second time the conversation ends."""
        state["strikes"] = int(state.get("strikes", 0)) + 1
        if state["strikes"] == 1:
            warning = Reply(
                "I can hear that you're frustrated, and I want to help you get this to the "
                "right people. Please keep the conversation free of abusive language; if it "
                "continues I'll have to end our conversation. Let's carry on."
            )
            if not self._has_content_besides_abuse(text):
                return state, [warning, self._prompt(state)]
            state, replies = self._answer(state, text, now)
            return state, [warning, *replies]
        state["status"] = "ended"
        state["ended_at"] = now.isoformat()
        return state, [
            Reply(
                "I'm ending our conversation now because of the language used. You're welcome to "
                "come back later, when you're ready, and we'll work on your concern together. "
                f"You can also call {self.config.care.name} at {self.config.care.phone} "
                f"({self.config.care.hours})."
            )
        ]

    def _has_content_besides_abuse(self, text: str) -> bool:
        words = [w for w in tokens(text) if w.isalnum() or "'" in w]
        kept = self.rules.abuse.words_outside(words)
        return any(w not in ABUSE_FILLER for w in kept)

    # -- after filing -------------------------------------------------------------------------

    def _after_filing(self, state: State, text: str, now: datetime) -> tuple[State, list[Reply]]:
        """A message soon after filing is added to the case just filed ("Actually it was
        Wednesday"); asking for a new one, or writing after the window, starts a new one."""
        hours = self.config.dialogue.add_to_case_hours
        if not in_window(state, now, hours) or asks_for_new(text, KINDS):
            return self._begin_again(state, text, now)
        state = _copy(state)
        try:
            text = clean_text(text, self.config.dialogue.max_message_chars)
        except ExtractError as exc:
            return state, [Reply(str(exc))]
        if (
            not text
            or command_of(text)
            or (self.rules.abuse.check(text) and not self._has_content_besides_abuse(text))
        ):
            return state, [Reply(already_filed(state["ref"], self.config.care))]
        state["addendum"] = text
        return state, [Reply(added_to_case(state["ref"]))]

    def _step(self, name: str) -> Step:
        return self.table[name]

    def _next(self, data: Data) -> str:
        for step in self.table.values():
            if step.applies(data) and any(key not in data for key in step.fills):
                return step.name
        return "summary"

    def _prompt(self, state: State) -> Reply:
        step = self._step(state["step"])
        return Reply(step.prompt(state["data"]), step.choices(state["data"]))

    def _greeting(self) -> str:
        return (
            f"Hello, and thank you for contacting the {self.config.city.name} "
            f"{self.config.care.name}. I can take a complaint, a request for service, a "
            "compliment or a suggestion, and pass it to the City. A person at the City will "
            "read everything you send. You can type 'help' at any time."
        )

    # -- the table -------------------------------------------------------------------------

    @cached_property
    def table(self) -> dict[str, Step]:
        return {s.name: s for s in self._steps()}

    def _steps(self) -> Sequence[Step]:
        return (
            Step(
                "kind",
                lambda d: (
                    "What is your message about? You can choose one, or just "
                    "tell me in your own words."
                ),
                self._parse_kind,
                lambda d: True,
                ("kind",),
                "Knowing what kind of message this is lets us send it to the right people and "
                "apply the right timelines: a complaint is investigated and followed up, a "
                "compliment is shared with the team.",
                "Choose 1 for a complaint (you're unhappy with a City service or action), 2 for a "
                "request for service (a pothole, a missed pickup...), 3 for a compliment or "
                "suggestion, or 4 for something else.",
                lambda d: KIND_CHOICES,
                self._kind_fallback,
            ),
            Step(
                "safety",
                self._safety_prompt,
                self._parse_safety,
                self._asks_safety,
                ("safety",),
                "If someone is in danger, 911 is the fastest help. Hazards reported to the "
                "City are inspected within one business day, even if you don't give your name.",
                "Answer yes if anyone could be hurt right now, otherwise no. If you're not sure, "
                "type 'not sure'.",
                lambda d: ("Yes", "No", "Not sure"),
                self._safety_unsure,
            ),
            Step(
                "what",
                self._what_prompt,
                self._parse_what,
                lambda d: True,
                ("what",),
                "The details help the department understand exactly what happened and act on it "
                "(City policy 04.01 a).",
                "Describe what happened in a few sentences: where (the street or place), what "
                "you saw or experienced, and what went wrong.",
                fallback=self._what_as_said,
            ),
            Step(
                "scope",
                self._scope_prompt,
                self._parse_scope,
                lambda d: bool(d.get("scope_found")) and not _hazard(d),
                ("scope",),
                "The City's complaint policy (02.03) does not cover some matters because they "
                "have their own process; sending you there gets you an answer faster.",
                "Type yes to record your message so staff can point you to the right process, "
                "or no if I've misunderstood and you'd like to carry on.",
                lambda d: ("Yes", "No"),
                self._scope_carry_on,
            ),
            Step(
                "when",
                self._when_prompt,
                self._parse_when,
                lambda d: (
                    (_investigated(d) or _hazard(d) or d.get("kind") == "request")
                    and not d.get("scope")
                ),
                ("when_text",),
                "The date and time let the department check its records, schedules and logs "
                "for that day (policy 04.01 b).",
                'Write the date and time, for example "yesterday at 3pm", "12 March at '
                '10am" or "2026-03-12 14:00". A rough answer is fine too: "last week", "about '
                'two weeks ago", "since Monday". If you\'re not sure, type "not sure".',
            ),
            Step(
                "when_time",
                lambda d: "About what time was it? (for example 3pm, or 'not sure')",
                self._parse_when_time,
                lambda d: bool(d.get("when_ask_time")),
                ("when_time",),
                "The time of day helps staff find the right shift, route or record.",
                "Write a time like 3pm or 10:30, or 'not sure'.",
            ),
            Step(
                "who",
                lambda d: (
                    "Who was involved? For example a staff member's name or role, "
                    "a department, a contractor or a vehicle number. If you don't know, describe "
                    "them."
                ),
                _text_item("who"),
                _investigated,
                ("who",),
                "Knowing who was involved lets us ask the right people about it (policy 04.01 c).",
                'Anything that identifies them helps: a name, a role ("the bus driver"), a '
                "truck number, a department. If you don't know, type 'not sure'.",
                fallback=_not_known("who"),
            ),
            Step(
                "outcome",
                lambda d: "What outcome are you looking for? What would you like the City to do?",
                _text_item("outcome"),
                _investigated,
                ("outcome",),
                "Telling us what you'd like to happen helps us aim for a resolution that works "
                "for you (policy 04.01 d).",
                "For example: an apology, a repair, a refund, a change to a schedule, or simply "
                "that it doesn't happen again.",
                fallback=_not_known("outcome"),
            ),
            Step(
                "name",
                self._name_prompt,
                self._parse_name,
                lambda d: True,
                ("name",),
                "The City's policy (02.01) is that anonymous complaints can't be investigated, "
                "except immediate threats to safety. Your name is kept confidential and used "
                "only to handle your message.",
                "Type your full name, for example Jane Doe.",
                fallback=self._name_fallback,
            ),
            Step(
                "on_behalf",
                lambda d: (
                    "Is this about something that happened to you, or are "
                    "you writing on behalf of someone else? (me / someone else)"
                ),
                self._parse_on_behalf,
                lambda d: _investigated(d) and bool(d.get("name")),
                ("on_behalf",),
                "Complaints made for someone who isn't named can't be investigated (policy "
                "02.01), so we ask who the complaint is for.",
                "Type 'me' if it's about you, or 'someone else'.",
                lambda d: ("Me", "Someone else"),
                self._on_behalf_fallback,
            ),
            Step(
                "third_party",
                lambda d: (
                    "What is the name of the person you're writing for? We'll keep it confidential."
                ),
                self._parse_third_party,
                lambda d: d.get("on_behalf") == "other",
                ("third_party",),
                "The City can only investigate a complaint for someone else when that person is "
                "named (policy 02.01).",
                "Type their full name, or 'skip'.",
                fallback=lambda text, d, now: Outcome({"third_party": ""}),
            ),
            Step(
                "contact",
                lambda d: (
                    "How can we reach you? Please give an email address, a phone number, or both."
                ),
                self._parse_contact,
                lambda d: bool(d.get("name")),
                ("contact",),
                "So we can acknowledge your message, give you updates and tell you the outcome "
                "(policy 04.01 e). Your details are kept confidential.",
                "For example jane@example.com or 905-555-0100. If you'd rather not give any, "
                "type 'skip'.",
                fallback=self._no_contact,
            ),
            Step(
                "summary",
                self._summary,
                self._parse_summary,
                lambda d: True,
                (),
                "This is your chance to check everything before it's sent to the City.",
                "Type 'confirm' to send it, 'edit' followed by the item to change (what, when, "
                "who, outcome, name, contact or type), or 'cancel'.",
                lambda d: ("Confirm", "Edit", "Cancel"),
                self._summary_way_out,
            ),
        )

    def _asks_safety(self, d: Data) -> bool:
        """The danger question comes first for anything that may report a problem; a question
        for information, read from the first message, is not asked it (its words are still
        read for a hazard, and the question rule never takes a message that names one)."""
        if d.get("kind") in ("complaint", "request"):
            return True
        return d.get("kind") == "other" and not self._is_enquiry(d)

    def _is_enquiry(self, d: Data) -> bool:
        return "what" in d and self.rules.classify(str(d["what"]))[0] is Kind.OTHER

    # -- prompts ---------------------------------------------------------------------------

    def _what_prompt(self, d: Data) -> str:
        if _hazard(d):
            return "Please describe the hazard and where it is (the street, address or landmark)."
        if d.get("kind") == "feedback":
            return "Please tell me your compliment or suggestion."
        if d.get("kind") == "request":
            return "What would you like the City to do, and where (the street or address)?"
        return (
            "Please tell me what happened, in as much detail as you can: where it was, "
            "what you saw or experienced, and what went wrong."
        )

    def _scope_prompt(self, d: Data) -> str:
        process = REDIRECTS[d["scope_found"]]
        return (
            f"Thank you. It sounds like this may be about {process}. The City's complaint "
            "process doesn't cover that (policy 02.03), but I can record your message and a "
            "member of staff will point you to the right place. Shall I do that? "
            "(yes / no, I'd like to carry on)"
        )

    def _when_prompt(self, d: Data) -> str:
        if d.get("when_tries"):
            return (
                "When did it happen, as best you remember? A rough answer is fine, such as "
                '"last week", "about two weeks ago" or "on the 24th", or type "not sure".'
            )
        if _hazard(d):
            return 'When did you notice it? (for example "right now" or "this morning")'
        if d.get("kind") == "request":
            return 'When did you first notice it? (for example "yesterday" or "12 March")'
        return (
            "When did it happen? Please include the date and, if you can, the time "
            '(for example "yesterday at 3pm" or "12 March at 10am").'
        )

    def _name_prompt(self, d: Data) -> str:
        if _name_optional(d):
            return "May I have your name, so we can update you? (or type 'skip' to stay anonymous)"
        if d.get("anon_warned"):
            return "Would you like to give your name? (type your name, or 'no')"
        return "May I have your full name?"

    def outlook(self, d: Data) -> tuple[Classified, bool]:
        """What decide() will make of the conversation as it stands, and whether it declines
        it (02.01). The summary shows exactly this, so the two never disagree: the rules have
        one owner, the policy chain (bot/chain.py)."""
        sub = submission_from_state({"data": d}, "chat", SUMMARY_TIME, None)
        found = classify(sub, self.rules)
        return found, declines(found.kind, sub)

    def _summary(self, d: Data) -> str:
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
        if "when_text" in d:
            lines.append(f"- When: {self._when_summary(d)}")
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

    def _when_summary(self, d: Data) -> str:
        when = _when_of_data(d)
        wording = describe_when(when)
        if when is None or when.precision is Precision.UNKNOWN or not when.said:
            return wording
        return f'{wording} (you said: "{when.said}")'

    # -- parsers -----------------------------------------------------------------------------

    def _parse_kind(self, text: str, d: Data, now: datetime) -> Outcome:
        words = len(text.split())
        if is_unsure(text):
            return self._kind_fallback(text, d, now)
        if normalise(text).rstrip("?!. ") in GREETINGS:
            # A greeting is manners, not a wrong answer: greet back and ask again, kindly.
            return Outcome(say=("Hello! How can I help you today?",), then="kind")
        choice = KINDS.get(normalise(text)) or KINDS.get(first_word(text))
        if choice and words <= 4:
            updates: dict[str, object] = {"kind": choice, **self._rescope(d)}
            if choice == "other" and "what" in d and "scope_found" not in updates:
                # 'edit type' -> 'Something else': the description decides, as when first told.
                updates.update(self._kind_of({**d, **updates}))
            return Outcome(updates)
        if words >= FREE_TEXT_WORDS:
            return self._free_text_first(text, now)
        kind, hit = self.rules.classify(text)
        if kind is Kind.OTHER:
            return self._free_text_first(text, now)  # a short question is the whole message
        if hit.rule != "default-complaint":
            return Outcome(
                {"kind": kind.value, **self._rescope(d)},
                say=(
                    f"Thank you. I'll treat this as {KIND_ARTICLES[kind.value]} (you can change "
                    "that at the end).",
                ),
            )
        raise Reask(
            "Sorry, I didn't catch that. Please choose one of the options, or tell "
            "me in a sentence or two what happened."
        )

    def _kind_fallback(self, text: str, d: Data, now: datetime) -> Outcome:
        return Outcome(
            {"kind": "other", **self._rescope(d)},
            say=(
                "I'll note it as 'something else' for now; a person at the City will read "
                "it. You can change this at the end with 'edit type'.",
            ),
        )

    def _rescope(self, d: Data) -> dict[str, object]:
        """A new type chosen at the summary ('edit type'): look at the description again."""
        if "what" in d and "scope" not in d:
            return self._scope_updates(str(d["what"]))
        return {}

    def _free_text_first(self, text: str, now: datetime) -> Outcome:
        """A first message in the resident's own words may answer several questions at once."""
        kind, _hit = self.rules.classify(text)
        found = self.rules.safety.check(text)
        updates: dict[str, object] = {
            "kind": kind.value,
            "what": text,
            "safety_found": bool(found),
        }
        if found:
            # What the rule matched ("the phrase 'gas leak'"), so the danger question can say
            # what it is about and the resident's answer to it is an informed one.
            updates["safety_phrase"] = found.reason.rsplit(": ", 1)[-1].removeprefix("the phrase ")
        updates.update(self._scope_updates(text))
        label = KIND_ARTICLES[kind.value]
        try:
            contact = find_contact(text, self.config.dialogue.phone_region)
        except ExtractError:
            contact = None
        if contact and (contact.emails or contact.phones):
            updates["contact"] = {"emails": list(contact.emails), "phones": list(contact.phones)}
        return Outcome(
            updates,
            say=(
                f"Thank you for explaining. I've noted what you wrote, and I'll treat it as "
                f"{label} (you can change that at the end).",
            ),
        )

    def _safety_prompt(self, d: Data) -> str:
        question = (
            "is anyone in immediate danger, or is there a hazard right now, such as a gas "
            "leak, a downed wire, flooding or a sinkhole? (yes / no)"
        )
        if d.get("safety_phrase"):
            return f"You mentioned {d['safety_phrase']}, which can be dangerous. First, {question}"
        return f"First, {question}"

    def _scope_updates(self, text: str) -> dict[str, object]:
        found = self.rules.out_of_scope(text)
        return {"scope_found": found[0]} if found else {}

    def _parse_safety(self, text: str, d: Data, now: datetime) -> Outcome:
        answer, first = normalise(text), first_word(text)
        if is_unsure(text):
            return self._safety_unsure(text, d, now)
        if answer in YES or first in YES:
            return Outcome(
                {"safety": True},
                say=(
                    "If anyone is in danger, please call 911 now. I'll record this as a potential "
                    "hazard so the City can inspect it within one business day.",
                ),
            )
        if answer in NO or first in NO or answer.startswith(("no one", "nobody")):
            return Outcome({"safety": False})
        raise Reask(
            "Please answer yes or no: is anyone in immediate danger right now? If you're "
            "not sure, type 'not sure'."
        )

    def _safety_unsure(self, text: str, d: Data, now: datetime) -> Outcome:
        """Not sure (or no readable answer twice): the description decides, as in an email."""
        return Outcome(
            {"safety": None},
            say=(
                "That's all right, I'll note it as 'not sure'. If you think anyone could be "
                "hurt, please call 911 now. The City will look at what you describe next.",
            ),
        )

    def _parse_what(self, text: str, d: Data, now: datetime) -> Outcome:
        _min_words(
            text,
            3,
            "Could you tell me a little more? A sentence or two about what "
            "happened and where helps the City act on it.",
        )
        return self._what_as_said(text, d, now)

    def _what_as_said(self, text: str, d: Data, now: datetime) -> Outcome:
        """The description as given (also the way out after a second short answer)."""
        updates: dict[str, object] = {
            "what": text,
            "safety_found": bool(self.rules.safety.check(text)),
        }
        say: tuple[str, ...] = ()
        hazard = _hazard({**d, **updates})
        if hazard and not _hazard(d):
            say = (
                "From what you describe, I'll record this as a potential hazard so the City "
                "can inspect it within one business day. If anyone is in danger, please call "
                "911 now.",
            )
        if "scope" not in d and not hazard:
            updates.update(self._scope_updates(text))
        if d.get("kind") == "other" and "scope_found" not in updates and not hazard:
            # "Something else": the rules pick the kind so the right questions follow.
            kind, _hit = self.rules.classify(text)
            updates["kind"] = kind.value
            say = (
                f"Thank you. I'll treat this as {KIND_ARTICLES[kind.value]} (you can change "
                "that at the end with 'edit type').",
            )
        return Outcome(updates, say=say)

    def _parse_scope(self, text: str, d: Data, now: datetime) -> Outcome:
        answer, first = normalise(text), first_word(text)
        if is_unsure(text):
            return self._scope_carry_on(text, d, now)
        if answer in YES or first in YES:
            return Outcome({"scope": d["scope_found"]})
        if answer in NO or first in NO or answer.startswith("no"):
            return Outcome({"scope": "", **self._kind_of(d)}, say=("Thank you, let's carry on.",))
        raise Reask("Please answer yes (record it for the right process) or no (carry on).")

    def _scope_carry_on(self, text: str, d: Data, now: datetime) -> Outcome:
        return Outcome(
            {"scope": "", **self._kind_of(d)},
            say=(
                "I'll carry on with your message as it is. If another process fits it better, "
                "staff will tell you.",
            ),
        )

    def _kind_of(self, d: Data) -> dict[str, object]:
        """'Something else' that is not out of scope after all: the rules pick the kind."""
        if d.get("kind") != "other" or _hazard(d):
            return {}
        kind, _hit = self.rules.classify(str(d.get("what", "")))
        return {"kind": kind.value}

    def _parse_when(self, text: str, d: Data, now: datetime) -> Outcome:
        said = " ".join(text.split())[:MAX_SAID_CHARS]
        say: tuple[str, ...] = ()
        if normalise(text) in UNSURE:
            when = When(said, Precision.UNKNOWN)
        else:
            try:
                when = read_when(text, now, self.config.tz)
            except WhenError as exc:
                tries = int(d.get("when_tries") or 0) + 1
                if tries < WHEN_TRIES:
                    first = (
                        "That date seems to be in the future."
                        if exc.future
                        else "Sorry, I couldn't read that as a date."
                    )
                    return Outcome({"when_tries": tries}, say=(first,), then="when")
                # Never a third time: the resident's words are what we know (precision unknown).
                when = When(said, Precision.UNKNOWN)
                say = (
                    "Thank you. I couldn't turn that into a date, so I've noted it just as you "
                    "wrote it. The staff who read your message will see your words.",
                )
        updates = _when_updates(when)
        updates["when_tries"] = 0
        # Policy 04.01 b wants the time of a complaint: asked once, only for a whole day.
        updates["when_ask_time"] = when.whole_day and _investigated(d)
        return Outcome(updates, say=say)

    def _parse_when_time(self, text: str, d: Data, now: datetime) -> Outcome:
        if normalise(text) in UNSURE:
            return Outcome({"when_time": ""})
        day = _when_of_data(d)
        try:
            if day is None:
                raise WhenError("no day")
            at = read_time_of_day(text, day, now, self.config.tz)
        except WhenError:
            # Asked once only: the words are kept beside the day, which stays a day.
            said = " ".join(text.split())[:MAX_SAID_CHARS]
            return Outcome({"when_time": said, "when_text": f"{d['when_text']}, {said}"})
        return Outcome({"when_time": text, **_when_updates(at)})

    def _parse_name(self, text: str, d: Data, now: datetime) -> Outcome:
        if is_refusal(text) or is_unsure(text):
            if _name_optional(d):
                return Outcome({"name": ""})
            if not d.get("anon_warned"):
                raise_anon = (
                    "I understand. Before you decide, I should explain: under the City's "
                    "Customer Service Policy (section 02.01), complaints made anonymously can't "
                    "be investigated, unless there is an immediate threat to safety. Your name "
                    "and contact details are kept confidential and used only to look into your "
                    "complaint and reply to you."
                )
                return Outcome({"anon_warned": True}, say=(raise_anon,), then="name")
            return Outcome({"name": ""})
        name = NAME_INTRO.sub("", " ".join(text.split()))
        if any(ch.isdigit() for ch in name) or "@" in name:
            raise Reask(
                "That looks like contact details; I'll ask for those next. What is your name?"
            )
        if not any(ch.isalpha() for ch in name) or not 2 <= len(name) <= 100:
            raise Reask("Please type your name, for example Jane Doe.")
        if _reads_like_a_sentence(name):
            raise Reask(
                "That reads like a sentence rather than a name; I've kept your earlier "
                "answers. What is your name? For example Jane Doe."
            )
        return Outcome({"name": name})

    def _name_fallback(self, text: str, d: Data, now: datetime) -> Outcome:
        """Asked twice: something with letters is taken as the name as typed; otherwise no
        name (with the explanation of 02.01 first, if it matters)."""
        name = NAME_INTRO.sub("", " ".join(text.split()))
        if "@" not in name and any(ch.isalpha() for ch in name) and 2 <= len(name) <= 100:
            return Outcome({"name": name})
        return self._parse_name("no", d, now)

    def _parse_on_behalf(self, text: str, d: Data, now: datetime) -> Outcome:
        answer = normalise(text)
        words = set(tokens(answer))
        if answer in SELF_ANSWERS or first_word(text) in ("me", "myself"):
            return Outcome({"on_behalf": "self"})
        if words & OTHER_WORDS or answer == "2":
            return Outcome({"on_behalf": "other"})
        raise Reask("Please type 'me' if this is about you, or 'someone else'.")

    def _on_behalf_fallback(self, text: str, d: Data, now: datetime) -> Outcome:
        return Outcome(
            {"on_behalf": "self"},
            say=(
                "I'll take it that this is about you. If you're writing for someone else, "
                "you can change it at the end with 'edit name'.",
            ),
        )

    def _parse_third_party(self, text: str, d: Data, now: datetime) -> Outcome:
        if is_refusal(text) or normalise(text) in UNSURE:
            return Outcome({"third_party": ""})
        if not any(ch.isalpha() for ch in text):
            raise Reask("Please type the person's name.")
        return Outcome({"third_party": " ".join(text.split())})

    def _parse_contact(self, text: str, d: Data, now: datetime) -> Outcome:
        if is_refusal(text) or is_unsure(text):
            return Outcome({"contact": {}}, say=(NO_CONTACT,))
        found = find_contact(text, self.config.dialogue.phone_region)
        if not found.emails and not found.phones:
            raise Reask(
                "I couldn't find an email address or a phone number in that. Please "
                "type one, for example jane@example.com or 905-555-0100, or type 'skip' "
                "to go on without."
            )
        return Outcome({"contact": {"emails": list(found.emails), "phones": list(found.phones)}})

    def _no_contact(self, text: str, d: Data, now: datetime) -> Outcome:
        return Outcome(
            {"contact": {}},
            say=(
                "I couldn't find an email address or a phone number, so I'll go on without.",
                NO_CONTACT,
            ),
        )

    def _parse_summary(self, text: str, d: Data, now: datetime) -> Outcome:
        answer = normalise(text)
        if answer in YES or answer in ("confirm", "send", "send it", "submit", "looks good"):
            return Outcome(status="confirmed")
        if len(answer.split()) <= 3 and first_word(text) in YES | CONFIRM_WORDS:
            return Outcome(status="confirmed")  # "yes please", "confirm it", "send now"
        if answer in ("edit", "change") or answer in NO or answer in NOT_RIGHT:
            raise Reask(
                "What would you like to change? Type 'edit' and one of: what, when, "
                "who, outcome, name, contact or type."
            )
        if answer.startswith("edit ") or answer.startswith("change "):
            item = EDITABLE.get(answer.split(" ", 1)[1].strip())
            if item is None:
                raise Reask(
                    "I can change: what, when, who, outcome, name, contact or type. "
                    "For example 'edit when'."
                )
            return self._edit(item, d)
        words = tokens(answer)
        items = {EDITABLE[w] for w in words if w in EDITABLE}
        if len(items) == 1 and CHANGE_WORDS.intersection(words):
            return self._edit(items.pop(), d)  # "the date is wrong"
        raise Reask("Please type 'confirm' to send it, 'edit' and the item to change, or 'cancel'.")

    def _edit(self, item: str, d: Data) -> Outcome:
        for key in EDIT_CLEARS[item]:
            d.pop(key, None)
        return Outcome()

    def _summary_way_out(self, text: str, d: Data, now: datetime) -> Outcome:
        care = self.config.care
        raise Reask(
            "I'm sorry, I didn't understand. Your message hasn't been sent yet. Type "
            "'confirm' to send it as shown above, 'edit' and the item to change (for example "
            "'edit when'), or 'cancel' to stop without sending anything. If you'd rather talk "
            f"to a person, call {care.name} at {care.phone} ({care.hours})."
        )


EDIT_CLEARS: dict[str, tuple[str, ...]] = {
    "what": ("what", "scope_found", "scope", "safety_phrase"),
    "when": (
        "when_text",
        "when_at",
        "when_end",
        "when_precision",
        "when_has_time",
        "when_time",
        "when_tries",
        "when_ask_time",
    ),
    "who": ("who",),
    "outcome": ("outcome",),
    "name": ("name", "anon_warned", "on_behalf", "third_party"),
    "contact": ("contact",),
    "kind": ("kind", "safety", "scope_found", "scope"),
}

RESUME_WORDS = frozenset({"resume", "continue", "carry on", "go on"})

#: Any fixed time: the summary classifies the conversation, which needs no clock.
SUMMARY_TIME = datetime(2000, 1, 1, tzinfo=UTC)

GREETINGS = frozenset(
    {"hi", "hello", "hey", "good morning", "good afternoon", "bonjour", "hi there", "hello there"}
)

COMMAND_HELP = (
    "At any time you can type: 'back' to change your last answer, 'why' to learn "
    "why we ask, 'restart' to start again, or 'cancel' to stop."
)


def _when_updates(when: When) -> dict[str, object]:
    """What the state keeps of an answer to "when": the words, the range, the precision."""
    return {
        "when_text": when.said,
        "when_at": when.start.isoformat() if when.start else None,
        "when_end": when.end.isoformat() if when.end else None,
        "when_precision": when.precision.value,
    }


def _when_of_data(d: Data) -> When | None:
    def at(key: str) -> datetime | None:
        return datetime.fromisoformat(d[key]) if d.get(key) else None

    return when_of(d.get("when_text"), at("when_at"), at("when_end"), d.get("when_precision"))


def _copy(state: State) -> State:
    """States are values: never change the caller's copy."""
    out = dict(state)
    out["data"] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in state["data"].items()}
    out["history"] = list(state["history"])
    out["tries"] = dict(state.get("tries") or {})
    return out


def submission_from_state(
    state: State, channel: str, received_at: datetime, conversation: str | None
) -> Submission:
    """A confirmed conversation as the Submission decide() reads."""
    d = state["data"]
    contact = d.get("contact") or {}
    person = Person(
        name=d.get("name") or None,
        email=(contact.get("emails") or [None])[0],
        phone=(contact.get("phones") or [None])[0],
    )
    kind_hint = {
        "complaint": Kind.COMPLAINT,
        "request": Kind.REQUEST,
        "feedback": Kind.FEEDBACK,
    }.get(d.get("kind", ""))
    on_behalf = d.get("third_party", "") if d.get("on_behalf") == "other" else None
    text = "\n".join(str(d[k]) for k in ("what", "who", "outcome") if d.get(k))
    return Submission(
        channel=channel,
        received_at=received_at,
        text=text,
        what=d.get("what"),
        when_text=d.get("when_text") or None,
        when=datetime.fromisoformat(d["when_at"]) if d.get("when_at") else None,
        when_end=datetime.fromisoformat(d["when_end"]) if d.get("when_end") else None,
        when_precision=d.get("when_precision") or None,
        who=d.get("who"),
        outcome=d.get("outcome"),
        person=person,
        kind_hint=kind_hint,
        # The resident's answer (None: "not sure"); a compliment was never a danger report.
        safety=d["safety"] if "safety" in d else (False if d.get("kind") == "feedback" else None),
        on_behalf_of=on_behalf,
        scope_hint=d.get("scope") or "",
        conversation=conversation,
        attachments=tuple(
            Attachment(
                e.get("name"),
                e.get("type", "application/octet-stream"),
                int(e.get("size") or 0),
                e.get("ref"),
            )
            for e in d.get("evidence", [])
        ),
    )
