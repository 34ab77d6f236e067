"""The Telegram channel with python-telegram-bot: long polling, or a webhook on our aiohttp app.

An adapter only: an update becomes `ChatService.handle(...)` with the update's id as its
idempotency key (a redelivery after a crash does nothing), and the turn's replies become
messages with a reply keyboard for the choices. Conversation state lives in the store, not
in PTB: nothing that must survive a restart is kept in process memory.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from telegram import (
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.chat import ChatService, Turn
from bot.config import TelegramConfig
from bot.model import Attachment, Reply
from bot.telegram_http import AiohttpRequest, LeanBot
from storage.outbox import DeliveryError, OutboxItem

log = logging.getLogger(__name__)

CHANNEL = "telegram"
#: Telegram refuses longer messages (4096 UTF-16 code units); stay safely below.
MAX_TEXT = 4000
COMMANDS = (
    ("start", "Start, or carry on where you left off"),
    ("help", "What you can type here"),
    ("cancel", "Stop this conversation; nothing is sent"),
    ("status", "Status of your case: /status CD-2026-000123"),
)
#: Updates being handled at once, across chats (each chat still one at a time, in order).
MAX_CONCURRENT_UPDATES = 256


def conversation_key(chat_id: int | str) -> str:
    return f"{CHANNEL}:{chat_id}"


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split at paragraph, then line, then word boundaries; never inside a word if avoidable."""
    parts: list[str] = []
    while len(text) > limit:
        cut = max(text.rfind("\n\n", 0, limit), text.rfind("\n", 0, limit))
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    parts.append(text)
    return [p for p in parts if p]


def secret_matches(given: str, secret: str) -> bool:
    """Constant-time comparison on bytes: a header with non-ASCII characters is a mismatch,
    not a TypeError (hmac.compare_digest refuses non-ASCII str). No secret: nothing matches."""
    if not secret:
        return False
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), secret.encode("utf-8", "surrogateescape")
    )


def keyboard(choices: tuple[str, ...]) -> ReplyKeyboardMarkup | ReplyKeyboardRemove:
    if not choices:
        return ReplyKeyboardRemove()
    rows = [[KeyboardButton(c) for c in choices[i : i + 2]] for i in range(0, len(choices), 2)]
    return ReplyKeyboardMarkup(
        rows,
        resize_keyboard=True,
        one_time_keyboard=True,
        input_field_placeholder="Or type your answer",
    )


