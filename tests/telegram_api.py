"""A fake Telegram Bot API server for integration tests: real HTTP on loopback, real Bot API JSON.

python-telegram-bot (PTB) talks to it exactly as it talks to api.telegram.org; only the base URLs
differ. Recipes and pitfalls: /work/shared/TESTING.md section 3.

    api = FakeBotApi()
    await api.start()                      # in the test's own event loop
    app = (
        ApplicationBuilder().token(api.token).base_url(api.base_url)
        .base_file_url(api.base_file_url).build()
    )
    ...                                    # initialize/start/start_polling, see TESTING.md
    api.push_text(42, "/start")
    sent = await api.wait_sent(1)
    await api.stop()

Everything runs in one event loop and nothing here is thread-safe: call the test-side methods
from the loop that started the server (PTB may run elsewhere, it only speaks HTTP to us).

Requests. PTB POSTs form-urlencoded parameters: strings arrive raw, everything else as JSON
text. Only the keys in `JSON_PARAMS` are decoded (a blanket json.loads would turn the text "123"
into the int 123). JSON bodies and query strings are accepted as well. Answers are
`{"ok": true, "result": ...}` or an HTTP error status with
`{"ok": false, "error_code": status, "description": ..., ["parameters": {...}]}`, as Telegram's.

Update queue and getUpdates (Telegram's documented semantics):
- Every pushed update is *pending* until it is *confirmed*; a getUpdates call with `offset`
  confirms (drops) the pending updates whose update_id < offset. A negative offset keeps only
  the last -offset pending updates.
- getUpdates returns the pending updates with update_id >= offset, sorted by update_id (stable:
  copies with the same id keep their push order), at most `limit` (1-100, default 100), with
  update types filtered by `allowed_updates` (sticky, as in Telegram). With nothing to return it
  holds the request until something is pushed or `timeout` seconds (default 0) pass.
- A newer getUpdates terminates a held one with 409 "Conflict: terminated by other getUpdates
  request" (two bot instances polling); while a webhook is set getUpdates answers 409 as well.
- Redelivery. `push_raw(update)` queues any update as is, including a second copy of an update_id
  already queued or delivered: it is delivered (again) to a poller whose offset is still <= that
  id. A running PTB poller has already moved its offset past every update it received (PTB
  confirms with offset = last id + 1), so a late copy is confirmed away unseen, as Telegram
  would do. Simulate a crash + restart instead: stop the Application, call
  `redeliver(update_id)` (re-queues a copy of the recorded update), start a new Application (its
  offset starts at 0). `redeliver(update_id, force=True)` delivers the copy in the next
  getUpdates answer whatever the offset (once), so one running Application sees it twice; PTB
  accepts it (it does not filter update ids itself). Two copies pushed back to back, before the
  poller runs, arrive in one batch and also reach the handlers twice.
- `deliveries` lists every update_id in the order getUpdates returned them.

Strictness (`strict=True`, the default) mirrors Telegram's 400s: editing a message that does not
exist, is not the bot's, or with exactly the same text and inline keyboard ("message is not
modified"); deleting a message that does not exist; answering an unknown callback query id.
Always on: empty text, text over 4096 characters, HTML parse_mode with an unsupported or unclosed
tag or an unknown entity (descriptions approximate Telegram's), 403 for chats in
`blocked_chats`. Unimplemented methods answer 404, which PTB raises as `InvalidToken`.

Files: photos and documents pushed here are registered; getFile returns a file_path and
`/file/bot{token}/{file_path}` serves the bytes given to push_photo/push_document/add_file, or
deterministic filler of `file_size` bytes. Unknown paths are 404. Files over 20 MB fail getFile
("file is too big") as in Telegram.

Locations: `push_location(chat, latitude, longitude)` queues a message whose `location` holds
the coordinates as given (Telegram's clients send them in range; a test may send any).

Webhooks: setWebhook only records `webhook_url`/`webhook_secret` (any URL, http included);
pushed updates are *not* sent there automatically: use `post_to_webhook`, which POSTs an
update as JSON with the X-Telegram-Bot-Api-Secret-Token header and returns the HTTP status.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import socket
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from types import EllipsisType, TracebackType
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

JSONDict = dict[str, Any]

DEFAULT_TOKEN = "123456:TEST-TOKEN"
LOOPBACK = "127.0.0.1"
MAX_MESSAGE_LENGTH = 4096
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024

#: Form parameters that PTB sends JSON-encoded; every other parameter stays the raw string.
JSON_PARAMS = frozenset(
    {
        "allowed_updates",
        "cache_time",
        "caption_entities",
        "chat_id",
        "commands",
        "disable_notification",
        "disable_web_page_preview",
        "drop_pending_updates",
        "entities",
        "from_chat_id",
        "limit",
        "link_preview_options",
        "max_connections",
        "message_id",
        "message_ids",
        "message_thread_id",
        "offset",
        "protect_content",
        "reply_markup",
        "reply_parameters",
        "reply_to_message_id",
        "scope",
        "show_alert",
        "timeout",
        "user_id",
    }
)

#: Update types Telegram sends when allowed_updates is empty (all but these three).
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "blockquote",
        "code",
        "del",
        "em",
        "i",
        "ins",
        "pre",
        "s",
        "span",
        "strike",
        "strong",
        "tg-emoji",
        "tg-spoiler",
        "u",
    }
)
_HTML_ENTITIES = frozenset({"lt", "gt", "amp", "quot"})

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    """An error answer of the fake: HTTP status, Telegram description, optional parameters."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(f"{status} {description}")
        self.status = status
        self.description = description
        self.parameters = parameters

    def response(self) -> web.Response:
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return web.json_response(body, status=self.status)


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: int | None
    remaining: int


