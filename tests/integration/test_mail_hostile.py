"""IMAP intake under hostile load, against a real Dovecot (issue 8, sections 3 and 5).

- hostile messages go through the intake thread `serve` runs while a ticker on the event
  loop measures the longest stall (the bound of 100 ms is the issue's);
- bodies are fetched in batches bounded by bytes (counted by a subclass, not a mock);
- no message leaves the INBOX before a durable (synchronous=FULL) commit;
- a message that keeps failing is quarantined, and its attempts survive a restart.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.app import HEALTH, SERVICES, build_services, mail_workers
from bot.clock import FrozenClock
from bot.config import ImapConfig, parse_config
from bot.health import Health
from bot.intake import Intake
from bot.mail_intake import MailIntake, store_mail_state
from mail.imap import ImapIntake
from storage.db import open_store

from ..hostile_mail import HOSTILE, envelope
from .test_mail_e2e import Desk, resident_mail, wait_until

TZ = ZoneInfo("America/Toronto")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)


def imap_table(dovecot, **extra: object) -> dict[str, object]:
    return {
        "host": "127.0.0.1",
        "port": dovecot.port,
        "security": "none",
        "user": dovecot.user,
        "idle": True,
        **extra,
    }


async def test_hostile_mail_never_blocks_the_event_loop(tmp_path, dovecot, monkeypatch):
    monkeypatch.setenv("CAREDESK_IMAP_PASSWORD", dovecot.password)
    config = parse_config({"mail": {"imap": imap_table(dovecot)}})
    services = build_services(config, tmp_path / "caredesk.db", FrozenClock(NOW))
    app = web.Application()
    app[SERVICES] = services
    app[HEALTH] = Health()
    dovecot.multiappend([make() for make in HOSTILE.values()])
    largest = 0.0
    running = True

    async def ticker() -> None:
        nonlocal largest
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            largest = max(largest, now - last)
            last = now

    workers = mail_workers(app)
    await anext(workers)  # the IMAP intake thread, as `serve` starts it
    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    while time.perf_counter() - started < 120:  # (the test's own IMAP calls off the loop too)
        if not await asyncio.to_thread(dovecot.folder_uids, "INBOX"):
            break
        await asyncio.sleep(0.05)
    took = time.perf_counter() - started
    running = False
    await tick
    await anext(workers, None)
    assert dovecot.folder_uids("INBOX") == []
    assert len(dovecot.folder_uids("Processed")) == len(HOSTILE)
    count = services.db.execute("SELECT count(*) FROM cases").fetchone()[0]
    services.db.close()
    assert count == len(HOSTILE)
    print(f"\n{len(HOSTILE)} hostile messages in {took:.2f} s; longest loop block {largest:.3f} s")
    assert largest < 0.1


class Recording(ImapIntake):
    """ImapIntake that notes each FETCH of bodies and each move, in order with the SQL."""

    def __init__(self, *args, events: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.events = events
        self.fetched: list[list[int]] = []

    def fetch_bodies(self, client, uids):
        self.fetched.append(list(uids))
        return super().fetch_bodies(client, uids)

    def _move(self, client, uids, target):
        self.events.append(f"move {target}")
        super()._move(client, uids, target)


def recording_intake(tmp_path, dovecot, **imap: object) -> tuple[Recording, list[str], object]:
    config = parse_config({"mail": {"imap": imap_table(dovecot, **imap)}})
    services = build_services(config, tmp_path / "caredesk.db", FrozenClock(NOW))
    db = services.db
    mail_intake = MailIntake(db, services.policy, Intake(db, services.policy, services.renderer))
    events: list[str] = []
    db.conn.set_trace_callback(events.append)

    def handle(raw: bytes, received: datetime) -> None:
        mail_intake.process(raw, received, NOW)
        events.append("handled")

    cfg = config.mail.imap
    assert isinstance(cfg, ImapConfig)
    intake = Recording(
        cfg,
        handle,
        store_mail_state(db, mail_intake, services.clock),
        threading.Event(),
        config.mail.max_message_bytes,
        events=events,
    )
    return intake, events, services


def test_bodies_are_fetched_in_batches_bounded_by_bytes(tmp_path, dovecot, monkeypatch):
    monkeypatch.setenv("CAREDESK_IMAP_PASSWORD", dovecot.password)
    bound = 100_000
    raws = [
        envelope(b"The bin on Elm Road was missed. " * 900 + str(i).encode()) for i in range(10)
    ]
    assert all(25_000 < len(raw) < 40_000 for raw in raws)
    uids = dovecot.multiappend(raws)
    intake, _events, services = recording_intake(
        tmp_path, dovecot, fetch_batch_bytes=bound, after="flag"
    )
    client = dovecot.client()
    try:
        assert intake.drain(client) == 10
    finally:
        client.logout()
    sizes = dict(zip(uids, map(len, raws), strict=True))
    assert sorted(uid for batch in intake.fetched for uid in batch) == sorted(uids)
    assert len(intake.fetched) >= 4  # 10 x ~30 KB under a 100 KB bound
    assert all(sum(sizes[uid] for uid in batch) <= bound for batch in intake.fetched)
    services.db.close()


def test_mail_leaves_the_inbox_only_after_a_durable_commit(tmp_path, dovecot, monkeypatch):
    monkeypatch.setenv("CAREDESK_IMAP_PASSWORD", dovecot.password)
    dovecot.multiappend([resident_mail(i) for i in range(3)])
    intake, events, services = recording_intake(tmp_path, dovecot, fetch_batch_bytes=10**6)
    client = dovecot.client()
    try:
        intake._ensure_processed_folder(client)
        assert intake.drain(client) == 3
    finally:
        client.logout()
    move = events.index("move Processed")
    assert events.count("handled") == 3 and events.index("handled") < move
    last_handled = max(i for i, e in enumerate(events) if e == "handled")
    full = events.index("PRAGMA synchronous = FULL", last_handled)
    commit = events.index("COMMIT", full)
    assert last_handled < full < commit < move  # all three cases, then one fsync, then move
    assert events.index("PRAGMA synchronous = NORMAL", commit) < move
    assert dovecot.folder_uids("INBOX") == []
    services.db.close()


def attempts(desk: Desk) -> list[tuple[int, str | None]]:
    db = open_store(desk.db_path)
    try:
        return db.execute("SELECT attempts, last_error FROM mail_attempts").fetchall()
    finally:
        db.close()


def test_a_message_that_keeps_failing_is_quarantined_across_restarts(tmp_path, dovecot, smtp_sink):
    poison = {"CAREDESK_FAILPOINT": "mail-process:raise=POISON"}
    desk = Desk(tmp_path, dovecot, smtp_sink, max_attempts=2, quarantine_folder="Held")
    dovecot.append(resident_mail(1, subject="POISON"))
    desk.start(**poison)
    # Two failed tries recorded in the store (a second after the first: reconnect backoff).
    wait_until(lambda: attempts(desk) == [(2, "FailpointError: failpoint mail-process")])
    desk.stop(signal.SIGKILL)
    dovecot.append(resident_mail(2))
    assert dovecot.folder_uids("INBOX") and not dovecot.folder_uids("Processed")
    desk.start(**poison)
    # After the restart the count goes on (3 > 2): quarantined without another try.
    wait_until(lambda: len(dovecot.folder_uids("Held")) == 1, what="the quarantine")
    wait_until(lambda: len(dovecot.folder_uids("Processed")) == 1, what="the good mail")
    assert dovecot.folder_uids("INBOX") == []
    assert desk.stop() == 0
    log = sorted(tmp_path.glob("serve-*.log"))[-1].read_text()
    assert "mail intake failed" not in log
    cases = desk.cases()
    held = [c for c in cases if c["status"] == "unreadable"]
    assert len(cases) == 2 and len(held) == 1
    assert held[0]["attention"] == "quarantined email: intake failed on this message 2 times"
    assert attempts(desk) == []


class CountingDrains(Recording):
    def drain(self, client):
        self.events.append("drain")
        return super().drain(client)


def test_idle_is_left_for_a_search_at_least_every_recheck(tmp_path, dovecot, monkeypatch):
    """Mail announced late (while IDLE was being set up) waits at most the recheck, never the
    whole renewal: the intake leaves a quiet IDLE and searches again."""
    monkeypatch.setenv("CAREDESK_IMAP_PASSWORD", dovecot.password)
    monkeypatch.setattr("mail.imap.IDLE_RECHECK_SECONDS", 0.5)
    config = parse_config({"mail": {"imap": imap_table(dovecot)}})
    cfg = config.mail.imap
    assert isinstance(cfg, ImapConfig) and cfg.idle_renew_seconds >= 60
    events: list[str] = []
    stop = threading.Event()

    def run() -> None:  # SQLite connections belong to the thread that opens them
        services = build_services(config, tmp_path / "caredesk.db", FrozenClock(NOW))
        mail_intake = MailIntake(services.db, services.policy, services.intake)
        intake = CountingDrains(
            cfg,
            lambda raw, received: None,
            store_mail_state(services.db, mail_intake, services.clock),
            stop,
            config.mail.max_message_bytes,
            events=events,
        )
        try:
            intake.session()
        finally:
            services.db.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: events.count("drain") >= 4, 20, "four searches, one each recheck")
    finally:
        stop.set()
        thread.join(10)
