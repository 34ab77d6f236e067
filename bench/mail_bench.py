"""Mail throughput and latency: caredesk's IMAP intake + SMTP acknowledgements against a real
Dovecot and an aiosmtpd sink on loopback, beside a bare imapclient + aiosmtplib loop.

A benchmark, not a test: it prints figures (and the baseline they are compared with), never
pass/fail. Run from the repository root:

    PYTHONPATH=. .venv/bin/python bench/mail_bench.py [--part throughput|latency|both]

Throughput: N resident complaints are loaded into a fresh INBOX (MULTIAPPEND, not timed), then
caredesk drains them (ImapIntake.drain on one logged-in client, in a thread, and the
OutboxWorker with SmtpSender in the asyncio loop, concurrently, as `caredesk serve` wires
them) until the sink holds N acknowledgements. The bare baseline does the same I/O with
imapclient (select, search, fetch BODY.PEEK[] in batches of 100, move) and aiosmtplib (N
messages over one connection) and nothing else.

Latency: `caredesk serve` as a subprocess with IDLE; M messages are APPENDed one at a time and
each is timed from the start of its APPEND until its acknowledgement (matched by In-Reply-To)
reaches the sink.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import logging
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from email.utils import format_datetime
from pathlib import Path
from types import FrameType
from typing import Any

import aiosmtplib
from imapclient import IMAPClient

from bench.figures import PCTS, percentiles, stop_process
from bench.figures import machine as figures_machine
from bot.app import Services, build_services
from bot.config import ImapConfig, parse_config
from bot.intake import Intake
from bot.logs import JsonFormatter
from bot.mail_intake import MailIntake, store_mail_state
from bot.outbox_worker import OutboxWorker
from mail.imap import FETCH_BATCH, ImapIntake, connect
from mail.smtp import SmtpSender
from storage.cases import count_cases
from storage.db import open_store
from storage.outbox import OutboxItem
from tests.servers import DOVECOT_BIN, DovecotServer, SmtpSink, free_port

ROOT = Path(__file__).resolve().parents[1]
LOAD_CHUNK = 500
MAX_FAILURES = 1000  # intake drain failures tolerated (each is retried) before giving up
BARE_IN, BARE_DONE = "BareIn", "BareDone"
AIM_RATIO, AIM_LATENCY_MS = 1.5, 1000.0
log = logging.getLogger("bot.app")  # the logger run_imap_intake's handler logs to

# --------------------------------------------------------------------------------------------
# Resident mail
# --------------------------------------------------------------------------------------------

FIRST = ("Jane", "Omar", "Li", "Priya", "Marc", "Sofia", "Daniel", "Amara", "Tom", "Ines")
LAST = ("Doe", "Haddad", "Chen", "Patel", "Tremblay", "Rossi", "Okafor", "Nguyen", "Smith", "Ko")
STREETS = ("Oak Street", "Elm Road", "Maple Avenue", "Birch Lane", "Cedar Drive", "King Street")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TOPICS = (
    (
        "Garbage not collected on {street}",
        "the garbage truck drove past our house at {no} {street} without stopping. Our bins were "
        "at the curb by 7am as required, and three of our neighbours' bins were skipped as well. "
        "I waved to the driver of truck {truck}, who shrugged and kept going.",
        "I would like the missed garbage picked up this week and the crew reminded that bins at "
        "the curb must be emptied.",
    ),
    (
        "Recycling missed again on {street}",
        "the recycling was not picked up on {street} for the second week in a row. The blue box "
        "at {no} {street} was out by 6:30am and is now overflowing into the road. When I called, "
        "the agent on the phone said the route was complete.",
        "I would like the recycling collected and an explanation of why the route was marked done.",
    ),
    (
        "Snow plow blocked driveway at {no} {street}",
        "the snow plow left a ridge of hard snow almost a metre high across my driveway at {no} "
        "{street}. I had shovelled it an hour before. The operator of plow {truck} did not slow "
        "down and I could not get my car out to go to work.",
        "I would like the windrow cleared by the city and the operator spoken to about it.",
    ),
    (
        "Rude staff at the {street} community centre",
        "I went to the front desk of the community centre on {street} to register my son for "
        "swimming lessons. The clerk at the desk was dismissive, refused to take my payment and "
        "told me to come back another day although the registration was open.",
        "I would like an apology and to have my son registered for the session.",
    ),
    (
        "Bus {truck} did not stop at {street}",
        "bus route {truck} drove past the stop at {street} and {no} without stopping although I "
        "and two other people were waving at the stop. The next bus came forty minutes later and "
        "I missed an appointment at the clinic.",
        "I would like the driver reminded to stop for waiting riders and a reply explaining what "
        "happened.",
    ),
    (
        "Park washrooms locked at {street}",
        "the washrooms in the park on {street} were locked during posted opening hours. There "
        "were many families with small children there. The sign on the door says they open at "
        "8am, but the staff member I asked said they would stay closed all day.",
        "I would like the washrooms opened during the posted hours and the sign corrected if the "
        "hours changed.",
    ),
)


def resident_mail(i: int, run: str, now: datetime) -> tuple[str, bytes]:
    """(Message-ID, raw) of a ~1 KB plain-text complaint from resident{i}@example.com that
    names what, when (a past date), who, the outcome wanted and a contact."""
    name = f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]}"
    street = STREETS[i % len(STREETS)]
    subject, what, outcome = TOPICS[i % len(TOPICS)]
    fields = {"street": street, "no": 10 + i % 190, "truck": 3 + i % 97}
    when = now - timedelta(days=1 + i % 6, hours=i % 5)
    hour = 7 + i % 10
    clock = f"{(hour - 1) % 12 + 1}:{(i * 7) % 60:02d}{'am' if hour < 12 else 'pm'}"
    day = f"{WEEKDAYS[when.weekday()]} {when.day} {when.strftime('%B')}"
    msgid = f"<bench.{run}.{i}@example.com>"
    body = (
        f"Hello,\r\n\r\nI want to make a complaint. On {day} at about {clock} "
        f"{what.format(**fields)}\r\n\r\n{outcome}\r\n\r\n"
        f"You can reach me at 416-555-{i % 10000:04d} or by replying to this email.\r\n\r\n"
        f"Thank you,\r\n{name}\r\n{fields['no']} {street}\r\n"
    )
    head = (
        "Received: from mail-out.example.com (mail-out.example.com [203.0.113.25])\r\n"
        "\tby mx1.city.example (Postfix) with ESMTPS\r\n"
        f"\tfor <feedback@city.example>; {format_datetime(now)}\r\n"
        f"Message-ID: {msgid}\r\n"
        f"Date: {format_datetime(now - timedelta(minutes=1 + i % 50))}\r\n"
        "MIME-Version: 1.0\r\n"
        f'From: "{name}" <resident{i}@example.com>\r\n'
        "To: feedback@city.example\r\n"
        f"Subject: {subject.format(**fields)}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return msgid, (head + body).encode()


def make_mail(n: int, run: str) -> tuple[list[str], list[bytes]]:
    now = datetime.now(UTC)
    pairs = [resident_mail(i, run, now) for i in range(n)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def bare_reply(i: int, in_reply_to: str) -> bytes:
    """A ~1 KB acknowledgement for the bare SMTP loop."""
    return (
        'From: "City of Example Customer Care" <feedback@city.example>\r\n'
        f"To: resident{i}@example.com\r\n"
        f"Subject: Re: your message [CD-BARE-{i:06d}]\r\n"
        f"Date: {format_datetime(datetime.now(UTC))}\r\n"
        f"Message-ID: <CD-BARE-{i:06d}.ack-email@caredesk.city.example>\r\n"
        f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n\r\n'
        f"Thank you for writing to the City. Your reference is CD-BARE-{i:06d}.\r\n"
        + "We will reply within the time our service standard allows. " * 11
        + "\r\n"
    ).encode()


def in_reply_to(raw: bytes) -> str:
    return str(BytesHeaderParser().parsebytes(raw).get("In-Reply-To", "")).strip()


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


class Buckets:
    """Nanoseconds and call counts per named cost; each instance is written by one thread."""

    def __init__(self) -> None:
        self.ns: dict[str, int] = {}
        self.calls: dict[str, int] = {}
        self.counts: dict[str, int] = {}

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def add(self, key: str, ns: int) -> None:
        self.ns[key] = self.ns.get(key, 0) + ns
        self.calls[key] = self.calls.get(key, 0) + 1


def timed_method(obj: Any, name: str, buckets: Buckets, key: Callable[..., str]) -> None:
    """Replace `obj.name` (on the instance only) by a wrapper that adds its time to a bucket."""
    original = getattr(obj, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter_ns()
        try:
            return original(*args, **kwargs)
        finally:
            buckets.add(key(*args, **kwargs), time.perf_counter_ns() - t)

    setattr(obj, name, wrapper)


def stats(samples_ms: Sequence[float]) -> dict[str, float]:
    """Nearest-rank percentiles, in milliseconds, with the smallest sample and the mean."""
    s = sorted(samples_ms)
    return {
        "min": round(s[0], 1),
        **percentiles(s, PCTS, digits=1),
        "mean": round(sum(s) / len(s), 1),
    }


def rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else 0.0


def production_backoff(failures: int) -> float:
    """What ImapIntake.run would sleep over `failures` failed sessions: 1 s, doubling, at
    most 60 s; it resets only when session() returns, i.e. never while intake runs."""
    return float(sum(min(2.0**j, 60.0) for j in range(failures)))


def dovecot_version() -> str:
    try:
        out = subprocess.run(
            [DOVECOT_BIN, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        return out.stdout.strip() or out.stderr.strip()
    except OSError as exc:
        return f"unknown ({exc})"


def machine() -> dict[str, Any]:
    return figures_machine(dovecot=dovecot_version(), aiosmtplib=aiosmtplib.__version__)


def mail_table(dovecot: DovecotServer, sink: SmtpSink) -> dict[str, Any]:
    """The [mail] table of tests/integration/test_mail_e2e.py's Desk."""
    return {
        "address": "feedback@city.example",
        # Throughput, not the abuse guard: the hourly cap on acknowledgement mail is lifted.
        "acks_per_hour": 10_000_000,
        "imap": {
            "host": dovecot.host,
            "port": dovecot.port,
            "security": "none",
            "user": dovecot.user,
            "folder": "INBOX",
            "processed_folder": "Processed",
            "idle": True,
            "after": "move",
        },
        "smtp": {
            "host": sink.host,
            "port": sink.port,
            "security": "none",
            "user": "",
            "retry_base_seconds": 0.2,
            "max_attempts": 5,
        },
    }


