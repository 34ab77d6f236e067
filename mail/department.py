"""A case forwarded to a department by email, and the department's reply recognised.

Pure: it writes the subject, body and threading headers of the forward and reads a reply back,
and sends nothing. The envelope (Message-ID `<REF.forward-N@domain>`, the `[REF]` in the
subject) comes from `MailIdentity`, which also reads it back, so the department's answer
threads onto the case the same way a resident's reply does. Header safety is left to the one
message builder (mail/smtp.py `build_message`), which writes every header value on one line.

Recognising a reply is two questions. Which case does it claim to answer
(`is_department_reply`: one of our department-bound Message-IDs quoted, or `[REF]` in the
subject from a department's address)? And is its sender that case's department, its
supervisor or its director (`department_sender`)? Quoting a Message-ID proves nothing about
who wrote the mail (anyone a department forwards our mail to has it), so only the second
answer lets a mail write onto the case as the department; intake asks it with the case's own
departments, read from the store, and only of a sender the city's server did not fail.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.config import Department
from bot.model import Inbound
from mail.identity import MailIdentity, canonical_address
from mail.parse import one_line

#: Longest piece of the resident's "what" repeated in the subject (cut at a word).
SUBJECT_WHAT_CHARS = 60
REPLY_HINT = "Reply to this email to update the case; keep the reference in the subject."
#: The reply kinds of our mail to a department (`<REF.kind@domain>`): a forward
#: (`forward-N`), or any kind starting `dept-` (a follow-up request, `dept-follow-up-N`...).
DEPARTMENT_KIND = re.compile(r"^(?:forward-\d+|dept-[\w.-]+)$", re.IGNORECASE)
#: Who at a department may answer for it, as the configuration names their addresses.
ROLES = (
    ("department", "email"),
    ("supervisor", "supervisor_email"),
    ("director", "director_email"),
)


@dataclass(frozen=True)
class ForwardedCase:
    """What department staff need to act on a case; None where the case does not say."""

    ref: str
    kind: str  # "complaint", "request", "hazard"...
    received: datetime
    what: str | None
    when: str | None
    who: str | None
    outcome: str | None
    contact: str | None
    place: str | None = None
    deadlines: Mapping[str, datetime] | None = None


def forward_message(
    identity: MailIdentity,
    department_name: str,
    department_email: str,
    case: ForwardedCase,
    sequence: int,
    *,
    include_contact: bool = False,
) -> tuple[str, str, dict[str, str]]:
    """(subject, body, headers) of the `sequence`th forward of `case` to a department.

    The resident's contact details go out only when `include_contact` says the configuration
    allows it: a department does not need them to act, and they are personal data."""
    if not department_email.strip():
        raise ValueError(f"department {department_name!r} has no email address")
    subject = identity.forward_subject(case.ref, _title(department_name, case))
    body = _body(department_name, case, include_contact)
    headers = {"Message-ID": identity.forward_message_id(case.ref, sequence)}
    return subject, body, headers


def department_mail_ref(identity: MailIdentity, message_id: str) -> str | None:
    """The case reference of one of our Message-IDs of mail sent to a department (a forward,
    a follow-up request...); None for any other Message-ID, ours or not."""
    ours = identity.reply_in_message_id(message_id)
    return ours[0] if ours and DEPARTMENT_KIND.match(ours[1]) else None


def is_department_reply(
    inbound: Inbound, identity: MailIdentity, departments: Collection[str] = ()
) -> str | None:
    """The case reference a reply to our department mail claims to belong to, else None.

    Recognised by In-Reply-To/References naming one of our department-bound Message-IDs (a
    forward's `<REF.forward-N@domain>`, a `<REF.dept-...@domain>`), or by the `[REF]` in the
    subject when the sender is one of the `departments`' addresses: a resident's reply to an
    acknowledgement carries the same `[REF]` and must not count as the department's answer.
    Our own mail never counts. Who sent it is `department_sender`'s question."""
    sender = canonical_address(inbound.from_addr or "")
    if sender in identity.own_mailboxes:
        return None
    for message_id in (*inbound.in_reply_to, *reversed(inbound.references)):
        ref = department_mail_ref(identity, message_id)
        if ref:
            return ref
    if sender and sender in {canonical_address(a) for a in departments}:
        return identity.ref_in_subject(inbound.subject)
    return None


@dataclass(frozen=True)
class DepartmentSender:
    """Who answered for a department: its key, and "department", "supervisor" or "director"."""

    department: str
    role: str


def department_addresses(departments: Iterable[Department]) -> frozenset[str]:
    """Every address that may answer for one of `departments` (canonical form)."""
    return frozenset(
        canonical_address(getattr(d, attr))
        for d in departments
        for _, attr in ROLES
        if getattr(d, attr).strip()
    )


def department_sender(
    from_addr: str | None, departments: Iterable[Department]
) -> DepartmentSender | None:
    """The first of `departments` (in order) whose address, supervisor's or director's
    address sent the mail; None when none did. Compared as `canonical_address` writes them."""
    sender = canonical_address(from_addr or "")
    if not sender:
        return None
    for dept in departments:
        for role, attr in ROLES:
            address = getattr(dept, attr).strip()
            if address and canonical_address(address) == sender:
                return DepartmentSender(dept.key, role)
    return None


def _title(department_name: str, case: ForwardedCase) -> str:
    what = one_line(case.what or "")
    if len(what) > SUBJECT_WHAT_CHARS:
        what = what[:SUBJECT_WHAT_CHARS].rsplit(" ", 1)[0] + "…"
    head = f"{case.kind.capitalize()} for {one_line(department_name)}"
    return f"{head}: {what}" if what else head


def _field(label: str, value: str | None) -> list[str]:
    """`Label: value`; a value of several lines is indented under its label, so nothing a
    resident wrote can pass for one of the summary's own lines."""
    lines = (value or "").strip().splitlines() or ["(not given)"]
    first, *rest = (line.strip() for line in lines)
    return [f"{label}: {first}", *(f"    {line}" for line in rest if line)]


def _body(department_name: str, case: ForwardedCase, include_contact: bool) -> str:
    lines = [
        f"A case for {one_line(department_name)} from the Customer Care Centre.",
        "",
        f"Reference: {case.ref}",
        f"Kind: {case.kind}",
        f"Received: {case.received.isoformat(sep=' ', timespec='minutes')}",
        "",
        *_field("What happened", case.what),
        *_field("When", case.when),
        *_field("Who was involved", case.who),
        *_field("Outcome sought", case.outcome),
    ]
    if include_contact:
        lines += _field("Contact", case.contact)
    if case.place:
        lines += _field("Place", case.place)
    if case.deadlines:
        lines += ["", "Deadlines:"]
        for name, due in sorted(case.deadlines.items(), key=lambda item: item[1]):
            lines.append(f"  {name}: {due.isoformat(sep=' ', timespec='minutes')}")
    lines += ["", REPLY_HINT, ""]
    return "\n".join(lines)
