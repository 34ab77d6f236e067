"""A case forwarded to its department by email and the department's reply threading back
(issue 12, tests: "Email forward to aiosmtpd, and the department's reply threading back as an
update"), with real servers: the resident's mail and the department's reply are read from a
real Dovecot by the real IMAP intake, the forward goes through the SMTP sender to aiosmtpd, and
the case page is served by the real staff app.

The forward is built with mail/department.py `forward_message` and sent here (the outbox's
tracker worker that sends it in `serve` is another part of the issue); the department's reply
quotes the Message-ID aiosmtpd received, as a mail program answering it would.
"""

from __future__ import annotations

import email
import threading
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from html import unescape
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app, build_services
from bot.clock import FrozenClock
from bot.config import ImapConfig, SmtpConfig, parse_config
from bot.mail_intake import MailIntake, store_mail_state
from bot.staff.accounts import create_account
from mail.department import ForwardedCase, forward_message
from mail.identity import identity_of
from mail.imap import ImapIntake
from mail.parse import MAIL_POLICY
from mail.smtp import SmtpSender
from storage.cases import get_case
from storage.outbox import OutboxItem

from .test_staff_web import AGENT, PASSWORD, login

TZ = ZoneInfo("America/Toronto")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)
AUTHSERV = "mx.city.example"
CONFIG = parse_config(
    {
        "departments": [
            {
                "key": "roads",
                "name": "Transportation Services",
                "email": "roads@city.example",
                "tracker": "email",
            },
            {"key": "parks", "name": "Parks and Forestry", "email": "parks@city.example"},
        ],
        "routing": [{"name": "potholes", "department": "roads", "phrases": ["pothole"]}],
        "mail": {"authserv_id": AUTHSERV},
        "retention": {"every_hours": 0},
    }
)
RECEIVED = "Received: from mx.city.example by mail.city.example; Thu, 26 Nov 2026 11:00:00 -0500"
RESIDENT = (
    b'From: "Jane Doe" <jane@example.com>\r\n'
    b"To: feedback@city.example\r\n"
    b"Subject: Deep pothole\r\n"
    b"Message-ID: <jane-1@example.com>\r\n"
    b"Date: Wed, 25 Nov 2026 09:00:00 -0500\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"There is a deep pothole in front of 12 Elm Road since Monday 16 November. "
    b"I would like it fixed.\r\n"
)
ANSWER = "Inspected this morning. The crew fills the pothole on Friday 4 December."


def department_reply(forward: EmailMessage, *, dmarc: str, message_id: str) -> bytes:
    """A mail program's answer to the forward: Re: its subject, its Message-ID quoted, the
    forward quoted below the answer."""
    reply = EmailMessage(policy=MAIL_POLICY)
    reply["Received"] = RECEIVED
    reply["Authentication-Results"] = (
        f"{AUTHSERV}; spf={dmarc} smtp.mailfrom=city.example;"
        f" dmarc={dmarc} header.from=city.example"
    )
    reply["From"] = "Roads Desk <roads@city.example>"
    reply["To"] = str(forward["From"])
    reply["Subject"] = f"Re: {forward['Subject']}"
    reply["Message-ID"] = message_id
    reply["Date"] = "Thu, 26 Nov 2026 11:00:00 -0500"
    reply["In-Reply-To"] = str(forward["Message-ID"])
    reply["References"] = str(forward["Message-ID"])
    quoted = "\n".join(f"> {line}" for line in forward.get_content().splitlines())
    reply.set_content(f"{ANSWER}\n\nOn 25 Nov, Customer Care wrote:\n{quoted}\n")
    return reply.as_bytes()