class PerChatOrder(BaseUpdateProcessor):
    """Different chats are answered concurrently; the updates of one chat one at a time, in
    the order they arrived.

    Without it PTB handles one update at a time: a hundred residents typing at once wait for
    each other's Bot API round trips. With plain `concurrent_updates` two quick messages of
    one resident could be answered out of order. PTB starts updates in the order it received
    them and its semaphore is FIFO; each then queues on its chat's lock (asyncio.Lock is FIFO
    too, and taken without a pause when free), so a chat's order holds. The turns themselves
    stay synchronous on the loop, so SQLite still sees one writer at a time.
    """

    __slots__ = ("_chats",)

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        #: A lock per chat with an update in flight; dropped when its last update is done.
        self._chats: dict[int, tuple[asyncio.Lock, list[int]]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock, users = self._chats.setdefault(chat.id, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                await coroutine
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._chats[chat.id]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


class TelegramChannel:
    def __init__(
        self,
        chat: ChatService,
        cfg: TelegramConfig,
        token: str,
        on_error: Callable[[str], object] = lambda reason: None,
    ) -> None:
        self.chat = chat
        self.cfg = cfg
        #: Told when long polling fails (the Bot API is gone); PTB then retries by itself.
        self.on_error = on_error
        self.app: Application[Any, Any, Any, Any, Any, Any] = self._build(token)
        self.app.add_handler(CommandHandler("start", self.on_start))
        self.app.add_handler(CommandHandler(["help", "cancel", "status"], self.on_command))
        self.app.add_handler(MessageHandler(filters.PHOTO | filters.Document.ALL, self.on_file))
        self.app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.on_text))
        # A location shared from the phone; not a live location's updates (edited messages).
        self.app.add_handler(
            MessageHandler(filters.LOCATION & filters.UpdateType.MESSAGE, self.on_location)
        )
        self.app.add_error_handler(self._handler_failed)

    def _build(self, token: str) -> Application[Any, Any, Any, Any, Any, Any]:
        self.bot = LeanBot(
            token,
            base_url=self.cfg.api_base_url,
            base_file_url=self.cfg.api_file_url,
            request=AiohttpRequest(),
            get_updates_request=AiohttpRequest(pool_size=1),
        )
        builder = ApplicationBuilder().bot(self.bot).concurrent_updates(PerChatOrder())
        if self.cfg.mode == "webhook":
            builder = builder.updater(None)
        return builder.build()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Raises a TelegramError when the Bot API cannot be reached; calling it again
        carries on from where it failed (the caller retries with backoff)."""
        await self.app.initialize()  # asks getMe: fails here when the Bot API is unreachable
        try:
            await self.app.bot.set_my_commands([(name, text) for name, text in COMMANDS])
        except (NetworkError, BadRequest) as exc:  # a nicety; never a reason not to start
            log.warning("telegram: setMyCommands failed", extra={"error": str(exc)})
        if not self.app.running:
            await self.app.start()
        if self.cfg.mode == "webhook":
            await self.app.bot.set_webhook(
                self.cfg.webhook_url,
                secret_token=self.cfg.webhook_secret or None,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            assert self.app.updater is not None
            await self.app.updater.start_polling(
                poll_interval=0.0,
                timeout=self.cfg.poll_timeout,
                allowed_updates=Update.ALL_TYPES,
                error_callback=self._polling_failed,
            )

    async def _handler_failed(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A reply that could not be sent because the Bot API went away is one line and a
        degraded channel (the turn itself is committed; queued rows go out when it is back);
        anything else is a bug and keeps its traceback."""
        exc = context.error
        if isinstance(exc, NetworkError):  # TimedOut included
            self.on_error(f"Bot API: {type(exc).__name__}: {exc}"[:300])
            log.warning("telegram: a reply could not be sent", extra={"error": str(exc)[:300]})
            return
        log.error("telegram: error while handling an update", exc_info=exc)

    def _polling_failed(self, exc: TelegramError) -> None:
        """PTB retries polling by itself; without this callback it logs a traceback each time."""
        self.on_error(f"Bot API: {type(exc).__name__}: {exc}"[:300])

    async def stop(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    async def webhook(self, request: web.Request) -> web.Response:
        """Updates posted by Telegram; the secret token header must match ours."""
        if not self.app.running:  # still reaching the Bot API: Telegram will post again
            raise web.HTTPServiceUnavailable()
        if not secret_matches(
            request.headers.get("X-Telegram-Bot-Api-Secret-Token", ""), self.cfg.webhook_secret
        ):
            raise web.HTTPForbidden()
        try:
            data = await request.json()
            update = Update.de_json(data, self.app.bot)
        except (ValueError, TypeError, KeyError):
            raise web.HTTPBadRequest(text="not a Telegram update") from None
        # Through the same per-chat order as polled updates: Telegram may post several at once.
        await self.app.update_processor.process_update(update, self.app.process_update(update))
        return web.Response(text="ok")

    # -- handlers ---------------------------------------------------------------------------

    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        turn = self.chat.open(CHANNEL, conversation_key(chat.id), update_key=str(update.update_id))
        await self.send(chat.id, turn)

    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.text is None:
            return
        command, _, rest = message.text.partition(" ")
        text = f"{command.lstrip('/').split('@')[0]} {rest}".strip()
        await self._handle(update, text)

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None and message.text is not None:
            await self._handle(update, message.text)

    async def on_file(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        files: list[Attachment] = []
        if message.photo:
            photo = message.photo[-1]  # the largest size
            files.append(Attachment(None, "image/jpeg", photo.file_size or 0, photo.file_id))
        if message.document:
            doc = message.document
            files.append(
                Attachment(
                    doc.file_name,
                    doc.mime_type or "application/octet-stream",
                    doc.file_size or 0,
                    doc.file_id,
                )
            )
        await self._handle(update, message.caption or "", files)

    async def on_location(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A location share: its coordinates go to the dialogue, which decides what they
        answer (the place, at any question)."""
        message = update.effective_message
        if message is None or message.location is None:
            return
        where = (message.location.latitude, message.location.longitude)
        await self._handle(update, "", location=where)

    async def _handle(
        self,
        update: Update,
        text: str,
        files: list[Attachment] | None = None,
        location: tuple[float, float] | None = None,
    ) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        turn = self.chat.handle(
            CHANNEL,
            conversation_key(chat.id),
            text,
            update_key=str(update.update_id),
            attachments=files or (),
            location=location,
        )
        await self.send(chat.id, turn)

    async def send(self, chat_id: int, turn: Turn) -> None:
        """Send a turn's replies in order; mark its outbox rows delivered once all went out."""
        for reply in turn.replies:
            await self._send_reply(chat_id, reply)
        self.chat.delivered(turn)

    async def _send_reply(self, chat_id: int, reply: Reply) -> None:
        parts = split_text(reply.text)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            await self._send_text(chat_id, part, keyboard(reply.choices) if last else None)

    async def _send_text(
        self, chat_id: int, text: str, markup: ReplyKeyboardMarkup | ReplyKeyboardRemove | None
    ) -> None:
        await self.bot.send_text(chat_id, text, markup)


class TelegramSender:
    """The outbox worker's way to Telegram: replies queued while nobody was in the chat
    (a pause notice, an acknowledgement a crash kept from being shown)."""

    channel = CHANNEL

    def __init__(self, channel: TelegramChannel) -> None:
        self.telegram = channel

    async def send(self, item: OutboxItem, now: datetime) -> None:
        if not item.recipient or not item.recipient.startswith(f"{CHANNEL}:"):
            raise DeliveryError("not a Telegram conversation", permanent=True)
        chat_id = int(item.recipient.split(":", 1)[1])
        text = item.body if item.case_id is None else f"{item.subject}\n\n{item.body}"
        try:
            await self.telegram._send_reply(chat_id, Reply(text))
        except RetryAfter as exc:
            raise DeliveryError(f"telegram asks to wait ({exc})", permanent=False) from exc
        except (Forbidden, BadRequest) as exc:  # blocked by the user, chat gone
            raise DeliveryError(f"telegram refused: {exc}", permanent=True) from exc
        except (NetworkError, TimedOut) as exc:
            raise DeliveryError(f"telegram unreachable: {exc}", permanent=False) from exc

    async def close(self) -> None:
        return None
