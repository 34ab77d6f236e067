"""The complaint dialogue's turns, pure: one message in, the new state and the replies out.

The dialogue's shape is its table (bot/flows/steps.py, with its diagram), its words
are in bot/flows/prompts.py and its parsers in bot/flows/answers.py. This module moves a
conversation through the table: an answer to the current row, a command that works at any row
(back, help, why, restart, cancel), abuse, and the states around the questions (paused, filed,
cancelled, ended).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from bot.config import Config
from bot.extract import ExtractError, clean_text
from bot.flows.after_filing import added_to_case, already_filed, asks_for_new, in_window
from bot.flows.answers import Answers
from bot.flows.base import MAX_TRIES, Data, Reask, State, Step, command_of, normalise
from bot.flows.data import STATE_VERSION, copy_state, submission_from_state
from bot.flows.prompts import (
    ABUSE_WARNING,
    CANCELLED,
    COMMAND_HELP,
    FIRST_QUESTION,
    LOCATION_KEPT,
    LOCATION_NOTED,
    LOCATION_UNREAD,
    NO_TEXT,
    RESTARTED,
    RESUMED,
    STILL_ENDED,
    WELCOME_BACK,
    Wording,
)
from bot.flows.steps import complaint_steps
from bot.flows.words import ABUSE_FILLER, GREETINGS, KINDS, NEW_WORDS, RESUME_WORDS
from bot.model import Reply
from bot.phrases import tokens
from bot.place import PlaceError, shared_location
from bot.policy import Rules

__all__ = ["ComplaintFlow", "submission_from_state"]


@dataclass(frozen=True)
class ComplaintFlow:
    """The dialogue, bound to the city's configuration and rules."""

    config: Config
    rules: Rules

    # -- public interface -----------------------------------------------------------------

    def start(self, now: datetime) -> tuple[State, list[Reply]]:
        state = self._new_state(now)
        return state, [Reply(self.say.greeting()), self._prompt(state)]

    def step(self, state: State | None, text: str, now: datetime) -> tuple[State, list[Reply]]:
        """One turn: the resident's text in, the new state and the replies out."""
        if state is not None and state.get("status") == "expired":
            state = {**state, "status": "active"}
            if normalise(text) in RESUME_WORDS:
                return state, self.resume(state)
            new_state, replies = self.step(state, text, now)
            return new_state, [Reply(WELCOME_BACK), *replies]
        if state is not None and state.get("status") == "filed":
            return self._after_filing(state, text, now)
        if state is None or state.get("status") not in ("active",):
            return self._begin_again(state, text, now)
        state = copy_state(state)
        try:
            text = clean_text(text, self.config.dialogue.max_message_chars)
        except ExtractError as exc:
            return state, [Reply(str(exc)), self._prompt(state)]
        if not text:
            return state, [Reply(NO_TEXT), self._prompt(state)]
        abuse = self.rules.abuse.check(text)
        if abuse:
            return self._abuse(state, text, now)
        command = command_of(text)
        if command:
            return self._command(state, command, now)
        return self._answer(state, text, now)

    def share(
        self, state: State | None, lat: float, long: float, now: datetime
    ) -> tuple[State, list[Reply]]:
        """A location shared from the phone (Telegram), at any point of the conversation.

        At the "where" question it is the answer. At another question it is kept as the
        place (so "where" is not asked later), and the question asked now is asked again:
        nothing the resident was in the middle of is lost. Soon after filing it is added to
        the case just filed; a paused conversation resumes; otherwise a new one starts with it.
        """
        try:
            place = shared_location(lat, long)
        except PlaceError as exc:
            unread = Reply(f"{exc} {LOCATION_UNREAD}")
            if state is None:
                state, greeting = self.start(now)
                return state, [greeting[0], unread, *greeting[1:]]
            if state.get("status") != "active":  # nothing to ask again: say so, change nothing
                return copy_state(state), [unread]
            return copy_state(state), [unread, self._prompt(state)]
        if state is not None and state.get("status") == "filed":
            hours = self.config.dialogue.add_to_case_hours
            if in_window(state, now, hours):
                state = copy_state(state)
                state["addendum"] = f"Location shared: {place.text}"
                return state, [Reply(added_to_case(state["ref"]))]
        if state is not None and state.get("status") == "ended":
            ended = datetime.fromisoformat(state["ended_at"])
            if now - ended < timedelta(minutes=self.config.dialogue.abuse_cooloff_minutes):
                return state, [Reply(STILL_ENDED)]
        before: list[Reply] = []
        if state is None or state.get("status") not in ("active", "expired"):
            state, greeting = self.start(now)
            before = greeting[:1]
        elif state.get("status") == "expired":
            before = [Reply(WELCOME_BACK)]
        state = copy_state({**state, "status": "active"})
        step = state["step"]
        state["data"].update(place=place.as_dict(), place_found=False)
        state["tries"].pop("where", None)
        if step == "where":
            state["history"].append("where")
            state["step"] = self._next(state["data"])
            return state, [*before, Reply(LOCATION_NOTED), self._prompt(state)]
        if step == "summary":  # the summary again, with the place
            return state, [*before, Reply(LOCATION_NOTED), self._prompt(state)]
        return state, [*before, Reply(LOCATION_KEPT), self._prompt(state)]

    def paused_notice(self, minutes: int) -> str:
        return self.say.paused_notice(minutes)

    def resume(self, state: State) -> list[Reply]:
        """What to say when a resident comes back to an unfinished conversation."""
        return [Reply(RESUMED), self._prompt(state)]

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
                return old, [Reply(STILL_ENDED)]
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
            return state, [Reply(CANCELLED)]
        if command == "restart":
            state, replies = self.start(now)
            return state, [Reply(RESTARTED), *replies]
        # back
        if not state["history"]:
            return state, [Reply(FIRST_QUESTION), self._prompt(state)]
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
            warning = Reply(ABUSE_WARNING)
            if not self._has_content_besides_abuse(text):
                return state, [warning, self._prompt(state)]
            state, replies = self._answer(state, text, now)
            return state, [warning, *replies]
        state["status"] = "ended"
        state["ended_at"] = now.isoformat()
        return state, [Reply(self.say.ended())]

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
        state = copy_state(state)
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

    # -- the table -------------------------------------------------------------------------

    @cached_property
    def say(self) -> Wording:
        return Wording(self.config, self.rules)

    @cached_property
    def read(self) -> Answers:
        return Answers(self.config, self.rules)

    @cached_property
    def table(self) -> dict[str, Step]:
        return {s.name: s for s in complaint_steps(self.read, self.say)}
