"""How the complaint dialogue reads each answer: one parser a step (named as in the table,
bot/flows/steps.py), and each step's way out after an answer it could not read twice. A
parser returns an Outcome (what to keep, what to say, where to go) or raises Reask.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.config import Config
from bot.extract import ExtractError, find_contact
from bot.flows.base import (
    NO,
    UNSURE,
    YES,
    Data,
    Outcome,
    Reask,
    first_word,
    is_refusal,
    is_unsure,
    normalise,
)
from bot.flows.data import (
    EDIT_CLEARS,
    hazard,
    investigated,
    name_optional,
    when_of_data,
    when_updates,
)
from bot.flows.prompts import KIND_ARTICLES
from bot.flows.words import (
    CHANGE_WORDS,
    CONFIRM_WORDS,
    EDITABLE,
    GREETINGS,
    KINDS,
    NAME_INTRO,
    NO_CONTACT,
    NOT_RIGHT,
    OTHER_WORDS,
    SELF_ANSWERS,
    SENTENCE_STARTS,
    SENTENCE_WORDS,
)
from bot.model import Kind
from bot.phrases import tokens
from bot.place import Place, PlaceError, find_place, read_place
from bot.policy import Rules
from bot.when import (
    MAX_SAID_CHARS,
    Precision,
    When,
    WhenError,
    read_time_of_day,
    read_when,
)

#: A first message at least this long is taken as the description of what happened.
FREE_TEXT_WORDS = 8
#: Answers to "when" that cannot be read: asked once more, then kept as the resident's words.
WHEN_TRIES = 2

Parser = Callable[[str, Data, datetime], Outcome]


def text_item(key: str) -> Parser:
    """A parser for an item that is free text of at least a couple of characters; "I don't
    know" is an honest answer and is kept as said."""

    def parse(text: str, d: Data, now: datetime) -> Outcome:
        if len(text.strip()) < 2:
            raise Reask("Could you say a little more? If you don't know, type 'not sure'.")
        return Outcome({key: text})

    return parse


def not_known(key: str) -> Parser:
    """The way out of a free-text item: note it as not known, and carry on."""

    def fallback(text: str, d: Data, now: datetime) -> Outcome:
        return Outcome({key: ""}, say=("That's all right; I'll note it as not known.",))

    return fallback


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


#: A bare "skip": nothing said to keep.
SKIP = frozenset({"skip", "pass", "no", "none", "n/a", "na"})


def _skips(text: str) -> bool:
    """No place given: "skip", "not sure", "I'd rather not"."""
    return is_unsure(text) or is_refusal(text)


def _place_updates(text: str, d: Data) -> dict[str, object]:
    """A place the description gives (bot/place.py, conservative), so "where" is not asked
    again; never over one the resident gave or shared. `place_found` marks a place read from
    the description: 'edit what' clears it with the description."""
    if "place" in d:
        return {}
    found = find_place(text)
    return {"place": found.as_dict(), "place_found": True} if found else {}


