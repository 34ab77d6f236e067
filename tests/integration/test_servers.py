"""The server fixtures themselves: a real Dovecot and a real aiosmtpd sink behave as expected."""

from __future__ import annotations

import smtplib
import socket
import threading
import time
from email.message import EmailMessage

import aiosmtplib
import pytest

from ..servers import DovecotServer, SmtpSink


def raw_mail(n: int = 1, subject: str = "Pothole on Main St") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Resident <resident@example.org>"
    msg["To"] = "feedback@city.example"
    msg["Subject"] = f"{subject} #{n}"
    msg["Message-ID"] = f"<test-{n}@example.org>"
    msg.set_content(f"There is a large pothole outside number {n}.\n")
    return msg.as_bytes()


def ack(to: str = "resident@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "feedback@city.example"
    msg["To"] = to
    msg["Subject"] = "We received your message"
    msg.set_content("Thank you.\n")
    return msg


# -- Dovecot ---------------------------------------------------------------------------------


def test_append_then_peek_leaves_message_unseen(dovecot: DovecotServer) -> None:
    uid = dovecot.append(raw_mail(1))
    assert dovecot.folder_uids() == [uid]
    with dovecot.client() as c:
        c.select_folder("INBOX")
        body = c.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
        assert b"Pothole on Main St #1" in body
        assert c.search(["UNSEEN"]) == [uid]
    assert b"\\Seen" not in dovecot.fetch_flags()[uid]


def test_multiappend_returns_uids_in_order(dovecot: DovecotServer) -> None:
    first = dovecot.append(raw_mail(0))
    uids = dovecot.multiappend([raw_mail(n) for n in range(1, 51)])
    assert uids == list(range(first + 1, first + 51))
    assert dovecot.folder_uids() == [first, *uids]
    other = dovecot.multiappend([raw_mail(99)], folder="Archive")
    assert dovecot.folder_uids("Archive") == other


def test_idle_wakes_up_on_append_from_another_connection(dovecot: DovecotServer) -> None:
    with dovecot.client() as idler:
        idler.select_folder("INBOX")
        idler.idle()
        try:
            timer = threading.Timer(0.2, dovecot.append, args=(raw_mail(7),))
            timer.start()
            started = time.monotonic()
            responses = idler.idle_check(timeout=3)
            waited = time.monotonic() - started
        finally:
            idler.idle_done()
            timer.join()
    assert (1, b"EXISTS") in responses, responses
    assert waited < 2.5


def test_restart_keeps_mail_flags_and_port(dovecot: DovecotServer) -> None:
    uid = dovecot.append(raw_mail(1))
    seen = dovecot.append(raw_mail(2), flags=[b"\\Seen"])
    port, validity = dovecot.port, dovecot.uidvalidity()
    dovecot.restart()
    assert dovecot.port == port
    assert dovecot.uidvalidity() == validity
    assert dovecot.folder_uids() == [uid, seen]
    flags = dovecot.fetch_flags()
    assert b"\\Seen" not in flags[uid]
    assert b"\\Seen" in flags[seen]


def test_stop_closes_port_even_with_a_client_in_idle(dovecot: DovecotServer) -> None:
    idler = dovecot.client()
    idler.select_folder("INBOX")
    idler.idle()
    dovecot.stop()
    with pytest.raises(OSError), socket.create_connection((dovecot.host, dovecot.port), 1):
        pass
    idler.shutdown()
    dovecot.start()
    assert dovecot.folder_uids() == []


def test_reset_uidvalidity_keeps_messages_with_new_uids(dovecot: DovecotServer) -> None:
    dovecot.append(raw_mail(1))
    dovecot.multiappend([raw_mail(n) for n in range(2, 6)])
    dovecot.append(raw_mail(6), flags=[b"\\Seen"])
    old = dovecot.uidvalidity()
    new = dovecot.reset_uidvalidity()
    assert new != old
    assert dovecot.uidvalidity() == new
    assert len(dovecot.folder_uids()) == 6
    assert sum(b"\\Seen" in f for f in dovecot.fetch_flags().values()) == 1


def test_missing_binary_says_what_to_run() -> None:
    server = DovecotServer(binary="/nonexistent/dovecot")
    try:
        with pytest.raises(RuntimeError, match="make system-deps"):
            server.start()
    finally:
        server.close()


# -- SMTP sink -------------------------------------------------------------------------------


async def test_sink_receives_message(smtp_sink: SmtpSink) -> None:
    await aiosmtplib.send(
        ack(), hostname=smtp_sink.host, port=smtp_sink.port, start_tls=False, timeout=10
    )
    [content] = await smtp_sink.await_count(1, timeout=5)
    assert b"Subject: We received your message" in content
    [env] = smtp_sink.envelopes
    assert env.mail_from == "feedback@city.example"
    assert env.rcpt_tos == ["resident@example.org"]


async def test_temporary_rcpt_failure_then_ok(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_next_rcpt("451 4.3.0 try again")
    async with aiosmtplib.SMTP(
        hostname=smtp_sink.host, port=smtp_sink.port, start_tls=False, timeout=10
    ) as smtp:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await smtp.send_message(ack())
        assert refused.value.recipients[0].code == 451
        assert refused.value.recipients[0].code // 100 == 4
        errors, _ = await smtp.send_message(ack())  # same connection survives
        assert errors == {}
    assert len(await smtp_sink.await_count(1)) == 1
    assert [status[:3] for _, status in smtp_sink.rcpt_attempts] == ["451", "250"]


async def test_permanent_failures(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_all_rcpt("550 5.1.1 no such user")
    for _ in range(2):
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await aiosmtplib.send(
                ack(), hostname=smtp_sink.host, port=smtp_sink.port, start_tls=False
            )
        assert refused.value.recipients[0].code == 550
    smtp_sink.clear_failures()

    smtp_sink.fail_data("550 5.7.1 message rejected")
    with pytest.raises(aiosmtplib.SMTPDataError) as data_error:
        await aiosmtplib.send(ack(), hostname=smtp_sink.host, port=smtp_sink.port, start_tls=False)
    assert data_error.value.code == 550
    assert smtp_sink.messages == []
    smtp_sink.clear_failures()

    smtp_sink.fail_rcpt_to("bad@example.org", "550 5.1.1 no such user")
    msg = ack()
    msg["Cc"] = "bad@example.org"
    errors, _ = await aiosmtplib.send(
        msg, hostname=smtp_sink.host, port=smtp_sink.port, start_tls=False
    )
    assert errors["bad@example.org"].code == 550
    [env] = smtp_sink.envelopes
    assert env.rcpt_tos == ["resident@example.org"]


async def test_sink_stop_and_start_on_same_port(smtp_sink: SmtpSink) -> None:
    port = smtp_sink.port
    smtp_sink.stop()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await aiosmtplib.send(ack(), hostname=smtp_sink.host, port=port, start_tls=False)
    smtp_sink.start()
    assert smtp_sink.port == port
    await aiosmtplib.send(ack(), hostname=smtp_sink.host, port=port, start_tls=False)
    assert len(await smtp_sink.await_count(1)) == 1


def test_sink_wait_for_blocks_until_sent_from_another_thread(smtp_sink: SmtpSink) -> None:
    def send() -> None:
        time.sleep(0.1)
        with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as s:
            s.send_message(ack())

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert len(smtp_sink.wait_for(1, timeout=5)) == 1
        with pytest.raises(TimeoutError, match="1 message"):
            smtp_sink.wait_for(2, timeout=0.2)
    finally:
        sender.join()
