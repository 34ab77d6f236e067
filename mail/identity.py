"""Who "we" are in mail, and the one place our replies' envelope is written and read back.

A reply's Message-ID is derived from the case reference and the reply kind
(`<CD-2026-000123.ack-email@caredesk.city.example>`): a retry carries the same one, and a
bounce or a resident's reply that quotes it leads back to the case and to the reply that was
sent. The subject carries the reference in brackets for the same reason. Writing these and
reading them back live in one class, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from bot.config import Config
from bot.model import Inbound
from mail.parse import one_line

#: "Re:", "AW:", "Fwd:"... as mail programs stack them at the start of a subject.
RE_PREFIX = re.compile(r"^(?:\s*(?:re|aw|sv|fwd?|tr)\s*:\s*)+", re.IGNORECASE)
#: How many Message-IDs of the thread our References header repeats (the newest).
REFERENCES_KEPT = 20
#: The reply kind of a case forwarded to a department by email: `forward-<sequence>`.
FORWARD_KIND = re.compile(r"^forward-(\d+)$")


def canonical_address(address: str) -> str:
    """Lower-case, with a +tag dropped from the local part: feedback+x@City.Example and
    feedback@city.example are the same mailbox."""
    local, at, domain = address.strip().strip("<>").lower().rpartition("@")
    if not at:
        return domain
    return f"{local.split('+', 1)[0]}@{domain}"


def thread_ids(msg: Inbound) -> tuple[str, ...]:
    """The Message-IDs a reply to `msg` continues: its References, then its own Message-ID."""
    return tuple(dict.fromkeys([*msg.references, *filter(None, [msg.message_id])]))


@dataclass(frozen=True)
class MailIdentity:
    """Who "we" are, so our own mail and replies to it are recognised."""

    own_addresses: frozenset[str]
    message_id_domain: str
    reference_prefix: str = "CD"
    _mailboxes: frozenset[str] = field(init=False, repr=False, compare=False)
    _ref: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _quoted: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _ours: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ref = rf"{re.escape(self.reference_prefix)}-\d{{4}}-\d{{6}}"
        domain = re.escape(self.message_id_domain)
        mailboxes = frozenset(canonical_address(a) for a in self.own_addresses)
        object.__setattr__(self, "_mailboxes", mailboxes)
        object.__setattr__(self, "_ref", re.compile(rf"\[({ref})\]", re.I))
        object.__setattr__(self, "_quoted", re.compile(rf"\s*\[{ref}\]", re.I))
        object.__setattr__(self, "_ours", re.compile(rf"^<({ref})\.([\w.-]+)@{domain}>$", re.I))

    @property
    def own_mailboxes(self) -> frozenset[str]:
        """Our addresses as `canonical_address` writes them (case and +tag dropped)."""
        return self._mailboxes

    def message_id(self, ref: str, reply_kind: str) -> str:
        """Derived from the case and reply kind, so a retry is recognisably the same mail."""
        return f"<{ref}.{reply_kind}@{self.message_id_domain}>"

    def reply_in_message_id(self, message_id: str) -> tuple[str, str] | None:
        """(case reference, reply kind) of one of our Message-IDs; None for anyone else's."""
        match = self._ours.match(message_id.strip())
        return (match.group(1).upper(), match.group(2)) if match else None

    def forward_message_id(self, ref: str, sequence: int) -> str:
        """`<REF.forward-N@domain>`: the Nth forward of the case to a department. A department's
        reply quotes it in In-Reply-To/References, which leads back to the case."""
        if sequence < 1:
            raise ValueError("a forward's sequence starts at 1")
        return self.message_id(ref, f"forward-{sequence}")

    def forward_in_message_id(self, message_id: str) -> tuple[str, int] | None:
        """(case reference, sequence) of one of our forwards' Message-IDs; None otherwise."""
        ours = self.reply_in_message_id(message_id)
        match = FORWARD_KIND.match(ours[1].lower()) if ours else None
        return (ours[0], int(match.group(1))) if ours and match else None

    def forward_subject(self, ref: str, title: str) -> str:
        """`<title> [REF]` on one line: the reference in brackets, as in our replies, so the
        department's reply threads back by subject when its mail program drops the headers."""
        text = self._quoted.sub("", one_line(title)).strip()
        return one_line(f"{text} [{ref}]" if text else f"[{ref}]")

    def ref_in_message_id(self, message_id: str) -> str | None:
        ours = self.reply_in_message_id(message_id)
        return ours[0] if ours else None

    def ref_in_subject(self, subject: str) -> str | None:
        match = self._ref.search(subject)
        return match.group(1).upper() if match else None

    def reply_subject(self, ref: str, theirs: str | None, fallback: str) -> str:
        """`Re: <their subject> [REF]` (or `fallback` when they wrote none), on one line.

        Another case's reference quoted by this sender stays out of our subject: a reply to
        this message then threads to this case, not back to that one."""
        text = RE_PREFIX.sub("", theirs or "").strip()
        text = self._quoted.sub(
            lambda m: m.group(0) if ref in m.group(0).upper() else "", text
        ).strip()
        subject = f"Re: {text} [{ref}]" if text else fallback
        if f"[{ref}]" in text:
            subject = f"Re: {text}"
        return one_line(subject)

    def reply_headers(self, ref: str, reply_kind: str, thread: Sequence[str]) -> dict[str, str]:
        """Our Message-ID, and In-Reply-To/References continuing the resident's thread."""
        headers = {"Message-ID": self.message_id(ref, reply_kind)}
        if thread:
            headers["In-Reply-To"] = thread[-1]
            headers["References"] = " ".join(thread[-REFERENCES_KEPT:])
        return headers


def identity_of(config: Config) -> MailIdentity:
    """The mailbox's identity as the configuration describes it (built once per config)."""
    mail = config.mail
    return _identity(frozenset(mail.own_addresses), mail.message_id_domain, config.reference_prefix)


@lru_cache(maxsize=16)
def _identity(addresses: frozenset[str], domain: str, prefix: str) -> MailIdentity:
    return MailIdentity(addresses, domain, prefix)