@dataclass
class _Pending:
    update: JSONDict
    forced: bool = False

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])


@dataclass
class _File:
    file_id: str
    size: int
    path: str
    data: bytes | None


class _TelegramHtml(HTMLParser):
    """Just enough of Telegram's HTML parse_mode to reject what Telegram rejects most often."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.error: str | None = None
        self.text_length = 0

    def _fail(self, message: str) -> None:
        if self.error is None:
            self.error = message

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_TAGS:
            self._fail(f'Unsupported start tag "{tag}"')
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._fail(f'Unsupported start tag "{tag}"')

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            expected = f'"</{self.stack[-1]}>"' if self.stack else "no end tag"
            self._fail(f'Unmatched end tag "</{tag}>", expected {expected}')
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text_length += len(data)

    def handle_entityref(self, name: str) -> None:
        if name not in _HTML_ENTITIES:
            self._fail(f'Unsupported HTML entity "&{name};"')
        self.text_length += 1

    def handle_charref(self, name: str) -> None:
        self.text_length += 1

    def check(self, text: str) -> tuple[str | None, int]:
        self.feed(text)
        self.close()
        if self.stack:
            self._fail(f'Can\'t find end tag corresponding to start tag "{self.stack[-1]}"')
        return self.error, self.text_length


def _as_int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid integer value {value!r}") from None


def _as_float(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid number value {value!r}") from None


def _as_bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def _unique_id(file_id: str) -> str:
    return f"AQAD{zlib.crc32(file_id.encode()):08x}"


def _update_type(update: JSONDict) -> str:
    return next((key for key in update if key != "update_id"), "")


def _command_length(text: str) -> int:
    """Length of the leading bot command ("/start" in "/start payload")."""
    return len(text.split(maxsplit=1)[0]) if text.strip() else 0


class FakeBotApi:
    """A Bot API server on 127.0.0.1 and a free port; see the module docstring for semantics."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        username: str = "caredesk_test_bot",
        first_name: str = "CareDesk Test",
        strict: bool = True,
        port: int | None = None,
    ) -> None:
        self.token = token
        self.strict = strict
        bot_id = token.split(":", 1)[0]
        self.bot_user: JSONDict = {
            "id": int(bot_id) if bot_id.isdigit() else 123456,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        # Recorded traffic (test-side, read freely).
        #: Every request: (canonical method name, decoded params), failed ones included.
        self.calls: list[tuple[str, JSONDict]] = []
        #: Every successful sendMessage: chat_id, text, reply_markup (dict | None), parse_mode,
        #: message_id, params.
        self.sent: list[JSONDict] = []
        #: Successful editMessageText/editMessageReplyMarkup: method, chat_id, message_id,
        #: inline_message_id, text, reply_markup, parse_mode.
        self.edited: list[JSONDict] = []
        #: Successful answerCallbackQuery: callback_query_id, text, show_alert, url.
        self.answered: list[JSONDict] = []
        #: Successful deleteMessage: (chat_id, message_id).
        self.deleted: list[tuple[int | str, int]] = []
        #: sendChatAction: (chat_id, action).
        self.chat_actions: list[tuple[int | str, str]] = []
        #: Errors injected by fail_next, as they were answered: (method, status).
        self.injected: list[tuple[str, int]] = []
        #: update_ids in the order getUpdates returned them (a redelivered id appears twice).
        self.deliveries: list[int] = []
        #: The offset of every getUpdates call, in order.
        self.offsets: list[int] = []
        self.commands: list[JSONDict] = []
        self.webhook_url: str = ""
        self.webhook_secret: str | None = None
        self.allowed_updates: list[str] | None = None
        #: Chats that "blocked the bot": sendMessage/sendChatAction answer 403.
        self.blocked_chats: set[int | str] = set()

        self._pending: list[_Pending] = []
        self._history: dict[int, JSONDict] = {}
        self._messages: dict[tuple[int | str, int], JSONDict] = {}
        self._chats: dict[int | str, JSONDict] = {}
        self._callback_ids: set[str] = set()
        self._files: dict[str, _File] = {}
        self._file_paths: dict[str, _File] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._next_update_id = 100_000_001
        self._next_message_id = 1
        self._callback_counter = itertools.count(1)
        self._poll_generation = 0
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = port

        handlers: dict[str, Callable[[JSONDict], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "logOut": self._true,
            "close": self._true,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "deleteMessage": self._delete_message,
            "getFile": self._get_file,
        }
        # Telegram method names are case-insensitive.
        self._methods = {name.lower(): (name, fn) for name, fn in handlers.items()}

    # ------------------------------------------------------------------------------------------
    # Lifecycle
    # ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on 127.0.0.1 and a free port, in the running event loop.

        Starting again after stop() reuses the port and keeps all state (queue, records), so
        stop()/start() simulates an outage that a running PTB rides out (it retries).
        """
        if self._runner is not None:
            raise RuntimeError("FakeBotApi already started")
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        # handler_cancellation: a held long poll must not keep cleanup() waiting (TESTING.md).
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((LOOPBACK, self._port or 0))
            site = web.SockSite(runner, sock)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._port = int(sock.getsockname()[1])
        self._runner = runner
        self._closing = False

    async def stop(self) -> None:
        """Answer held long polls with [] and shut the server down."""
        self._closing = True
        self._notify()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeBotApi is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """For `ApplicationBuilder().base_url(...)`; PTB appends the token."""
        return f"http://{LOOPBACK}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For `ApplicationBuilder().base_file_url(...)`; PTB appends the token."""
        return f"http://{LOOPBACK}:{self.port}/file/bot"

    # ------------------------------------------------------------------------------------------
    # Building updates (not queued: pass them to push_raw or post_to_webhook)
    # ------------------------------------------------------------------------------------------

    def next_update_id(self) -> int:
        """A fresh update_id (above every id seen so far)."""
        self._next_update_id += 1
        return self._next_update_id - 1

    def next_message_id(self) -> int:
        """A fresh message_id; user and bot messages share one sequence."""
        self._next_message_id += 1
        return self._next_message_id - 1

    def make_message(
        self,
        chat_id: int,
        user_id: int | None = None,
        first_name: str = "Resident",
        *,
        username: str | None = None,
        language_code: str | None = None,
        **content: Any,
    ) -> JSONDict:
        """A user's Message object (not an update) with the given content fields."""
        user: JSONDict = {
            "id": chat_id if user_id is None else user_id,
            "is_bot": False,
            "first_name": first_name,
        }
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        if chat_id < 0:
            chat: JSONDict = {"id": chat_id, "title": "Test group", "type": "supergroup"}
        else:
            chat = {"id": chat_id, "first_name": first_name, "type": "private"}
            if username is not None:
                chat["username"] = username
        message: JSONDict = {
            "message_id": self.next_message_id(),
            "from": user,
            "chat": chat,
            "date": int(time.time()),
        }
        message.update({k: v for k, v in content.items() if v is not None})
        return message

    def make_text(
        self,
        chat_id: int,
        text: str,
        user_id: int | None = None,
        first_name: str = "Resident",
        **user: Any,
    ) -> JSONDict:
        """A message update; a leading "/command" gets its bot_command entity."""
        entities = None
        if text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": _command_length(text)}]
        message = self.make_message(
            chat_id, user_id, first_name, text=text, entities=entities, **user
        )
        return {"update_id": self.next_update_id(), "message": message}

    def make_callback(
        self,
        chat_id: int,
        data: str,
        message_id: int,
        user_id: int | None = None,
        first_name: str = "Resident",
    ) -> JSONDict:
        """A callback_query update for a button on message `message_id` of chat `chat_id`.

        The message is the recorded one (the bot's text and keyboard) when known.
        """
        uid = chat_id if user_id is None else user_id
        message = copy.deepcopy(self._messages.get((chat_id, message_id)))
        if message is None:
            message = {
                "message_id": message_id,
                "from": self.bot_user,
                "chat": self._chat(chat_id),
                "date": int(time.time()),
                "text": "(message)",
            }
        query = {
            "id": f"{uid}{next(self._callback_counter):012d}",
            "from": {"id": uid, "is_bot": False, "first_name": first_name},
            "chat_instance": f"{zlib.crc32(str(chat_id).encode())}",
            "data": data,
            "message": message,
        }
        return {"update_id": self.next_update_id(), "callback_query": query}

    def make_photo(
        self,
        chat_id: int,
        file_id: str = "AgACAgIAAxkBAAIBZ2fakePhotoFileIdAAH",
        file_size: int = 12345,
        width: int = 1280,
        height: int = 960,
        *,
        caption: str | None = None,
        data: bytes | None = None,
        user_id: int | None = None,
        first_name: str = "Resident",
    ) -> JSONDict:
        """A photo message: `photo` holds thumbnails and last the given size (photo[-1])."""
        sizes: list[JSONDict] = []
        longest = max(width, height, 1)
        for cap in (90, 320, 800):
            if longest > cap:
                scale = cap / longest
                w, h = max(1, round(width * scale)), max(1, round(height * scale))
                thumb_id = f"{file_id}-{cap}"
                thumb_size = max(1, round(file_size * scale * scale))
                self._register_file(thumb_id, thumb_size, None, "photos")
                sizes.append(
                    {
                        "file_id": thumb_id,
                        "file_unique_id": _unique_id(thumb_id),
                        "file_size": thumb_size,
                        "width": w,
                        "height": h,
                    }
                )
        self._register_file(file_id, file_size, data, "photos")
        sizes.append(
            {
                "file_id": file_id,
                "file_unique_id": _unique_id(file_id),
                "file_size": file_size,
                "width": width,
                "height": height,
            }
        )
        message = self.make_message(chat_id, user_id, first_name, photo=sizes, caption=caption)
        return {"update_id": self.next_update_id(), "message": message}

    def make_document(
        self,
        chat_id: int,
        file_id: str = "BQACAgIAAxkBAAIBaGfakeDocumentFileIdAAH",
        file_name: str = "letter.pdf",
        mime_type: str = "application/pdf",
        file_size: int = 54321,
        *,
        caption: str | None = None,
        data: bytes | None = None,
        user_id: int | None = None,
        first_name: str = "Resident",
    ) -> JSONDict:
        """A document message."""
        self._register_file(file_id, file_size, data, "documents")
        document = {
            "file_id": file_id,
            "file_unique_id": _unique_id(file_id),
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": file_size,
        }
        message = self.make_message(
            chat_id, user_id, first_name, document=document, caption=caption
        )
        return {"update_id": self.next_update_id(), "message": message}

    def make_location(
        self,
        chat_id: int,
        latitude: float,
        longitude: float,
        *,
        horizontal_accuracy: float | None = None,
        user_id: int | None = None,
        first_name: str = "Resident",
    ) -> JSONDict:
        """A location message (the paperclip's "Location"): `message.location` holds the
        coordinates as given, unchecked, as a hostile client could send them."""
        location: JSONDict = {"latitude": latitude, "longitude": longitude}
        if horizontal_accuracy is not None:
            location["horizontal_accuracy"] = horizontal_accuracy
        message = self.make_message(chat_id, user_id, first_name, location=location)
        return {"update_id": self.next_update_id(), "message": message}

    # ------------------------------------------------------------------------------------------
    # Queueing updates (for getUpdates)
    # ------------------------------------------------------------------------------------------

    def push_raw(self, update: JSONDict) -> int:
        """Queue `update` as is (a deep copy), even if its update_id was queued before."""
        update_id = update.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise ValueError(f"update needs an int update_id: {update!r}")
        self._remember(update)
        self._pending.append(_Pending(copy.deepcopy(update)))
        self._notify()
        return update_id

    def push_text(
        self,
        chat_id: int,
        text: str,
        user_id: int | None = None,
        first_name: str = "Resident",
        **user: Any,
    ) -> int:
        """Queue a text message (with a bot_command entity for "/..."); returns its update_id.

        Extra keywords: username=, language_code=, or more Message fields (reply_to_message=...).
        """
        return self.push_raw(self.make_text(chat_id, text, user_id, first_name, **user))

    def push_callback(
        self,
        chat_id: int,
        data: str,
        message_id: int,
        user_id: int | None = None,
        first_name: str = "Resident",
    ) -> int:
        """Queue a button press (callback_query with `data`) on message `message_id`."""
        return self.push_raw(self.make_callback(chat_id, data, message_id, user_id, first_name))

    def push_photo(self, chat_id: int, *args: Any, **kwargs: Any) -> int:
        """Queue a photo message (the arguments of `make_photo`); `update.message.photo[-1]`
        is (file_id, file_size, width, height)."""
        return self.push_raw(self.make_photo(chat_id, *args, **kwargs))

    def push_document(self, chat_id: int, *args: Any, **kwargs: Any) -> int:
        """Queue a document message (the arguments of `make_document`)."""
        return self.push_raw(self.make_document(chat_id, *args, **kwargs))

    def push_location(self, chat_id: int, latitude: float, longitude: float, **kwargs: Any) -> int:
        """Queue a location message (the arguments of `make_location`)."""
        return self.push_raw(self.make_location(chat_id, latitude, longitude, **kwargs))

    def redeliver(self, update_id: int, *, force: bool = False) -> int:
        """Re-queue a copy of a pushed (or webhook-posted) update with the same update_id.

        Delivered to a poller whose offset is <= update_id; with force=True to the next
        getUpdates whatever its offset (once). See the module docstring.
        """
        try:
            update = self._history[update_id]
        except KeyError:
            raise KeyError(f"no update {update_id} was pushed") from None
        self._pending.append(_Pending(copy.deepcopy(update), forced=force))
        self._notify()
        return update_id

    @property
    def pending(self) -> list[JSONDict]:
        """Unconfirmed updates (delivered or not), in queue order."""
        return [copy.deepcopy(p.update) for p in self._pending]

    def add_file(self, file_id: str, data: bytes, folder: str = "documents") -> str:
        """Make getFile know `file_id` and serve `data`; returns its file_path."""
        return self._register_file(file_id, len(data), data, folder).path

    # ------------------------------------------------------------------------------------------
    # Failure injection
    # ------------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with this error instead of running it.

        retry_after adds `"parameters": {"retry_after": N}` (use status 429: PTB then raises
        RetryAfter whatever the status). Failures queue up per method, first in first out.
        """
        if description is None:
            if status == 429:
                description = f"Too Many Requests: retry after {retry_after or 1}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
        queue = self._failures.setdefault(method.lower(), deque())
        queue.append(_Failure(status, description, retry_after, times))

    def block_chat(self, chat_id: int | str) -> None:
        """The user blocked the bot: sends to this chat answer 403 Forbidden."""
        self.blocked_chats.add(chat_id)

    # ------------------------------------------------------------------------------------------
    # Observing
    # ------------------------------------------------------------------------------------------

    def sent_to(self, chat_id: int | str) -> list[str]:
        """Texts sent with sendMessage to `chat_id`, in order."""
        return [m["text"] for m in self.sent if m["chat_id"] == chat_id]

    def calls_to(self, method: str) -> list[JSONDict]:
        """Params of every call of `method` (canonical name, e.g. "answerCallbackQuery")."""
        return [params for name, params in self.calls if name == method]

    async def wait_sent(self, count: int, timeout: float = 10.0) -> list[JSONDict]:
        """Wait until at least `count` messages were sent in total; returns all sent so far."""
        if not await self.wait_for(lambda: len(self.sent) >= count, timeout):
            texts = [m["text"] for m in self.sent]
            raise AssertionError(
                f"expected >= {count} sendMessage within {timeout}s, got {len(self.sent)}: "
                f"{texts!r}"
            )
        return list(self.sent)

    async def wait_calls(
        self, method: str, count: int = 1, timeout: float = 10.0
    ) -> list[JSONDict]:
        """Wait until `method` was called at least `count` times; returns their params."""
        if not await self.wait_for(lambda: len(self.calls_to(method)) >= count, timeout):
            seen = [name for name, _ in self.calls]
            raise AssertionError(
                f"expected >= {count} {method} within {timeout}s; calls so far: {seen!r}"
            )
        return self.calls_to(method)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait until predicate() is true; False on timeout.

        Re-checked on every request and push, and every 10 ms (for state kept by the test, e.g.
        a list a handler appends to).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 0.01))
        return True

    async def post_to_webhook(
        self,
        session: ClientSession | None,
        update: JSONDict,
        *,
        secret: str | EllipsisType | None = ...,
        timeout: float = 10.0,
    ) -> int:
        """POST `update` as JSON to the URL setWebhook recorded, the way Telegram does.

        The X-Telegram-Bot-Api-Secret-Token header carries the recorded secret_token, or
        `secret` when given (None: no header). Returns the HTTP status. session=None uses a
        throw-away session. The update is remembered, so `redeliver` knows it, but not queued.
        """
        if not self.webhook_url:
            raise AssertionError("no webhook: setWebhook was not called (or was deleted)")
        token = self.webhook_secret if isinstance(secret, EllipsisType) else secret
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        if isinstance(update.get("update_id"), int):
            self._remember(update)
        body = json.dumps(update)
        own = session is None
        client = session or ClientSession(timeout=ClientTimeout(total=timeout))
        try:
            async with client.post(self.webhook_url, data=body, headers=headers) as response:
                await response.read()
                return response.status
        finally:
            if own:
                await client.close()

    # ------------------------------------------------------------------------------------------
    # HTTP plumbing
    # ------------------------------------------------------------------------------------------

    def _notify(self) -> None:
        """Wake everything waiting in wait_for or a long poll (they re-check their condition)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _read_params(self, request: web.Request) -> JSONDict:
        params: JSONDict = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    return {**params, **body}  # already typed
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):  # an uploaded file (multipart)
                        params[key] = {
                            "filename": value.filename,
                            "content_type": value.content_type,
                            "data": value.file.read(),
                        }
                    elif isinstance(value, bytes | bytearray):
                        params[key] = bytes(value).decode("utf-8", "replace")
                    else:
                        params[key] = value
        for key in JSON_PARAMS.intersection(params):
            value = params[key]
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
        return params

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        try:
            params = await self._read_params(request)
        except ValueError as exc:
            return ApiError(400, f"Bad Request: can't parse request: {exc}").response()
        entry = self._methods.get(method.lower())
        name = entry[0] if entry else method
        self.calls.append((name, params))
        self._notify()
        if request.match_info["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        if entry is None:
            description = "Not Found: method not implemented in FakeBotApi"
            return ApiError(404, description).response()
        failure = self._take_failure(name)
        if failure is not None:
            self.injected.append((name, failure.status))
            self._notify()
            return failure.response()
        try:
            result = await entry[1](params)
        except ApiError as exc:
            return exc.response()
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        found = self._file_paths.get(request.match_info["path"])
        if request.match_info["token"] != self.token or found is None:
            return ApiError(404, "Not Found").response()
        if found.data is not None:
            data = found.data
        else:
            seed = f"caredesk-fake-file:{found.file_id}:".encode()
            data = (seed * (found.size // len(seed) + 1))[: found.size]
        return web.Response(body=data, content_type="application/octet-stream")

    def _take_failure(self, method: str) -> ApiError | None:
        queue = self._failures.get(method.lower())
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.popleft()
        parameters = None if failure.retry_after is None else {"retry_after": failure.retry_after}
        return ApiError(failure.status, failure.description, parameters)

    def _remember(self, update: JSONDict) -> None:
        """Record an update for redeliver(), and what it tells about chats/messages/queries."""
        update_id = int(update["update_id"])
        self._history[update_id] = copy.deepcopy(update)
        # Keep ids allocated by make_* above anything pushed by hand.
        self._next_update_id = max(self._next_update_id, update_id + 1)
        message = update.get("message") or update.get("edited_message")
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            chat = message["chat"]
            message_id = int(message.get("message_id", 0))
            self._next_message_id = max(self._next_message_id, message_id + 1)
            self._chats.setdefault(chat.get("id"), copy.deepcopy(chat))
            self._messages[(chat.get("id"), message_id)] = copy.deepcopy(message)
        query = update.get("callback_query")
        if isinstance(query, dict) and "id" in query:
            self._callback_ids.add(str(query["id"]))

    def _register_file(self, file_id: str, size: int, data: bytes | None, folder: str) -> _File:
        known = self._files.get(file_id)
        if known is not None and data is None:
            return known
        extension = "jpg" if folder == "photos" else "bin"
        path = known.path if known else f"{folder}/file_{len(self._files)}.{extension}"
        entry = _File(file_id, size if data is None else len(data), path, data)
        self._files[file_id] = entry
        self._file_paths[path] = entry
        return entry

    def _chat(self, chat_id: int | str) -> JSONDict:
        known = self._chats.get(chat_id)
        if known is not None:
            return dict(known)
        if isinstance(chat_id, int) and chat_id < 0:
            return {"id": chat_id, "title": "Test group", "type": "supergroup"}
        return {"id": chat_id, "type": "private"}

    # ------------------------------------------------------------------------------------------
    # Bot API methods
    # ------------------------------------------------------------------------------------------

    async def _true(self, params: JSONDict) -> bool:
        return True

    async def _get_me(self, params: JSONDict) -> JSONDict:
        return dict(self.bot_user)

    def _allowed(self, update: JSONDict) -> bool:
        kind = _update_type(update)
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in _OPT_IN_UPDATES

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._pending = [p for p in self._pending if p.update_id >= offset or p.forced]
        elif offset < 0:
            ordered = sorted(self._pending, key=lambda p: p.update_id)
            self._pending = ordered[offset:]

    def _select(self, offset: int, limit: int) -> list[_Pending]:
        ready = [
            p
            for p in self._pending
            if (p.update_id >= offset or p.forced) and self._allowed(p.update)
        ]
        ready.sort(key=lambda p: p.update_id)
        return ready[:limit]

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = _as_int(params.get("offset"), 0)
        limit = min(max(_as_int(params.get("limit"), 100), 1), 100)
        timeout = max(_as_float(params.get("timeout"), 0.0), 0.0)
        if "allowed_updates" in params and isinstance(params["allowed_updates"], list):
            self.allowed_updates = [str(t) for t in params["allowed_updates"]] or None
        self.offsets.append(offset)
        self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # a held older poll wakes up and sees it was superseded
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one "
                    "bot instance is running",
                )
            batch = self._select(offset, limit)
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing:
                break
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
        for entry in batch:
            entry.forced = False
            self.deliveries.append(entry.update_id)
        self._notify()
        return [copy.deepcopy(entry.update) for entry in batch]

    async def _set_webhook(self, params: JSONDict) -> bool:
        url = str(params.get("url") or "")
        secret = params.get("secret_token")
        if secret is not None:
            secret = str(secret)
            allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
            if not 1 <= len(secret) <= 256 or not set(secret) <= allowed:
                raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if isinstance(params.get("allowed_updates"), list):
            self.allowed_updates = [str(t) for t in params["allowed_updates"]] or None
        if _as_bool(params.get("drop_pending_updates")):
            self._pending.clear()
        self.webhook_url = url
        self.webhook_secret = secret if url else None
        return True

    async def _delete_webhook(self, params: JSONDict) -> bool:
        if _as_bool(params.get("drop_pending_updates")):
            self._pending.clear()
        self.webhook_url = ""
        self.webhook_secret = None
        return True

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook_url:
            info["max_connections"] = 40
        if self.allowed_updates:
            info["allowed_updates"] = list(self.allowed_updates)
        return info

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        self.commands = commands
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return list(self.commands)

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        self.commands = []
        return True

    def _chat_id(self, params: JSONDict) -> int | str:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int | str) or isinstance(chat_id, bool):
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self.blocked_chats:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    @staticmethod
    def _check_text(text: Any, parse_mode: Any) -> str:
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        length = len(text)
        if isinstance(parse_mode, str) and parse_mode.upper() == "HTML":
            error, length = _TelegramHtml().check(text)
            if error:
                raise ApiError(400, f"Bad Request: can't parse entities: {error}")
            if length == 0:
                raise ApiError(400, "Bad Request: text must be non-empty")
        if length > MAX_MESSAGE_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        return text

    @staticmethod
    def _markup(params: JSONDict) -> JSONDict | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        return markup

    async def _send_message(self, params: JSONDict) -> JSONDict:
        chat_id = self._chat_id(params)
        parse_mode = params.get("parse_mode") or None
        text = self._check_text(params.get("text"), parse_mode)
        markup = self._markup(params)
        message: JSONDict = {
            "message_id": self.next_message_id(),
            "from": dict(self.bot_user),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup  # Telegram echoes inline keyboards only
        self._messages[(chat_id, message["message_id"])] = message
        self.sent.append(
            {
                "chat_id": chat_id,
                "text": text,
                "reply_markup": markup,
                "parse_mode": parse_mode,
                "message_id": message["message_id"],
                "params": params,
            }
        )
        self._notify()
        return copy.deepcopy(message)

    def _editable(self, params: JSONDict) -> tuple[int | str, int, JSONDict]:
        chat_id = self._chat_id(params)
        message_id = _as_int(params.get("message_id"), 0)
        message = self._messages.get((chat_id, message_id))
        if message is None:
            if self.strict:
                raise ApiError(400, "Bad Request: message to edit not found")
            message = {
                "message_id": message_id,
                "from": dict(self.bot_user),
                "chat": self._chat(chat_id),
                "date": int(time.time()),
                "text": "(message)",
            }
            self._messages[(chat_id, message_id)] = message
        if self.strict and message.get("from", {}).get("id") != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return chat_id, message_id, message

    async def _edit(self, method: str, params: JSONDict, text: str | None) -> JSONDict | bool:
        markup = self._markup(params)
        parse_mode = params.get("parse_mode") or None
        record: JSONDict = {
            "method": method,
            "chat_id": params.get("chat_id"),
            "message_id": params.get("message_id"),
            "inline_message_id": params.get("inline_message_id"),
            "text": text,
            "reply_markup": markup,
            "parse_mode": parse_mode,
        }
        if params.get("inline_message_id"):
            self.edited.append(record)
            self._notify()
            return True
        _, _, message = self._editable(params)
        new_text = message.get("text") if text is None else text
        if (
            self.strict
            and new_text == message.get("text")
            and markup == message.get("reply_markup")
        ):
            raise ApiError(400, _NOT_MODIFIED)
        message["text"] = new_text
        message["edit_date"] = int(time.time())
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        self.edited.append(record)
        self._notify()
        return copy.deepcopy(message)

    async def _edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        text = self._check_text(params.get("text"), params.get("parse_mode"))
        return await self._edit("editMessageText", params, text)

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict | bool:
        return await self._edit("editMessageReplyMarkup", params, None)

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if self.strict and query_id not in self._callback_ids:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self.answered.append(
            {
                "callback_query_id": query_id,
                "text": params.get("text"),
                "show_alert": _as_bool(params.get("show_alert")),
                "url": params.get("url"),
            }
        )
        self._notify()
        return True

    async def _send_chat_action(self, params: JSONDict) -> bool:
        chat_id = self._chat_id(params)
        self.chat_actions.append((chat_id, str(params.get("action") or "")))
        return True

    async def _delete_message(self, params: JSONDict) -> bool:
        chat_id = self._chat_id(params)
        message_id = _as_int(params.get("message_id"), 0)
        if self._messages.pop((chat_id, message_id), None) is None and self.strict:
            raise ApiError(400, "Bad Request: message to delete not found")
        self.deleted.append((chat_id, message_id))
        self._notify()
        return True

    async def _get_file(self, params: JSONDict) -> JSONDict:
        found = self._files.get(str(params.get("file_id") or ""))
        if found is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if found.size > MAX_DOWNLOAD_BYTES:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": found.file_id,
            "file_unique_id": _unique_id(found.file_id),
            "file_size": found.size,
            "file_path": found.path,
        }
