"""The composition root: the only place that reads the configuration and wires the parts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlite_utils
from aiohttp import WSCloseCode, web
from telegram.error import TelegramError

from bot.chat import ChatService
from bot.clock import Clock, SystemClock
from bot.config import Config, ImapConfig
from bot.decide import Policy
from bot.failpoints import failpoint
from bot.flows.complaint import ComplaintFlow
from bot.health import (
    DEGRADED,
    OK,
    RETRY_FIRST_SECONDS,
    STARTING,
    Backoff,
    Health,
)
from bot.intake import Intake
from bot.mail_intake import MailIntake, store_mail_state, warm_up
from bot.outbox_worker import OutboxWorker
from bot.replies import ReplyRenderer
from bot.retention import run as run_retention_once
from bot.staff.pages import install_staff
from bot.telegram import TelegramChannel, TelegramSender
from bot.tracker_service import run_forwarding
from bot.tracker_sync import run_tracker_sync
from bot.webchat import WebChat, security_headers
from mail.imap import ImapIntake
from mail.smtp import SmtpSender
from storage.cases import count_cases
from storage.checkpoint import Checkpointer, defer_checkpoints, restore_checkpoints
from storage.db import SCHEMA_VERSION, open_store, schema_version
from storage.outbox import DeliveryError, pending_drafts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    config: Config
    db_path: Path
    db: sqlite_utils.Database
    policy: Policy
    renderer: ReplyRenderer
    intake: Intake
    flow: ComplaintFlow
    chat: ChatService
    clock: Clock


def build_services(
    config: Config, db_path: Path | None = None, clock: Clock | None = None
) -> Services:
    db_path = db_path or config.store_path
    db = open_store(db_path)
    policy = Policy.from_config(config)
    renderer = ReplyRenderer()
    intake = Intake(db, policy, renderer)
    flow = ComplaintFlow(config, policy.rules)
    clock = clock or SystemClock()
    return Services(
        config,
        db_path,
        db,
        policy,
        renderer,
        intake,
        flow,
        ChatService(db, flow, intake, clock),
        clock,
    )


SERVICES = web.AppKey("services", Services)
#: Chats that can be told about a pause (the console is not: nobody is listening).
CHAT_CHANNELS = ("web", "telegram")


async def healthz(request: web.Request) -> web.Response:
    """Liveness and a glance at the queues, for the city's monitoring. No personal data."""
    services = request.app[SERVICES]
    db = services.db
    return web.json_response(
        {
            **request.app[HEALTH].report(),
            "schema": schema_version(db),
            "schema_expected": SCHEMA_VERSION,
            "cases": count_cases(db),
            "drafts_pending": pending_drafts(db),
        }
    )


WEBCHAT = web.AppKey("webchat", WebChat)
HEALTH = web.AppKey("health", Health)
TELEGRAM = web.AppKey("telegram", TelegramChannel)


def build_app(services: Services) -> web.Application:
    app = web.Application(middlewares=[security_headers], client_max_size=256 * 1024)
    app[SERVICES] = services
    app[HEALTH] = Health()
    app[HEALTH].set("web", OK)
    app.router.add_get("/healthz", healthz)
    webchat = WebChat(services.chat, services.config)
    app[WEBCHAT] = webchat
    webchat.routes(app)
    install_staff(app, services.db, services.config, services.clock)

    async def close_sockets(app: web.Application) -> None:
        for sockets in list(webchat.sockets.values()):
            for ws in list(sockets):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"service restarting")

    app.on_shutdown.append(close_sockets)
    app.cleanup_ctx.append(warm_process)
    app.cleanup_ctx.append(sweeper)
    telegram = services.config.telegram
    if telegram.token:
        channel = TelegramChannel(
            services.chat,
            telegram,
            telegram.token,
            on_error=lambda reason: app[HEALTH].set("telegram", DEGRADED, reason),
        )
        app[TELEGRAM] = channel
        if telegram.mode == "webhook":
            app.router.add_post(telegram.webhook_path, channel.webhook)
        app.cleanup_ctx.append(telegram_channel)

    async def close_store(app: web.Application) -> AsyncIterator[None]:
        yield
        services.db.close()

    app.cleanup_ctx.append(close_store)
    app.cleanup_ctx.append(mail_workers)
    app.cleanup_ctx.append(tracker_workers)
    app.cleanup_ctx.append(retention_job)
    app.cleanup_ctx.append(tracker_sync_job)
    app.cleanup_ctx.append(scheduler_job)
    app.cleanup_ctx.append(wal_checkpoints)
    return app


#: How often `caredesk serve` checkpoints the WAL, off the request path (storage/checkpoint.py).
CHECKPOINT_SECONDS = 1.0


async def warm_process(app: web.Application) -> AsyncIterator[None]:
    """Before any channel answers: load what a resident's first message or answer would
    (dateparser's data, about 0.3 s; the mail parser; the holiday tables), for every channel,
    not only mail."""
    services = app[SERVICES]
    warm_up(services.policy, services.clock.now())
    yield


