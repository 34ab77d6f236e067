"""The fake Bot API (tests/telegram_api.py) against real python-telegram-bot 22.

PTB runs in the test's event loop and speaks real HTTP to the fake on loopback
(/work/shared/TESTING.md section 3).
"""

from __future__ import annotations

import contextlib
import datetime as dtm
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.telegram_api import FakeBotApi

AnyApp = Application[Any, Any, Any, Any, Any, Any]

CHAT = 4242


def build_app(api: FakeBotApi) -> AnyApp:
    return (
        ApplicationBuilder()
        .token(api.token)
        .base_url(api.base_url)
        .base_file_url(api.base_file_url)
        .build()
    )


@contextlib.asynccontextmanager
async def running(app: AnyApp, poll_interval: float = 0.0) -> AsyncIterator[AnyApp]:
    """initialize/start/start_polling in this loop; the reverse afterwards."""
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=poll_interval, timeout=1)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


@contextlib.asynccontextmanager
async def bot_for(api: FakeBotApi) -> AsyncIterator[Bot]:
    async with Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url) as bot:
        yield bot


KEYBOARD = ReplyKeyboardMarkup(
    [["File a complaint"], ["Help"]], resize_keyboard=True, one_time_keyboard=True
)


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_chat is not None
    await context.bot.send_message(update.effective_chat.id, "Welcome", reply_markup=KEYBOARD)


async def on_echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text)


def echo_app(api: FakeBotApi) -> AnyApp:
    app = build_app(api)
    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_echo))
    return app


async def test_start_command_echo_and_reply_keyboard(api: FakeBotApi) -> None:
    async with running(echo_app(api)) as app:
        assert app.bot.username == "caredesk_test_bot"
        api.push_text(CHAT, "/start", first_name="Ada")
        sent = await api.wait_sent(1)
        assert sent[0]["chat_id"] == CHAT
        assert sent[0]["text"] == "Welcome"
        assert sent[0]["reply_markup"] == {
            "keyboard": [[{"text": "File a complaint"}], [{"text": "Help"}]],
            "resize_keyboard": True,
            "one_time_keyboard": True,
        }
        api.push_text(CHAT, "My bin was not collected")
        api.push_text(CHAT, "123")  # must stay the string "123" end to end
        await api.wait_sent(3)
    assert api.sent_to(CHAT) == ["Welcome", "My bin was not collected", "123"]
    assert [m["message_id"] for m in api.sent] == sorted({m["message_id"] for m in api.sent})
    methods = [name for name, _ in api.calls]
    assert methods[:3] == ["getMe", "deleteWebhook", "getUpdates"]
    assert methods[-1] == "getUpdates"  # PTB's cleanup call, confirming everything
    assert api.pending == []


async def test_callback_query_is_answered_and_message_edited(api: FakeBotApi) -> None:
    choices = InlineKeyboardMarkup(
        [[InlineKeyboardButton("Yes", callback_data="yes")], [InlineKeyboardButton("No", "no")]]
    )

    async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text("Is anyone in danger?", reply_markup=choices)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        await query.answer("Noted")
        await query.edit_message_text(f"Is anyone in danger? {query.data}")

    app = build_app(api)
    app.add_handler(CommandHandler("danger", ask))
    app.add_handler(CallbackQueryHandler(pressed))
    async with running(app):
        api.push_text(CHAT, "/danger")
        (question,) = await api.wait_sent(1)
        assert question["reply_markup"]["inline_keyboard"][0][0] == {
            "text": "Yes",
            "callback_data": "yes",
        }
        api.push_callback(CHAT, "no", question["message_id"])
        await api.wait_calls("editMessageText")
    assert [a["text"] for a in api.answered] == ["Noted"]
    assert api.edited[0]["message_id"] == question["message_id"]
    assert api.edited[0]["text"] == "Is anyone in danger? no"


