"""Adversarial email messages: what an outsider could send to freeze the mail path.

Each builder returns the raw bytes of one message of about a megabyte (or a deep structure).
Shared by the unit tests (parse + assess + file on a temp SQLite) and the event-loop test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

MB = 1024 * 1024


def envelope(
    body: bytes,
    *,
    content_type: str = "text/plain; charset=utf-8",
    subject: str = "Hostile input",
    sender: str = '"Mallory" <mallory@example.com>',
    message_id: str | None = None,
) -> bytes:
    if message_id is None:  # each builder's own: the same id twice would be a duplicate
        message_id = f"<{hashlib.sha256(body).hexdigest()[:16]}@example.com>"
    head = (
        f"From: {sender}\r\n"
        "To: feedback@city.example\r\n"
        f"Subject: {subject}\r\n"
        "Date: Wed, 25 Nov 2026 09:00:00 -0500\r\n"
        f"Message-ID: {message_id}\r\n"
        "MIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\n\r\n"
    )
    return head.encode() + body


def one_word() -> bytes:
    """One 1 MB word: no space for a pattern to stop at."""
    return envelope(b"a" * MB)


def short_lines() -> bytes:
    return envelope(b"ab\r\n" * 100_000)


def deep_quoting() -> bytes:
    """A reply chain 1,000 levels deep: every line quoted once more than the one before."""
    lines = [
        b"> " * depth + b"On Monday the driver wrote: I was there at 9am." for depth in range(1000)
    ]
    return envelope(b"Please look at this.\r\n" + b"\r\n".join(lines))


def deep_quoting_one_line() -> bytes:
    return envelope(b"Hello\r\n" + b">" * MB + b" the truck\r\n")


def nested_multipart(depth: int = 1000) -> bytes:
    """1,000 multiparts, each inside the one before."""
    part = b"Content-Type: text/plain\r\n\r\nThe garbage truck skipped our street on Monday.\r\n"
    for level in range(depth - 1):
        boundary = f"b{level}".encode()
        part = (
            b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
            b"--" + boundary + b"\r\n" + part + b"\r\n--" + boundary + b"--\r\n"
        )
    top = f"b{depth - 1}".encode()
    body = b"--" + top + b"\r\n" + part + b"\r\n--" + top + b"--\r\n"
    return envelope(body, content_type=f'multipart/mixed; boundary="b{depth - 1}"')


def nested_rfc822(depth: int = 1000) -> bytes:
    """1,000 forwarded messages (message/rfc822), each inside the one before."""
    inner = b"Subject: inner\r\nContent-Type: text/plain\r\n\r\nThe truck skipped us.\r\n"
    for _ in range(depth):
        inner = b"Subject: fwd\r\nContent-Type: message/rfc822\r\n\r\n" + inner
    return envelope(inner, content_type="message/rfc822")


def many_addresses() -> bytes:
    return envelope(b", ".join(f"person{i}@example.com".encode() for i in range(10_000)))


def digits() -> bytes:
    return envelope(b"1" * MB)


def digits_and_dots() -> bytes:
    return envelope(b"1." * (MB // 2))


def spaced_digits() -> bytes:
    return envelope(b"1 " * (MB // 2))


def phone_like() -> bytes:
    return envelope(b"call 416 555 0100 or 416.555.0101 " * 30_000)


def dots() -> bytes:
    return envelope(b"." * MB + b"x")


def at_signs() -> bytes:
    return envelope(b"@" * MB)


def html_table() -> bytes:
    rows = b"<tr><td>cell</td><td><b>1</b></td></tr>" * 25_000
    return envelope(
        b"<html><body><table>" + rows + b"</table></body></html>", content_type="text/html"
    )


def unclosed_html() -> bytes:
    return envelope(b"<div>" * (MB // 5), content_type="text/html")


def long_from_header() -> bytes:
    """A From the strict parser refuses, with a long run for the fallback pattern."""
    sender = "=?utf-8?q?a=0Ab?= <" + "a@" * 50_000 + "x"
    return envelope(b"Hello", sender=sender)


def phrase_bait() -> bytes:
    """Words the phrase rules look for, a megabyte of them, with no match at the end."""
    return envelope(b"gas smell of fire wires power line " * 30_000)


HOSTILE: dict[str, Callable[[], bytes]] = {
    "one-word": one_word,
    "short-lines": short_lines,
    "deep-quoting": deep_quoting,
    "deep-quoting-line": deep_quoting_one_line,
    "nested-multipart": nested_multipart,
    "nested-rfc822": nested_rfc822,
    "many-addresses": many_addresses,
    "digits": digits,
    "digits-and-dots": digits_and_dots,
    "spaced-digits": spaced_digits,
    "phone-like": phone_like,
    "dots": dots,
    "at-signs": at_signs,
    "html-table": html_table,
    "unclosed-html": unclosed_html,
    "long-from": long_from_header,
    "phrase-bait": phrase_bait,
}