def toml_text(table: dict[str, Any]) -> str:
    lines = ["[mail]", f"address = {json.dumps(table['address'])}"]
    lines.append(f"acks_per_hour = {table['acks_per_hour']}")
    for name in ("imap", "smtp"):
        lines.append(f"[mail.{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in table[name].items()]
    return "\n".join(lines) + "\n"


def load(dovecot: DovecotServer, raws: Sequence[bytes], folder: str) -> float:
    """MULTIAPPEND in chunks; returns the seconds it took (not part of any figure)."""
    t = time.perf_counter()
    for start in range(0, len(raws), LOAD_CHUNK):
        dovecot.multiappend(raws[start : start + LOAD_CHUNK], folder)
    return time.perf_counter() - t


def folder_count(dovecot: DovecotServer, folder: str) -> int:
    with _session(dovecot) as c:
        if not c.folder_exists(folder) and folder.upper() != "INBOX":
            return 0
        return int(c.select_folder(folder, readonly=True)[b"EXISTS"])


@contextlib.contextmanager
def _session(dovecot: DovecotServer) -> Iterator[IMAPClient]:
    c = dovecot.client()
    try:
        yield c
    finally:
        with contextlib.suppress(Exception):
            c.logout()


@contextlib.contextmanager
def json_logging(level: str, path: Path) -> Iterator[None]:
    """What `caredesk serve` does (JSON lines at INFO), into a file instead of stderr."""
    if level.lower() == "off":
        yield
        return
    handler = logging.FileHandler(path)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    try:
        yield
    finally:
        root.handlers[:], lvl = saved
        root.setLevel(lvl)
        handler.close()


# --------------------------------------------------------------------------------------------
# Part 1a: caredesk
# --------------------------------------------------------------------------------------------


class TimedSender(SmtpSender):
    def __init__(self, services: Services, buckets: Buckets) -> None:
        mail = services.config.mail
        assert mail.smtp is not None
        super().__init__(mail, mail.smtp)
        self.buckets = buckets

    async def send(self, item: OutboxItem, now: datetime) -> None:
        t = time.perf_counter_ns()
        try:
            await super().send(item, now)
        finally:
            self.buckets.add("smtp send (build + SMTP)", time.perf_counter_ns() - t)


class TimedWorker(OutboxWorker):
    def __init__(self, services: Services, buckets: Buckets) -> None:
        smtp = services.config.mail.smtp
        assert smtp is not None
        super().__init__(
            services.db,
            TimedSender(services, buckets),
            services.clock,
            retry_base_seconds=smtp.retry_base_seconds,
            max_attempts=smtp.max_attempts,
        )
        self.buckets = buckets
        self.sent = 0
        self.last_end = 0.0
        self.failures: list[str] = []

    async def drain(self) -> int:
        t = time.perf_counter_ns()
        try:
            return await super().drain()
        except Exception as exc:  # run() logs it and drains again on the next wake-up
            self.failures.append(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self.buckets.add("worker drain", time.perf_counter_ns() - t)

    async def _deliver(self, item: OutboxItem) -> int:
        t = time.perf_counter_ns()
        done = await super()._deliver(item)
        self.buckets.add("worker deliver", time.perf_counter_ns() - t)
        self.sent += done
        self.last_end = time.perf_counter()
        return done


def _fetch_key(_uids: Any, data: Sequence[str], *a: Any, **k: Any) -> str:
    return "imap fetch BODY.PEEK[]" if any("BODY" in d for d in data) else "imap fetch size+date"


class IntakeRun:
    """run_imap_intake's wiring (bot/app.py) around one logged-in client, instrumented.
    Build it in the thread that drains: it opens its own SQLite connection."""

    #: The group commit with synchronous=FULL before mail leaves the INBOX (production: on).
    durable = True

    def __init__(
        self,
        services: Services,
        cfg: ImapConfig,
        stop: threading.Event,
        wake: Callable[[], object],
        buckets: Buckets,
    ) -> None:
        self.db = open_store(services.db_path)
        mail_intake = MailIntake(
            self.db, services.policy, Intake(self.db, services.policy, services.renderer)
        )
        self.buckets = buckets
        clock = services.clock

        def handle(raw: bytes, received: datetime) -> None:
            t = time.perf_counter_ns()
            result = mail_intake.process(raw, received, clock.now())
            buckets.add("MailIntake.process", time.perf_counter_ns() - t)
            buckets.count(result.action)
            log.info(
                "mail processed",
                extra={"ref": result.ref, "status": result.action, "reply": result.rule},
            )
            wake()

        # The store side exactly as run_imap_intake builds it, timed; without the durable
        # commit before each move when the class says so (the figure to compare with).
        state = store_mail_state(self.db, mail_intake, clock)
        save, sync = state.save, state.sync

        def timed_save(folder: str, uidvalidity: int, last_uid: int) -> None:
            t = time.perf_counter_ns()
            save(folder, uidvalidity, last_uid)
            buckets.add("state save (SQLite)", time.perf_counter_ns() - t)

        def timed_sync() -> None:
            if not self.durable:
                return
            t = time.perf_counter_ns()
            sync()
            buckets.add("durable commit (fsync)", time.perf_counter_ns() - t)

        state.save, state.sync = timed_save, timed_sync
        self.intake = ImapIntake(
            cfg,
            handle,
            state,
            stop,
            services.config.mail.max_message_bytes,
        )
        self.cfg = cfg
        self.client = self._connect()

    def _connect(self) -> IMAPClient:
        """What ImapIntake.session does before its first drain."""
        client = connect(self.cfg)
        self.intake._ensure_processed_folder(client)
        timed_method(client, "fetch", self.buckets, _fetch_key)
        for name in ("select_folder", "search", "move", "copy", "add_flags", "uid_expunge"):
            timed_method(client, name, self.buckets, lambda *a, _n=name, **k: f"imap {_n}")
        return client

    def reconnect(self) -> None:
        """A new IMAP session, as ImapIntake.run starts after a failed one (same SQLite
        connection, as in run_imap_intake), minus run's backoff sleep."""
        t = time.perf_counter_ns()
        with contextlib.suppress(Exception):
            self.client.logout()
        self.client = self._connect()
        self.buckets.add("reconnect after failure", time.perf_counter_ns() - t)

    def drain(self) -> int:
        t = time.perf_counter_ns()
        try:
            return self.intake.drain(self.client)
        finally:
            self.buckets.add("intake drain", time.perf_counter_ns() - t)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.logout()
        self.db.close()


def _sequential(
    services: Services, cfg: ImapConfig, n: int, buckets: Buckets, prof: cProfile.Profile | None
) -> dict[str, float]:
    stop = threading.Event()
    run = IntakeRun(services, cfg, stop, lambda: None, buckets)
    worker = TimedWorker(services, buckets)
    try:
        if prof:
            prof.enable()
        t0 = time.perf_counter()
        run.drain()
        t1 = time.perf_counter()

        async def send() -> float:
            await worker.drain()
            end = time.perf_counter()
            await worker.sender.close()
            return end

        t2 = asyncio.run(send())
        if prof:
            prof.disable()
    finally:
        run.close()
    return {"intake_s": t1 - t0, "send_s": t2 - t1, "total_s": t2 - t0, "send_tail_s": t2 - t1}


async def _concurrent(
    services: Services,
    cfg: ImapConfig,
    n: int,
    intake_b: Buckets,
    send_b: Buckets,
    failures: list[dict[str, Any]],
    worker_failures: list[str],
) -> dict[str, float]:
    """As bot.app.mail_workers wires it: the intake in a thread waking the worker's task.

    A drain that raises is retried on a new IMAP session, as ImapIntake.run does, but without
    run's backoff sleep (1 s, doubling to 60 s); each failure is recorded in `failures`."""
    loop = asyncio.get_running_loop()
    worker = TimedWorker(services, send_b)
    ready, go, stop = threading.Event(), threading.Event(), threading.Event()
    out: dict[str, Any] = {}

    def wake() -> None:
        loop.call_soon_threadsafe(worker.wake.set)

    def thread_main() -> None:
        try:
            run = IntakeRun(services, cfg, stop, wake, intake_b)
        except BaseException as exc:
            out["error"] = exc
            ready.set()
            return
        try:
            ready.set()
            go.wait()
            while not stop.is_set():
                try:
                    out["handled"] = run.drain()
                    out["end"] = time.perf_counter()
                    break
                except Exception as exc:  # ImapIntake.run retries any Exception the same way
                    failures.append(
                        {
                            "at_s": round(time.perf_counter() - out["t0"], 3),
                            "cased_before": intake_b.calls.get("MailIntake.process", 0),
                            "error": f"{type(exc).__name__}: {exc}",
                            "sqlite": getattr(exc, "sqlite_errorname", None),
                        }
                    )
                    if len(failures) > MAX_FAILURES:
                        raise
                    run.reconnect()
        except BaseException as exc:
            out["error"] = exc
        finally:
            run.close()

    thread = threading.Thread(target=thread_main, name="imap-intake", daemon=True)
    thread.start()
    task: asyncio.Task[None] | None = None
    try:
        await asyncio.to_thread(ready.wait)
        if "error" in out:
            raise out["error"]
        task = asyncio.create_task(worker.run(), name="smtp-outbox")
        await asyncio.sleep(0.05)  # its first (empty) drain, then it waits for a wake-up
        t0 = out["t0"] = time.perf_counter()
        go.set()
        await asyncio.to_thread(thread.join)
        if "error" in out:
            raise out["error"]
        deadline = time.monotonic() + 120 + n * 0.05
        while worker.sent < n and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        end = max(worker.last_end, out["end"])
        return {
            "intake_s": out["end"] - t0,
            "send_s": worker.last_end - t0 if worker.sent else 0.0,
            "send_tail_s": max(0.0, worker.last_end - out["end"]),
            "total_s": end - t0,
        }
    finally:
        worker_failures.extend(worker.failures)
        stop.set()
        go.set()
        if task is not None:
            # Cancel until it ends: on Python 3.11 OutboxWorker.run's asyncio.wait_for swallows
            # a cancel() that lands in the loop iteration where a wake-up completes its wait.
            while not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=1.0)
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(thread.join, 30)


def run_caredesk(
    dovecot: DovecotServer,
    sink: SmtpSink,
    msgids: Sequence[str],
    tmp: Path,
    mode: str,
    log_level: str,
    prof: cProfile.Profile | None = None,
    durable: bool = True,
) -> dict[str, Any]:
    n = len(msgids)
    sink.clear()
    IntakeRun.durable = durable
    os.environ["CAREDESK_IMAP_PASSWORD"] = dovecot.password  # ImapConfig.password reads it
    config = parse_config({"mail": mail_table(dovecot, sink)}, "bench")
    assert config.mail.imap is not None
    db_path = tmp / "caredesk.db"
    services = build_services(config, db_path)
    intake_b, send_b = Buckets(), Buckets()
    failures: list[dict[str, Any]] = []
    worker_failures: list[str] = []
    try:
        with json_logging(log_level, tmp / "caredesk-bench.log"):
            if mode == "sequential" or prof is not None:
                t = _sequential(services, config.mail.imap, n, intake_b, prof)
                send_b = intake_b
            else:
                t = asyncio.run(
                    _concurrent(
                        services,
                        config.mail.imap,
                        n,
                        intake_b,
                        send_b,
                        failures,
                        worker_failures,
                    )
                )
        cases = count_cases(services.db)
        by_status = dict(
            services.db.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
        )
        drafts = int(services.db.execute("SELECT count(*) FROM drafts").fetchone()[0])
    finally:
        IntakeRun.durable = True
        services.db.close()
    acks = sink.messages
    replied = {in_reply_to(a) for a in acks}
    processed, inbox_left = folder_count(dovecot, "Processed"), folder_count(dovecot, "INBOX")
    wanted = set(msgids)
    check = {
        "cases": cases,
        "outbox": by_status,
        "drafts": drafts,
        "acks": len(acks),
        "acks_matching": len(replied & wanted),
        "processed": processed,
        "inbox_left": inbox_left,
    }
    errors = (
        abs(cases - n)
        + abs(int(by_status.get("sent", 0)) - n)
        + sum(int(v) for k, v in by_status.items() if k != "sent")
        + drafts
        + (n - len(replied & wanted))
        + abs(len(acks) - n)
        + abs(processed - n)
        + inbox_left
    )
    ns = {**send_b.ns, **intake_b.ns}
    calls = {**send_b.calls, **intake_b.calls}
    return {
        "mode": "sequential" if (mode == "sequential" or prof is not None) else "concurrent",
        "logging": log_level,
        **{k: round(v, 3) for k, v in t.items()},
        "msgs_per_s": rate(n, t["total_s"]),
        "intake_msgs_per_s": rate(n, t["intake_s"]),
        "ack_bytes_avg": round(sum(map(len, acks)) / len(acks)) if acks else 0,
        "cost_us_per_msg": {k: round(v / 1000 / max(n, 1), 1) for k, v in sorted(ns.items())},
        "calls": calls,
        "actions": intake_b.counts,
        "intake_failures": len(failures),
        "intake_failure_kinds": dict(Counter(f"{f['error']} ({f['sqlite']})" for f in failures)),
        "intake_failures_first": failures[:5],
        "production_backoff_s": production_backoff(len(failures)),
        "worker_failures": len(worker_failures),
        "worker_failure_kinds": dict(Counter(worker_failures)),
        "check": check,
        "errors": errors,
    }


# --------------------------------------------------------------------------------------------
# Part 1b: the bare loop
# --------------------------------------------------------------------------------------------


async def _bare_smtp(sink: SmtpSink, msgids: Sequence[str]) -> tuple[float, int]:
    client = aiosmtplib.SMTP(hostname=sink.host, port=sink.port, start_tls=False, timeout=30)
    t = time.perf_counter()
    await client.connect()
    size = 0
    for i, msgid in enumerate(msgids):
        msg = bare_reply(i, msgid)
        size += len(msg)
        await client.sendmail("feedback@city.example", [f"resident{i}@example.com"], msg)
    elapsed = time.perf_counter() - t
    await client.quit()
    return elapsed, size


def run_bare(
    dovecot: DovecotServer, sink: SmtpSink, msgids: Sequence[str], raws: Sequence[bytes]
) -> dict[str, Any]:
    n = len(raws)
    load_s = load(dovecot, raws, BARE_IN)
    with _session(dovecot) as c:
        if not c.folder_exists(BARE_DONE):
            c.create_folder(BARE_DONE)
        t = time.perf_counter()
        c.select_folder(BARE_IN)
        uids = sorted(c.search(["ALL"]))
        fetched = 0
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            data = c.fetch(batch, ["BODY.PEEK[]"])
            fetched += sum(1 for d in data.values() if d.get(b"BODY[]"))
            c.move(batch, BARE_DONE)
        imap_s = time.perf_counter() - t
    sink.clear()
    smtp_s, size = asyncio.run(_bare_smtp(sink, msgids))
    got = sink.wait_for(n, timeout=30)
    done, left = folder_count(dovecot, BARE_DONE), folder_count(dovecot, BARE_IN)
    check = {"fetched": fetched, "moved": done, "left": left, "sent": len(got)}
    errors = abs(fetched - n) + abs(done - n) + left + abs(len(got) - n)
    total = imap_s + smtp_s
    return {
        "load_s": round(load_s, 3),
        "imap_s": round(imap_s, 3),
        "smtp_s": round(smtp_s, 3),
        "total_s": round(total, 3),
        "msgs_per_s": rate(n, total),
        "imap_msgs_per_s": rate(n, imap_s),
        "smtp_msgs_per_s": rate(n, smtp_s),
        "reply_bytes_avg": round(size / max(n, 1)),
        "check": check,
        "errors": errors,
    }


def run_throughput(
    n: int, mode: str, log_level: str, prof: cProfile.Profile | None, stack: contextlib.ExitStack
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="caredesk-mailbench-"))
    stack.callback(shutil.rmtree, tmp, True)
    dovecot = DovecotServer()
    stack.callback(dovecot.close)
    dovecot.start()
    sink = SmtpSink()
    stack.callback(sink.stop)
    sink.start()
    msgids, raws = make_mail(n, f"{os.getpid()}-{time.time_ns()}")
    load_s = load(dovecot, raws, "INBOX")
    # The machine may be shared: the load average beside each timed part says how much.
    loadavg = {"caredesk": os.getloadavg()}
    care = run_caredesk(dovecot, sink, msgids, tmp, mode, log_level, prof)
    care["load_s"] = round(load_s, 3)
    if prof is not None:
        return {
            "messages": n,
            "message_bytes_avg": round(sum(map(len, raws)) / n),
            "caredesk": care,
        }
    # The same drain without the durable commit, on a fresh Dovecot and store.
    plain = DovecotServer()
    stack.callback(plain.close)
    plain.start()
    msgids2, raws2 = make_mail(n, f"{os.getpid()}-{time.time_ns()}-plain")
    load(plain, raws2, "INBOX")
    tmp2 = tmp / "not-durable"
    tmp2.mkdir()
    not_durable = run_caredesk(plain, sink, msgids2, tmp2, mode, log_level, None, durable=False)
    loadavg["bare"] = os.getloadavg()
    bare = run_bare(dovecot, sink, msgids, raws)
    loadavg["end"] = os.getloadavg()
    return {
        "messages": n,
        "loadavg": {k: [round(x, 2) for x in v] for k, v in loadavg.items()},
        "message_bytes_avg": round(sum(map(len, raws)) / n),
        "caredesk": care,
        "caredesk_not_durable": not_durable,
        "bare": bare,
        "ratio": round(care["total_s"] / bare["total_s"], 2) if bare["total_s"] else None,
        "ratio_intake_over_bare_imap": round(care["intake_s"] / bare["imap_s"], 2),
        "errors": care["errors"] + bare["errors"] + not_durable["errors"],
    }