async def wal_checkpoints(app: web.Application) -> AsyncIterator[None]:
    """Checkpoint the WAL every CHECKPOINT_SECONDS in a thread, not inside a chat turn's
    COMMIT; if that fails, the commits checkpoint again as SQLite does by default."""
    services = app[SERVICES]
    if str(services.db_path) == ":memory:":
        yield
        return
    checkpointer = Checkpointer(services.db_path)
    defer_checkpoints(services.db)

    stop = asyncio.Event()

    async def run() -> None:
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), CHECKPOINT_SECONDS)
                # Even on the way out: a checkpoint under way is never cut short.
                await asyncio.to_thread(checkpointer.run)
        except Exception:
            log.exception("WAL checkpoint error; commits checkpoint the WAL again")
            restore_checkpoints(services.db)

    task = asyncio.create_task(run(), name="wal-checkpoints")
    yield
    stop.set()
    await task
    restore_checkpoints(services.db)
    await asyncio.to_thread(checkpointer.close)


async def retention_job(app: web.Application) -> AsyncIterator[None]:
    """Erase personal data past retention: once at start, then every `every_hours`."""
    services = app[SERVICES]
    every = services.config.retention_every_hours
    if every == 0:
        yield
        return

    async def erase() -> None:
        while True:
            try:
                # Its own connection in a thread: a first run over years of cases must not
                # block the chats on the loop.
                await asyncio.to_thread(run_retention, services)
            except Exception:
                log.exception("retention job error; trying again next time")
            await asyncio.sleep(every * 3600)

    task = asyncio.create_task(erase(), name="retention")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def tracker_sync_job(app: web.Application) -> AsyncIterator[None]:
    """Open311 status sync every [tracker] sync_seconds (bot/tracker_sync.py), when a
    department has an Open311 tracker; its state is "tracker-sync" in /healthz."""
    services = app[SERVICES]
    if not any(d.tracker == "open311" for d in services.config.departments):
        yield
        return
    task = asyncio.create_task(
        run_tracker_sync(
            services.db,
            services.policy,
            services.renderer,
            services.clock,
            app[HEALTH],
            every=services.config.tracker.sync_seconds,
            stop=asyncio.Event(),
        ),
        name="tracker-sync",
    )
    yield
    # Cancelled at an HTTP call, never inside a write: those have no await.
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def scheduler_job(app: web.Application) -> AsyncIterator[None]:
    """The policy's clocks (bot/scheduler.py): a pass every [clocks] tick_seconds, in a thread
    on its own connection, so a pass with much to do never blocks the chats on the loop."""
    services = app[SERVICES]

    async def run() -> None:
        while True:
            try:
                await asyncio.to_thread(run_scheduler, services)
            except Exception:
                log.exception("scheduler pass error; trying again next time")
            await asyncio.sleep(services.config.clocks.tick_seconds)

    task = asyncio.create_task(run(), name="scheduler")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def run_scheduler(services: Services) -> int:
    """One scheduler pass on its own connection; returns how many actions it took."""
    from bot.scheduler import Scheduler

    db = open_store(services.db_path)
    try:
        done = Scheduler(db, services.policy, services.renderer).tick(services.clock.now())
    finally:
        db.close()
    if done:
        log.info("scheduler pass", extra={"count": len(done)})
    return len(done)


def run_retention(services: Services) -> int:
    """One retention run on its own connection; returns how many erasures it made."""
    db = open_store(services.db_path)
    try:
        report = run_retention_once(db, services.config.retention_days, services.clock.now())
    finally:
        db.close()
    return len(report.erasures)


async def telegram_channel(app: web.Application) -> AsyncIterator[None]:
    """Telegram: polling or webhook, plus a worker for replies queued while nobody chatted.

    An unreachable Bot API does not stop the service: the channel retries in the background
    (with backoff) and /healthz says it is degraded until it is up."""
    task = asyncio.create_task(keep_telegram_up(app), name="telegram")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await app[TELEGRAM].stop()


async def keep_telegram_up(app: web.Application) -> None:
    services = app[SERVICES]
    channel = app[TELEGRAM]
    health = app[HEALTH]
    health.set("telegram", STARTING)
    backoff = Backoff()
    while True:
        try:
            await channel.start()
            break
        except (TelegramError, OSError) as exc:
            health.set("telegram", DEGRADED, f"Bot API: {type(exc).__name__}: {exc}"[:300])
            await asyncio.sleep(backoff.next())
        except Exception as exc:  # not the network: a bug, so keep its traceback
            log.exception("telegram: could not start")
            health.set("telegram", DEGRADED, f"{type(exc).__name__}: {exc}"[:300])
            await asyncio.sleep(backoff.next())
    health.set("telegram", OK)
    worker = OutboxWorker(
        services.db, TelegramSender(channel), services.clock, retry_base_seconds=5.0, max_attempts=8
    )
    await asyncio.gather(worker.run(), watch_telegram(channel, health))


