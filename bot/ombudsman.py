"""Mail from the Ombudsman's office (policy 04.06): "If any City staff are contacted by the
Ontario Ombudsman's office, they must advise the City Clerk to keep track of calls."

Three things follow for a message from one of `[ombudsman] domains`:

- it is never acknowledged automatically: the chain's `ombudsman-office` rule marks every reply
  for review (an automatic "we received your complaint" to an investigator's office is wrong,
  and POLICY.md lists Ombudsman contact among the kinds that always wait for a person);
- the case is sensitive, so only a supervisor closes it (bot/staff/case_view.py), and its
  attention line says a supervisor should take it (cases have no per-role queue);
- the City Clerk is told by email through the outbox (`dept-clerk-notice`).

Trust. The From header is whatever the sender typed. Treating a message as the Ombudsman's is
a *grant* of trust (a supervisor's time, a notice in the Clerk's register of contacts), so it
needs a positive result from the city's own mail server (mail/authres.py `verified_domain`:
DMARC pass, or a DKIM signature of the From domain), not merely the absence of a failure.
A From in an Ombudsman domain without that proof (forged, or an installation without
`[mail] authserv_id`) is filed as a resident's mail, with the chain's `ombudsman-not-verified`
rule: every reply waits for staff (an automatic acknowledgement would go to the Ombudsman's
domain on the word of a stranger: backscatter to the very office named, or an automatic reply
to a real but unprovable Ombudsman), the case is flagged for staff to check, and the Clerk is
not told (a forger must not be able to write into the Clerk's register). Nothing is lost: the
case, its clocks and its drafted acknowledgement are there for a person to approve.

The Clerk's notice carries no resident text and no link. The Clerk keeps a register of
contacts, not the complaint: what the Ombudsman wrote names a resident and what happened to
them, and 03.01 discloses personal information only as needed. So the notice says that the
Ombudsman's office wrote, when, and the case reference to ask the Customer Care Centre about;
not the subject line (it often names the resident), not the sender's address, not a link
(a link in an automatic email is what phishing looks like, and the staff pages need sign-in).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlite_utils

from bot.config import Config
from bot.model import Inbound
from bot.replies import ReplyRenderer
from bot.wording import human_datetime
from mail.authres import verified_domain
from mail.identity import identity_of
from storage.cases import add_event
from storage.mail import set_attention
from storage.outbox import enqueue, reply_key

NOTICE_KIND = "dept-clerk-notice"
#: The attention line of a case opened by (or added to by) the Ombudsman's office.
FOR_SUPERVISOR = "for a supervisor: mail from the Ombudsman's office (04.06)"


def office_domain(address: str | None, domains: tuple[str, ...]) -> str | None:
    """The configured Ombudsman domain `address` belongs to (itself or a subdomain), or None."""
    domain = (address or "").rpartition("@")[2].lower().rstrip(".")
    if not domain:
        return None
    return next((d for d in domains if domain == d or domain.endswith("." + d)), None)


def ombudsman_facts(inbound: Inbound, config: Config) -> tuple[str | None, str | None]:
    """(why this is verified mail from the Ombudsman's office, why a claim to be is not
    trusted); both None for anyone else's mail. Pure: `mail inspect` shows the same."""
    domain = office_domain(inbound.from_addr, config.ombudsman_office.domains)
    if domain is None:
        return None, None
    proof = verified_domain(inbound, config.mail.authserv_id)
    if proof is not None:
        return f"from the Ombudsman's office ({domain}); {proof}", None
    if not config.mail.authserv_id.strip():
        why = "no [mail] authserv_id, so the city's mail server's checks cannot be read"
    else:
        why = "the city's mail server did not verify the From domain"
    return None, f"From claims the Ombudsman's office ({domain}), but {why}"


def notice_context(config: Config, ref: str, received: datetime) -> dict[str, Any]:
    """The reply templates' context (bot/intake.py reply_context) with only what the Clerk's
    notice may carry; every resident field is None."""
    return {
        "city_name": config.city.name,
        "care": {
            "name": config.care.name,
            "phone": config.care.phone,
            "email": config.care.email,
            "web": config.care.web,
            "hours": config.care.hours,
        },
        "ombudsman": {
            "name": config.ombudsman.name,
            "phone": config.ombudsman.phone,
            "web": config.ombudsman.web,
            "text": config.ombudsman.text,
        },
        "ref": ref,
        "kind_label": "message",
        "resident_name": None,
        "received": human_datetime(received.astimezone(config.tz)),
        "channel": "email",
        "items": dict.fromkeys(("what", "when", "who", "outcome", "contact")),
        "missing": [],
        "next_date": None,
        "original_subject": None,
        "redirect_process": None,
        "expected_date": None,
        "resolution": None,
    }


def record_contact(
    db: sqlite_utils.Database,
    config: Config,
    renderer: ReplyRenderer,
    case_id: int,
    ref: str,
    received: datetime,
    now: datetime,
) -> bool:
    """Inside the intake's transaction: the case marked for a supervisor, the contact on the
    timeline, and the Clerk's notice queued (one per contact: the Nth contact on a case is
    `<REF.dept-clerk-notice-N@...>`). False when no Clerk address is configured (the
    attention line then asks staff to tell the Clerk)."""
    count = db.execute(
        "SELECT count(*) FROM events WHERE case_id = ? AND type = 'ombudsman-contact'", [case_id]
    ).fetchone()[0]
    sequence = int(count) + 1
    add_event(db, case_id, "ombudsman-contact", "email", now, {"contact": sequence})
    clerk = config.ombudsman_office.clerk_email
    if not clerk:
        set_attention(db, case_id, FOR_SUPERVISOR + "; no Clerk address set: tell the Clerk", now)
        return False
    set_attention(db, case_id, FOR_SUPERVISOR + "; the City Clerk has been told", now)
    rendered = renderer.render(NOTICE_KIND, notice_context(config, ref, received))
    kind = NOTICE_KIND if sequence == 1 else f"{NOTICE_KIND}-{sequence}"
    queued = enqueue(
        db,
        case_id=case_id,
        channel="email",
        recipient=clerk,
        reply_kind=NOTICE_KIND,
        subject=rendered.subject,
        body=rendered.body,
        key=reply_key(ref, kind, "email"),
        now=now,
        headers={"Message-ID": identity_of(config).message_id(ref, kind)},
    )
    if queued:
        add_event(
            db,
            case_id,
            "reply-queued",
            "policy",
            now,
            {"reply": NOTICE_KIND, "channel": "email", "why": "the City Clerk is told (04.06)"},
        )
    return queued


def flag_claim(db: sqlite_utils.Database, case_id: int, why: str, now: datetime) -> None:
    """A From claiming the Ombudsman's office that could not be verified: for staff to check."""
    add_event(db, case_id, "ombudsman-not-verified", "email", now, {"why": why})
    set_attention(db, case_id, "claims to be the Ombudsman's office, not verified: check", now)
