"""One service behind every chat channel: load the conversation, run the dialogue, persist.

Channel adapters (console, Telegram, web chat) only translate between their transport and
`ChatService`. Each turn is one write transaction: the update's id (so a redelivered update
has no second effect), the dialogue's new state, and, when the resident confirms, the case
filed through `Intake`. The acknowledgement is an outbox row that the adapter shows and
then marks delivered; whatever a crash kept from being shown is shown on the next visit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from bot.clock import Clock
from bot.extract import cut_to
from bot.flows.after_filing import added_files, asks_for_new, in_window
from bot.flows.base import State
from bot.flows.complaint import ComplaintFlow, submission_from_state
from bot.intake import LIVE_GRACE, Intake, files_data, names_meta
from bot.model import KIND_LABELS, Attachment, Kind, Reply
from bot.ratelimit import RateLimiter
from bot.survey import answer_survey, chat_thanks
from bot.wording import human_day
from storage.cases import add_event, cases_of_conversation, claim_update, insert_message
from storage.conversations import (
    chat_log,
    decode_state,
    delete_chat_log,
    delete_conversation,
    idle_conversations,
    load_conversation,
    log_chat,
    log_chat_lines,
    save_conversation,
    touch_conversation,
)
from storage.db import commit_durably, write_transaction
from storage.outbox import enqueue, mark_sent, pending_for
from storage.surveys import open_chat_survey

#: The transcript's line for a location the resident shared (the coordinates are in the case).
SHARED_NOTE = "(shared a location)"
#: Chat channels with an outbox worker of their own (the web page has none: it is shown
#: what is queued when it is open or next opened).
OUTBOX_CHANNELS = frozenset({"telegram"})
ANYTHING_ELSE = (
    "If you'd like to add anything to it, just send it here and I'll add it to your case. "
    "To start a new complaint, type 'new'."
)
STATUS = re.compile(r"^\s*/?status\b\s*(?P<ref>[A-Za-z]{1,10}-\d{4}-\d{1,6})?\s*$", re.I)
STATUS_LABELS = {
    "open": "open: the department responsible is working on it",
    "recorded": "recorded: your feedback has been shared with the team",
    "declined": "recorded, but not investigated (no name and contact details were given)",
    "redirected": "recorded: a member of staff will point you to the right process",
    "closed": "closed",
    "unreadable": "waiting for a member of staff",
}


@dataclass(frozen=True)
class Turn:
    replies: list[Reply]
    #: Outbox rows shown in `replies`; mark them delivered once the channel has sent them.
    outbox_ids: list[int] = field(default_factory=list)
    ref: str | None = None


class ChatService:
    def __init__(
        self, db: sqlite_utils.Database, flow: ComplaintFlow, intake: Intake, clock: Clock
    ) -> None:
        self.db = db
        self.flow = flow
        self.intake = intake
        self.clock = clock
        dialogue = flow.config.dialogue
        self.limiter = RateLimiter(dialogue.rate_per_minute)
        self.idle = timedelta(minutes=dialogue.idle_minutes)

    def open(self, channel: str, key: str, update_key: str | None = None) -> Turn:
        """A resident arrives: resume an unfinished conversation or greet, and deliver
        anything queued for them that a crash kept from being shown."""
        now = self.clock.now()
        with write_transaction(self.db):
            if update_key is not None and not claim_update(self.db, channel, update_key, now):
                return Turn([])
            state = load_conversation(self.db, key)
            if state is not None and state.get("status") in ("active", "expired"):
                state["status"] = "active"
                save_conversation(self.db, key, channel, state, now)
                replies = self.flow.resume(state)
            else:
                state, replies = self.flow.start(now)
                save_conversation(self.db, key, channel, state, now)
            pending = self._pending(channel, key)
            turn = Turn([*pending.replies, *replies], pending.outbox_ids)
            self._log(key, None, turn.replies, now)
        return turn

    def visit(self, channel: str, key: str, *, record: bool = True) -> Turn:
        """A page (re)load: only what is queued for this conversation. A newcomer gets
        nothing here (the page shows `greeting()`): a page load writes nothing, and the
        conversation starts with the first message. `record`: also add it to the transcript."""
        if load_conversation(self.db, key) is None:
            return Turn([])
        pending = self._pending(channel, key)
        if pending.replies and record:  # nothing queued (the usual case): no write at all
            with write_transaction(self.db):
                self._log(key, None, pending.replies, self.clock.now())
        return pending

    def greeting(self) -> list[Reply]:
        """What a newcomer sees before saying anything; nothing is stored."""
        _state, replies = self.flow.start(self.clock.now())
        return replies

    def exists(self, key: str) -> bool:
        return load_conversation(self.db, key) is not None

    def filed_ref(self, key: str) -> str | None:
        """The reference of the case this conversation filed, if it filed one."""
        state = load_conversation(self.db, key)
        if state is None or state.get("status") != "filed":
            return None
        ref = state.get("ref")
        return str(ref) if ref else None

    def end(self, key: str) -> str | None:
        """The resident's "End and clear": an unfinished conversation and its transcript
        are forgotten (nothing was sent); a filed one stays on record for staff. Returns
        the reference."""
        with write_transaction(self.db):
            ref = self.filed_ref(key)
            if ref is None:
                delete_conversation(self.db, key)
                delete_chat_log(self.db, key)
        return ref

    def handle(
        self,
        channel: str,
        key: str,
        text: str,
        *,
        update_key: str | None = None,
        attachments: Sequence[Attachment] = (),
        start_if_new: bool = False,
        location: tuple[float, float] | None = None,
    ) -> Turn:
        """One message from a resident. `update_key` identifies the channel's update: the
        same key a second time does nothing. `attachments` are evidence (photos...).
        `start_if_new`: the resident already saw `greeting()` (the web page), so a first
        message starts the conversation with that greeting and answers its question.
        `location`: (latitude, longitude) the resident shared from a phone (Telegram); the
        dialogue decides what it answers (bot/flows/complaint.py, `share`)."""
        now = self.clock.now()
        if not self.limiter.allow(key, now):
            return Turn(
                [
                    Reply(
                        "You're sending messages faster than I can take them in. Please wait a "
                        "minute, then carry on; nothing you've told me is lost."
                    )
                ]
            )
        with write_transaction(self.db):
            if update_key is not None and not claim_update(self.db, channel, update_key, now):
                return Turn([])
            state = load_conversation(self.db, key)
            greeting: list[Reply] = []
            if start_if_new and state is None:
                state, greeting = self.flow.start(now)
                stored = save_conversation(self.db, key, channel, state, now)
                state = decode_state(stored)  # as every later turn reads it, without a SELECT
            if location is not None:
                turn = self._shared(channel, key, location, now, state)
                text = text or SHARED_NOTE
            else:
                turn = self._turn(channel, key, text, attachments, now, state)
            self._log(key, text, turn.replies, now, before=greeting)
        if turn.ref is not None and not self.db.conn.in_transaction:
            # The reference is about to be shown: make the case survive a power cut, not
            # only a crash of the process (every turn's commit does that, in the WAL), before
            # the resident reads it. One fsync per case filed, none on the other turns.
            commit_durably(self.db)
        return turn

    def _turn(
        self,
        channel: str,
        key: str,
        text: str,
        attachments: Sequence[Attachment],
        now: datetime,
        state: State | None,
    ) -> Turn:
        """`state`: the conversation as stored, read once by the caller in this transaction."""
        asked = STATUS.match(text) if not attachments else None
        if asked:
            return Turn([Reply(self.status(key, asked.group("ref")))])
        if not attachments:
            surveyed = self._survey_answer(channel, key, text, now, state)
            if surveyed is not None:
                return surveyed
        replies: list[Reply] = []
        hours = self.flow.config.dialogue.add_to_case_hours
        if attachments and state is not None and in_window(state, now, hours):
            # Evidence sent soon after filing belongs to the case just filed: on the timeline
            # without file names, the names (if any) with a message, as intake keeps them.
            case_id = int(state["case_id"])
            meta = names_meta(attachments)
            if meta is not None:
                insert_message(
                    self.db,
                    case_id=case_id,
                    direction="in",
                    channel=channel,
                    body="",
                    now=now,
                    meta=meta,
                )
            add_event(self.db, case_id, "attachments", channel, now, files_data(attachments))
            replies.append(Reply(added_files(state["ref"], len(attachments))))
            if not text:
                return Turn(replies)
            attachments = ()
        if attachments:
            state, replies = self._add_evidence(state, attachments, now)
            if not text:
                save_conversation(self.db, key, channel, state, now)
                return Turn(replies)
        new_state, answer = self.flow.step(state, text, now)
        replies += answer
        added = new_state.pop("addendum", None)
        if added is not None:
            self._add_to_case(new_state, channel, added, now)
        if new_state.get("status") != "confirmed":
            save_conversation(self.db, key, channel, new_state, now)
            return Turn(replies)
        sub = submission_from_state(new_state, channel, now, key)
        filed = self.intake.file(sub, now)
        new_state["status"] = "filed"
        new_state["ref"] = filed.ref
        new_state["case_id"] = filed.case_id
        save_conversation(self.db, key, channel, new_state, now, case_id=filed.case_id)
        pending = self._pending(channel, key)
        notices = [Reply(n) for n in filed.notices]
        return Turn(
            [*replies, *pending.replies, *notices, Reply(ANYTHING_ELSE)],
            pending.outbox_ids,
            filed.ref,
        )

    def _survey_answer(
        self, channel: str, key: str, text: str, now: datetime, state: State | None
    ) -> Turn | None:
        """A message from a conversation whose case was just surveyed (bot/survey.py) answers
        the survey, unless the resident is in the middle of a new complaint or asks for one."""
        if state is not None and state.get("status") not in ("filed", None):
            return None
        if not text.strip() or asks_for_new(text, ()):
            return None
        days = self.flow.config.survey.answer_days
        survey = open_chat_survey(self.db, channel, key, now - timedelta(days=days))
        if survey is None:
            return None
        confirmed = state.get("confirmed_at") if state is not None else None
        if confirmed and datetime.fromisoformat(confirmed) > datetime.fromisoformat(
            survey.asked_at
        ):
            return None  # a complaint filed since the survey: this message is about that one
        answered = answer_survey(self.db, survey, text, channel, now)
        # The thanks is an outbox row like an acknowledgement (LIVE_GRACE: a channel worker
        # sends it only if the conversation did not show it), and the turn carries the case's
        # reference, so the web page of a filed conversation shows it as it shows those.
        thanks = chat_thanks(answered)
        enqueue(
            self.db,
            case_id=survey.case_id,
            channel=channel,
            recipient=key,
            reply_kind="survey-thanks",
            subject=f"Survey answered [{survey.ref}]",
            body=thanks,
            key=f"survey-thanks:{survey.ref}:{now.isoformat()}",
            now=now,
            not_before=now + LIVE_GRACE,
        )
        pending = self._pending(channel, key)
        return Turn(pending.replies, pending.outbox_ids, survey.ref)

    def _shared(
        self,
        channel: str,
        key: str,
        location: tuple[float, float],
        now: datetime,
        state: State | None,
    ) -> Turn:
        """A shared location: the dialogue decides what it answers; soon after filing it is
        added to the case just filed, like any message then."""
        new_state, replies = self.flow.share(state, location[0], location[1], now)
        added = new_state.pop("addendum", None)
        if added is not None:
            self._add_to_case(new_state, channel, added, now)
        save_conversation(self.db, key, channel, new_state, now)
        return Turn(replies)

    def _add_to_case(self, state: State, channel: str, text: str, now: datetime) -> None:
        """A message after filing, on the case just filed: staff see it on its timeline."""
        case_id = int(state["case_id"])
        message_id = insert_message(
            self.db, case_id=case_id, direction="in", channel=channel, body=text, now=now
        )
        add_event(self.db, case_id, "resident-message", channel, now, {"message": message_id})

    def _log(
        self,
        key: str,
        said: str | None,
        replies: Sequence[Reply],
        now: datetime,
        *,
        before: Sequence[Reply] = (),
    ) -> None:
        """The turn's transcript lines in one statement: `before` (the greeting the page
        showed), what the resident said, the replies."""
        lines: list[tuple[str, str, Sequence[str]]] = [
            ("city", reply.text, reply.choices) for reply in before
        ]
        if said:
            limit = self.flow.config.dialogue.max_message_chars
            lines.append(("resident", cut_to(said, limit), ()))
        lines += [("city", reply.text, reply.choices) for reply in replies]
        if lines:
            log_chat_lines(self.db, key, lines, now)

    def transcript(self, key: str) -> list[tuple[str, str, list[str]]]:
        return chat_log(self.db, key)

    def stay(self, key: str) -> bool:
        """The resident asked for more time (WCAG 2.2.1): restart the idle clock."""
        with write_transaction(self.db):
            return touch_conversation(self.db, key, self.clock.now())

    def _add_evidence(
        self, state: State | None, attachments: Sequence[Attachment], now: datetime
    ) -> tuple[State, list[Reply]]:
        replies: list[Reply] = []
        if state is None or state.get("status") not in ("active", "expired"):
            state, replies = self.flow.start(now)
        evidence = list(state["data"].get("evidence", []))
        evidence += [
            {"name": a.name, "type": a.content_type, "size": a.size, "ref": a.ref}
            for a in attachments
        ]
        state = {**state, "data": {**state["data"], "evidence": evidence}}
        noun = "file" if len(attachments) == 1 else f"{len(attachments)} files"
        replies.append(Reply(f"Thank you, I've added the {noun} to your message as evidence."))
        return state, replies

    def status(self, key: str, ref: str | None) -> str:
        """The status of this conversation's own cases; never anyone else's (03.01)."""
        cases = cases_of_conversation(self.db, key, ref)
        if not cases:
            care = self.flow.config.care
            if ref:
                return (
                    f"I can't find a case {ref.upper()} filed in this conversation. For "
                    "your privacy I can only show cases filed here. For any other case, "
                    f"please contact the {care.name} at {care.phone}."
                )
            return "There are no cases filed in this conversation yet."
        lines = [self._status_line(c) for c in cases[:5]]
        return "\n".join(lines)

    def _status_line(self, case: dict[str, Any]) -> str:
        tz = self.flow.config.tz
        kind = KIND_LABELS[Kind(case["kind"])]
        received = human_day(datetime.fromisoformat(case["received_at"]).astimezone(tz))
        line = (
            f"{case['ref']}: your {kind} of {received} is "
            f"{STATUS_LABELS.get(case['status'], case['status'])}."
        )
        upcoming = case.get("hazard_due") or case.get("follow_up_due")
        if case["status"] == "open" and upcoming:
            due = human_day(datetime.fromisoformat(upcoming).astimezone(tz))
            line += f" You will hear from us by {due}."
        return line

    def expire_idle(
        self, channels: Sequence[str], told: list[tuple[str, str]] | None = None
    ) -> int:
        """Pause conversations silent for longer than the idle time, telling the resident
        how to carry on; their answers are kept. Returns how many were paused.

        Only channels with an outbox worker (OUTBOX_CHANNELS) get the notice as an outbox
        row; for the others (the web page) it goes into the transcript, shown on the next
        visit, and into `told` as (key, notice) for the caller to show on an open page: a
        row that no worker sends would stay pending for ever."""
        now = self.clock.now()
        paused = 0
        minutes = int(self.idle.total_seconds() // 60)
        for key, channel, state in idle_conversations(self.db, now - self.idle, channels):
            notice = self.flow.paused_notice(minutes)
            with write_transaction(self.db):
                state["status"] = "expired"
                save_conversation(self.db, key, channel, state, now)
                if channel not in OUTBOX_CHANNELS:
                    log_chat(self.db, key, "city", notice, now)
                    if told is not None:
                        told.append((key, notice))
                    paused += 1
                    continue
                enqueue(
                    self.db,
                    case_id=None,
                    channel=channel,
                    recipient=key,
                    reply_kind="chat-paused",
                    subject="Conversation paused",
                    body=notice,
                    key=f"paused:{key}:{now.isoformat()}",
                    now=now,
                )
            paused += 1
        return paused

    def discard(self, key: str) -> None:
        """Forget an unfinished conversation (nothing confirmed is touched)."""
        delete_conversation(self.db, key)

    def delivered(self, turn: Turn) -> None:
        if not turn.outbox_ids:
            return
        now = self.clock.now()
        with write_transaction(self.db):
            for item_id in turn.outbox_ids:
                mark_sent(self.db, item_id, now)

    def _pending(self, channel: str, key: str) -> Turn:
        items = pending_for(self.db, channel, key, self.clock.now() + LIVE_GRACE)
        return Turn(
            [Reply(i.body if i.case_id is None else f"{i.subject}\n\n{i.body}") for i in items],
            [i.id for i in items],
        )
