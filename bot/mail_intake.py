"""The feedback mailbox's path into the store: parse, guard, thread, decide, file.

`assess()` is pure and is what `caredesk mail inspect` prints. `MailIntake.process()` does
what intake does with one raw message, in ONE transaction: a new case with its
acknowledgement in the outbox, or an addition to an existing case, or a stored machine
message, or a department's reply to our mail, recorded on its case for staff and answered by
nothing (bot/department_replies.py). It is idempotent on the message key, so a message
fetched twice (a crash before the IMAP move, a UIDVALIDITY reset) is filed once.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime

import sqlite_utils

from bot.ack_limits import address_facts
from bot.clock import Clock
from bot.decide import Facts, Policy, decide
from bot.department_replies import RULE as DEPARTMENT_RULE
from bot.department_replies import find_department_reply, record_department_reply
from bot.intake import Intake
from bot.mail_items import submission_from_email
from bot.model import Decision, Inbound, RuleHit, Status, Submission, Traced
from bot.ombudsman import flag_claim, ombudsman_facts, record_contact
from bot.survey import answer_survey, is_survey_reply
from bot.when import warm as warm_dates
from mail.authres import unverified_sender
from mail.autoreply import MACHINE_RULES, bounce_reason, failed_recipient, find_thread
from mail.autoreply import RULES as AUTOREPLY_RULES
from mail.charset import warm as warm_charsets
from mail.department import department_mail_ref
from mail.identity import MailIdentity, identity_of, thread_ids
from mail.imap import MailState
from mail.parse import parse_message, raw_key
from storage.cases import add_event, insert_message
from storage.db import commit_durably, write_transaction
from storage.mail import (
    begin_attempt,
    case_email,
    fail_attempt,
    find_case,
    forget_attempts,
    load_mail_state,
    message_seen,
    outbox_by_key,
    record_bounce,
    save_mail_state,
    set_attention,
    set_case_status,
    store_raw,
)
from storage.outbox import reply_key
from storage.surveys import survey_of_case

log = logging.getLogger(__name__)


def mail_identity(policy: Policy) -> MailIdentity:
    return identity_of(policy.config)


@dataclass(frozen=True)
class Assessment:
    inbound: Inbound
    hit: RuleHit | None  # the loop-guard rule that forbids an automatic reply
    thread: str | None  # the case it belongs to
    submission: Submission | None
    decision: Decision | None
    #: Why the city's mail server could not verify the sender (Authentication-Results).
    unverified: str | None = None
    #: The loop guard's rules (mail/autoreply.py), tried in order until one fires.
    guard: tuple[Traced, ...] = ()
    #: What the policy chain was told besides the message (no store facts yet: intake adds
    #: them inside its transaction).
    facts: Facts = field(default_factory=Facts)

    @property
    def acknowledge(self) -> bool:
        return self.hit is None

    @property
    def trace(self) -> tuple[Traced, ...]:
        """The loop guard's trace, then the policy chain's: what `mail inspect` prints."""
        return (*self.guard, *(self.decision.trace if self.decision else ()))


def guard_trace(inbound: Inbound, me: MailIdentity) -> tuple[Traced, ...]:
    """The loop guard's table (mail/autoreply.py) as a trace: the first rule that fires is
    the reason (as `check_autoreply` finds it); the later ones are not tried."""
    out: list[Traced] = []
    fired: str | None = None
    for rule in AUTOREPLY_RULES:
        action = "no acknowledgement"
        if fired is not None:
            out.append(Traced(rule.name, False, f"not tried: {fired} fired", action))
            continue
        reason = rule.check(inbound, me)
        out.append(Traced(rule.name, bool(reason), reason or "did not match", action))
        if reason:
            fired = rule.name
    return tuple(out)


def assess(
    inbound: Inbound,
    received_at: datetime,
    policy: Policy,
    me: MailIdentity,
    *,
    decided: bool = True,
) -> Assessment:
    """What intake would do with a message and why; pure.

    With `decided=False` a readable message's decision is left out (None): intake decides
    again inside its transaction, with what the store knows, so running the policy chain here
    as well was a second run of it for every message, thrown away."""
    guard = guard_trace(inbound, me)
    hit = next((RuleHit(t.rule, t.reason) for t in guard if t.fired), None)
    machine = hit is not None and hit.rule in MACHINE_RULES
    thread = find_thread(inbound, me, deep=machine)
    if inbound.unreadable:
        sub = Submission(channel="email", received_at=received_at, text="", message_key=inbound.key)
        facts = Facts(unreadable="; ".join(inbound.defects) or "unreadable")
        decision = decide(sub, received_at, policy, facts)
        return Assessment(inbound, hit, thread, None, decision, None, guard, facts)
    if machine:
        return Assessment(inbound, hit, thread, None, None, None, guard)
    cfg = policy.config
    sub = replace(
        submission_from_email(inbound, received_at, cfg.tz, cfg.dialogue.phone_region),
        message_key=inbound.key,
        thread_ids=thread_ids(inbound),
    )
    unverified = unverified_sender(inbound, cfg.mail.authserv_id)
    office, claimed = ombudsman_facts(inbound, cfg)
    facts = Facts(
        sender_not_verified=unverified, ombudsman_office=office, ombudsman_claimed=claimed
    )
    chosen = decide(sub, received_at, policy, facts) if decided else None
    return Assessment(inbound, hit, thread, sub, chosen, unverified, guard, facts)


@dataclass(frozen=True)
class Processed:
    action: str  # cased | threaded | stored | duplicate | unreadable
    ref: str | None = None
    rule: str | None = None


class MailIntake:
    def __init__(self, db: sqlite_utils.Database, policy: Policy, intake: Intake) -> None:
        self.db = db
        self.policy = policy
        self.intake = intake
        self.me = mail_identity(policy)
        #: Raw mail is kept up to this size (IMAP fetches only this much of a larger message).
        self.raw_limit = policy.config.mail.max_message_bytes

    def process(self, raw: bytes, received_at: datetime, now: datetime) -> Processed:
        raw = raw[: self.raw_limit]  # what IMAP intake fetches of a larger message, at most
        inbound = parse_message(raw)
        if message_seen(self.db, inbound.key):
            return Processed("duplicate", rule="duplicate")
        received_at = min(received_at, now)
        found = assess(inbound, received_at, self.policy, self.me, decided=False)
        with write_transaction(self.db):
            if message_seen(self.db, inbound.key):  # another process got there first
                return Processed("duplicate", rule="duplicate")
            if inbound.unreadable:
                return self._unreadable(found, raw, received_at, now)
            answered = self._department_reply(found, raw, now)
            if answered is not None:
                return answered
            case = find_case(self.db, found.thread) if found.thread else None
            if case is not None and found.hit is not None:
                survey = self._survey_answer(found, raw, case[0], now)
                if survey is not None:
                    return survey
                if found.hit.rule == "thread-reply" and found.submission is not None:
                    facts = replace(
                        found.facts,
                        quoted_case=found.thread,
                        quoted_from_resident=self._from_resident(case[0], inbound),
                    )
                    decision = self._decide(found.submission, facts, now)
                    if decision.linked:  # the chain says: filed on its own, linked
                        return self._linked_case(found, raw, case[0], now, decision)
                return self._add_to_case(found, raw, case, now)
            if found.submission is not None:
                decision = self._decide(found.submission, found.facts, now)
                return self._new_case(found, raw, now, decision)[0]
            self._keep(
                None, inbound, raw, now, {"suppressed": found.hit.rule if found.hit else None}
            )
            return Processed("stored", rule=found.hit.rule if found.hit else None)

    def _department_reply(self, found: Assessment, raw: bytes, now: datetime) -> Processed | None:
        """A department's reply to our mail (bot/department_replies.py): stored on its case
        for staff, nothing sent; None for any other mail, and for a machine's."""
        if found.hit is not None and found.hit.rule in MACHINE_RULES:
            return None
        departments = self.policy.config.departments
        reply = find_department_reply(
            self.db, found.inbound, self.me, departments, found.unverified
        )
        if reply is None:
            return None
        case_id = reply.case[0] if reply.case else None
        meta: dict[str, str | None] = {
            "rule": DEPARTMENT_RULE,
            "department": reply.department,
            "role": reply.role,
        }
        if case_id is None:
            meta["ref"] = reply.ref  # the case it named, which does not exist
        message_id = self._keep(case_id, found.inbound, raw, now, meta)
        record_department_reply(self.db, reply, message_id, now)
        return Processed("threaded" if case_id else "stored", reply.ref, DEPARTMENT_RULE)

    def _keep(
        self,
        case_id: int | None,
        inbound: Inbound,
        raw: bytes,
        now: datetime,
        meta: dict[str, str | None],
    ) -> int:
        """Store a message that opens no case: its text, and the raw bytes beside it."""
        message_id = insert_message(
            self.db,
            case_id=case_id,
            direction="in",
            channel="email",
            body=inbound.text,
            subject=inbound.subject,
            key=inbound.key,
            now=now,
            meta=meta,
        )
        store_raw(self.db, message_id, raw, self.raw_limit)
        return message_id

    def _decide(self, sub: Submission, facts: Facts, now: datetime) -> Decision:
        """The chain's decision with what the store knows about the sender's address (a
        recent bounce, the acknowledgement counts), read inside the writing transaction and
        shared with the email copies of chat acknowledgements."""
        sender = sub.person.email
        if sender:
            facts = replace(
                facts, address=address_facts(self.db, self.policy.config.mail, sender, now)
            )
        return decide(sub, sub.received_at, self.policy, facts)

    def _new_case(
        self, found: Assessment, raw: bytes, now: datetime, decision: Decision
    ) -> tuple[Processed, int]:
        assert found.submission is not None
        filed = self.intake.file(found.submission, now, decision=decision)
        store_raw(self.db, filed.message_id, raw, self.raw_limit)
        if found.unverified:
            add_event(
                self.db,
                filed.case_id,
                "sender-not-verified",
                "email",
                now,
                {"why": found.unverified},
            )
            set_attention(self.db, filed.case_id, "sender not verified: reply waits", now)
        self._ombudsman(found, filed.case_id, filed.ref, now)
        rule = found.hit.rule if found.hit else None
        return Processed("cased", filed.ref, rule), filed.case_id

    def _ombudsman(self, found: Assessment, case_id: int, ref: str, now: datetime) -> None:
        """Policy 04.06 (bot/ombudsman.py): verified mail from the Ombudsman's office goes to
        a supervisor and the City Clerk is told; an unproven claim to be it is flagged."""
        if found.facts.ombudsman_office is not None:
            received = found.submission.received_at if found.submission else now
            cfg = self.policy.config
            record_contact(self.db, cfg, self.intake.renderer, case_id, ref, received, now)
        elif found.facts.ombudsman_claimed is not None:
            flag_claim(self.db, case_id, found.facts.ombudsman_claimed, now)

    def _survey_answer(
        self, found: Assessment, raw: bytes, case_id: int, now: datetime
    ) -> Processed | None:
        """A reply to the case's satisfaction survey from the case's own (verified) resident:
        the answers recorded on the case (bot/survey.py); no new case, no acknowledgement,
        and a closed case stays closed. None for any other mail."""
        assert found.thread is not None
        inbound = found.inbound
        if found.hit is None or found.hit.rule != "thread-reply" or found.unverified:
            return None
        if not is_survey_reply(inbound, self.me, found.thread):
            return None
        survey = survey_of_case(self.db, case_id)
        if survey is None or not self._from_resident(case_id, inbound):
            return None
        message_id = self._keep(case_id, inbound, raw, now, {"rule": "survey-reply"})
        answer_survey(self.db, survey, inbound.text, "email", now, message_id=message_id)
        return Processed("threaded", found.thread, "survey-reply")

    def _from_resident(self, case_id: int, inbound: Inbound) -> bool:
        """Is this mail from the address of the case's own resident?"""
        resident = case_email(self.db, case_id)
        return resident is not None and resident == (inbound.from_addr or "").lower()

    def _linked_case(
        self, found: Assessment, raw: bytes, other_id: int, now: datetime, decision: Decision
    ) -> Processed:
        """A mail quoting a case from another address (or from the case's address, but not
        verified by the city's mail server): its own case, linked to that one and flagged
        for staff; it neither joins nor reopens a case that may not be its sender's (the
        chain's `thread-other-sender` rule)."""
        assert found.thread is not None
        other = found.thread
        sender = "an unverified sender" if found.unverified else "another address"
        processed, case_id = self._new_case(found, raw, now, decision)
        add_event(
            self.db,
            case_id,
            "linked-case",
            "email",
            now,
            {"ref": other, "why": f"this mail quoted that case from {sender}"},
        )
        if found.facts.ombudsman_office is None:  # the supervisor's mark stays
            set_attention(self.db, case_id, f"quotes case {other} from {sender}", now)
        add_event(
            self.db,
            other_id,
            "linked-case",
            "email",
            now,
            {"ref": processed.ref, "why": f"a mail from {sender} quoted this case"},
        )
        return replace(processed, rule="thread-other-sender")

    def _add_to_case(
        self, found: Assessment, raw: bytes, case: tuple[int, str], now: datetime
    ) -> Processed:
        assert found.hit is not None and found.thread is not None
        case_id, status = case
        inbound = found.inbound
        message_id = self._keep(case_id, inbound, raw, now, {"rule": found.hit.rule})
        if found.hit.rule == "thread-reply":
            add_event(self.db, case_id, "resident-replied", "email", now, {"message": message_id})
            self._ombudsman(found, case_id, found.thread, now)
            if status == Status.CLOSED.value:
                set_case_status(self.db, case_id, Status.OPEN.value, now)
                add_event(
                    self.db,
                    case_id,
                    "reopened",
                    "email",
                    now,
                    {"why": "the resident replied after the case was closed"},
                )
            return Processed("threaded", found.thread, found.hit.rule)
        if bounce_reason(inbound):
            if self._department_mail_bounced(inbound, found.thread):
                # Not the resident's address: nothing to mute; the department lacks the case.
                set_attention(self.db, case_id, "an email to the department bounced", now)
                data = {"message": message_id, "rule": found.hit.rule, "to": "department"}
                add_event(self.db, case_id, "bounce", "email", now, data)
                return Processed("threaded", found.thread, found.hit.rule)
            address = self._bounced_address(inbound, found.thread)
            if address:
                record_bounce(self.db, address, case_id, now)
            set_attention(self.db, case_id, "an email to the resident bounced", now)
            add_event(
                self.db,
                case_id,
                "bounce",
                "email",
                now,
                {"message": message_id, "rule": found.hit.rule},
            )
        else:
            add_event(
                self.db,
                case_id,
                "automatic-reply",
                "email",
                now,
                {"message": message_id, "rule": found.hit.rule},
            )
        return Processed("threaded", found.thread, found.hit.rule)

    def _department_mail_bounced(self, inbound: Inbound, ref: str) -> bool:
        """Does the bounce return our mail to a department (a forward, a follow-up request)
        about this case, rather than a reply to the resident?"""
        return any(department_mail_ref(self.me, m) == ref for m in inbound.mentioned_ids)

    def _bounced_address(self, inbound: Inbound, ref: str) -> str | None:
        """The address our acknowledgement was sent to, found by its derived Message-ID."""
        for message_id in inbound.mentioned_ids:
            ours = self.me.reply_in_message_id(message_id)
            if ours and ours[0] == ref:
                item = outbox_by_key(self.db, reply_key(ref, ours[1], "email"))
                if item and item[1]:
                    return item[1]
        return failed_recipient(inbound)

    def quarantine(self, raw: bytes, received_at: datetime, now: datetime, why: str) -> Processed:
        """A message intake kept failing on: a case for staff with the raw message, so that
        nothing is lost and the mailbox moves on. Nothing is parsed: parsing may be what fails.
        """
        key = f"quarantined:{raw_key(raw)}"
        with write_transaction(self.db):
            if message_seen(self.db, key):
                return Processed("duplicate", rule="duplicate")
            sub = Submission(
                channel="email", received_at=min(received_at, now), text="", message_key=key
            )
            decision = decide(sub, sub.received_at, self.policy, Facts(unreadable=why))
            filed = self.intake.file(sub, now, decision=decision)
            store_raw(self.db, filed.message_id, raw, self.raw_limit)
            set_attention(self.db, filed.case_id, f"quarantined email: {why}", now)
        return Processed("unreadable", filed.ref, "quarantined")

    def _unreadable(
        self, found: Assessment, raw: bytes, received_at: datetime, now: datetime
    ) -> Processed:
        sub = Submission(
            channel="email", received_at=received_at, text="", message_key=found.inbound.key
        )
        assert found.decision is not None  # the chain's `unreadable` rule decided it
        filed = self.intake.file(sub, now, decision=found.decision)
        store_raw(self.db, filed.message_id, raw, self.raw_limit)
        set_attention(self.db, filed.case_id, "unreadable email: read the raw message", now)
        return Processed("unreadable", filed.ref, "unreadable")


