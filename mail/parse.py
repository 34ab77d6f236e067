"""Raw bytes of an email to an `Inbound`: decoded, reduced to text, never a crash.

Python's `email` package (policy.default) does the MIME work; lxml (libxml2, in C: linear and
fast even on a megabyte of nested tables) turns HTML into text with scripts and styles
dropped; quotequail trims the quoted history of replies. A
charset Python does not know, or bytes that are not valid in the declared one, are decoded
with replacement characters. Anything that still fails makes the message `unreadable`: it is
kept and shown to staff, and never acknowledged automatically.

Anyone can send anything, so every step reads a bounded amount: header values are cut before
the (slow, pure-Python) structured header parser sees them, HTML and quoted-history trimming
get the first part of the body only, a message with more MIME containers than any real mail
has is not parsed, and the text kept is cut (the raw message is always kept whole).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from datetime import datetime
from email import message_from_bytes
from email import policy as email_policy
from email.headerregistry import BaseHeader, DateHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage, Message
from email.utils import format_datetime, getaddresses, parseaddr, parsedate_to_datetime
from typing import Any

import lxml.html
import quotequail
from lxml.etree import ParserError

from bot.model import Attachment, Inbound
from mail.charset import decode_bytes
from mail.courtesy import split_courtesy
from mail.headers import damaged, recover_sender, recover_text
from mail.quotes import may_have_quote

MSG_ID = re.compile(r"<[^<>\s]+>")
_BLANK_LINES = re.compile(r"\n{3,}")
_RAW_MSG_ID = re.compile(rb"<[!-;=?-~]{1,200}@[!-;=?-~]{1,200}>")
_MENTION_SCAN = 256 * 1024
#: The local part has no "@": with one allowed, every "@" of a long run was a new backtrack.
_TRAILING_ADDR = re.compile(r"<([^<>\s@]+@[^<>\s]+)>\s*$")

#: The text kept of a body (the raw message is kept whole beside it): some pages, more than
#: any complaint needs. Every phrase rule searches it (with the GIL held, about 3 ms a KB here).
TEXT_LIMIT = 16 * 1024
CUT_MARKER = "\n\n[Cut here: the message is longer. The whole message is kept as it arrived.]"
#: How much HTML is turned into text.
HTML_LIMIT = 128 * 1024
#: How many bytes of a part are decoded: well over HTML_LIMIT and 4 x TEXT_LIMIT characters.
DECODE_LIMIT = 1024 * 1024
#: quotequail looks at this many lines (it costs about 0.1 ms a line).
QUOTE_SCAN_LINES = 400
#: A header value is cut to this before parsing: email's structured parser is slow (about
#: 15 us a character for an address list, and worse than linear beyond a few kilobytes).
HEADER_LIMIT = 2048
#: References can be long in a long thread: its end (the newest ids) is what is kept.
REFERENCES_LIMIT = 8192
#: At most this many headers are read into `Inbound.headers`.
MAX_HEADERS = 100
#: More multipart/message containers than any real mail has: the feedparser's cost grows with
#: lines x depth, so such a message is not parsed (it is kept, unreadable, for staff).
MAX_CONTAINERS = 64
_CONTAINER = re.compile(rb"(?im)^content-type:[ \t]*(?:\r?\n[ \t]+)?(?:multipart|message)/")


class _Classes(HeaderRegistry):
    """policy.default's header registry, with each header name's class made once.

    The stock registry builds a new class (`type(...)`) every time a header is read, and the
    message reads Content-Type alone about ten times; names are not personal data."""

    _MAX_NAMES = 1024  # hostile mail can carry any number of odd names: those are not kept

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = super().__getitem__(name)
            if len(self._made) < self._MAX_NAMES:
                self._made[key] = made
        return made


_CLASSES = _Classes()
#: policy.default with the header classes made once: for the messages we write.
MAIL_POLICY = email_policy.default.clone(header_factory=_CLASSES)


class _MessageHeaders:
    """The header factory of ONE message's policy: a header read again (the same name and
    value) is the header object parsed the first time. Parsed headers are immutable, and
    the cache dies with the message, so no resident's header outlives the parse in memory.
    email's structured header parser is pure Python and was a third of intake's CPU: the
    message asked it for about 26 headers a message, for 9 distinct ones."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], BaseHeader] = {}

    def __call__(self, name: str, value: str) -> BaseHeader:
        key = (name, value)
        header = self._seen.get(key)
        if header is None:
            header = _shared_header(name, value)
            self._seen[key] = header
        return header


