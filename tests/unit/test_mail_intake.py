"""Mail intake on a real SQLite file, without servers: what one raw message leaves behind."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.app import build_services
from bot.clock import FrozenClock
from bot.config import Config
from bot.mail_intake import MailIntake
from bot.outbox_worker import DeliveryError, OutboxWorker
from mail.smtp import build_message
from storage.cases import count_cases, get_case
from storage.outbox import due_items

TZ = ZoneInfo("America/Toronto")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)


def mail(
    body: str = "On Monday 16 November at 9:30am the garbage truck skipped our street. "
    "The driver was rude to me. I would like an apology.",
    subject: str = "Garbage not collected",
    sender: str = '"Jane Doe" <jane@example.com>',
    message_id: str = "<m1@example.com>",
    extra: str = "",
) -> bytes:
    lines = [
        f"From: {sender}",
        "To: feedback@city.example",
        f"Subject: {subject}",
        "Date: Wed, 25 Nov 2026 09:00:00 -0500",
    ]
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    if extra:
        lines.append(extra)
    lines += ["Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\r\n".join(lines).encode()


@pytest.fixture
def desk(tmp_path):
    services = build_services(Config(), tmp_path / "caredesk.db", FrozenClock(NOW))
    intake = MailIntake(services.db, services.policy, services.intake)
    return services, intake


def process(intake, raw):
    return intake.process(raw, NOW, NOW)


def test_new_mail_opens_a_case_with_an_acknowledgement_in_the_outbox(desk):
    services, intake = desk
    result = process(intake, mail())
    assert result.action == "cased"
    case = get_case(services.db, result.ref)
    assert case["channel"] == "email" and case["kind"] == "complaint"
    assert case["ack_due"] == "2026-11-27T21:30:00+00:00"  # 2 business days, 16:30 Toronto
    [item] = due_items(services.db, "email", NOW)
    assert item.recipient == "jane@example.com"
    assert item.subject == f"Re: Garbage not collected [{result.ref}]"
    assert item.headers["Message-ID"] == f"<{result.ref}.ack-email@caredesk.city.example>"
    assert item.headers["In-Reply-To"] == "<m1@example.com>"
    raw = services.db.execute("SELECT raw FROM raw_messages").fetchone()[0]
    assert raw == mail()


def test_the_same_message_twice_is_filed_once(desk):
    services, intake = desk
    assert process(intake, mail()).action == "cased"
    assert process(intake, mail()).action == "duplicate"
    assert count_cases(services.db) == 1


def test_without_message_id_the_raw_bytes_are_the_key(desk):
    services, intake = desk
    assert process(intake, mail(message_id="")).action == "cased"
    assert process(intake, mail(message_id="")).action == "duplicate"
    assert (
        process(intake, mail(message_id="", body="Another matter entirely, a new one.")).action
        == "cased"
    )
    assert count_cases(services.db) == 2


def test_a_reply_is_threaded_and_reopens_a_closed_case(desk):
    services, intake = desk
    ref = process(intake, mail()).ref
    services.db.execute("UPDATE cases SET status = 'closed' WHERE ref = ?", [ref])
    reply = mail(
        subject=f"Re: Garbage not collected [{ref}]",
        message_id="<m2@example.com>",
        body="It happened again today.\n\nOn Wed, City wrote:\n> We received it",
    )
    result = process(intake, reply)
    assert (result.action, result.ref) == ("threaded", ref)
    case = get_case(services.db, ref)
    assert case["status"] == "open"
    assert [e["type"] for e in case["events"]][-2:] == ["resident-replied", "reopened"]
    assert case["messages"][-1]["body"] == "It happened again today."
    assert len(due_items(services.db, "email", NOW)) == 1  # no second acknowledgement
    assert count_cases(services.db) == 1


def test_a_bounce_of_our_acknowledgement_flags_the_case_and_mutes_the_address(desk):
    services, intake = desk
    ref = process(intake, mail()).ref
    bounce = mail(
        sender="MAILER-DAEMON@mx.example.com",
        subject="Undelivered Mail Returned to Sender",
        message_id="<bounce1@mx.example.com>",
        extra="X-Failed-Recipients: jane@example.com",
        body=f"Message-ID: <{ref}.ack-email@caredesk.city.example>\n550 no such user",
    )
    result = process(intake, bounce)
    assert (result.action, result.ref, result.rule) == ("threaded", ref, "delivery-report")
    case = get_case(services.db, ref)
    assert case["attention"] == "an email to the resident bounced"
    assert case["events"][-1]["type"] == "bounce"
    again = process(
        intake,
        mail(
            message_id="<m3@example.com>",
            body="A new complaint about the snow plow blocking my driveway every single week.",
        ),
    )
    assert again.action == "cased"
    held = get_case(services.db, again.ref)
    assert held["outbox"] == [] and "bounced" in held["drafts"][0]["why"]


def test_acknowledgements_are_rate_limited_per_sender(desk):
    services, intake = desk
    refs = [
        process(
            intake,
            mail(
                message_id=f"<r{i}@example.com>",
                body=f"Complaint number {i} about the noisy garbage truck on our street.",
            ),
        ).ref
        for i in range(4)
    ]
    queued = [len(get_case(services.db, r)["outbox"]) for r in refs]
    assert queued == [1, 1, 1, 0]
    assert "rate limit" in get_case(services.db, refs[3])["drafts"][0]["why"]


def test_machine_mail_is_stored_without_a_case(desk):
    services, intake = desk
    auto = mail(
        sender='"Bob" <bob@example.com>',
        extra="Auto-Submitted: auto-replied",
        subject="Out of office",
    )
    result = process(intake, auto)
    assert (result.action, result.rule) == ("stored", "auto-submitted")
    assert count_cases(services.db) == 0
    assert services.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 1


def test_unreadable_mail_becomes_a_case_for_staff_and_is_not_acknowledged(desk):
    services, intake = desk
    result = process(intake, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR garbage")
    assert result.action == "unreadable"
    case = get_case(services.db, result.ref)
    assert case["status"] == "unreadable" and case["outbox"] == [] and case["drafts"] == []
    assert "unreadable" in case["attention"]


def test_build_message_is_an_rfc3834_auto_reply_without_injection(desk):
    services, intake = desk
    process(intake, mail(subject="=?UTF-8?Q?Hello=0D=0ABcc:_victim@example.net?="))
    [item] = due_items(services.db, "email", NOW)
    msg = build_message(item, services.config.mail, NOW)
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Bcc"] is None
    assert "\n" not in msg["Subject"] and "Bcc: victim" in msg["Subject"]
    assert msg["In-Reply-To"] == "<m1@example.com>"


class ScriptedSender:
    """The outbox's channel interface, answering from a script (not an SMTP stand-in: the
    SMTP behaviour itself is tested against aiosmtpd in tests/integration)."""

    channel = "email"

    def __init__(self, outcomes):
        self.outcomes = list(outcomes)
        self.sent = []

    async def send(self, item, now):
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.sent.append(item.idempotency_key)

    async def close(self):
        pass


async def test_outbox_worker_retries_temporary_failures_with_backoff(desk):
    services, intake = desk
    process(intake, mail())
    clock = services.clock
    sender = ScriptedSender([DeliveryError("451", False, 451), DeliveryError("451", False, 451)])
    worker = OutboxWorker(services.db, sender, clock, retry_base_seconds=30)
    assert await worker.drain() == 0
    assert await worker.drain() == 0  # not due yet: 30 s backoff
    clock.advance(timedelta(seconds=31))
    assert await worker.drain() == 0  # second 451; next in 60 s
    clock.advance(timedelta(seconds=61))
    assert await worker.drain() == 1
    assert len(sender.sent) == 1
    assert await worker.drain() == 0


async def test_outbox_worker_stops_on_a_permanent_failure_and_alerts_staff(desk):
    services, intake = desk
    ref = process(intake, mail()).ref
    worker = OutboxWorker(
        services.db, ScriptedSender([DeliveryError("550", True, 550)]), services.clock
    )
    await worker.drain()
    case = get_case(services.db, ref)
    assert case["outbox"][0]["status"] == "failed"
    assert case["attention"] == "the ack-email reply could not be delivered"
    assert case["events"][-1]["type"] == "delivery-failed"
