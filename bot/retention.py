"""Retention: erase residents' personal data once the city no longer needs it.

The policy keeps complete records of each complaint (04.08) "under a configurable retention
period"; after it, what identifies the resident goes and the anonymised record stays
(storage/retention.py lists both). `[retention] days` is that period, counted from the last
thing that happened on the case (a late reply restarts it).

Which cases: only those whose handling is final. `closed` (staff finished it), and the
outcomes that `decide()` makes final at filing: `declined` (anonymous allegation, 02.01),
`redirected` (out of scope, 02.03) and `recorded` (feedback kept for the record). Never
`open` (clocks still running) and never `unreadable` (staff have not looked at it yet). A
resident's reply to a closed case reopens it, which takes it out of retention again.

Besides cases: chat transcripts whose every case is past retention (or that filed none),
mail stored without a case, bounce addresses and channel update ids older than the period.

Every erasure is one audit row naming the case (a chat: its channel and the cases it filed)
and how many items went. The job is idempotent: what is gone counts zero, so a second run erases and
audits nothing. `plan()` only reads: it is what `--dry-run` prints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import sqlite_utils

from bot.model import Status
from storage import retention as store
from storage.cases import audit
from storage.db import write_transaction
from storage.search import purge_text_index

log = logging.getLogger(__name__)

#: Statuses whose handling is over: their personal data may go once the period has passed.
FINAL_STATUSES: tuple[str, ...] = (
    Status.CLOSED.value,
    Status.DECLINED.value,
    Status.REDIRECTED.value,
    Status.RECORDED.value,
)
ACTOR = "retention"


def cutoff(now: datetime, days: int) -> datetime:
    """Anything last active before this instant is past retention."""
    return now - timedelta(days=days)


@dataclass(frozen=True)
class Erasure:
    """One thing erased (or that would be): what, which, and how many items of each kind."""

    what: str  # case | conversation | mail-without-case | bounces | update-ids
    target: str | None  # the case reference; None for the others
    counts: dict[str, int]
    last_activity: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    now: datetime
    cutoff: datetime
    days: int
    cases: list[store.DueCase]
    conversations: list[store.DueConversation]
    loose_mail: dict[str, int]
    bounces: int
    update_ids: int

    @property
    def empty(self) -> bool:
        return not (
            self.cases
            or self.conversations
            or any(self.loose_mail.values())
            or self.bounces
            or self.update_ids
        )


def plan(db: sqlite_utils.Database, days: int, now: datetime) -> Plan:
    """What is due for erasure as of `now`. Reads only."""
    before = cutoff(now, days)
    return Plan(
        now=now,
        cutoff=before,
        days=days,
        cases=store.due_cases(db, before, FINAL_STATUSES),
        conversations=store.due_conversations(db, before, FINAL_STATUSES),
        loose_mail=store.loose_messages_count(db, before),
        bounces=store.old_bounces_count(db, before),
        update_ids=store.old_update_ids_count(db, before),
    )


def erasures(p: Plan, conversation_refs: dict[str, list[str]] | None = None) -> list[Erasure]:
    """The plan as a list of erasures, in the order `run` does them."""
    refs = conversation_refs or {}
    out = [case_erasure(c) for c in p.cases]
    out += [conversation_erasure(c, refs.get(c.key, [])) for c in p.conversations]
    if any(p.loose_mail.values()):
        out.append(Erasure("mail-without-case", None, p.loose_mail))
    if p.bounces:
        out.append(Erasure("bounces", None, {"bounces": p.bounces}))
    if p.update_ids:
        out.append(Erasure("update-ids", None, {"update_ids": p.update_ids}))
    return out


def case_erasure(c: store.DueCase) -> Erasure:
    return Erasure("case", c.ref, c.counts, c.last_activity, {"status": c.status})


def conversation_erasure(c: store.DueConversation, refs: list[str]) -> Erasure:
    """A chat is named by its channel and the cases it filed: its key can be a Telegram chat
    id, which is personal data, so neither the key nor a hash of it goes in the audit."""
    detail = {"channel": c.channel, "cases": refs}
    return Erasure("conversation", None, c.counts, c.last_activity, detail)


@dataclass(frozen=True)
class Report:
    """What a run erased (or, dry, would erase)."""

    now: datetime
    cutoff: datetime
    days: int
    dry_run: bool
    erasures: list[Erasure]

    def rows(self) -> list[dict[str, Any]]:
        return [report_row(e, self.days, self.cutoff) for e in self.erasures]


def run(db: sqlite_utils.Database, days: int, now: datetime, *, dry_run: bool = False) -> Report:
    """Erase what is due as of `now` (or, with `dry_run`, only say what would be erased).

    Each erasure is its own transaction together with its audit row, so a long backlog does
    not hold the store's write lock for the whole run, and a crash leaves no erasure without
    its audit row (nor the reverse). Inside the transaction the item is checked again: a
    resident may have written (reopening the case) since the plan was made."""
    p = plan(db, days, now)
    # Which cases each chat filed, read before the case erasure removes that link.
    refs = {c.key: store.cases_of_conversation_key(db, c.key) for c in p.conversations}
    if dry_run:
        return Report(now, p.cutoff, days, True, erasures(p, refs))
    before = p.cutoff
    done: list[Erasure] = []

    def once(check: Callable[[], Erasure | None], erase: Callable[[], None]) -> None:
        with write_transaction(db):
            item = check()
            if item is None:
                return
            erase()
            detail = report_row(item, days, before)
            audit(db, ACTOR, f"erased-{item.what}", item.target, now, detail)
        done.append(item)

    for case in p.cases:
        once(partial(_case_check, db, before, case.id), partial(store.erase_case, db, case.id, now))
    for chat in p.conversations:
        once(
            partial(_chat_check, db, before, chat.key, refs[chat.key]),
            partial(store.erase_conversation, db, chat.key),
        )
    once(partial(_loose_check, db, before), partial(store.erase_loose_messages, db, before))
    once(partial(_bounces_check, db, before), partial(store.erase_old_bounces, db, before))
    once(partial(_updates_check, db, before), partial(store.erase_old_update_ids, db, before))
    if done:
        # Erased words leave the text index at once as delete markers; merging the index
        # drops them and the entries they cancel, so no copy of the words is left on disk.
        with write_transaction(db):
            purge_text_index(db)
        log.info("retention run", extra={"count": len(done)})
    return Report(now, before, days, False, done)


def _case_check(db: sqlite_utils.Database, before: datetime, case_id: int) -> Erasure | None:
    found = store.due_cases(db, before, FINAL_STATUSES, case_id)
    return case_erasure(found[0]) if found else None


def _chat_check(
    db: sqlite_utils.Database, before: datetime, key: str, refs: list[str]
) -> Erasure | None:
    found = store.due_conversations(db, before, FINAL_STATUSES, key)
    return conversation_erasure(found[0], refs) if found else None


def _loose_check(db: sqlite_utils.Database, before: datetime) -> Erasure | None:
    counts = store.loose_messages_count(db, before)
    return Erasure("mail-without-case", None, counts) if any(counts.values()) else None


def _bounces_check(db: sqlite_utils.Database, before: datetime) -> Erasure | None:
    n = store.old_bounces_count(db, before)
    return Erasure("bounces", None, {"bounces": n}) if n else None


def _updates_check(db: sqlite_utils.Database, before: datetime) -> Erasure | None:
    n = store.old_update_ids_count(db, before)
    return Erasure("update-ids", None, {"update_ids": n}) if n else None


def report_row(item: Erasure, days: int, before: datetime) -> dict[str, Any]:
    """One erasure as plain data: the audit row's detail and a line of `--json`. No
    personal data: counts, statuses, dates, case references."""
    row = asdict(item)
    row["retention_days"] = days
    row["cutoff"] = before.isoformat()
    return row
