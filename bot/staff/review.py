"""What a reviewer can do to a held reply: edit, approve and send, send back, reject.

Each action is one write transaction holding the draft's new state, the timeline event
(actor = the staff member), the audit row and, for an approval, the outbox row: a crash
leaves either all of it or none. The outbox row is the one automatic replies use, on the
channel the draft was made for, under the same idempotency key scheme
(`storage.outbox.reply_key`), so a second click, a retried POST or a second reviewer on a
stale page can never queue the reply twice: the draft leaves `pending` in the same
transaction, and whoever comes second is told who handled it.

Maker-checker: a reply kind in `[review] two_person` needs a second person. Whoever wrote or
edited the draft cannot approve it (`Refused`); their edit is kept for someone else.

No HTTP here (bot/staff/queue.py is the pages), so the rules are tested without a server.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from bot.config import Config
from mail.identity import identity_of
from storage.cases import add_event
from storage.db import write_transaction
from storage.draft_review import (
    DraftRecord,
    close_draft,
    email_thread,
    get_draft,
    last_editor,
    makers,
    outbox_key_taken,
    outbox_of_draft,
    save_revision,
)
from storage.outbox import enqueue, reply_key
from storage.staff import StaffAccount, record_audit

#: Longest draft text a reviewer may save (a reply, not a document).
MAX_BODY = 20_000
MAX_SUBJECT = 300
MAX_NOTE = 2_000


class ReviewError(Exception):
    """The action was not done; the message says why, in words for the reviewer."""


class Stale(ReviewError):
    """Someone else handled or changed the draft after this page was opened."""


class Refused(ReviewError):
    """The rules do not allow this person this action (maker-checker, nobody to send to)."""


@dataclass(frozen=True)
class Reviewer:
    account: StaffAccount

    @property
    def actor(self) -> str:
        return f"staff:{self.account.email}"


def _audit(
    db: sqlite_utils.Database,
    who: Reviewer,
    action: str,
    draft: DraftRecord,
    now: datetime,
    detail: dict[str, Any],
) -> None:
    """The audit row of a reviewer's action on a draft, in the action's transaction."""
    record_audit(
        db,
        who.actor,
        action,
        now,
        staff_id=who.account.id,
        target_kind="draft",
        target=str(draft.id),
        detail={"ref": draft.ref, **detail},
    )


def text_hash(subject: str, body: str) -> str:
    """What the timeline keeps of a text: enough to prove which one, none of its words."""
    return hashlib.sha256(f"{subject}\n\n{body}".encode()).hexdigest()[:16]


def needs_second_person(config: Config, draft: DraftRecord) -> bool:
    return draft.reply_kind in config.two_person


def _load(db: sqlite_utils.Database, draft_id: int, revision: int) -> DraftRecord:
    draft = get_draft(db, draft_id)
    if draft is None:
        raise ReviewError("There is no such draft.")
    if draft.status not in ("pending", "returned"):
        by = (draft.reviewed_by or "someone").removeprefix("staff:")
        if draft.status == "approved":
            raise Stale(
                f"The draft for {draft.ref} was already approved and sent by {by}. "
                "Nothing was sent again."
            )
        raise Stale(f"The draft for {draft.ref} was already rejected by {by}. Nothing was sent.")
    if draft.revision != revision:
        raise Stale(
            f"The draft for {draft.ref} was changed by someone else after you opened it. "
            "Read the new text before you act on it."
        )
    return draft


def _normal(subject: str, body: str) -> tuple[str, str]:
    """A text as a form gives it back: browsers send CRLF and drop a textarea's first
    newline, so a text nobody touched compares equal to the stored one."""
    return " ".join(subject.split()), body.replace("\r\n", "\n").strip()


def _changed(draft: DraftRecord, subject: str, body: str) -> bool:
    return (subject, body) != _normal(draft.subject, draft.body)


def _clean(subject: str, body: str) -> tuple[str, str]:
    subject, body = _normal(subject, body)
    if not body:
        raise ReviewError("The reply is empty. Write the reply, or reject the draft.")
    if not subject:
        raise ReviewError("The subject is empty. Write a subject.")
    if len(body) > MAX_BODY:
        raise ReviewError(f"The reply is too long (at most {MAX_BODY:,} characters).")
    if len(subject) > MAX_SUBJECT:
        raise ReviewError(f"The subject is too long (at most {MAX_SUBJECT} characters).")
    return subject, body


def _edit(
    db: sqlite_utils.Database,
    draft: DraftRecord,
    who: Reviewer,
    subject: str,
    body: str,
    now: datetime,
) -> DraftRecord:
    n = save_revision(db, draft, who.account.id, subject, body, now)
    if n is None:
        raise Stale(f"The draft for {draft.ref} was changed by someone else meanwhile.")
    data = {"draft": draft.id, "revision": n, "text": text_hash(subject, body)}
    add_event(db, draft.case_id, "draft-edited", who.actor, now, data)
    _audit(db, who, "edited-draft", draft, now, {"revision": n})
    edited = get_draft(db, draft.id)
    assert edited is not None
    return edited


def edit(
    db: sqlite_utils.Database,
    draft_id: int,
    revision: int,
    who: Reviewer,
    subject: str,
    body: str,
    now: datetime,
) -> int:
    """Save a reviewer's text as the draft's next revision; returns the new revision."""
    subject, body = _clean(subject, body)
    with write_transaction(db):
        draft = _load(db, draft_id, revision)
        if draft.status == "returned" and draft.returned_to != who.account.id:
            raise Refused(f"The draft for {draft.ref} was sent back to its author to revise.")
        if not _changed(draft, subject, body) and draft.status == "pending":
            return draft.revision
        return _edit(db, draft, who, subject, body, now).revision


@dataclass(frozen=True)
class Approved:
    ref: str
    reply_kind: str
    channel: str
    outbox_id: int
    edited: bool


#: What a template leaves for staff to write (templates/replies/timeline-notice.txt.j2:
#: "[Staff: write the reason here ...]"). A draft still holding one is never sent.
STAFF_BLANK = re.compile(r"\[Staff:[^\]]*\]")


def unfilled(draft: DraftRecord) -> str | None:
    """Why the draft cannot go yet, when a line for staff to write is still in it."""
    found = STAFF_BLANK.search(f"{draft.subject}\n{draft.body}")
    if found is None:
        return None
    return (
        f"The draft for {draft.ref} still has a part for you to write: "
        f"“{found.group(0)}”. Write it in, then approve."
    )


def approve(
    db: sqlite_utils.Database,
    config: Config,
    draft_id: int,
    revision: int,
    who: Reviewer,
    now: datetime,
    *,
    subject: str | None = None,
    body: str | None = None,
) -> Approved:
    """Approve the draft (with the text on the form, saved first as an edit if it differs)
    and put it in the outbox. Raises Stale, Refused or ReviewError; a refused approval of a
    text this reviewer just changed keeps the change (it waits for a second person)."""
    refused: Refused | None = None
    with write_transaction(db):
        draft = _load(db, draft_id, revision)
        if draft.status == "returned":
            raise Stale(f"The draft for {draft.ref} was sent back to its author to revise.")
        edited = False
        if subject is not None and body is not None:
            subject, body = _clean(subject, body)
            if _changed(draft, subject, body):
                draft = _edit(db, draft, who, subject, body, now)
                edited = True
        blank = unfilled(draft)
        if blank is not None:
            refused = Refused(blank + (" Your changes are saved." if edited else ""))
        elif needs_second_person(config, draft) and who.account.id in makers(db, draft):
            refused = Refused(
                f"A {draft.reply_kind} reply needs a second person: you edited or wrote this "
                "draft, so another reviewer must approve it."
                + (" Your changes are saved." if edited else "")
            )
        else:
            return _approve(db, config, draft, who, now, edited)
    raise refused


def _approve(
    db: sqlite_utils.Database,
    config: Config,
    draft: DraftRecord,
    who: Reviewer,
    now: datetime,
    edited: bool,
) -> Approved:
    blank = unfilled(draft)
    if blank is not None:
        raise Refused(blank)
    if not draft.recipient:
        raise Refused(
            f"The draft for {draft.ref} has no address to send it to. Reject it with a "
            "reason, or contact the resident another way."
        )
    # One reply of a kind per case and channel, as automatic replies; a second draft of the
    # same kind on a case gets its own key (and Message-ID), derived from the draft.
    tag = draft.reply_kind
    if outbox_key_taken(db, reply_key(draft.ref, tag, draft.channel)):
        tag = f"{draft.reply_kind}.d{draft.id}"
    headers: dict[str, str] = {}
    if draft.channel == "email":
        thread = email_thread(db, draft.case_id)
        headers = identity_of(config).reply_headers(draft.ref, tag, thread)
    if not close_draft(db, draft.id, draft.revision, "approved", who.actor, now):
        raise Stale(f"The draft for {draft.ref} was handled by someone else meanwhile.")
    queued = enqueue(
        db,
        case_id=draft.case_id,
        channel=draft.channel,
        recipient=draft.recipient,
        reply_kind=draft.reply_kind,
        subject=draft.subject,
        body=draft.body,
        key=reply_key(draft.ref, tag, draft.channel),
        now=now,
        draft_id=draft.id,
        headers=headers,
    )
    row = outbox_of_draft(db, draft.id)
    if not queued or row is None:  # the key was checked above: a bug, not a reviewer's doing
        raise RuntimeError(f"outbox key of draft {draft.id} already taken")
    outbox_id = row[0]
    data = {
        "draft": draft.id,
        "reply": draft.reply_kind,
        "channel": draft.channel,
        "revision": draft.revision,
        "text": text_hash(draft.subject, draft.body),
        "outbox_id": outbox_id,
    }
    add_event(db, draft.case_id, "draft-approved", who.actor, now, data)
    _audit(
        db, who, "approved-draft", draft, now, {"reply": draft.reply_kind, "channel": draft.channel}
    )
    return Approved(draft.ref, draft.reply_kind, draft.channel, outbox_id, edited)


def _note(text: str, what: str) -> str:
    note = text.replace("\r\n", "\n").strip()
    if not note:
        raise ReviewError(f"Write {what}.")
    if len(note) > MAX_NOTE:
        raise ReviewError(f"The {what.split()[-1]} is too long (at most {MAX_NOTE} characters).")
    return note


def send_back(
    db: sqlite_utils.Database,
    draft_id: int,
    revision: int,
    who: Reviewer,
    comment: str,
    now: datetime,
) -> str:
    """Return the draft to the staff member who wrote or last edited it, with a comment.
    A draft the policy wrote and nobody edited has no author to go back to."""
    note = _note(comment, "a comment for the author")
    with write_transaction(db):
        draft = _load(db, draft_id, revision)
        if draft.status == "returned":
            raise Stale(f"The draft for {draft.ref} was already sent back to its author.")
        author = last_editor(db, draft.id) or draft.author_id
        if author is None:
            raise Refused(
                f"The draft for {draft.ref} was written by caredesk from a template, so there "
                "is no author to send it back to. Edit it yourself, or reject it with a reason."
            )
        if author == who.account.id:
            raise Refused("You are this draft's author: edit it yourself instead.")
        if not close_draft(
            db, draft.id, draft.revision, "returned", who.actor, now, note=note, returned_to=author
        ):
            raise Stale(f"The draft for {draft.ref} was handled by someone else meanwhile.")
        data = {"draft": draft.id, "to_staff": author}
        add_event(db, draft.case_id, "draft-sent-back", who.actor, now, data)
        _audit(db, who, "sent-back-draft", draft, now, {"to_staff": author})
        return draft.ref


def reject(
    db: sqlite_utils.Database,
    draft_id: int,
    revision: int,
    who: Reviewer,
    reason: str,
    now: datetime,
) -> str:
    """Reject the draft with a reason: nothing is sent; the case keeps its clocks."""
    note = _note(reason, "the reason for rejecting")
    with write_transaction(db):
        draft = _load(db, draft_id, revision)
        if not close_draft(db, draft.id, draft.revision, "rejected", who.actor, now, note=note):
            raise Stale(f"The draft for {draft.ref} was handled by someone else meanwhile.")
        add_event(db, draft.case_id, "draft-rejected", who.actor, now, {"draft": draft.id})
        _audit(db, who, "rejected-draft", draft, now, {"reply": draft.reply_kind})
        return draft.ref
