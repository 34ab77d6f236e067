"""What a bounce is: one test (mail/autoreply.py `bounce_reason`), used by the loop guard and by
intake, which mutes the address a bounce names whichever guard rule fired first."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import build_services
from bot.clock import FrozenClock
from bot.config import Config
from mail.autoreply import bounce_reason, check_autoreply, failed_recipient
from mail.identity import identity_of
from mail.parse import parse_message
from storage.cases import get_case
from storage.mail import bounced_since

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "mail"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("America/Toronto"))


@pytest.mark.parametrize(
    ("name", "bounce"),
    [
        ("22-bounce-postfix-dsn.eml", True),  # multipart/report; report-type=delivery-status
        ("23-bounce-exim.eml", True),  # X-Failed-Recipients
        ("43-sendmail-delay-warning.eml", True),  # only the subject says it
        ("24-read-receipt-mdn.eml", False),  # a report, but of a reading, not a delivery
        ("25-arf-feedback-report.eml", False),  # a report, but of a spam complaint
        ("20-outlook-out-of-office.eml", False),
        ("28-noreply-notification.eml", False),
        ("01-complaint-all-items.eml", False),
    ],
)
def test_what_counts_as_a_bounce(name, bounce):
    msg = parse_message((CORPUS / name).read_bytes())
    assert (bounce_reason(msg) is not None) is bounce


def test_a_bounce_names_the_address_that_failed():
    msg = parse_message((CORPUS / "23-bounce-exim.eml").read_bytes())
    assert failed_recipient(msg) == "w.baker@example.org"
    assert (
        failed_recipient(parse_message((CORPUS / "01-complaint-all-items.eml").read_bytes()))
        is None
    )


def test_the_loop_guard_rules_use_the_same_test():
    """A bounce the guard's subject rule catches is a bounce to intake, and the reverse."""
    raw = b"From: someone@example.com\r\nSubject: Undeliverable: Garbage\r\n\r\nx\r\n"
    msg = parse_message(raw)
    hit = check_autoreply(msg, identity_of(Config()))
    assert hit is not None and hit.rule == "bounce-subject"
    assert bounce_reason(msg) == hit.reason


def qmail_bounce(message_id: str) -> bytes:
    """A qmail bounce: plain text, empty Return-Path, no report and no X-Failed-Recipients, so
    an earlier guard rule (empty-return-path) fires before the bounce-subject rule."""
    return (
        "Return-Path: <>\r\n"
        "From: MAILER-DAEMON@mx.example.com\r\n"
        "To: feedback@city.example\r\n"
        "Subject: failure notice\r\n"
        "Message-ID: <qmail1@mx.example.com>\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "Hi. This is the qmail-send program at mx.example.com.\r\n"
        "<jane@example.com>:\r\nSorry, no mailbox here by that name.\r\n"
        "--- Below this line is a copy of the message.\r\n\r\n"
        f"Message-ID: {message_id}\r\nSubject: We received your complaint\r\n"
    ).encode()


def test_a_bounce_caught_by_an_earlier_guard_rule_still_mutes_the_address(tmp_path):
    """Intake used to call a mail a bounce only when the bounce-subject rule was the one that
    fired; a qmail bounce (empty Return-Path) became an 'automatic reply' and the address was
    acknowledged again."""
    from bot.mail_intake import MailIntake

    services = build_services(Config(), tmp_path / "caredesk.db", FrozenClock(NOW))
    intake = MailIntake(services.db, services.policy, services.intake)
    complaint = (
        b"From: Jane Doe <jane@example.com>\r\nTo: feedback@city.example\r\n"
        b"Subject: Garbage not collected\r\nMessage-ID: <m1@example.com>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"On Monday 16 November at 9:30am the garbage truck skipped our street. "
        b"The driver was rude to me. I would like an apology.\r\n"
    )
    ref = intake.process(complaint, NOW, NOW).ref
    assert ref is not None
    ours = identity_of(services.policy.config).message_id(ref, "ack-email")
    result = intake.process(qmail_bounce(ours), NOW, NOW)
    assert (result.action, result.ref, result.rule) == ("threaded", ref, "empty-return-path")
    case = get_case(services.db, ref)
    assert case["events"][-1]["type"] == "bounce"
    assert case["attention"] == "an email to the resident bounced"
    assert bounced_since(services.db, "jane@example.com", NOW)