async def test_a_forward_by_email_and_the_departments_reply_threading_back(
    tmp_path, dovecot, smtp_sink, monkeypatch
):
    monkeypatch.setenv("CAREDESK_IMAP_PASSWORD", dovecot.password)
    clock = FrozenClock(NOW)
    services = build_services(CONFIG, tmp_path / "caredesk.db", clock)
    db = services.db
    intake = MailIntake(db, services.policy, services.intake)
    imap = ImapIntake(
        ImapConfig(host="127.0.0.1", port=dovecot.port, security="none", user=dovecot.user),
        lambda raw, received: intake.process(raw, received, clock.now()),
        store_mail_state(db, intake, clock),
        threading.Event(),
        CONFIG.mail.max_message_bytes,
    )

    def read_inbox(expected: int) -> None:
        client = dovecot.client()
        try:
            imap._ensure_processed_folder(client)  # as a session does before its first pass
            assert imap.drain(client) == expected
        finally:
            client.logout()

    # The resident's mail: a case for roads, its acknowledgement queued.
    dovecot.append(RESIDENT)
    read_inbox(1)
    [case] = db.execute("SELECT ref, id, department FROM cases").fetchall()
    ref, case_id, department = case
    assert department == "roads"
    queued = db.execute("SELECT id, reply_kind, status FROM outbox ORDER BY id").fetchall()
    assert ("ack-email", "pending") in [row[1:] for row in queued]

    # The forward: built from the case, sent through the SMTP sender to aiosmtpd.
    stored = get_case(db, ref)
    roads = CONFIG.department("roads")
    assert roads is not None
    forwarded = ForwardedCase(
        ref=ref,
        kind=stored["kind"],
        received=datetime.fromisoformat(stored["received_at"]),
        what=stored["what"],
        when=stored["when_text"],
        who=stored["who"],
        outcome=stored["outcome"],
        contact=None,
    )
    subject, body, headers = forward_message(
        identity_of(CONFIG), roads.name, roads.email, forwarded, 1
    )
    item = OutboxItem(
        0, case_id, "email", roads.email, "dept-forward", subject, body, "k", 0, headers
    )
    sender = SmtpSender(
        CONFIG.mail, SmtpConfig(host="127.0.0.1", port=smtp_sink.port, security="none")
    )
    try:
        await sender.send(item, clock.now())
    finally:
        await sender.close()
    [raw_forward] = await smtp_sink.await_count(1)
    forward = email.message_from_bytes(raw_forward, policy=MAIL_POLICY)
    assert isinstance(forward, EmailMessage)
    assert parseaddr(str(forward["To"]))[1] == "roads@city.example"
    assert f"[{ref}]" in str(forward["Subject"])
    assert forward["Message-ID"] == f"<{ref}.forward-1@caredesk.city.example>"

    # A day later the department answers it; someone else forges an answer in its name.
    clock.set(NOW + timedelta(days=1))
    dovecot.multiappend(
        [
            department_reply(forward, dmarc="pass", message_id="<answer-1@roads.city.example>"),
            department_reply(forward, dmarc="fail", message_id="<forged-1@evil.example>"),
        ]
    )
    read_inbox(2)

    case_now = get_case(db, ref)
    updates = [e for e in case_now["events"] if e["type"] == "department-update"]
    [update] = updates  # the real answer only
    assert update["data"]["source"] == "email" and update["data"]["department"] == "roads"
    answer = db.execute(
        "SELECT case_id, body FROM messages WHERE id = ?", [update["data"]["message"]]
    ).fetchone()
    assert answer[0] == case_id and ANSWER in answer[1]
    assert case_now["tracker_updated_at"] is not None
    assert case_now["attention"] == "the department replied (roads)"
    assert case_now["status"] == "open"
    # Nothing answers the department: the outbox holds what it held before the replies (the
    # acknowledgement, and a forward where intake queues one), nothing else, for anyone.
    outbox_now = db.execute("SELECT id, reply_kind, status FROM outbox ORDER BY id").fetchall()
    [forged_case] = [r[0] for r in db.execute("SELECT ref FROM cases WHERE ref != ?", [ref])]
    forged = get_case(db, forged_case)
    forged_ids = {o["id"] for o in forged["outbox"]}
    assert [row for row in outbox_now if row[0] not in forged_ids] == queued
    assert case_now["drafts"] == []
    # The forgery went the way of any unverified mail quoting a case: its own flagged case,
    # whose acknowledgement waits for staff; nothing of it is on this case as the department.
    assert "sender-not-verified" in [e["type"] for e in forged["events"]]
    assert [o for o in forged["outbox"] if o["channel"] == "email"] == []
    assert "department-update" not in [e["type"] for e in forged["events"]]

    # Staff read it on the case page, in words.
    create_account(db, AGENT, "Agent", "agent", PASSWORD, clock.now(), "test")
    client = TestClient(TestServer(build_app(services)))
    await client.start_server()
    try:
        await login(client, AGENT)
        page = unescape(await (await client.get(f"/staff/cases/{ref}")).text())
    finally:
        await client.close()
    assert "Needs your attention: the department replied (roads)." in page
    assert "The department replied by email (roads)" in page
    assert "Nothing was sent automatically" in page
    assert "Message from the department roads (email)" in page
    assert ANSWER in page
    db.close()