#: MIME-Version, Content-Type and Content-Transfer-Encoding as nearly every message has them
#: ("1.0", "text/plain; charset=utf-8", "8bit"): a type and charset-like tokens, no free text
#: (so nothing personal, unlike a file name or an address), the same in message after message.
_SHARED_NAMES = frozenset({"mime-version", "content-type", "content-transfer-encoding"})
_SHARED_VALUE = re.compile(
    r"[ \t]*[A-Za-z0-9./+-]{1,60}"
    r"(?:[ \t]*;[ \t]*(?:charset|format|delsp)=\"?[A-Za-z0-9._:-]{1,40}\"?){0,3}[ \t]*"
)
_SHARED_MAX = 256
_shared: dict[tuple[str, str], BaseHeader] = {}


def _shared_header(name: str, value: str) -> BaseHeader:
    """The parsed header; one of the token-only MIME headers above is parsed once a process
    and shared (parsed headers are immutable), everything else is parsed for this message."""
    if name.lower() not in _SHARED_NAMES or not _SHARED_VALUE.fullmatch(value):
        return _CLASSES[name](name, value)
    key = (name, value)
    header = _shared.get(key)
    if header is None:
        header = _CLASSES[name](name, value)
        if len(_shared) < _SHARED_MAX:  # a flood of odd values is parsed, not kept
            _shared[key] = header
    return header


def _message_policy() -> email_policy.EmailPolicy[EmailMessage]:
    return email_policy.default.clone(header_factory=_MessageHeaders())


def one_line(value: str) -> str:
    """Header values are single lines: CR, LF and runs of space become one space."""
    return " ".join(value.split())