def store_mail_state(db: sqlite_utils.Database, intake: MailIntake, clock: Clock) -> MailState:
    """What IMAP intake keeps in the store: where it stands, the attempts on each message,
    the durable commit before a move, and the staff case for a quarantined message."""

    def save(folder: str, uidvalidity: int, last_uid: int) -> None:
        with write_transaction(db):
            save_mail_state(db, folder, uidvalidity, last_uid, clock.now())

    def attempt(folder: str, uidvalidity: int, uid: int) -> int:
        with write_transaction(db):
            return begin_attempt(db, folder, uidvalidity, uid, clock.now())

    def failed(folder: str, uidvalidity: int, uid: int, error: str) -> None:
        with write_transaction(db):
            fail_attempt(db, folder, uidvalidity, uid, error)

    def forget(folder: str, uidvalidity: int, uids: list[int]) -> None:
        with write_transaction(db):
            forget_attempts(db, folder, uidvalidity, uids)

    def quarantine(raw: bytes, received: datetime, why: str) -> None:
        result = intake.quarantine(raw, received, clock.now(), why)
        log.warning("mail quarantined", extra={"ref": result.ref, "status": result.action})

    return MailState(
        lambda folder: load_mail_state(db, folder),
        save,
        sync=lambda: commit_durably(db),
        attempt=attempt,
        failed=failed,
        quarantine=quarantine,
        forget=forget,
    )


_SAMPLE = (
    b"From: Sample <sample@example.com>\r\nSubject: Sample\r\nMessage-ID: <warm-up@example>\r\n"
    b"Content-Type: text/html\r\n\r\n<p>On Monday 16 November at 9:30am the driver was rude."
    b" Call me at 416-555-0100. I would like an apology.</p>"
)


def warm_up(policy: Policy, now: datetime) -> None:
    """Load what the first message would (dateparser's locale data, the holiday tables...),
    then gc.freeze() everything loaded so far. A full garbage collection walks every tracked
    object with the GIL held: about 100 ms for a process this size, during which no channel
    answers. Frozen objects are never walked again."""
    assess(parse_message(_SAMPLE), now, policy, mail_identity(policy))
    warm_dates(now)
    warm_charsets()
    gc.freeze()