async def test_photo_and_document_reach_ptb_and_download(api: FakeBotApi) -> None:
    seen: list[tuple[str, int | None, int, bytes]] = []
    documents: list[tuple[str | None, str | None, int | None]] = []

    async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        largest = update.message.photo[-1]
        data = bytes(await (await largest.get_file()).download_as_bytearray())
        seen.append((largest.file_id, largest.file_size, largest.width, data))

    async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.document is not None
        doc = update.message.document
        documents.append((doc.file_name, doc.mime_type, doc.file_size))

    app = build_app(api)
    app.add_handler(MessageHandler(filters.PHOTO, on_photo))
    app.add_handler(MessageHandler(filters.Document.ALL, on_document))
    async with running(app):
        api.push_photo(CHAT, "AgACphoto1", file_size=4, width=1600, height=1200, data=b"JPEG")
        api.push_document(CHAT, "BQACdoc1", "scan.pdf", "application/pdf", 2048, caption="see")
        assert await api.wait_for(lambda: bool(seen and documents), 5)
    assert seen == [("AgACphoto1", 4, 1600, b"JPEG")]
    assert documents == [("scan.pdf", "application/pdf", 2048)]


async def test_redelivered_update_after_restart_reaches_handler_twice(api: FakeBotApi) -> None:
    handled: list[int] = []

    async def record(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        handled.append(update.update_id)

    def app() -> AnyApp:
        application = build_app(api)
        application.add_handler(MessageHandler(filters.TEXT, record))
        return application

    async with running(app()):
        update_id = api.push_text(CHAT, "The streetlight is out")
        assert await api.wait_for(lambda: handled == [update_id], 5)
    # The bot "crashed" after handling it; Telegram hands it over again to the next instance.
    assert api.pending == []
    api.redeliver(update_id)
    async with running(app()):
        assert await api.wait_for(lambda: handled == [update_id, update_id], 5)
    assert api.deliveries == [update_id, update_id]
    assert api.offsets[0] == 0


async def test_forced_redelivery_and_duplicate_push_reach_running_app(api: FakeBotApi) -> None:
    handled: list[tuple[int, str]] = []

    async def record(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        handled.append((update.update_id, update.message.text))

    app = build_app(api)
    app.add_handler(MessageHandler(filters.TEXT, record))
    async with running(app):
        first = api.push_text(CHAT, "first")
        assert await api.wait_for(lambda: len(handled) == 1, 5)
        # A late copy without force is confirmed away: the poller's offset is past it.
        api.redeliver(first)
        second = api.push_text(CHAT, "second")
        assert await api.wait_for(lambda: len(handled) == 2, 5)
        api.redeliver(first, force=True)
        assert await api.wait_for(lambda: len(handled) == 3, 5)
        # Two copies queued before the poller runs arrive in one batch.
        dup = api.make_text(CHAT, "dup")
        api.push_raw(dup)
        api.push_raw(dup)
        assert await api.wait_for(lambda: len(handled) == 5, 5)
        third = api.push_text(CHAT, "third")
        assert await api.wait_for(lambda: len(handled) == 6, 5)
    ids = [update_id for update_id, _ in handled]
    assert ids == [first, second, first, dup["update_id"], dup["update_id"], third]


async def test_429_on_send_message_raises_retry_after(
    api: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # RetryAfter.retry_after as a timedelta, no warning
    caught: list[RetryAfter] = []
    errors: list[BaseException] = []

    async def flood(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        try:
            await context.bot.send_message(update.effective_chat.id, "first try")
        except RetryAfter as exc:
            caught.append(exc)
            await context.bot.send_message(update.effective_chat.id, "second try")

    async def unhandled(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, "never")

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.error is not None
        errors.append(context.error)

    app = build_app(api)
    app.add_handler(CommandHandler("flood", flood))
    app.add_handler(CommandHandler("unhandled", unhandled))
    app.add_error_handler(on_error)
    async with running(app):
        api.fail_next("sendMessage", 429, retry_after=3)
        api.push_text(CHAT, "/flood")
        await api.wait_sent(1)
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
        api.push_text(CHAT, "/unhandled")
        assert await api.wait_for(lambda: bool(errors), 5)
    assert caught[0].retry_after == dtm.timedelta(seconds=3)
    assert api.sent_to(CHAT) == ["second try"]  # PTB itself does not retry
    assert isinstance(errors[0], RetryAfter)
    assert errors[0].retry_after == dtm.timedelta(seconds=7)
    assert api.injected == [("sendMessage", 429), ("sendMessage", 429)]
    assert len(api.calls_to("sendMessage")) == 3


async def test_polling_survives_server_errors_on_get_updates(api: FakeBotApi) -> None:
    """PTB logs a NetworkError from getUpdates and retries after a growing pause.

    The pause starts at 1 s with poll_interval=0; from poll_interval p it grows p*1.5, p*1.5^2...
    """
    app = echo_app(api)
    api.fail_next("getUpdates", 502, times=2)
    started = time.monotonic()
    async with running(app, poll_interval=0.1):
        api.push_text(CHAT, "still there?")
        await api.wait_sent(1)
        elapsed = time.monotonic() - started
    assert api.injected == [("getUpdates", 502), ("getUpdates", 502)]
    assert api.sent_to(CHAT) == ["still there?"]
    assert elapsed < 2


async def test_polling_rides_out_an_outage(api: FakeBotApi) -> None:
    """stop()/start() keeps the port and the queue: PTB's retry loop reconnects by itself."""
    errors: list[str] = []
    app = echo_app(api)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(
        poll_interval=0.1, timeout=1, error_callback=lambda exc: errors.append(type(exc).__name__)
    )
    try:
        api.push_text(CHAT, "before")
        await api.wait_sent(1)
        port = api.port
        await api.stop()
        api.push_text(CHAT, "during")  # queued while "Telegram" is down
        assert await api.wait_for(lambda: len(errors) >= 2, 5)
        await api.start()
        assert api.port == port
        await api.wait_sent(2)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    assert api.sent_to(CHAT) == ["before", "during"]
    assert set(errors) == {"NetworkError"}


async def test_webhook_recording_and_post(api: FakeBotApi) -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != "s3cret":
            return web.Response(status=403)
        received.append(await request.json())
        return web.Response()

    receiver = web.Application()
    receiver.router.add_post("/tg", hook)
    runner = web.AppRunner(receiver)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with bot_for(api) as bot:
            await bot.set_webhook(f"http://127.0.0.1:{port}/tg", secret_token="s3cret")
            assert api.webhook_url == f"http://127.0.0.1:{port}/tg"
            assert api.webhook_secret == "s3cret"
            info = await bot.get_webhook_info()
            assert info.url == api.webhook_url
            with pytest.raises(Conflict):
                await bot.get_updates(timeout=0)
            update = api.make_text(CHAT, "/start")
            assert await api.post_to_webhook(None, update) == 200
            assert await api.post_to_webhook(None, update, secret="wrong") == 403
            assert await api.post_to_webhook(None, update, secret=None) == 403
            parsed = Update.de_json(received[0], bot)
            assert parsed.message is not None and parsed.message.text == "/start"
            assert parsed.message.entities[0].type == "bot_command"
            await bot.delete_webhook()
            assert api.webhook_url == ""
    finally:
        await runner.cleanup()


async def test_telegram_style_errors(api: FakeBotApi) -> None:
    async with bot_for(api) as bot:
        message = await bot.send_message(CHAT, "<b>Case</b> CD-2026-000001", parse_mode="HTML")
        assert api.sent[-1]["parse_mode"] == ParseMode.HTML
        with pytest.raises(BadRequest, match=r"(?i)unsupported start tag"):
            await bot.send_message(CHAT, "a <foo> b", parse_mode=ParseMode.HTML)
        with pytest.raises(BadRequest, match="end tag"):
            await bot.send_message(CHAT, "<b>unclosed", parse_mode=ParseMode.HTML)
        with pytest.raises(BadRequest, match="too long"):
            await bot.send_message(CHAT, "x" * 4097)
        with pytest.raises(BadRequest, match="not modified"):
            await bot.edit_message_text("<b>Case</b> CD-2026-000001", CHAT, message.message_id)
        with pytest.raises(BadRequest, match="not found"):
            await bot.edit_message_text("gone", CHAT, 999_999)
        with pytest.raises(BadRequest, match="query"):
            await bot.answer_callback_query("no-such-query")
        assert await bot.delete_message(CHAT, message.message_id)
        api.block_chat(CHAT)
        with pytest.raises(Forbidden):
            await bot.send_message(CHAT, "hello?")
        # Not implemented here: 404, which PTB turns into InvalidToken.
        with pytest.raises(InvalidToken, match="not implemented"):
            await bot.send_dice(CHAT)
    assert len(api.sent) == 1
