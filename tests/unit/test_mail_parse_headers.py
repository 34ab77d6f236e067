"""The per-message header cache of mail/parse.py changes nothing but the time: every message
of the corpus (and some odd headers) parses to the same Inbound as with email's stock
policy.default, and no header object outlives its message."""

from __future__ import annotations

from email import policy as email_policy
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("raw", [p.read_bytes() for p in CORPUS] + ODD)
def test_same_inbound_as_the_stock_policy(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = parse_message(raw)
    monkeypatch.setattr(parse, "_message_policy", lambda: email_policy.default)
    assert parse_message(raw) == cached


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
    monkeypatch.setattr(smtp, "MAIL_POLICY", email_policy.default)
    assert smtp.build_message(item, mail, now).as_bytes(policy=email_policy.SMTP) == ours
