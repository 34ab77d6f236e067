"""A department's email reply to our forward lands on its case as an update, for staff.

POLICY.md 04.02: the department responsible updates the case. When it answers by email (a
reply to the forward, or to a follow-up request), the answer is news for staff, not a
resident's message: it is stored on the case, recorded as a `department-update` event, and the
case is flagged for staff. Nothing is sent: no acknowledgement (the department is not a
resident, and an automatic answer to a department's mail system is how mail loops start), no
new case, no reply.

A mail counts as the department's only when all of these hold:
- it claims a case (mail/department.py `is_department_reply`: one of our department-bound
  Message-IDs quoted, or `[REF]` in the subject from a department's address);
- no loop-guard rule says a machine wrote it (an out-of-office or a bounce is kept on the case
  as intake keeps any machine's mail);
- the city's mail server did not fail the sender (mail/authres.py), since a From header is
  only words;
- its sender is the address, the supervisor's or the director's of a department of THAT case
  (the current one, or one it was forwarded to): a department's mail quoting another
  department's case writes nothing onto that case.
Any other mail goes the way intake takes every mail, so a stranger quoting our Message-ID is
a stranger. A reply naming a case that does not exist (from a configured department's
address) is stored for staff without a case; one on a closed case is recorded there and
flagged, and the case stays closed: staff decide whether the news reopens it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from bot.config import Department
from bot.model import Inbound, Status
from mail.department import department_addresses, department_sender, is_department_reply
from mail.identity import MailIdentity
from storage.department_mail import case_departments, record_department_update
from storage.mail import find_case, set_attention

log = logging.getLogger(__name__)

#: The `rule` a department's reply is stored and reported under.
RULE = "department-reply"
#: Who writes the event on the timeline (as the other mail events: the channel).
ACTOR = "email"
ROLE_WORDS = {"department": "", "supervisor": " (its supervisor)", "director": " (its director)"}


@dataclass(frozen=True)
class DepartmentReply:
    """A mail accepted as a department's reply: the case it names (None: no such case), and
    who answered."""

    ref: str
    case: tuple[int, str] | None  # (id, status)
    department: str
    role: str


def find_department_reply(
    db: sqlite_utils.Database,
    inbound: Inbound,
    me: MailIdentity,
    departments: Sequence[Department],
    unverified: str | None,
) -> DepartmentReply | None:
    """The department's reply this mail is, or None (then intake treats it as any mail).
    `unverified`: why the city's server could not verify the sender (None: it did not fail)."""
    if not departments or unverified:
        return None
    ref = is_department_reply(inbound, me, department_addresses(departments))
    if ref is None:
        return None
    case = find_case(db, ref)
    if case is None:
        allowed: Sequence[Department] = departments  # nothing to match: any department's word
    else:
        by_key = {d.key: d for d in departments}
        allowed = [by_key[k] for k in case_departments(db, case[0]) if k in by_key]
    sender = department_sender(inbound.from_addr, allowed)
    if sender is None:
        return None
    return DepartmentReply(ref, case, sender.department, sender.role)


def department_claim(
    inbound: Inbound,
    me: MailIdentity,
    departments: Sequence[Department],
    unverified: str | None,
    machine: str | None = None,
) -> dict[str, str | None] | None:
    """What `caredesk mail inspect` says of a mail that claims to answer our department mail,
    without the store: the case it names, which configured department (if any) sent it, and
    why intake would not take it as that department's word (`machine`: the loop-guard rule
    that says a machine wrote it). Intake still checks that the department is the case's own;
    None when the mail claims no case as a department's reply."""
    ref = is_department_reply(inbound, me, department_addresses(departments))
    if ref is None:
        return None
    sender = department_sender(inbound.from_addr, departments)
    refused = None
    if machine:
        refused = f"a machine wrote it (loop-guard rule {machine})"
    elif sender is None:
        refused = "the sender is no configured department's address"
    elif unverified:
        refused = f"the sender is not verified: {unverified}"
    return {
        "ref": ref,
        "department": sender.department if sender else None,
        "role": sender.role if sender else None,
        "refused": refused,
    }


def record_department_reply(
    db: sqlite_utils.Database, reply: DepartmentReply, message_id: int, now: datetime
) -> None:
    """The event and the flag for staff; the message itself is already stored (`message_id`).
    The event carries no text of the mail: the message holds it, for the retention rules."""
    if reply.case is None:
        log.warning(
            "department reply names no known case; stored without a case",
            extra={"ref": reply.ref, "department": reply.department},
        )
        return
    case_id, status = reply.case
    data: dict[str, str | int] = {
        "source": "email",
        "message": message_id,
        "department": reply.department,
        "role": reply.role,
    }
    why = f"the department replied ({reply.department}{ROLE_WORDS.get(reply.role, '')})"
    if status == Status.CLOSED.value:
        data["case_status"] = status
        why = f"{why} after the case was closed"
    record_department_update(db, case_id, ACTOR, data, now)
    set_attention(db, case_id, why, now)