def raw_key(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def message_key(message_id: str | None, raw: bytes) -> str:
    """What makes a message a duplicate: its Message-ID AND a hash of its raw bytes. By
    Message-ID alone, anyone who sent a mail with a resident's Message-ID first would have
    the resident's mail dropped as a "duplicate"; the same bytes fetched twice (a crash
    before the IMAP move, a UIDVALIDITY reset) still give the same key."""
    return f"{message_id} {raw_key(raw)}" if message_id else raw_key(raw)


def parse_message(raw: bytes) -> Inbound:
    """Parse one message; on any failure an `unreadable` Inbound that keeps the key."""
    try:
        if len(_CONTAINER.findall(raw)) > MAX_CONTAINERS:
            return _unreadable(raw, f"more than {MAX_CONTAINERS} nested parts")
        msg = message_from_bytes(raw, policy=_message_policy())
        if isinstance(msg, EmailMessage) and not _looks_like_mail(msg):
            # Saved from a mail program: an mbox "From " line or blank lines before the
            # headers. The message is there; only what came before it is dropped.
            msg = message_from_bytes(_without_envelope(raw), policy=_message_policy())
        if not isinstance(msg, EmailMessage) or not _looks_like_mail(msg):
            return _unreadable(raw, "no mail headers")
        return _parse(msg, raw)
    except Exception as exc:  # the email package raises many kinds on hostile input
        return _unreadable(raw, f"{type(exc).__name__}: {exc}")


_ENVELOPE = re.compile(rb"(?:[ \t]*\r?\n){0,20}(?:From [^\r\n]{0,1000}\r?\n)?")


def _without_envelope(raw: bytes) -> bytes:
    """The message without blank lines and an mbox "From " line before its headers."""
    match = _ENVELOPE.match(raw)
    return raw[match.end() :] if match else raw


def _looks_like_mail(msg: Message) -> bool:
    present = {key.lower() for key in msg}
    return bool(present & {"from", "subject", "date", "message-id"})


def _unreadable(raw: bytes, why: str) -> Inbound:
    return Inbound(
        key=raw_key(raw),
        message_id=None,
        from_addr=None,
        from_name=None,
        to=(),
        subject="",
        date=None,
        in_reply_to=(),
        references=(),
        text="",
        headers={},
        content_type="application/octet-stream",
        size=len(raw),
        defects=(why,),
        unreadable=True,
    )


def _raw_header(msg: Message, name: str) -> str | None:
    """The first value of a header as it arrived, cut to what the parsers may read."""
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            text = str(value)
            if key.lower() == "references":
                return text[-REFERENCES_LIMIT:]
            return text[:HEADER_LIMIT]
    return None


def _header(msg: Message, name: str) -> str | None:
    """A header as text, tolerant of values the strict parser rejects."""
    raw = _raw_header(msg, name)
    if raw is None:
        return None
    fast = plain_header_text(name, raw)
    if fast is not None:
        return fast
    try:
        return str(msg.policy.header_fetch_parse(name, raw))
    except Exception:  # a malformed header the policy cannot parse
        return raw


#: Printable ASCII, tabs and line breaks: no encoded-words, 8-bit bytes or controls.
_PLAIN = re.compile(r"[\x20-\x7e\t\r\n]*")
_LINE_BREAK = re.compile(r"\r|\n")


def plain_header_text(name: str, raw: str) -> str | None:
    """What `str(policy.header_fetch_parse(name, raw))` gives, computed without email's
    structured parser (pure Python, ~0.1 ms a header), for the common cases where the result
    is known: a free-text header (Subject, Received, References...) in plain ASCII is its
    value unfolded; a plain Date is the date it parses to, formatted again. None otherwise:
    the caller parses. tests/unit/test_mail_parse_headers.py checks both give the same."""
    if "=?" in raw or not _PLAIN.fullmatch(raw):
        return None
    header_class = _CLASSES[name]
    if issubclass(header_class, UnstructuredHeader):
        return _LINE_BREAK.sub("", raw)
    if issubclass(header_class, DateHeader):
        value = _LINE_BREAK.sub("", raw)
        if not value:
            return None
        try:
            return format_datetime(parsedate_to_datetime(value))
        except Exception:  # whatever it is, the parser decides
            return None
    return None


def _headers(msg: Message) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in list(msg.keys())[:MAX_HEADERS]:
        key = name.lower()
        if key not in out:
            out[key] = one_line(_header(msg, name) or "")
    return out


#: Trace headers kept in order (RFC 8601 section 5): where each Authentication-Results header
#: sits relative to the Received headers tells the city's own from a sender's forgery.
TRACE_HEADERS = frozenset({"authentication-results", "received"})
_MAX_TRACE = 100


def _trace(msg: Message) -> tuple[tuple[str, str], ...]:
    """Every Authentication-Results value and the position of each Received header, top to
    bottom (only the first header of a name survives in `headers`)."""
    out: list[tuple[str, str]] = []
    for name, value in msg.raw_items() if hasattr(msg, "raw_items") else []:
        key = name.lower()
        if key in TRACE_HEADERS:
            out.append((key, one_line(str(value))[:4000] if key != "received" else ""))
            if len(out) >= _MAX_TRACE:
                break
    return tuple(out)


#: From as most mail writes it: `"Jane Doe" <jane@example.com>`, `Jane Doe <jane@example.com>`
#: or `<jane@example.com>`, in plain ASCII with single spaces, a dot-atom address. For these
#: the structured parser's address and display name are the groups (3, then 1 or 2); the
#: test suite compares the two on generated values.
_SIMPLE_FROM = re.compile(
    r"[ \t]*(?:\"([A-Za-z0-9,.'()-]+(?: [A-Za-z0-9,.'()-]+)*)\"|([A-Za-z0-9]+(?: [A-Za-z0-9]+)*))?"
    r"[ \t]*<([A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>[ \t]*"
)


def _sender(msg: Message) -> tuple[str | None, str | None]:
    """The From address and name. The structured header first; when the policy refuses it
    (e.g. CR/LF encoded into the display name), the address in the trailing <...> of the
    raw value, never an address that only appears inside an encoded word. When what comes
    out is damaged (no address, an address with spaces or quotes, a name of undecoded bytes),
    mail/headers.py recovers what the raw value holds."""
    addr, name = "", ""
    raw = _raw_header(msg, "From") or ""
    simple = _SIMPLE_FROM.fullmatch(raw)
    try:
        if simple is not None:  # what the parser would give, without it (~0.3 ms)
            addr, name = simple.group(3), simple.group(1) or simple.group(2) or ""
        header: Any = msg.policy.header_fetch_parse("From", raw) if raw and not simple else None
        if header is not None and header.addresses:
            addr, name = header.addresses[0].addr_spec, header.addresses[0].display_name
    except Exception:  # a header the policy cannot parse
        angle = _TRAILING_ADDR.search(raw)
        if angle:
            addr = angle.group(1)
            name = recover_text(raw[: angle.start()].strip().strip('"'))
        else:
            name, addr = parseaddr(raw)
    address = one_line(addr).lower()
    if raw and not _plain_address(address):
        address, name = "", ""
        found, found_name = recover_sender(raw)
        if found is not None:
            address, name = found, found_name or ""
    if damaged(name):
        name = recover_sender(raw)[1] or ""
    name = one_line(name.replace("\ufffd", ""))
    return (address if "@" in address else None), (name or None)


def _plain_address(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at and local and "." in domain) and not any(c in address for c in ' "<>,;')


def _subject(msg: Message) -> str:
    """The Subject; raw 8-bit bytes and mislabelled encoded-words recovered (mail/headers.py)."""
    subject = _header(msg, "Subject") or ""
    if damaged(subject):
        subject = recover_text(_raw_header(msg, "Subject") or "")
    return one_line(subject)


def _date(msg: Message) -> datetime | None:
    with contextlib.suppress(Exception):
        raw = _raw_header(msg, "Date")
        if raw and plain_header_text("Date", raw) is not None:  # as DateHeader reads it
            return parsedate_to_datetime(_LINE_BREAK.sub("", raw))
        header: Any = msg.policy.header_fetch_parse("Date", raw) if raw else None
        if header is not None and header.datetime is not None:
            return header.datetime  # type: ignore[no-any-return]
    return None


def _msg_ids(value: str | None) -> tuple[str, ...]:
    return tuple(MSG_ID.findall(value or ""))


def decode_part(part: Message) -> str:
    """A text part's content, whatever its charset claims (mail/charset.py: the declared
    charset when it reads cleanly, else the one the bytes show)."""
    payload = None
    with contextlib.suppress(Exception):  # a broken transfer encoding: read what is there
        payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        with contextlib.suppress(LookupError, UnicodeError, ValueError, AssertionError):
            content = part.get_content()  # type: ignore[attr-defined]
            if isinstance(content, str):
                return content
        return ""
    # More than the text and HTML kept ever need (it stays longer than they are, so a cut body
    # is still marked as cut): a 20 MB body is not decoded and checked whole.
    return decode_bytes(payload[:DECODE_LIMIT], part.get_content_charset())


_HIDDEN = ("script", "style", "head", "title", "template", "noscript")


def html_to_text(html: str) -> str:
    """The visible text of the first HTML_LIMIT characters, one text node a line."""
    try:
        root = lxml.html.document_fromstring(html[:HTML_LIMIT])
    except (ParserError, ValueError):  # empty or nothing but markup lxml refuses
        return ""
    for element in list(root.iter(*_HIDDEN)):
        element.drop_tree()  # keeps the text that follows the element
    for br in root.iter("br"):
        br.tail = "\n" + (br.tail or "")
    # A Python loop, not "\n".join(root.itertext()): that one C call held the GIL (and so
    # stalled the event loop) for as long as the walk over a big table took.
    parts = []
    for part in root.itertext():
        parts.append(part)
    text = "\n".join(parts)
    return "\n".join(line.strip() for line in text.splitlines())


#: A resident's text of fewer words than this, once greetings and sign-offs are gone, is no
#: text of its own: what was taken for quoted history is kept.
MIN_OWN_WORDS = 3


def trim_quoted(text: str) -> str:
    """Drop the quoted history of a reply, when quotequail recognises one in the first
    QUOTE_SCAN_LINES lines (where a reply's own text is); otherwise drop the quoted lines.

    The resident's own text is never dropped: text written below the quote (bottom-posting)
    is kept with text written above it, and when what is left is no more than a greeting
    ("Hi," above a forward of their own complaint), the text is kept as it came."""
    lines = text.splitlines()
    trimmed = None
    head = "\n".join(lines[:QUOTE_SCAN_LINES])
    with contextlib.suppress(Exception):
        found = quotequail.unwrap(head) if may_have_quote(head) else None
        if found:
            own = [str(found[k]) for k in ("text_top", "text_bottom") if found.get(k)]
            trimmed = "\n\n".join(own)
    if trimmed is None:
        trimmed = "\n".join(line for line in lines if not line.lstrip().startswith(">"))
    if trimmed != text and not has_own_words(trimmed):
        return text
    return trimmed


def has_own_words(text: str) -> bool:
    """Whether a text says anything besides hello and goodbye."""
    return len(split_courtesy(text).content.split()) >= MIN_OWN_WORDS


def cut_text(text: str, limit: int = TEXT_LIMIT) -> str:
    """At most `limit` characters, marked as cut when it was longer."""
    if len(text) <= limit:
        return text
    return text[: limit - len(CUT_MARKER)].rstrip() + CUT_MARKER


def tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def _body_text(msg: EmailMessage) -> str:
    body: Message | None = None
    with contextlib.suppress(Exception):
        body = msg.get_body(preferencelist=("plain", "html"))
    if body is None:
        if msg.is_multipart():
            return ""
        body = msg
    text = decode_part(body)
    if body.get_content_type() == "text/html":
        text = html_to_text(text)
    elif not text.strip() and body is not msg:
        # An empty text/plain beside the HTML (some mail programs send one): the HTML it is.
        html: Message | None = None
        with contextlib.suppress(Exception):
            html = msg.get_body(preferencelist=("html",))
        if html is not None:
            text = html_to_text(decode_part(html))
    head = text[: 4 * TEXT_LIMIT]  # ample for the text kept, once the quoted history is gone
    kept = cut_text(tidy(trim_quoted(tidy(head))))
    if len(head) < len(text) and not kept.endswith(CUT_MARKER):
        kept += CUT_MARKER
    return kept


def _attachments(msg: EmailMessage) -> tuple[Attachment, ...]:
    found = []
    with contextlib.suppress(Exception):
        for part in msg.iter_attachments():
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
            name = part.get_filename()
            found.append(
                Attachment(one_line(name) if name else None, part.get_content_type(), size)
            )
    return tuple(found)


def _parse(msg: EmailMessage, raw: bytes) -> Inbound:
    from_addr, from_name = _sender(msg)
    message_id = (_msg_ids(_header(msg, "Message-ID")) or (None,))[0]
    to = tuple(
        addr.lower()
        for _name, addr in getaddresses([_header(msg, "To") or "", _header(msg, "Cc") or ""])
        if "@" in addr
    )
    return_path_header = _header(msg, "Return-Path")
    return_path = None
    if return_path_header is not None:
        return_path = parseaddr(return_path_header)[1].strip().lower()
    return Inbound(
        key=message_key(message_id, raw),
        message_id=message_id,
        from_addr=from_addr,
        from_name=from_name,
        to=to,
        subject=_subject(msg),
        date=_date(msg),
        in_reply_to=_msg_ids(_header(msg, "In-Reply-To")),
        references=_msg_ids(_header(msg, "References")),
        text=_body_text(msg),
        headers=_headers(msg),
        content_type=msg.get_content_type(),
        attachments=_attachments(msg),
        size=len(raw),
        defects=tuple(type(d).__name__ for d in msg.defects),
        return_path=return_path,
        trace=_trace(msg),
        mentioned_ids=tuple(
            dict.fromkeys(
                m.decode("ascii", "replace") for m in _RAW_MSG_ID.findall(raw[:_MENTION_SCAN])
            )
        ),
    )
