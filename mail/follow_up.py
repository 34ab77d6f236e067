"""A follow-up request to a department that recorded no update on a case (issue 13, the
escalation ladder of POLICY.md Appendix 1).

Pure: subject, body and headers only, like mail/department.py's forward. The request threads
onto the forward (In-Reply-To its Message-ID), so the department's reply finds the case; it
carries no personal data: the department already has the case under its reference. The
Supervisor and the Director are copied through the `Cc` header (mail/smtp.py writes it for
department-bound kinds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mail.identity import MailIdentity
from mail.parse import one_line

#: The outbox reply kind; `dept-` kinds are department-bound, not replies to the resident.
FOLLOW_UP_KIND = "dept-follow-up"
ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth"}


@dataclass(frozen=True)
class FollowUp:
    ref: str
    n: int
    department_name: str
    forwarded_at: datetime
    follow_up_date: datetime
    external_id: str | None = None
    #: (role, name) of each person copied: ("supervisor", "Roads Supervisor").
    copied: Sequence[tuple[str, str]] = ()
    #: The sequence of the forward the department received (threads the request onto it).
    forward_sequence: int | None = None


def follow_up_key(ref: str, n: int) -> str:
    """Outbox idempotency key: one request n per case."""
    return f"{ref}:{FOLLOW_UP_KIND}-{n}:email"


def follow_up_message(
    identity: MailIdentity, request: FollowUp, cc: Sequence[str] = ()
) -> tuple[str, str, dict[str, str]]:
    """(subject, body, headers) of follow-up request `request.n`."""
    which = ORDINALS.get(request.n, f"{request.n}th")
    subject = identity.forward_subject(
        request.ref, f"Follow-up request {request.n}: no update recorded"
    )
    lines = [
        f"Hello {one_line(request.department_name)},",
        "",
        f"This is the {which} follow-up request about case {request.ref}"
        + (f" (your reference {one_line(request.external_id)})" if request.external_id else "")
        + ".",
        "",
        f"The Customer Care Centre forwarded this case to you on "
        f"{request.forwarded_at:%A, %B} {request.forwarded_at.day}, {request.forwarded_at.year}."
        f" Its follow-up date was {request.follow_up_date:%A, %B} {request.follow_up_date.day}, "
        f"{request.follow_up_date.year}, and we have no update from you on it.",
        "",
        "Please reply to this email with where the case stands: what has been done, what "
        "will be done, and when you expect to complete it. Keep the reference in the subject.",
    ]
    if request.copied:
        names = "; ".join(f"{one_line(name) or role} ({role})" for role, name in request.copied)
        lines += ["", f"Copied on this request: {names}."]
    lines += ["", "Customer Care Centre", ""]
    headers = {"Message-ID": identity.message_id(request.ref, f"{FOLLOW_UP_KIND}-{request.n}")}
    if request.forward_sequence:
        forward = identity.forward_message_id(request.ref, request.forward_sequence)
        headers["In-Reply-To"] = forward
        headers["References"] = forward
    if cc:
        headers["Cc"] = ", ".join(cc)
    return subject, "\n".join(lines), headers
