"""Filing a submission: decide(), then case + events + replies in one SQLite transaction.

Every channel ends here, so the same complaint typed anywhere gives the same case and the same
replies. Replies that may go out automatically become outbox rows for the channel that asked;
replies the policy wants a person to vet become drafts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from bot.ack_limits import address_facts
from bot.decide import Facts, Policy, decide
from bot.extract import format_phone
from bot.forwarding import forward_if_due
from bot.model import ITEM_LABELS, KIND_LABELS, Attachment, Decision, PlannedReply, Submission
from bot.policy import REDIRECTS
from bot.replies import ReplyRenderer
from bot.routing import route
from bot.when import when_of
from bot.wording import describe_when, human_datetime, human_day
from mail.identity import identity_of
from storage.cases import add_event, insert_case, insert_message, insert_person, next_reference
from storage.db import write_transaction
from storage.departments import record_routing
from storage.outbox import insert_draft, queue_reply

log = logging.getLogger(__name__)

#: Channels where the resident is in a live conversation that can show a reply right away.
LIVE_CHANNELS = frozenset({"console", "web", "telegram"})
LIVE_GRACE = timedelta(seconds=60)
#: What an email acknowledgement quotes of a message is cut to this many characters each:
#: the sender named in From may not be the writer, so the city never mails a whole text back.
QUOTE_CHARS = 200
NAME_CHARS = 80
#: The email copy of a chat acknowledgement: fixed wording only. Anyone can type any address
#: in a chat, so the copy carries nothing the resident typed (not even the name).
COPY_KIND = "ack-copy"
COPY_CONTEXT_KEYS = frozenset(
    {"city_name", "care", "ombudsman", "ref", "kind_label", "received", "channel", "next_date"}
)


@dataclass(frozen=True)
class Outgoing:
    """One reply as it leaves for one channel: exactly what the outbox (or a draft) holds."""

    kind: str
    subject: str
    body: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Filed:
    ref: str
    case_id: int
    decision: Decision
    #: Short texts for a live chat about replies that wait for a person.
    notices: tuple[str, ...]
    #: The stored inbound message (email intake keeps the raw bytes beside it).
    message_id: int = 0


class Intake:
    def __init__(self, db: sqlite_utils.Database, policy: Policy, renderer: ReplyRenderer):
        self.db = db
        self.policy = policy
        self.renderer = renderer

    def file(
        self,
        sub: Submission,
        now: datetime,
        *,
        decision: Decision | None = None,
    ) -> Filed:
        """Decide (unless given a decision) and store atomically; nested inside a caller's
        transaction when there is one. The facts the policy chain needs from the store (how
        much mail already went to the resident's address) are read inside the transaction."""
        with write_transaction(self.db):
            decision = decision or decide(sub, now, self.policy, self._facts(sub, now))
            ref = next_reference(
                self.db,
                self.policy.config.reference_prefix,
                sub.received_at.astimezone(self.policy.config.tz).year,
            )
            person_id = insert_person(self.db, sub.person, now)
            case_id = insert_case(self.db, ref, sub, decision, person_id, now)
            message_id = insert_message(
                self.db,
                case_id=case_id,
                direction="in",
                channel=sub.channel,
                body=sub.text,
                subject=sub.subject,
                key=sub.message_key,
                now=now,
                # File names can name people: kept with the message, which retention erases,
                # not on the append-only timeline.
                meta=names_meta(sub.attachments),
            )
            add_event(
                self.db,
                case_id,
                "received",
                sub.channel,
                now,
                {"channel": sub.channel, "received_at": sub.received_at.isoformat()},
            )
            add_event(
                self.db,
                case_id,
                "decided",
                "policy",
                now,
                {
                    "kind": decision.kind.value,
                    "status": decision.status.value,
                    "missing": list(decision.missing),
                    "deadlines": {k: v.isoformat() for k, v in decision.deadlines.items()},
                    "rules": [h.rule for h in decision.hits],
                    # The policy chain's whole trace (bot/chain.py): rule names, reasons and
                    # matched phrases only, as the case's rules column holds.
                    "trace": [t.as_dict() for t in decision.trace],
                },
            )
            cfg = self.policy.config
            if cfg.departments:  # POLICY.md 04.02: the department responsible (bot/routing.py)
                routed = route(sub, decision, cfg.departments, cfg.routing)
                record_routing(self.db, case_id, routed.event_data(), now)
                forward_if_due(self.db, cfg, case_id, now)  # bot/forwarding.py
            for flag in decision.flags:
                # A rule that contradicts the resident's answer: shown to staff, not acted on.
                add_event(
                    self.db,
                    case_id,
                    "flagged",
                    "policy",
                    now,
                    {"rule": flag.rule, "reason": flag.reason},
                )
            if sub.attachments:
                add_event(
                    self.db,
                    case_id,
                    "attachments",
                    sub.channel,
                    now,
                    files_data(sub.attachments),
                )
            notices = [
                self._route(case_id, ref, sub, decision, planned, now)
                for planned in decision.replies
            ]
        log.info(
            "case filed",
            extra={"ref": ref, "kind": decision.kind.value, "status": decision.status.value},
        )
        return Filed(ref, case_id, decision, tuple(n for n in notices if n), message_id)

    def _route(
        self,
        case_id: int,
        ref: str,
        sub: Submission,
        decision: Decision,
        planned: PlannedReply,
        now: datetime,
    ) -> str | None:
        reply = compose(self.policy, self.renderer, ref, sub, decision, planned.kind, sub.channel)
        live = sub.channel in LIVE_CHANNELS
        if not planned.review and (live or sub.person.email):
            for channel, recipient in self._destinations(sub):
                if channel == "email" and live:
                    self._email_copy(case_id, ref, sub, decision, recipient, now)
                    continue
                out = reply
                if channel != sub.channel:
                    out = compose(
                        self.policy, self.renderer, ref, sub, decision, planned.kind, channel
                    )
                self._queue(case_id, ref, out, channel, recipient, now, planned.why)
            return None
        channel = "email" if sub.person.email else sub.channel
        recipient = sub.person.email or sub.conversation
        draft = reply
        if channel != sub.channel:
            draft = compose(self.policy, self.renderer, ref, sub, decision, planned.kind, channel)
        insert_draft(
            self.db,
            case_id=case_id,
            reply_kind=draft.kind,
            channel=channel,
            recipient=recipient,
            subject=draft.subject,
            body=draft.body,
            why=planned.why,
            now=now,
        )
        add_event(
            self.db,
            case_id,
            "draft-created",
            "policy",
            now,
            {"reply": draft.kind, "channel": channel, "why": planned.why},
        )
        return self._notice(ref, sub, decision, reply.kind)

    def _email_copy(
        self,
        case_id: int,
        ref: str,
        sub: Submission,
        decision: Decision,
        recipient: str | None,
        now: datetime,
    ) -> None:
        """The email copy of a chat acknowledgement: fixed wording, and only within the limits
        every automatic email obeys. When it is not sent, the timeline says why; the chat
        acknowledgement itself is not affected."""
        if not recipient:
            return
        why = decision.email_held
        if why is not None:
            add_event(
                self.db,
                case_id,
                "email-copy-suppressed",
                "policy",
                now,
                {"reply": COPY_KIND, "why": why},
            )
            return
        out = compose(self.policy, self.renderer, ref, sub, decision, COPY_KIND, "email")
        self._queue(case_id, ref, out, "email", recipient, now, "email copy of the chat reply")

    def _queue(
        self,
        case_id: int,
        ref: str,
        out: Outgoing,
        channel: str,
        recipient: str | None,
        now: datetime,
        why: str,
    ) -> None:
        """One reply into the outbox (idempotent per case, kind and channel), and on the
        timeline. A live chat shows its own replies at once; a channel worker sends them only
        if that did not happen (LIVE_GRACE later)."""
        queue_reply(
            self.db,
            case_id=case_id,
            ref=ref,
            channel=channel,
            recipient=recipient,
            reply_kind=out.kind,
            subject=out.subject,
            body=out.body,
            now=now,
            why=why,
            headers=out.headers,
            not_before=now + LIVE_GRACE if channel in LIVE_CHANNELS else None,
        )

    def _facts(self, sub: Submission, now: datetime) -> Facts:
        """What the chain needs to know from the store for a chat: whether an email copy of
        the reply may go to the address the resident typed (bot/ack_limits.py)."""
        if (
            sub.channel in LIVE_CHANNELS
            and sub.person.email
            and self.policy.config.dialogue.email_copy
        ):
            mail = self.policy.config.mail
            return Facts(address=address_facts(self.db, mail, sub.person.email.lower(), now))
        return Facts()

    def _destinations(self, sub: Submission) -> list[tuple[str, str | None]]:
        """The live chat itself, and email: for mail, or as a copy when configured."""
        out: list[tuple[str, str | None]] = []
        if sub.channel in LIVE_CHANNELS:
            out.append((sub.channel, sub.conversation))
        if sub.person.email and (
            sub.channel not in LIVE_CHANNELS or self.policy.config.dialogue.email_copy
        ):
            out.append(("email", sub.person.email.lower()))
        return out

    def _notice(self, ref: str, sub: Submission, decision: Decision, kind: str) -> str | None:
        if sub.channel not in LIVE_CHANNELS:
            return None
        care = self.policy.config.care
        due = min(decision.deadlines.values())
        how = "reply by email" if sub.person.email else "call you" if sub.person.phone else None
        if kind == "anonymous-declined":
            return (
                f"Your message has been recorded under reference {ref}. Under the City's "
                "Customer Service Policy (section 02.01) it can't be investigated without "
                "your name and contact details, but you're welcome to send it again with "
                "them at any time. If anyone is in danger, please call 911."
            )
        if kind == "out-of-scope":
            follow = (
                f"will {how} by {human_day(due)} to point you to the right process"
                if how
                else "will look at it"
            )
            return (
                f"Your message has been recorded under reference {ref}. A member of our "
                f"{care.name} team {follow}."
            )
        if kind == "enquiry-answer":
            if how is None:
                return (
                    f"Thank you for your question. It has been recorded under reference {ref}. "
                    "We have no email address or phone number to answer you, so please call "
                    f"{care.name} at {care.phone} ({care.hours}) and quote the reference."
                )
            return (
                f"Thank you for your question. It has been recorded under reference {ref}, and a "
                f"member of our {care.name} team will answer it and {how} by {human_day(due)}."
            )
        if kind == "missing-info":
            return None
        if how is None:
            return None
        return (
            f"A member of our {care.name} team will review your message ({ref}) and "
            f"{how} by {human_day(due)}."
        )


def compose(
    policy: Policy,
    renderer: ReplyRenderer,
    ref: str,
    sub: Submission,
    decision: Decision,
    kind: str,
    channel: str,
    extra: Mapping[str, Any] | None = None,
) -> Outgoing:
    """The one rendering of a reply for a channel, used for the outbox, for drafts and by
    `caredesk mail inspect --render`, so what an administrator sees is what is sent.
    `extra`: context a person adds (the staff's `resolution` in a closing reply)."""
    context = {**reply_context(policy, ref, sub, decision, kind), **(extra or {})}
    if kind == COPY_KIND:
        # Only fixed wording can reach the template: a reference to anything the resident
        # typed fails loudly (StrictUndefined) instead of mailing it to a typed address.
        context = {k: v for k, v in context.items() if k in COPY_CONTEXT_KEYS}
    reply = renderer.render(kind, context)
    if channel == "email":
        # Subject, Message-ID and threading headers are mail's (mail/identity.py).
        me = identity_of(policy.config)
        subject = me.reply_subject(ref, sub.subject, reply.subject)
        headers = me.reply_headers(ref, reply.kind, sub.thread_ids)
        return Outgoing(reply.kind, subject, reply.body, headers)
    return Outgoing(reply.kind, reply.subject, reply.body, {})


def quote(text: str | None, limit: int = QUOTE_CHARS) -> str | None:
    """A piece of a message as an email acknowledgement may quote it: one line, at most
    `limit` characters, an ellipsis where it was cut."""
    if text is None:
        return None
    line = " ".join(text.split())
    if len(line) <= limit:
        return line or None
    return line[: limit - 1].rstrip() + "\u2026"


def files_data(attachments: Sequence[Attachment]) -> dict[str, Any]:
    """Evidence as the append-only timeline keeps it: type, size and where the file is. No
    file names: they can name people, and the timeline is never erased."""
    return {"files": [{"type": a.content_type, "size": a.size, "ref": a.ref} for a in attachments]}


def names_meta(attachments: Sequence[Attachment]) -> dict[str, Any] | None:
    """The file names, kept with the message (which retention erases), when there are any."""
    names = [a.name for a in attachments]
    return {"attachments": names} if any(names) else None


def missing_label(item: str, sub: Submission) -> str:
    """How a missing item is asked for: a resident who gave a name is not asked for it again."""
    if item == "contact" and sub.person.name:
        return "how to reach you (an email address or a phone number)"
    if item == "contact" and sub.person.reachable:
        return "your name"  # the address or phone the resident gave is not asked for again
    return ITEM_LABELS[item]


def reply_context(
    policy: Policy, ref: str, sub: Submission, decision: Decision, reply_kind: str
) -> dict[str, Any]:
    """The variables every reply template receives (templates/replies)."""
    cfg = policy.config
    # Missing items are asked for in the acknowledgement itself unless staff vet that request.
    ask_missing = reply_kind == "missing-info" or not cfg.needs_review("missing-info")
    phone = format_phone(sub.person.phone) if sub.person.phone else None
    contact = ", ".join(c for c in (sub.person.email, phone) if c) or None
    tz = cfg.tz
    next_date = decision.next_date
    # No more than the resident said: a day has no time, "last week" no exact day (bot/when.py).
    told = when_of(
        sub.when_text,
        sub.when.astimezone(tz) if sub.when else None,
        sub.when_end.astimezone(tz) if sub.when_end else None,
        sub.when_precision,
    )
    when = describe_when(told, sub.received_at.astimezone(tz)) if told else None
    items: dict[str, str | None] = {
        "what": sub.what,
        "when": when,
        "who": sub.who,
        "outcome": sub.outcome,
        "contact": contact,
    }
    name, subject = sub.person.name, sub.subject
    if sub.channel == "email":
        # Whoever the From header names gets this reply: quote the items, each cut short,
        # never the whole mail (backscatter).
        items = {k: quote(v) for k, v in items.items()}
        name, subject = quote(name, NAME_CHARS), quote(subject)
    return {
        "city_name": cfg.city.name,
        "care": {
            "name": cfg.care.name,
            "phone": cfg.care.phone,
            "email": cfg.care.email,
            "web": cfg.care.web,
            "hours": cfg.care.hours,
        },
        "ombudsman": {
            "name": cfg.ombudsman.name,
            "phone": cfg.ombudsman.phone,
            "web": cfg.ombudsman.web,
            "text": cfg.ombudsman.text,
        },
        "ref": ref,
        "kind_label": KIND_LABELS[decision.kind],
        "resident_name": name,
        "received": human_datetime(sub.received_at.astimezone(tz)),
        "channel": sub.channel,
        "items": items,
        "missing": [missing_label(item, sub) for item in decision.missing] if ask_missing else [],
        "next_date": human_day(next_date.astimezone(tz)) if next_date else None,
        "original_subject": subject,
        "redirect_process": REDIRECTS.get(decision.out_of_scope or ""),
        "expected_date": None,
        "resolution": None,
    }
