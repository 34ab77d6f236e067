"""Authentication-Results (RFC 8601) parsing and trust, pure: mail/authres.py."""

from __future__ import annotations

import pytest

from mail.authres import AuthResult, parse_authres, trusted_results, unverified_sender
from mail.parse import parse_message


@pytest.mark.parametrize(
    ("value", "authserv_id", "results"),
    [
        (
            "mx.city.example; spf=pass smtp.mailfrom=example.com",
            "mx.city.example",
            [AuthResult("spf", "pass", {"smtp.mailfrom": "example.com"})],
        ),
        (  # RFC 8601 appendix B.6 style: version, comments everywhere, several results
            "mx.city.example 1; (comment; with=semicolon) dkim=pass (good (nested) sig)"
            ' header.d=example.com header.i=@example.com; spf/1=fail reason="not; allowed"'
            " smtp.mailfrom=example.net",
            "mx.city.example",
            [
                AuthResult("dkim", "pass", {"header.d": "example.com", "header.i": "@example.com"}),
                AuthResult(
                    "spf", "fail", {"reason": "not; allowed", "smtp.mailfrom": "example.net"}
                ),
            ],
        ),
        ("mx.city.example; none", "mx.city.example", []),
        (
            '"mx.city.example" ; DMARC=FAIL header.from=Example.com',
            "mx.city.example",
            [AuthResult("dmarc", "fail", {"header.from": "Example.com"})],
        ),
        (
            "mx.city.example; dkim=pass (unterminated comment header.d=x",
            "mx.city.example",
            [AuthResult("dkim", "pass", {})],
        ),
        ("mx.city.example; =pass; spf; dkim=", "mx.city.example", []),
    ],
)
def test_parse(value, authserv_id, results):
    parsed = parse_authres(value)
    assert parsed is not None and parsed.authserv_id == authserv_id
    assert list(parsed.results) == results


@pytest.mark.parametrize("value", ["", "   ", "(only a comment)", "=; dkim=pass"])
def test_no_authserv_id(value):
    assert parse_authres(value) is None


def test_hostile_values_are_parsed_in_one_pass():
    for value in ["(" * 200_000, '"' * 200_000, "a=" * 100_000, "; x=y" * 50_000, "\\" * 100_000]:
        parse_authres("mx.city.example; " + value)  # returns, whatever it makes of it


def message(*headers: str, sender: str = "jane@example.com") -> bytes:
    return (
        "\n".join([*headers, f"From: {sender}", "Subject: s", "Message-ID: <a@b>", "", "x", ""])
    ).encode()


def test_every_authentication_results_header_is_kept_in_order():
    msg = parse_message(
        message(
            "Authentication-Results: mx.city.example; spf=pass",
            "Authentication-Results: mx.city.example; dmarc=fail",
            "Received: from a by b",
            "Authentication-Results: other.example; dkim=pass",
        )
    )
    assert [name for name, _ in msg.trace] == [
        "authentication-results",
        "authentication-results",
        "received",
        "authentication-results",
    ]
    assert [r.method for r in trusted_results(msg, "MX.City.Example")] == ["spf", "dmarc"]
    assert unverified_sender(msg, "mx.city.example") is not None
    assert unverified_sender(msg, "") is None


def test_a_header_above_ours_from_someone_else_is_ignored():
    msg = parse_message(
        message(
            "Authentication-Results: relay.example; dmarc=pass",
            "Authentication-Results: mx.city.example; dmarc=fail",
            "Received: from a by b",
        )
    )
    assert unverified_sender(msg, "mx.city.example") is not None


@pytest.mark.parametrize(
    ("signer", "sender", "aligned"),
    [
        ("example.com", "jane@example.com", True),
        ("mail.example.com", "jane@example.com", True),
        ("example.com", "jane@news.example.com", True),
        ("example.com.evil.example", "jane@example.com", False),
        ("notexample.com", "jane@example.com", False),
    ],
)
def test_dkim_alignment(signer, sender, aligned):
    msg = parse_message(
        message(
            f"Authentication-Results: mx.city.example; spf=fail; dkim=pass header.d={signer}",
            "Received: from a by b",
            sender=sender,
        )
    )
    assert (unverified_sender(msg, "mx.city.example") is None) is aligned
