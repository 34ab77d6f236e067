"""The feedback mailbox end to end: `caredesk serve` as a real process, a real Dovecot, aiosmtpd.

Mail is APPENDed to Dovecot's INBOX the way a delivery agent would put it there; the
acknowledgements are read from what aiosmtpd received.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mail.imap import PROCESSED_KEYWORD
from storage.cases import count_cases, get_case, list_cases
from storage.db import open_store

from ..servers import DovecotServer, SmtpSink, free_port, serve_argv

ROOT = Path(__file__).resolve().parents[2]


def resident_mail(n: int, subject: str = "Garbage not collected", extra: str = "") -> bytes:
    return (
        f'From: "Resident {n}" <resident{n}@example.com>\r\n'
        "To: feedback@city.example\r\n"
        f"Subject: {subject} {n}\r\n"
        f"Message-ID: <r{n}.{time.monotonic_ns()}@example.com>\r\n"
        "Date: Wed, 25 Nov 2026 09:00:00 -0500\r\n"
        f"{extra}"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"On Monday 16 November at 9:30am the garbage truck skipped house {n} on Elm Road. "
        "The driver was rude. I would like an apology.\r\n"
    ).encode()


class Desk:
    """`caredesk serve` with a configuration pointing at the test's servers."""

    def __init__(self, tmp: Path, dovecot: DovecotServer, sink: SmtpSink, **imap: object):
        self.tmp = tmp
        self.db_path = tmp / "caredesk.db"
        self.port = free_port()
        self.proc: subprocess.Popen[str] | None = None
        # IDLE is re-issued every few seconds here, so a message announced late (while IDLE was
        # being set up) costs a test seconds, not the 30 s recheck of production.
        imap_cfg = {"idle": True, "after": "move", "idle_renew_seconds": 5, **imap}
        lines = [
            "[mail]",
            'address = "feedback@city.example"',
            "[mail.imap]",
            f'host = "127.0.0.1"\nport = {dovecot.port}\nsecurity = "none"',
            f'user = "{dovecot.user}"\nfolder = "INBOX"\nprocessed_folder = "Processed"',
            *(f"{k} = {json.dumps(v)}" for k, v in imap_cfg.items()),
            "[mail.smtp]",
            f'host = "127.0.0.1"\nport = {sink.port}\nsecurity = "none"\nuser = ""',
            "retry_base_seconds = 0.2\nmax_attempts = 5",
        ]
        self.config = tmp / "caredesk.toml"
        self.config.write_text("\n".join(lines) + "\n")
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "CAREDESK_IMAP_PASSWORD": dovecot.password,
        }
        self.env.pop("CAREDESK_FAILPOINT", None)

    def start(self, **env: str) -> Desk:
        self.log = open(self.tmp / f"serve-{time.monotonic_ns()}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            serve_argv(self.config, self.db_path, self.port),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
            env={**self.env, **env},
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return self  # exited (a failpoint may do that early)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("caredesk serve did not start")

    def stop(self, sig: int = signal.SIGINT) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(20)
        self.log.close()
        return code

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        self.log.close()
        return code

    def cases(self) -> list[dict]:
        db = open_store(self.db_path)
        try:
            return [get_case(db, c["ref"]) for c in list_cases(db, limit=100000)]
        finally:
            db.close()

    def count(self) -> int:
        db = open_store(self.db_path)
        try:
            return count_cases(db)
        finally:
            db.close()

    def _scalar(self, sql: str) -> int:
        db = open_store(self.db_path)
        try:
            return int(db.execute(sql).fetchone()[0])
        finally:
            db.close()

    def pending_outbox(self) -> int:
        return self._scalar("SELECT count(*) FROM outbox WHERE status = 'pending'")

    def inbound(self) -> int:
        return self._scalar("SELECT count(*) FROM messages WHERE direction = 'in'")

    def wait_settled(self, inbound: int, timeout: float = 30) -> None:
        """Wait until `inbound` mails are stored and nothing is left to send: from then on no
        reply can reach SMTP, so what the sink holds is final (instead of sleeping and
        hoping a duplicate would have come by then)."""
        wait_until(
            lambda: self.inbound() >= inbound and self.pending_outbox() == 0,
            timeout,
            f"{inbound} mails stored and the outbox sent",
        )

    def wait_cases(self, n: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.count() < n:
            time.sleep(0.1)
        assert self.count() >= n, f"{self.count()} cases, expected {n}"


@pytest.fixture
def desk_factory(tmp_path, dovecot, smtp_sink):
    made: list[Desk] = []

    def make(**imap: object) -> Desk:
        desk = Desk(tmp_path, dovecot, smtp_sink, **imap)
        made.append(desk)
        return desk

    yield make
    for desk in made:
        if desk.proc is not None and desk.proc.poll() is None:
            desk.stop(signal.SIGKILL)


def wait_until(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


@pytest.mark.parametrize("idle", [True, False], ids=["idle", "polling"])
def test_mail_is_cased_and_acknowledged(desk_factory, dovecot, smtp_sink, idle):
    desk = desk_factory(idle=idle, poll_seconds=1).start()
    raw = resident_mail(1)
    dovecot.append(raw)
    [ack] = smtp_sink.wait_for(1, timeout=30)
    reply = parsed(ack)
    [case] = wait_until(
        lambda: [c for c in desk.cases() if c["outbox"][0]["status"] == "sent"], what="sent"
    )
    ref = case["ref"]
    assert reply["To"] == "resident1@example.com"
    assert reply["Subject"] == f"Re: Garbage not collected 1 [{ref}]"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["X-Auto-Response-Suppress"] == "All"
    assert reply["In-Reply-To"] == parsed(raw)["Message-ID"]
    assert reply["Message-ID"] == f"<{ref}.ack-email@caredesk.city.example>"
    assert ref in reply.get_content() and "Ombudsman" in reply.get_content()
    assert case["channel"] == "email" and case["kind"] == "complaint"
    assert [o["status"] for o in case["outbox"]] == ["sent"]
    wait_until(lambda: not dovecot.folder_uids("INBOX"), what="the move")
    assert dovecot.folder_uids("INBOX") == []  # moved after the case was committed...
    assert len(dovecot.folder_uids("Processed")) == 1  # ...and never deleted
    assert desk.stop() == 0


def test_machine_mail_is_stored_and_never_answered(desk_factory, dovecot, smtp_sink):
    desk = desk_factory().start()
    dovecot.append(resident_mail(1, "Out of office", "Auto-Submitted: auto-replied\r\n"))
    dovecot.append(resident_mail(2))
    smtp_sink.wait_for(1, timeout=30)
    desk.wait_settled(inbound=2)
    assert len(smtp_sink.messages) == 1
    assert desk.count() == 1
    assert desk.inbound() == 2


def test_crash_after_commit_before_move_loses_and_duplicates_nothing(
    desk_factory, dovecot, smtp_sink
):
    dovecot.multiappend([resident_mail(i) for i in range(10)])
    desk = desk_factory()
    smtp_sink.stop()  # nothing in flight when the process dies
    desk.start(CAREDESK_FAILPOINT="imap-after-commit:4")
    assert desk.wait_exit() == 99  # died right after committing the 4th case
    assert desk.count() == 4
    assert len(dovecot.folder_uids("INBOX")) == 10  # not moved: the batch never finished
    smtp_sink.start()
    desk.start()
    desk.wait_cases(10)
    acks = smtp_sink.wait_for(10, timeout=20)
    desk.wait_settled(inbound=10)
    ids = [parsed(a)["Message-ID"] for a in smtp_sink.messages]
    assert len(ids) == len(set(ids)) == 10
    assert desk.count() == 10
    assert sorted(c["person"]["email"] for c in desk.cases()) == sorted(
        f"resident{i}@example.com" for i in range(10)
    )
    assert len(acks) == 10


def test_killed_mid_batch_resumes_without_loss_or_duplicates(desk_factory, dovecot, smtp_sink):
    dovecot.multiappend([resident_mail(i) for i in range(40)])
    desk = desk_factory()
    smtp_sink.stop()
    desk.start()
    deadline = time.monotonic() + 20
    while desk.count() < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    desk.stop(signal.SIGKILL)
    smtp_sink.start()
    desk.start()
    desk.wait_cases(40, timeout=30)
    smtp_sink.wait_for(40, timeout=30)
    desk.wait_settled(inbound=40)
    ids = [parsed(a)["Message-ID"] for a in smtp_sink.messages]
    assert len(ids) == len(set(ids)) == 40
    assert desk.count() == 40


def test_the_window_between_smtp_ok_and_commit_resends_the_same_message(
    desk_factory, dovecot, smtp_sink
):
    """The one duplicate SMTP cannot prevent, kept visible: same Message-ID both times."""
    desk = desk_factory()
    desk.start(CAREDESK_FAILPOINT="email-after-send:1")
    dovecot.append(resident_mail(1))
    assert desk.wait_exit() == 99
    desk.start()
    first, second = smtp_sink.wait_for(2, timeout=30)
    assert parsed(first)["Message-ID"] == parsed(second)["Message-ID"]
    desk.wait_settled(inbound=1)
    assert len(smtp_sink.messages) == 2 and desk.count() == 1


def test_smtp_451_is_retried_and_delivered_once(desk_factory, dovecot, smtp_sink):
    smtp_sink.fail_next_rcpt("451 4.3.0 try again later", times=2)
    desk = desk_factory().start()
    dovecot.append(resident_mail(1))
    smtp_sink.wait_for(1, timeout=30)
    [case] = wait_until(
        lambda: [c for c in desk.cases() if c["outbox"][0]["status"] == "sent"], what="sent"
    )
    desk.wait_settled(inbound=1)
    assert len(smtp_sink.messages) == 1
    assert len(smtp_sink.rcpt_attempts) == 3
    assert case["outbox"][0]["attempts"] == 3


def test_smtp_550_marks_the_case_for_staff(desk_factory, dovecot, smtp_sink):
    smtp_sink.fail_all_rcpt("550 5.1.1 no such user")
    desk = desk_factory().start()
    dovecot.append(resident_mail(1))
    [case] = wait_until(
        lambda: [c for c in desk.cases() if c["outbox"][0]["status"] == "failed"],
        what="the acknowledgement marked failed",
    )
    assert case["attention"] == "the ack-email reply could not be delivered"
    assert case["events"][-1]["type"] == "delivery-failed"
    assert smtp_sink.messages == []


def failed_attempts(desk: Desk) -> int:
    db = open_store(desk.db_path)
    try:
        row = db.execute("SELECT max(attempts) FROM outbox WHERE channel = 'email'").fetchone()
        return int(row[0] or 0)
    finally:
        db.close()


def test_smtp_down_then_back_delivers(desk_factory, dovecot, smtp_sink):
    smtp_sink.stop()
    desk = desk_factory()
    # Room to retry on a loaded machine: the server comes back after the first refusal, not
    # after a fixed sleep that could outlast every attempt.
    desk.config.write_text(desk.config.read_text().replace("max_attempts = 5", "max_attempts = 8"))
    desk.start()
    dovecot.append(resident_mail(1))
    desk.wait_cases(1)
    wait_until(lambda: failed_attempts(desk) >= 1, 30, "a refused delivery")
    smtp_sink.start()
    smtp_sink.wait_for(1, timeout=30)


def test_imap_server_restart_is_survived(desk_factory, dovecot, smtp_sink):
    desk_factory().start()
    dovecot.append(resident_mail(1))
    smtp_sink.wait_for(1, timeout=30)
    dovecot.restart()
    dovecot.append(resident_mail(2))
    smtp_sink.wait_for(2, timeout=30)


def test_uidvalidity_reset_creates_no_duplicates(desk_factory, dovecot, smtp_sink):
    desk = desk_factory(after="flag", poll_seconds=1, idle=False).start()
    dovecot.multiappend([resident_mail(i) for i in range(3)])
    smtp_sink.wait_for(3, timeout=30)
    before = dovecot.uidvalidity()
    assert dovecot.reset_uidvalidity() != before
    dovecot.append(resident_mail(3))
    smtp_sink.wait_for(4, timeout=30)
    # Every mail of the new UIDVALIDITY looked at (flagged) and every reply sent.
    wait_until(
        lambda: sum(PROCESSED_KEYWORD.encode() in f for f in dovecot.fetch_flags().values()) == 4,
        30,
        "all four flagged",
    )
    desk.wait_settled(inbound=4)
    assert desk.count() == 4
    assert len(smtp_sink.messages) == 4
    assert len(dovecot.folder_uids("INBOX")) == 4  # flag mode keeps mail in place


def test_a_message_over_the_size_limit_is_cased_from_its_head(tmp_path, dovecot, smtp_sink):
    desk = Desk(tmp_path, dovecot, smtp_sink)
    desk.config.write_text(
        desk.config.read_text().replace(
            'address = "feedback@city.example"',
            'address = "feedback@city.example"\nmax_message_bytes = 4000',
        )
    )
    big = resident_mail(1).replace(
        b"I would like an apology.", b"I would like an apology. " + b"More detail. " * 2000
    )
    assert len(big) > 20000
    desk.start()
    try:
        dovecot.append(big)
        smtp_sink.wait_for(1, timeout=30)
        [case] = desk.cases()
        assert case["person"]["email"] == "resident1@example.com"
        db = open_store(desk.db_path)
        size = db.execute("SELECT size FROM raw_messages").fetchone()[0]
        db.close()
        assert size <= 4000  # only the head was taken; the whole message stays in the mailbox
        assert len(dovecot.folder_uids("Processed")) == 1
    finally:
        desk.stop()


def run_cli(desk: Desk, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(desk.config), *args],
        capture_output=True,
        text=True,
        env={**desk.env, **env},
        timeout=60,
    )


def test_mail_check_reports_what_works(tmp_path, dovecot, smtp_sink):
    desk = Desk(tmp_path, dovecot, smtp_sink)
    result = run_cli(desk, "mail", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "imap 127.0.0.1" in result.stdout and "OK, logged in as 'caredesk'" in result.stdout
    assert "IDLE supported" in result.stdout
    assert f"smtp 127.0.0.1:{smtp_sink.port} (none): OK" in result.stdout


def test_mail_check_says_what_is_wrong(tmp_path, dovecot, smtp_sink):
    desk = Desk(tmp_path, dovecot, smtp_sink)
    smtp_sink.stop()
    result = run_cli(desk, "mail", "check", CAREDESK_IMAP_PASSWORD="wrong")
    assert result.returncode == 1
    assert "cannot log in as 'caredesk'" in result.stdout
    assert "cannot connect to SMTP" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_an_unverified_sender_is_cased_but_gets_no_mail_until_staff_look(
    tmp_path, dovecot, smtp_sink
):
    """Backscatter: a forged From (DMARC failed at the city's server) is never mailed."""
    desk = Desk(tmp_path, dovecot, smtp_sink)
    desk.config.write_text(
        desk.config.read_text().replace(
            'address = "feedback@city.example"',
            'address = "feedback@city.example"\nauthserv_id = "mx.city.example"',
        )
    )
    ours = "Received: from relay.example by mx.city.example; Wed, 25 Nov 2026 09:00:01 -0500\r\n"
    forged = (
        "Authentication-Results: mx.city.example; dmarc=fail header.from=example.com\r\n" + ours
    )
    fine = "Authentication-Results: mx.city.example; dmarc=pass header.from=example.com\r\n" + ours
    desk.start()
    try:
        dovecot.append(fine.encode() + resident_mail(1))
        dovecot.append(forged.encode() + resident_mail(2))
        [ack] = smtp_sink.wait_for(1, timeout=30)
        desk.wait_cases(2)
        desk.wait_settled(inbound=2)
        assert len(smtp_sink.messages) == 1
        assert parsed(ack)["To"] == "resident1@example.com"
        held = next(c for c in desk.cases() if c["person"]["email"] == "resident2@example.com")
        assert held["outbox"] == [] and held["drafts"][0]["status"] == "pending"
        assert "sender-not-verified" in [r["rule"] for r in held["rules"]]
    finally:
        desk.stop()


def test_a_stranger_quoting_a_case_by_mail_gets_a_case_of_their_own(
    desk_factory, dovecot, smtp_sink
):
    desk = desk_factory().start()
    dovecot.append(resident_mail(1))
    smtp_sink.wait_for(1, timeout=30)
    [case] = desk.cases()
    dovecot.append(resident_mail(2, subject=f"Re: Garbage not collected [{case['ref']}]"))
    desk.wait_cases(2)
    acks = smtp_sink.wait_for(2, timeout=30)
    assert parsed(acks[1])["To"] == "resident2@example.com"
    original = next(c for c in desk.cases() if c["ref"] == case["ref"])
    assert [m["direction"] for m in original["messages"] if m["direction"] == "in"] == ["in"]
    assert "linked-case" in [e["type"] for e in original["events"]]
    assert desk.stop() == 0