# --------------------------------------------------------------------------------------------
# Part 2: latency through `caredesk serve`
# --------------------------------------------------------------------------------------------


def _get_json(url: str, timeout: float = 1.0) -> dict[str, Any]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as resp:
        return dict(json.loads(resp.read()))


def _wait_ack(sink: SmtpSink, seen: int, msgid: str, timeout: float) -> tuple[int, bool]:
    """Block until an acknowledgement with In-Reply-To `msgid` arrived; (messages seen, found)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return seen, False
        try:
            msgs = sink.wait_for(seen + 1, timeout=left)
        except TimeoutError:
            return seen, False
        new, seen = msgs[seen:], len(msgs)
        if any(in_reply_to(m) == msgid for m in new):
            return seen, True


def run_latency(
    m: int, gap_s: float, timeout_s: float, stack: contextlib.ExitStack
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="caredesk-mailbench-lat-"))
    stack.callback(shutil.rmtree, tmp, True)
    dovecot = DovecotServer()
    stack.callback(dovecot.close)
    dovecot.start()
    sink = SmtpSink()
    stack.callback(sink.stop)
    sink.start()
    config, db, port = tmp / "caredesk.toml", tmp / "caredesk.db", free_port()
    config.write_text(toml_text(mail_table(dovecot, sink)))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CAREDESK_IMAP_PASSWORD": dovecot.password}
    env.pop("CAREDESK_FAILPOINT", None)
    log_file = stack.enter_context(open(tmp / "serve.log", "w"))  # noqa: SIM115
    cmd = [sys.executable, "-m", "bot.cli", "--config", str(config), "--db", str(db)]
    proc = subprocess.Popen(
        [*cmd, "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    result: dict[str, Any] = {}

    def stop_serve() -> None:
        result["serve_exit"] = stop_process(proc)

    stack.callback(stop_serve)

    def serve_log() -> str:
        return "\n".join((tmp / "serve.log").read_text(errors="replace").splitlines()[-20:])

    t = time.perf_counter()
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"caredesk serve exited with {proc.returncode}:\n{serve_log()}")
        try:
            _get_json(f"http://127.0.0.1:{port}/healthz")
            break
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"caredesk serve gave no /healthz:\n{serve_log()}") from None
            time.sleep(0.05)
    startup_s = time.perf_counter() - t
    # [0] warms up, [1..m] are measured, [m+1] sweeps up: it wakes intake for any message
    # whose IDLE notification was missed, so every acknowledgement can be checked.
    msgids, raws = make_mail(m + 2, f"lat{os.getpid()}-{time.time_ns()}")
    appender = dovecot.client()
    stack.callback(appender.logout)
    # Warm-up (not counted): the first message also proves that intake is up and in IDLE.
    appender.append("INBOX", raws[0])
    seen, found = _wait_ack(sink, 0, msgids[0], 30)
    if not found:
        raise RuntimeError(f"no acknowledgement of the warm-up message:\n{serve_log()}")
    time.sleep(0.2)  # let intake finish the move and go back to IDLE
    lat_ms: list[float] = []
    append_ms: list[float] = []
    missed: list[int] = []
    for i in range(1, m + 1):
        if gap_s:
            time.sleep(gap_s)
        t0 = time.perf_counter()
        appender.append("INBOX", raws[i])
        t1 = time.perf_counter()
        seen, found = _wait_ack(sink, seen, msgids[i], timeout_s)
        append_ms.append((t1 - t0) * 1000)
        if found:
            lat_ms.append((time.perf_counter() - t0) * 1000)
        else:
            missed.append(i)
    time.sleep(0.2)
    appender.append("INBOX", raws[m + 1])
    acks: list[bytes] = []
    with contextlib.suppress(TimeoutError):
        acks = sink.wait_for(m + 2, timeout=30)
    time.sleep(0.3)  # the last ack's outbox row is marked sent just after the 250 OK
    acks = sink.messages
    health = _get_json(f"http://127.0.0.1:{port}/healthz")
    acked = {in_reply_to(a) for a in acks}
    unacked = sum(1 for msgid in msgids if msgid not in acked)
    extra = len(acks) - len(acked & set(msgids))
    stop_serve()
    problems: Counter[str] = Counter()
    for line in (tmp / "serve.log").read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("level") in ("warning", "error"):
                problems[f"{entry.get('msg')}: {entry.get('error', '')}"[:160]] += 1
    if os.environ.get("MAIL_BENCH_KEEP"):
        kept = Path(tempfile.mkdtemp(prefix="caredesk-mailbench-kept-"))
        shutil.copy(tmp / "serve.log", kept / "serve.log")
        print(f"serve log kept in {kept}", file=sys.stderr)
    result |= {
        "messages": m,
        "startup_s": round(startup_s, 2),
        "latency_ms": stats(lat_ms) if lat_ms else {},
        "append_ms": stats(append_ms) if append_ms else {},
        "under_aim": sum(1 for x in lat_ms if x < AIM_LATENCY_MS),
        "gap_ms": round(gap_s * 1000),
        "timeout_s": timeout_s,
        "missed": len(missed),
        "missed_at": missed[:20],
        "cases": health.get("cases"),
        "unacked": unacked,
        "extra_acks": extra,
        "serve_warnings": dict(problems),
    }
    result["errors"] = unacked + extra + abs(int(health.get("cases", 0)) - (m + 2))
    result["errors"] += 0 if result.get("serve_exit") == 0 else 1
    return result


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def print_throughput(r: dict[str, Any]) -> None:
    n, c = r["messages"], r["caredesk"]
    print(f"\nTHROUGHPUT  {n} messages, {r['message_bytes_avg']} B average")
    print(f"  load INBOX (multiappend x{LOAD_CHUNK}, not timed)  {c['load_s']:.2f} s")
    log_note = "no logging" if c["logging"].lower() == "off" else f"JSON logs at {c['logging']}"
    how = (
        "intake thread + worker task, concurrently, as `serve` wires them"
        if c["mode"] == "concurrent"
        else "sequentially: intake drain, then worker drain"
    )
    print(f"  caredesk ({how}; {log_note} to a file)")
    print(f"    intake   {c['intake_s']:8.3f} s  {c['intake_msgs_per_s']:8.1f} msgs/s")
    if c["mode"] == "concurrent":
        print(f"    sending  {c['send_s']:8.3f} s  (from start to the last ack marked sent;")
        print(f"             {c['send_tail_s']:.3f} s of it after intake had finished)")
    else:
        print(f"    sending  {c['send_s']:8.3f} s  {rate(n, c['send_s']):8.1f} msgs/s")
    print(f"    total    {c['total_s']:8.3f} s  {c['msgs_per_s']:8.1f} msgs/s")
    print(f"    acks     {c['ack_bytes_avg']} B average")
    print(f"    errors   {c['errors']}" + ("   (figures are worthless)" if c["errors"] else ""))
    print(f"    check    {json.dumps(c['check'])}   intake results {json.dumps(c['actions'])}")
    if c["intake_failures"] or c["mode"] == "concurrent":
        print(
            f"    intake drain failures (retried on a new IMAP session, no backoff sleep): "
            f"{c['intake_failures']}"
        )
        for kind, count in c["intake_failure_kinds"].items():
            print(f"      {count} x {kind}")
        if c["intake_failures"]:
            print(
                f"      production's ImapIntake.run would also sleep "
                f"{c['production_backoff_s']:.0f} s in reconnect backoff (1 s doubling to 60 s, "
                "never reset)"
            )
        print(f"    worker drain failures (retried on the next wake-up): {c['worker_failures']}")
        for kind, count in c["worker_failure_kinds"].items():
            print(f"      {count} x {kind}")
    print("    cost per message (us; busy time summed per thread, threads overlap):")
    for key, us in c["cost_us_per_msg"].items():
        print(f"      {key:28s} {us:9.1f}   ({c['calls'][key]} calls)")
    if "bare" not in r:
        return
    nd = r["caredesk_not_durable"]
    print("  durable commit before each move (group commit: one synchronous=FULL commit a batch)")
    print(
        f"    with     intake {c['intake_msgs_per_s']:8.1f} msgs/s   total {c['msgs_per_s']:8.1f}"
        f" msgs/s   (fsync {c['cost_us_per_msg'].get('durable commit (fsync)', 0.0):.1f} us/msg,"
        f" {c['calls'].get('durable commit (fsync)', 0)} commits)"
    )
    print(
        f"    without  intake {nd['intake_msgs_per_s']:8.1f} msgs/s   total {nd['msgs_per_s']:8.1f}"
        f" msgs/s   (errors {nd['errors']})"
    )
    b = r["bare"]
    print("  bare baseline (imapclient + aiosmtplib only, one after the other)")
    print(f"    load {BARE_IN} (not timed) {b['load_s']:.2f} s")
    print(f"    imap     {b['imap_s']:8.3f} s  {b['imap_msgs_per_s']:8.1f} msgs/s")
    print(f"             (select, search, fetch BODY.PEEK[] x{FETCH_BATCH}, move)")
    print(f"    smtp     {b['smtp_s']:8.3f} s  {b['smtp_msgs_per_s']:8.1f} msgs/s")
    print(f"             ({b['reply_bytes_avg']} B messages, one connection)")
    print(f"    total    {b['total_s']:8.3f} s  {b['msgs_per_s']:8.1f} msgs/s")
    print(f"    errors   {b['errors']}   check {json.dumps(b['check'])}")
    print(
        f"  ratio caredesk/bare  {r['ratio']}x   (aim: within {AIM_RATIO}x)"
        f"   intake/bare-imap {r['ratio_intake_over_bare_imap']}x"
    )
    print(f"  errors total  {r['errors']}")
    if "loadavg" in r:
        at = ", ".join(f"{k} {' '.join(map(str, v))}" for k, v in r["loadavg"].items())
        print(f"  load average (1/5/15 min) at start of: {at}   ({os.cpu_count()} CPUs)")


def print_latency(r: dict[str, Any]) -> None:
    gap = f", {r['gap_ms']} ms after each ack" if r["gap_ms"] else ", each right after the last ack"
    print(f"\nLATENCY  caredesk serve (IDLE), {r['messages']} messages one at a time{gap}")
    print(
        f"  startup to /healthz  {r['startup_s']:.2f} s; one warm-up and one final sweep-up "
        "message not counted"
    )
    lat = r["latency_ms"]
    if lat:
        print(
            "  APPEND start -> ack at sink, ms:  "
            + "  ".join(f"{k} {v:.1f}" for k, v in lat.items())
        )
        print(
            "  APPEND alone, ms:                 "
            + "  ".join(f"{k} {v:.1f}" for k, v in r["append_ms"].items())
        )
    print(
        f"  under the {AIM_LATENCY_MS:.0f} ms aim: {r['under_aim']}/{r['messages']}"
        "   (Dovecot delays IDLE notifications ~500 ms by design)"
    )
    print(
        f"  missed: {r['missed']} with no ack within {r['timeout_s']:g} s (acknowledged only "
        f"once a later APPEND woke intake; not in the percentiles) {r['missed_at'] or ''}"
    )
    print(
        f"  cases {r['cases']} (expected {r['messages'] + 2}), unacknowledged {r['unacked']}, "
        f"extra acks {r['extra_acks']}, serve exit {r.get('serve_exit')}"
    )
    print(f"  warnings/errors in serve's log: {sum(r['serve_warnings'].values())}")
    for text, count in r["serve_warnings"].items():
        print(f"    {count} x {text}")
    print(f"  errors {r['errors']}" + ("   (figures are worthless)" if r["errors"] else ""))


def print_profile(prof: cProfile.Profile, top: int) -> None:
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats(key).print_stats(top)
        print(f"\nPROFILE  sorted by {key}, top {top}")
        lines = out.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        print("\n".join(lines[start:]))


# --------------------------------------------------------------------------------------------


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--part", choices=("throughput", "latency", "both"), default="both")
    parser.add_argument("--messages", type=int, default=10000, metavar="N")
    parser.add_argument("--latency-messages", type=int, default=200, metavar="M")
    parser.add_argument(
        "--mode",
        choices=("concurrent", "sequential"),
        default="concurrent",
        help="caredesk drain: intake thread + worker task at once (as serve does), or one then "
        "the other (default concurrent)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="caredesk's JSON logging during the throughput drain, to a temp file, as serve "
        "logs at INFO (default INFO; 'off' for none)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the caredesk drain (sequential, no baseline, no latency) and print "
        "the top functions",
    )
    parser.add_argument("--profile-top", type=int, default=30, metavar="K")
    parser.add_argument(
        "--latency-gap-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="pause between an acknowledgement and the next APPEND (default 0: at once)",
    )
    parser.add_argument(
        "--latency-timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds to wait for one acknowledgement before counting it missed (default 5)",
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON object")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _sigterm)
    ctx = machine()
    print(
        f"machine   python {ctx['python']}, {ctx['cpus']} CPUs, {ctx['platform']}\n"
        f"          dovecot {ctx['dovecot']}, sqlite {ctx['sqlite']}, "
        f"aiosmtplib {ctx['aiosmtplib']}; all servers on loopback"
    )
    out: dict[str, Any] = {"machine": ctx}
    prof = cProfile.Profile() if args.profile else None
    try:
        if args.part in ("throughput", "both") or prof is not None:
            with contextlib.ExitStack() as stack:
                out["throughput"] = run_throughput(
                    args.messages, args.mode, args.log_level, prof, stack
                )
            print_throughput(out["throughput"])
            if prof is not None:
                print_profile(prof, args.profile_top)
        if args.part in ("latency", "both") and prof is None:
            with contextlib.ExitStack() as stack:
                out["latency"] = run_latency(
                    args.latency_messages,
                    args.latency_gap_ms / 1000,
                    args.latency_timeout,
                    stack,
                )
            print_latency(out["latency"])
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped and temp dirs removed", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