async def watch_telegram(channel: TelegramChannel, health: Health) -> None:
    """After a polling error (reported by the channel), ask the Bot API until it answers."""
    backoff = Backoff()
    while True:
        state = health.get("telegram")
        if state is None or state.state != DEGRADED:
            backoff.reset()
            await asyncio.sleep(RETRY_FIRST_SECONDS)
            continue
        await asyncio.sleep(backoff.next())
        try:
            await channel.app.bot.get_me()
        except (TelegramError, OSError):
            continue
        health.set("telegram", OK)


async def sweeper(app: web.Application) -> AsyncIterator[None]:
    """Pause idle chats (telling the resident) and push queued messages to open pages."""
    services = app[SERVICES]
    webchat = app[WEBCHAT]

    async def sweep() -> None:
        while True:
            await asyncio.sleep(services.config.web.sweep_seconds)
            try:
                told: list[tuple[str, str]] = []
                services.chat.expire_idle(CHAT_CHANNELS, told)
                for key, notice in told:
                    await webchat.tell(key, notice)
                await webchat.push_pending()
            except Exception:
                log.exception("sweeper error; carrying on")

    task = asyncio.create_task(sweep(), name="chat-sweeper")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def mail_workers(app: web.Application) -> AsyncIterator[None]:
    """The SMTP outbox worker and the IMAP intake thread, when configured."""
    services = app[SERVICES]
    health = app[HEALTH]
    mail = services.config.mail
    worker: OutboxWorker | None = None
    tasks: list[asyncio.Task[None]] = []
    if mail.smtp is not None:
        health.set("smtp", STARTING)

        def smtp_state(state: str, reason: str) -> None:
            health.set("smtp", state, reason)

        worker = OutboxWorker(
            services.db,
            SmtpSender(mail, mail.smtp, on_state=smtp_state),
            services.clock,
            retry_base_seconds=mail.smtp.retry_base_seconds,
            max_attempts=mail.smtp.max_attempts,
        )
        # The probe has a connection of its own: closing it never cuts the worker's.
        probe = SmtpSender(mail, mail.smtp, on_state=smtp_state)
        tasks.append(asyncio.create_task(probe_smtp(probe, worker), name="smtp-probe"))
        tasks.append(asyncio.create_task(worker.run(), name="smtp-outbox"))
    stop = threading.Event()
    thread: threading.Thread | None = None
    if mail.imap is not None:
        health.set("imap", STARTING)
        loop = asyncio.get_running_loop()
        wake = (lambda: loop.call_soon_threadsafe(worker.wake.set)) if worker else (lambda: None)
        thread = threading.Thread(
            target=run_imap_intake,
            args=(services, mail.imap, stop, wake, health),
            name="imap-intake",
            daemon=True,
        )
        thread.start()
    yield
    stop.set()
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if thread is not None:
        await asyncio.to_thread(thread.join, 10)


async def tracker_workers(app: web.Application) -> AsyncIterator[None]:
    """Forwarding to the departments' trackers (bot/tracker_service.py), when any is set."""
    services = app[SERVICES]
    task = asyncio.create_task(
        run_forwarding(services.db, services.config, services.clock, app[HEALTH]),
        name="tracker-outbox",
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def probe_smtp(sender: SmtpSender, worker: OutboxWorker) -> None:
    """Connect once at start, and again with backoff until the server answers, so /healthz
    tells an unreachable SMTP server before there is anything to send."""
    backoff = Backoff()
    while True:
        try:
            await sender.connect()
        except DeliveryError:
            await asyncio.sleep(backoff.next())
            continue
        await sender.close()
        worker.wake.set()  # replies that waited for the server go now
        return


def run_imap_intake(
    services: Services,
    cfg: ImapConfig,
    stop: threading.Event,
    wake: Callable[[], object],
    health: Health | None = None,
) -> None:
    """The IMAP thread: its own SQLite connection, the shared (pure) policy and templates."""
    db = open_store(services.db_path)
    mail_intake = MailIntake(db, services.policy, Intake(db, services.policy, services.renderer))

    def handle(raw: bytes, received: datetime) -> None:
        failpoint("mail-process", raw)
        result = mail_intake.process(raw, received, services.clock.now())
        log.info(
            "mail processed",
            extra={"ref": result.ref, "status": result.action, "reply": result.rule},
        )
        wake()

    intake = ImapIntake(
        cfg,
        handle,
        store_mail_state(db, mail_intake, services.clock),
        stop,
        services.config.mail.max_message_bytes,
        failpoint,
        on_state=(lambda state, reason: health.set("imap", state, reason)) if health else None,
    )
    try:
        intake.run()
    finally:
        db.close()
