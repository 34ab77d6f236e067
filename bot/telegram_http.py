"""python-telegram-bot's requests over aiohttp instead of httpx.

Why: with a hundred chats at once the Telegram channel's CPU per turn was mostly the HTTP
client. PTB's default `HTTPXRequest` goes through httpx, httpcore, anyio and h11 (pure Python
HTTP parsing, several locks and context managers per request); aiohttp, which caredesk already
serves its pages with, parses HTTP in C. Measured with bench/telegram_bench.py (100 chats,
bot and fake Bot API in one process): 15 ms of CPU per update with httpx, 6.7 with this.

`BaseRequest` is PTB's documented extension point: it hands us a URL, the parameters and the
timeouts, and wants back (HTTP status, body bytes); PTB itself turns error statuses into
`TelegramError`s. Here: connection problems become `NetworkError`, timeouts `TimedOut`, as
`HTTPXRequest` does.
"""

from __future__ import annotations

import logging

import aiohttp
from telegram import ReplyKeyboardMarkup, ReplyKeyboardRemove
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.ext import ExtBot
from telegram.request import BaseRequest, RequestData

from bot.proxies import ProxyTable

log = logging.getLogger(__name__)

#: Connections open at once to the Bot API (PTB's own default for the bot's requests).
POOL_SIZE = 256


def _value(given: ODVInput[float], default: float | None) -> float | None:
    """A timeout PTB left at its default (DEFAULT_NONE) is ours."""
    return default if isinstance(given, DefaultValue) else given


class AiohttpRequest(BaseRequest):
    """Bot API requests over one aiohttp session (created in `initialize`, in the loop).

    Timeouts mean what they mean for `HTTPXRequest`: `connect` to open a connection, `pool`
    to wait for a free one (aiohttp counts both in its connect timeout, so the two add up),
    `read` between two reads of the answer, `write` unused (aiohttp has no write timeout; the
    request body is small or bounded by the media timeout of the whole request).
    """

    __slots__ = (
        "_connect",
        "_media_write",
        "_pool",
        "_pool_size",
        "_proxy_table",
        "_read",
        "_session",
    )

    def __init__(
        self,
        pool_size: int = POOL_SIZE,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = pool_size
        self._read = read_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxy_table = ProxyTable()

    @property
    def read_timeout(self) -> float | None:
        """PTB adds the long-poll timeout of getUpdates to this."""
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0),
                headers={"User-Agent": self.USER_AGENT},
                # Not trust_env: aiohttp would then look for a proxy and read ~/.netrc in a
                # thread on every request (a third of the channel's CPU at 100 chats). The
                # proxy is looked up once per host instead (`_proxy`), as httpx does.
                trust_env=False,
            )

    def _proxy(self, url: str) -> str | None:
        return self._proxy_table.for_url(url)

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        connect = _value(connect_timeout, self._connect)
        pool = _value(pool_timeout, self._pool)
        files = request_data.multipart_data if request_data and request_data.contains_files else {}
        data: aiohttp.FormData | dict[str, str] | None = None
        total: float | None = None
        if files:
            form = aiohttp.FormData(request_data.json_parameters if request_data else {})
            for name, (filename, content, mimetype) in files.items():
                form.add_field(name, content, filename=filename, content_type=mimetype)
            data = form
            # No write timeout in aiohttp: the whole upload is bounded instead.
            total = _value(write_timeout, self._media_write)
        elif request_data is not None:
            data = request_data.json_parameters
        timeout = aiohttp.ClientTimeout(
            total=total,
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=_value(read_timeout, self._read),
        )
        try:
            async with self._session.request(
                method, url, data=data, timeout=timeout, proxy=self._proxy(url)
            ) as res:
                body = await res.read()
        except TimeoutError as exc:  # asyncio.TimeoutError is TimeoutError on 3.11
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc
        # The line httpx wrote (at INFO there, DEBUG here): the URL holds the token, which the
        # log's redaction filter takes out; the parameters (residents' words) are not logged.
        log.debug("HTTP Request: %s %s %s", method, url, res.status)
        return res.status, body


class LeanBot(ExtBot[None]):
    """PTB's bot with one cheaper call: `send_text` sends a message and drops the answer.

    `send_message` turns Telegram's answer into a `Message` (about a hundred and fifty
    attributes, each set through a checked `__setattr__`): some 0.6 ms of CPU per message,
    for an object the channel never reads. Errors are raised exactly as for `send_message`
    (PTB maps the answer's status to BadRequest, Forbidden, RetryAfter... before parsing).
    """

    async def send_text(
        self,
        chat_id: int,
        text: str,
        reply_markup: ReplyKeyboardMarkup | ReplyKeyboardRemove | None = None,
    ) -> None:
        data: dict[str, object] = {"chat_id": chat_id, "text": text}
        if reply_markup is not None:
            data["reply_markup"] = reply_markup
        await self._post("sendMessage", data)
