"""The per-message header cache of mail/parse.py changes nothing but the time: every message
of the corpus (and some odd headers) parses to the same Inbound as with email's stock
policy.default, and no header object outlives its message."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import policy as email_policy
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mail.parse as parse
from mail.parse import parse_message

CORPUS = sorted((Path(__file__).parents[1] / "corpus" / "mail").glob("*.eml"))

ODD = [
    b"From: =?utf-8?q?Ren=C3=A9e?= <renee@example.com>\r\nTo: a@city.example, B <b@city.example>"
    b"\r\nCc: a@city.example\r\nSubject: =?iso-8859-1?q?caf=E9?= again\r\n"
    b"Date: not a date\r\nMessage-ID: <x@y>\r\nX-Odd: one\r\nX-ODD: two\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n",
    b"From: broken <<<@@>\r\nSubject: =?bogus?q?x?=\r\nContent-Type: text/html\r\n\r\n<p>Hi</p>",
]


def _bench_mail() -> list[bytes]:
    from bench.mail_bench import resident_mail

    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    return [resident_mail(i, "t", now)[1] for i in range(0, 600, 37)]


def _slow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """email's stock policy.default, and every fast path of mail/parse.py turned off."""
    monkeypatch.setattr(parse, "_message_policy", lambda: email_policy.default)
    monkeypatch.setattr(parse, "plain_header_text", lambda name, raw: None)
    monkeypatch.setattr(parse, "_SIMPLE_FROM", re.compile(r"(?!)"))


@pytest.mark.parametrize("raw", [p.read_bytes() for p in CORPUS] + ODD + _bench_mail())
def test_same_inbound_as_the_stock_policy(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = parse_message(raw)
    _slow_path(monkeypatch)
    assert parse_message(raw) == cached


# The fast paths against the parser they stand in for, on generated values.

_ASCII = st.text(st.characters(min_codepoint=9, max_codepoint=126), max_size=60)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["Subject", "Received", "References", "In-Reply-To", "X-Odd", "Date"]),
    st.one_of(_ASCII, st.lists(st.sampled_from(["=?", "\r\n ", "\n", " ", "a"])).map("".join)),
)
def test_plain_header_text_is_what_the_parser_gives(name: str, raw: str) -> None:
    fast = parse.plain_header_text(name, raw)
    if fast is not None:
        assert fast == str(email_policy.default.header_fetch_parse(name, raw))


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
    st.sampled_from([0, -300, 330, 60 * 14, -60 * 12]),
    st.sampled_from(["%a, %d %b %Y %H:%M:%S", "%d %b %Y %H:%M", "%a, %d %b %y %H:%M:%S"]),
    st.sampled_from(["", " ", "\r\n ", " (EST)"]),
)
def test_a_plain_date_reads_as_the_parser_reads_it(
    when: datetime, minutes: int, form: str, tail: str
) -> None:
    sign, hours = ("-" if minutes < 0 else "+"), divmod(abs(minutes), 60)
    raw = f"{when.strftime(form)} {sign}{hours[0]:02d}{hours[1]:02d}{tail}"
    fast = parse.plain_header_text("Date", raw)
    header = email_policy.default.header_fetch_parse("Date", raw)
    assert fast is None or fast == str(header)
    message = parse_message(f"From: a@b.example\r\nDate: {raw}\r\n\r\nHi\r\n".encode())
    assert message.date == header.datetime


_NAME = st.text(st.sampled_from("JaneDo0'.,()- \""), max_size=14)
_LOCAL = st.from_regex(r"[a-zA-Z0-9_%+.-]{1,12}", fullmatch=True)
_DOMAIN = st.from_regex(r"[a-zA-Z0-9-]{1,6}(\.[a-zA-Z0-9-]{1,6}){0,2}", fullmatch=True)


@settings(max_examples=500, deadline=None)
@given(_NAME, st.booleans(), _LOCAL, _DOMAIN, st.sampled_from(["", " ", "  ", "\t"]))
def test_a_simple_from_reads_as_the_parser_reads_it(
    name: str, quoted: bool, local: str, domain: str, gap: str
) -> None:
    raw = f"{chr(34) + name + chr(34) if quoted else name}{gap}<{local}@{domain}>"
    simple = parse._SIMPLE_FROM.fullmatch(raw)
    if simple is None:
        return
    header = email_policy.default.header_fetch_parse("From", raw)
    assert not header.defects and len(header.addresses) == 1
    address = header.addresses[0]
    assert (simple.group(3), simple.group(1) or simple.group(2) or "") == (
        address.addr_spec,
        address.display_name,
    )


def test_the_simple_from_is_the_common_case() -> None:
    for raw in ('"Jane Doe" <jane@example.com>', "Jane Doe <jane.doe@example.com>", "<j@x.ca>"):
        assert parse._SIMPLE_FROM.fullmatch(raw), raw


def test_only_token_mime_headers_are_shared_between_messages() -> None:
    first, second = parse._message_policy(), parse._message_policy()
    plain = "text/plain; charset=utf-8"
    assert first.header_factory("Content-Type", plain) is second.header_factory(
        "Content-Type", plain
    )
    named = 'application/pdf; name="Jane Doe complaint.pdf"'
    assert first.header_factory("Content-Type", named) is not second.header_factory(
        "Content-Type", named
    )
    assert first.header_factory("To", "jane@example.com") is not second.header_factory(
        "To", "jane@example.com"
    )


def test_the_corpus_is_there() -> None:
    assert len(CORPUS) >= 50


def test_each_message_has_its_own_cache() -> None:
    first, second = parse._message_policy(), parse._message_policy()
    assert first.header_factory is not second.header_factory
    header = first.header_factory("Subject", "Hello")
    assert first.header_factory("Subject", "Hello") is header
    assert second.header_factory("Subject", "Hello") is not header
    assert str(header) == "Hello"


def test_replies_are_written_as_with_the_stock_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The header classes made once (MAIL_POLICY) write the same bytes as policy.default."""
    from datetime import UTC, datetime

    import mail.smtp as smtp
    from bot.config import parse_config
    from storage.outbox import OutboxItem

    item = OutboxItem(
        1,
        1,
        "email",
        "jane@example.com",
        "ack",
        "We received your complaint [CD-2026-000001] — merci",
        "Dear Renée,\n\n" + "We received your complaint. " * 40,
        "CD-2026-000001:ack:email",
        0,
        {"Message-ID": "<ack.CD-2026-000001@city.example>", "In-Reply-To": "<a@example.com>"},
    )
    mail = parse_config({}).mail
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    ours = smtp.build_message(item, mail, now).as_bytes(policy=email_policy.SMTP)
    assert smtp.build_message(item, mail, now).as_bytes(policy=email_policy.SMTP) == ours
    # The city's From and the loop guards are parsed once (smtp.fixed_header): the bytes are
    # those of the same values given as text to the stock policy.
    assert (
        smtp.build_message(item, mail, now)["From"] is smtp.build_message(item, mail, now)["From"]
    )
    monkeypatch.setattr(smtp, "MAIL_POLICY", email_policy.default)
    monkeypatch.setattr(smtp, "fixed_header", lambda name, value: value)
    assert smtp.build_message(item, mail, now).as_bytes(policy=email_policy.SMTP) == ours
