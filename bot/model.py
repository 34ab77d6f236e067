"""The nouns every part of caredesk shares, as frozen dataclasses.

A `Submission` is what a channel collected (a finished chat dialogue, a parsed email); a
`Decision` is what the policy makes of it. Both are plain data so that `decide()` stays pure
and tests can build them by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bot.place import Place


class Kind(StrEnum):
    COMPLAINT = "complaint"
    REQUEST = "request"
    FEEDBACK = "feedback"
    OUT_OF_SCOPE = "out-of-scope"
    HAZARD = "hazard"
    #: An enquiry: a question for information, or a message meant for someone else. Neither
    #: dissatisfaction (01.03) nor a request to act: recorded, and a person answers it.
    OTHER = "other"


KIND_LABELS: dict[Kind, str] = {
    Kind.COMPLAINT: "complaint",
    Kind.REQUEST: "request for service",
    Kind.FEEDBACK: "feedback",
    Kind.OUT_OF_SCOPE: "message",
    Kind.HAZARD: "report of a potential hazard",
    Kind.OTHER: "question",
}


class Status(StrEnum):
    OPEN = "open"  # being worked on; clocks running
    RECORDED = "recorded"  # kept for the record (feedback); nothing to investigate
    DECLINED = "declined"  # anonymous allegation, policy 02.01
    REDIRECTED = "redirected"  # out of scope, policy 02.03
    UNREADABLE = "unreadable"  # an email nothing could be read from; staff look at it
    CLOSED = "closed"


#: The five things a complaint must contain (policy 04.01), in the order the dialogue asks.
ITEMS: tuple[str, ...] = ("what", "when", "who", "outcome", "contact")

ITEM_LABELS: dict[str, str] = {
    "what": "what happened, in detail",
    "when": "the date and time it happened",
    "who": "who was involved",
    "outcome": "the outcome you are looking for",
    "contact": "your name and how to reach you (email or phone)",
}


@dataclass(frozen=True)
class Person:
    """Contact details, stored apart from case text so they can be protected and erased."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None

    @property
    def reachable(self) -> bool:
        return bool(self.email or self.phone)

    def summary(self) -> str | None:
        parts = [p for p in (self.email, self.phone) if p]
        return ", ".join(parts) or None


@dataclass(frozen=True)
class Attachment:
    name: str | None
    content_type: str
    size: int
    ref: str | None = None  # where the file is: a Telegram file_id; None for stored mail parts


@dataclass(frozen=True)
class Submission:
    """What a channel collected, before the policy has looked at it."""

    channel: str  # console | web | telegram | email
    received_at: datetime  # aware
    text: str  # everything the resident wrote, for classification
    what: str | None = None
    when_text: str | None = None  # as the resident said it
    when: datetime | None = None  # resolved in the city's zone, when it could be: range start
    when_end: datetime | None = None  # range end, exclusive (bot/when.py)
    when_precision: str | None = None  # bot.when.Precision value; None: not asked or not found
    who: str | None = None
    outcome: str | None = None
    person: Person = field(default_factory=Person)
    kind_hint: Kind | None = None  # the resident's explicit choice in chat
    #: The resident's answer to the danger question: True yes, False no, None not asked (email)
    #: or not sure. An answer wins over any phrase in the text (a contradiction is a flag).
    safety: bool | None = None
    on_behalf_of: str | None = None  # "" = someone unnamed; None = themselves
    #: An out-of-scope category the resident confirmed; "" = the dialogue settled it (not out of
    #: scope, or the resident chose to carry on); None = not asked (email): phrases decide.
    scope_hint: str | None = None
    subject: str | None = None
    conversation: str | None = None  # channel address to answer on (chat id, email address)
    message_key: str | None = None  # email: Message-ID + raw hash, unique in the store
    thread_ids: tuple[str, ...] = ()  # email: References + Message-ID, for our reply headers
    attachments: tuple[Attachment, ...] = ()  # evidence: photos, documents
    #: Where it is (bot/place.py): the dialogue's answer, a shared location, or what an email
    #: gives; None when not asked, skipped, or not found.
    place: Place | None = None

    def item(self, name: str) -> str | None:
        if name == "when":
            return self.when_text
        if name == "contact":
            return self.person.summary()
        value: str | None = getattr(self, name)
        return value


@dataclass(frozen=True)
class RuleHit:
    """Which named rule fired, and why: recorded on the case and shown by `mail inspect`."""

    rule: str
    reason: str


@dataclass(frozen=True)
class Traced:
    """One line of the trace: a rule, whether it fired, why, and what it does when it fires."""

    rule: str
    fired: bool
    reason: str
    action: str

    def as_dict(self) -> dict[str, str | bool]:
        return {
            "rule": self.rule,
            "fired": self.fired,
            "reason": self.reason,
            "action": self.action,
        }


@dataclass(frozen=True)
class PlannedReply:
    kind: str  # a template in templates/replies
    review: bool  # True: drafted for staff; False: goes out automatically
    why: str


@dataclass(frozen=True)
class Decision:
    kind: Kind
    status: Status
    missing: tuple[str, ...]
    deadlines: dict[str, datetime]  # SLA kind -> due
    replies: tuple[PlannedReply, ...]
    hits: tuple[RuleHit, ...]
    sensitive: bool = False  # Council/CAO/Ombudsman involvement: staff close it
    out_of_scope: str | None = None  # category, when redirected
    #: Hits staff should look at (also in `hits`): e.g. a phrase that contradicts an answer.
    flags: tuple[RuleHit, ...] = ()
    #: Every rule of the policy chain (bot/chain.py) in order: fired or not, and why.
    trace: tuple[Traced, ...] = ()
    #: Why no automatic email may go to the resident's address now (a bounce, a rate limit):
    #: an email's replies wait for staff; a chat sends no email copy.
    email_held: str | None = None
    #: A case this mail quotes but is filed beside, not into (another or unverified sender).
    linked: str | None = None

    @property
    def next_date(self) -> datetime | None:
        """When the resident will hear from us next: the earliest deadline after the ack."""
        for key in ("hazard-inspection", "follow-up", "email-response"):
            if key in self.deadlines:
                return self.deadlines[key]
        if self.kind is Kind.OTHER:  # an enquiry is answered within the acknowledgement window
            for key in ("email-ack", "complaint-ack"):
                if key in self.deadlines:
                    return self.deadlines[key]
        return None


@dataclass(frozen=True)
class Reply:
    """One chat message to the resident; `choices` become buttons where the channel has them."""

    text: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inbound:
    """One email as intake sees it: parsed, decoded and reduced to text (mail/parse.py)."""

    key: str  # "<Message-ID> sha256:<hash of the raw bytes>" (the hash alone without an ID)
    message_id: str | None
    from_addr: str | None  # lower-case addr-spec
    from_name: str | None
    to: tuple[str, ...]
    subject: str  # decoded, one line
    date: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    text: str  # best text part, HTML converted, quoted history trimmed
    headers: dict[str, str]  # lower-case name -> decoded value (first occurrence)
    content_type: str
    attachments: tuple[Attachment, ...] = ()
    size: int = 0
    defects: tuple[str, ...] = ()
    unreadable: bool = False
    return_path: str | None = None  # None: no Return-Path header; "" : <>
    #: Message-IDs quoted anywhere in the raw message (a bounce quotes the mail it returns).
    mentioned_ids: tuple[str, ...] = ()
    #: ("authentication-results", value) and ("received", "") in header order, top first.
    trace: tuple[tuple[str, str], ...] = ()