@dataclass(frozen=True)
class Answers:
    """The parsers, bound to the city's configuration (phone region, time zone) and rules
    (which read a description for its kind, a hazard, or a matter out of scope)."""

    config: Config
    rules: Rules

    def asks_safety(self, d: Data) -> bool:
        """The danger question comes first for anything that may report a problem; a question
        for information, read from the first message, is not asked it (its words are still
        read for a hazard, and the question rule never takes a message that names one)."""
        if d.get("kind") in ("complaint", "request"):
            return True
        return d.get("kind") == "other" and not self._is_enquiry(d)

    def _is_enquiry(self, d: Data) -> bool:
        return "what" in d and self.rules.classify(str(d["what"]))[0] is Kind.OTHER

    def kind(self, text: str, d: Data, now: datetime) -> Outcome:
        words = len(text.split())
        if is_unsure(text):
            return self.kind_fallback(text, d, now)
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

    def kind_fallback(self, text: str, d: Data, now: datetime) -> Outcome:
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
        updates.update(_place_updates(text, {}))
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

    def _scope_updates(self, text: str) -> dict[str, object]:
        found = self.rules.out_of_scope(text)
        return {"scope_found": found[0]} if found else {}

    def safety(self, text: str, d: Data, now: datetime) -> Outcome:
        answer, first = normalise(text), first_word(text)
        if is_unsure(text):
            return self.safety_unsure(text, d, now)
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

    def safety_unsure(self, text: str, d: Data, now: datetime) -> Outcome:
        """Not sure (or no readable answer twice): the description decides, as in an email."""
        return Outcome(
            {"safety": None},
            say=(
                "That's all right, I'll note it as 'not sure'. If you think anyone could be "
                "hurt, please call 911 now. The City will look at what you describe next.",
            ),
        )

    def what(self, text: str, d: Data, now: datetime) -> Outcome:
        _min_words(
            text,
            3,
            "Could you tell me a little more? A sentence or two about what "
            "happened and where helps the City act on it.",
        )
        return self.what_as_said(text, d, now)

    def what_as_said(self, text: str, d: Data, now: datetime) -> Outcome:
        """The description as given (also the way out after a second short answer)."""
        updates: dict[str, object] = {
            "what": text,
            "safety_found": bool(self.rules.safety.check(text)),
        }
        updates.update(_place_updates(text, d))
        say: tuple[str, ...] = ()
        is_hazard = hazard({**d, **updates})
        if is_hazard and not hazard(d):
            say = (
                "From what you describe, I'll record this as a potential hazard so the City "
                "can inspect it within one business day. If anyone is in danger, please call "
                "911 now.",
            )
        if "scope" not in d and not is_hazard:
            updates.update(self._scope_updates(text))
        if d.get("kind") == "other" and "scope_found" not in updates and not is_hazard:
            # "Something else": the rules pick the kind so the right questions follow.
            kind, _hit = self.rules.classify(text)
            updates["kind"] = kind.value
            say = (
                f"Thank you. I'll treat this as {KIND_ARTICLES[kind.value]} (you can change "
                "that at the end with 'edit type').",
            )
        return Outcome(updates, say=say)

    def scope(self, text: str, d: Data, now: datetime) -> Outcome:
        answer, first = normalise(text), first_word(text)
        if is_unsure(text):
            return self.scope_carry_on(text, d, now)
        if answer in YES or first in YES:
            return Outcome({"scope": d["scope_found"]})
        if answer in NO or first in NO or answer.startswith("no"):
            return Outcome({"scope": "", **self._kind_of(d)}, say=("Thank you, let's carry on.",))
        raise Reask("Please answer yes (record it for the right process) or no (carry on).")

    def scope_carry_on(self, text: str, d: Data, now: datetime) -> Outcome:
        return Outcome(
            {"scope": "", **self._kind_of(d)},
            say=(
                "I'll carry on with your message as it is. If another process fits it better, "
                "staff will tell you.",
            ),
        )

    def _kind_of(self, d: Data) -> dict[str, object]:
        """'Something else' that is not out of scope after all: the rules pick the kind."""
        if d.get("kind") != "other" or hazard(d):
            return {}
        kind, _hit = self.rules.classify(str(d.get("what", "")))
        return {"kind": kind.value}

    def where(self, text: str, d: Data, now: datetime) -> Outcome:
        """An address, two streets or a landmark, kept as said; "skip" where the policy
        allows it: not for a hazard, which the City must find to inspect (asked once more)."""
        if _skips(text):
            if hazard(d):
                raise Reask(
                    "The City needs to know where the hazard is to inspect it. A rough answer "
                    "helps: the street, a nearby building or a landmark. If you really can't "
                    "say, type 'not sure'."
                )
            return Outcome({"place": None, "place_found": False})
        try:
            place = read_place(text)
        except PlaceError as exc:
            raise Reask(str(exc)) from None
        return Outcome({"place": place.as_dict(), "place_found": False})

    def where_as_said(self, text: str, d: Data, now: datetime) -> Outcome:
        """Asked twice: what the resident said is kept, cut to a line (a hazard whose place
        they cannot give is still inspected: staff call them back to find it)."""
        try:
            place: Place | None = read_place(text[:MAX_SAID_CHARS])
        except PlaceError:
            place = None
        if place is not None and _skips(text) and (not hazard(d) or normalise(text) in SKIP):
            place = None
        say = () if place is not None else ("That's all right; I'll note the place as not known.",)
        return Outcome({"place": place.as_dict() if place else None, "place_found": False}, say=say)

    def when(self, text: str, d: Data, now: datetime) -> Outcome:
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
        updates = when_updates(when)
        updates["when_tries"] = 0
        # Policy 04.01 b wants the time of a complaint: asked once, only for a whole day.
        updates["when_ask_time"] = when.whole_day and investigated(d)
        return Outcome(updates, say=say)

    def when_time(self, text: str, d: Data, now: datetime) -> Outcome:
        if normalise(text) in UNSURE:
            return Outcome({"when_time": ""})
        day = when_of_data(d)
        try:
            if day is None:
                raise WhenError("no day")
            at = read_time_of_day(text, day, now, self.config.tz)
        except WhenError:
            # Asked once only: the words are kept beside the day, which stays a day.
            said = " ".join(text.split())[:MAX_SAID_CHARS]
            return Outcome({"when_time": said, "when_text": f"{d['when_text']}, {said}"})
        return Outcome({"when_time": text, **when_updates(at)})

    def name(self, text: str, d: Data, now: datetime) -> Outcome:
        if is_refusal(text) or is_unsure(text):
            if name_optional(d):
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

    def name_fallback(self, text: str, d: Data, now: datetime) -> Outcome:
        """Asked twice: something with letters is taken as the name as typed; otherwise no
        name (with the explanation of 02.01 first, if it matters)."""
        name = NAME_INTRO.sub("", " ".join(text.split()))
        if "@" not in name and any(ch.isalpha() for ch in name) and 2 <= len(name) <= 100:
            return Outcome({"name": name})
        return self.name("no", d, now)

    def on_behalf(self, text: str, d: Data, now: datetime) -> Outcome:
        answer = normalise(text)
        words = set(tokens(answer))
        if answer in SELF_ANSWERS or first_word(text) in ("me", "myself"):
            return Outcome({"on_behalf": "self"})
        if words & OTHER_WORDS or answer == "2":
            return Outcome({"on_behalf": "other"})
        raise Reask("Please type 'me' if this is about you, or 'someone else'.")

    def on_behalf_fallback(self, text: str, d: Data, now: datetime) -> Outcome:
        return Outcome(
            {"on_behalf": "self"},
            say=(
                "I'll take it that this is about you. If you're writing for someone else, "
                "you can change it at the end with 'edit name'.",
            ),
        )

    def third_party(self, text: str, d: Data, now: datetime) -> Outcome:
        if is_refusal(text) or normalise(text) in UNSURE:
            return Outcome({"third_party": ""})
        if not any(ch.isalpha() for ch in text):
            raise Reask("Please type the person's name.")
        return Outcome({"third_party": " ".join(text.split())})

    def contact(self, text: str, d: Data, now: datetime) -> Outcome:
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

    def no_contact(self, text: str, d: Data, now: datetime) -> Outcome:
        return Outcome(
            {"contact": {}},
            say=(
                "I couldn't find an email address or a phone number, so I'll go on without.",
                NO_CONTACT,
            ),
        )

    def summary(self, text: str, d: Data, now: datetime) -> Outcome:
        answer = normalise(text)
        if answer in YES or answer in ("confirm", "send", "send it", "submit", "looks good"):
            return Outcome(status="confirmed")
        if len(answer.split()) <= 3 and first_word(text) in YES | CONFIRM_WORDS:
            return Outcome(status="confirmed")  # "yes please", "confirm it", "send now"
        if answer in ("edit", "change") or answer in NO or answer in NOT_RIGHT:
            raise Reask(
                "What would you like to change? Type 'edit' and one of: what, where, "
                "when, who, outcome, name, contact or type."
            )
        if answer.startswith("edit ") or answer.startswith("change "):
            item = EDITABLE.get(answer.split(" ", 1)[1].strip())
            if item is None:
                raise Reask(
                    "I can change: what, where, when, who, outcome, name, contact or type. "
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
        if item == "what" and d.pop("place_found", False):
            d.pop("place", None)  # read from the old description: the new one may give another
        return Outcome()

    def summary_way_out(self, text: str, d: Data, now: datetime) -> Outcome:
        care = self.config.care
        raise Reask(
            "I'm sorry, I didn't understand. Your message hasn't been sent yet. Type "
            "'confirm' to send it as shown above, 'edit' and the item to change (for example "
            "'edit when'), or 'cancel' to stop without sending anything. If you'd rather talk "
            f"to a person, call {care.name} at {care.phone} ({care.hours})."
        )
