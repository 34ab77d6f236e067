"""One service behind every chat channel: load the conversation, run the dialogue, persist.

Channel adapters (console, and later Telegram and the web chat) only translate between their
transport and `ChatService`. A confirmed dialogue is filed through `Intake` in the same
transaction that records the conversation as filed, so a crash cannot file it twice; the
acknowledgement is an outbox row that the adapter shows and then marks delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlite_utils

from bot.clock import Clock
from bot.flows.complaint import ComplaintFlow, submission_from_state
from bot.intake import Intake
from bot.model import Reply
from storage.conversations import delete_conversation, load_conversation, save_conversation
from storage.outbox import due_items, mark_sent

ANYTHING_ELSE = "If there's anything else, just send a new message."


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

    def open(self, channel: str, key: str) -> Turn:
        """A resident arrives: resume an unfinished conversation or greet, and deliver
        anything queued for them that a crash kept from being shown."""
        now = self.clock.now()
        pending = self._pending(channel, key)
        state = load_conversation(self.db, key)
        if state is not None and state.get("status") == "active":
            replies = self.flow.resume(state)
        else:
            state, replies = self.flow.start(now)
            save_conversation(self.db, key, channel, state, now)
        return Turn([*pending.replies, *replies], pending.outbox_ids)

    def handle(self, channel: str, key: str, text: str) -> Turn:
        now = self.clock.now()
        state = load_conversation(self.db, key)
        new_state, replies = self.flow.step(state, text, now)
        if new_state.get("status") != "confirmed":
            save_conversation(self.db, key, channel, new_state, now)
            return Turn(replies)
        sub = submission_from_state(new_state, channel, now, key)
        with self.db.atomic():
            filed = self.intake.file(sub, now)
            new_state["status"] = "filed"
            new_state["ref"] = filed.ref
            save_conversation(self.db, key, channel, new_state, now, case_id=filed.case_id)
        pending = self._pending(channel, key)
        notices = [Reply(n) for n in filed.notices]
        return Turn(
            [*replies, *pending.replies, *notices, Reply(ANYTHING_ELSE)],
            pending.outbox_ids,
            filed.ref,
        )

    def discard(self, key: str) -> None:
        """Forget an unfinished conversation (nothing confirmed is touched)."""
        delete_conversation(self.db, key)

    def delivered(self, turn: Turn) -> None:
        if not turn.outbox_ids:
            return
        now = self.clock.now()
        with self.db.atomic():
            for item_id in turn.outbox_ids:
                mark_sent(self.db, item_id, now)

    def _pending(self, channel: str, key: str) -> Turn:
        items = due_items(self.db, channel, self.clock.now(), recipient=key)
        return Turn([Reply(f"{i.subject}\n\n{i.body}") for i in items], [i.id for i in items])
