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

from bot.chat import ChatService
from bot.clock import Clock, SystemClock
from bot.config import Config, ImapConfig
from bot.decide import Policy
from bot.failpoints import failpoint
from bot.flows.complaint import ComplaintFlow
from bot.intake import Intake
from bot.mail_intake import MailIntake, store_mail_state, warm_up
from bot.outbox_worker import OutboxWorker
from bot.replies import ReplyRenderer
from bot.telegram import TelegramChannel, TelegramSender
from bot.webchat import WebChat, security_headers
from mail.imap import ImapIntake
from mail.smtp import SmtpSender
from storage.cases import count_cases
from storage.db import SCHEMA_VERSION, open_store, schema_version
from storage.outbox import pending_drafts

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
            "status": "ok",
            "schema": schema_version(db),
            "schema_expected": SCHEMA_VERSION,
            "cases": count_cases(db),
            "drafts_pending": pending_drafts(db),
        }
    )


WEBCHAT = web.AppKey("webchat", WebChat)
TELEGRAM = web.AppKey("telegram", TelegramChannel)


def build_app(services: Services) -> web.Application:
    app = web.Application(middlewares=[security_headers], client_max_size=256 * 1024)
    app[SERVICES] = services
    app.router.add_get("/healthz", healthz)
    webchat = WebChat(services.chat, services.config)
    app[WEBCHAT] = webchat
    webchat.routes(app)

    async def close_sockets(app: web.Application) -> None:
        for sockets in list(webchat.sockets.values()):
            for ws in list(sockets):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"service restarting")

    app.on_shutdown.append(close_sockets)
    app.cleanup_ctx.append(sweeper)
    telegram = services.config.telegram
    if telegram.token:
        channel = TelegramChannel(services.chat, telegram, telegram.token)
        app[TELEGRAM] = channel
        if telegram.mode == "webhook":
            app.router.add_post(telegram.webhook_path, channel.webhook)
        app.cleanup_ctx.append(telegram_channel)

    async def close_store(app: web.Application) -> AsyncIterator[None]:
        yield
        services.db.close()

    app.cleanup_ctx.append(close_store)
    app.cleanup_ctx.append(mail_workers)
    return app


async def telegram_channel(app: web.Application) -> AsyncIterator[None]:
    """Telegram: polling or webhook, plus a worker for replies queued while nobody chatted."""
    services = app[SERVICES]
    channel = app[TELEGRAM]
    await channel.start()
    worker = OutboxWorker(
        services.db, TelegramSender(channel), services.clock, retry_base_seconds=5.0, max_attempts=8
    )
    task = asyncio.create_task(worker.run(), name="telegram-outbox")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await channel.stop()


async def sweeper(app: web.Application) -> AsyncIterator[None]:
    """Pause idle chats (telling the resident) and push queued messages to open pages."""
    services = app[SERVICES]
    webchat = app[WEBCHAT]

    async def sweep() -> None:
        while True:
            await asyncio.sleep(services.config.web.sweep_seconds)
            try:
                services.chat.expire_idle(CHAT_CHANNELS)
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
    mail = services.config.mail
    worker: OutboxWorker | None = None
    task: asyncio.Task[None] | None = None
    if mail.smtp is not None:
        worker = OutboxWorker(
            services.db,
            SmtpSender(mail, mail.smtp),
            services.clock,
            retry_base_seconds=mail.smtp.retry_base_seconds,
            max_attempts=mail.smtp.max_attempts,
        )
        task = asyncio.create_task(worker.run(), name="smtp-outbox")
    stop = threading.Event()
    thread: threading.Thread | None = None
    if mail.imap is not None:
        warm_up(services.policy, services.clock.now())  # at start, before anything is served
        loop = asyncio.get_running_loop()
        wake = (lambda: loop.call_soon_threadsafe(worker.wake.set)) if worker else (lambda: None)
        thread = threading.Thread(
            target=run_imap_intake,
            args=(services, mail.imap, stop, wake),
            name="imap-intake",
            daemon=True,
        )
        thread.start()
    yield
    stop.set()
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if thread is not None:
        await asyncio.to_thread(thread.join, 10)


def run_imap_intake(
    services: Services, cfg: ImapConfig, stop: threading.Event, wake: Callable[[], object]
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
    )
    try:
        intake.run()
    finally:
        db.close()
