"""The web chat: a page at `/`, a WebSocket at `/ws`, and a plain form post when scripts are off.

An adapter only: it ties a browser to a conversation key through a random session cookie
(HttpOnly, SameSite=Lax; the store keeps only its hash) and hands text to `ChatService`.
Everything a resident typed is escaped by Jinja2 on the page and set as text by the script;
the Content-Security-Policy forbids inline scripts, and every asset is served from here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import WSMsgType, web

from bot.chat import ChatService, Turn
from bot.config import Config

log = logging.getLogger(__name__)

CHANNEL = "web"
COOKIE = "caredesk_chat"
ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "static"
PAGES = ROOT / "templates" / "web"
#: The largest message the socket accepts; the dialogue's own limit is lower and polite.
MAX_FRAME = 64 * 1024

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def conversation_key(token: str) -> str:
    """The store never holds the cookie itself, only a hash of it."""
    return f"{CHANNEL}:{hashlib.sha256(token.encode()).hexdigest()[:32]}"


def render_turn(turn: Turn) -> list[dict[str, Any]]:
    return [{"text": r.text, "choices": list(r.choices)} for r in turn.replies]


class WebChat:
    def __init__(self, chat: ChatService, config: Config) -> None:
        self.chat = chat
        self.config = config
        self.pages = jinja2.Environment(
            loader=jinja2.FileSystemLoader(PAGES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        #: Open sockets by conversation key, to push what the service queues later.
        self.sockets: dict[str, set[web.WebSocketResponse]] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.page)
        app.router.add_post("/", self.post)
        app.router.add_get("/ws", self.socket)
        app.router.add_post("/stay", self.stay_form)
        app.router.add_static("/static/", STATIC, append_version=True, name="static")

    # -- session ----------------------------------------------------------------------------

    def _session(self, request: web.Request) -> tuple[str, str | None]:
        """(conversation key, new cookie value if one must be set)."""
        token = request.cookies.get(COOKIE, "")
        if len(token) < 32 or not token.replace("-", "").replace("_", "").isalnum():
            token = secrets.token_urlsafe(32)
            return conversation_key(token), token
        return conversation_key(token), None

    def _set_cookie(self, response: web.StreamResponse, token: str | None) -> None:
        if token:
            response.set_cookie(
                COOKIE,
                token,
                httponly=True,
                samesite="Lax",
                path="/",
                secure=self.config.web.secure_cookie,
                max_age=60 * 60 * 24 * 30,
            )

    # -- handlers ---------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        key, token = self._session(request)
        turn = self.chat.visit(CHANNEL, key)
        self.chat.delivered(turn)
        lines = self.chat.transcript(key)
        choices = lines[-1][2] if lines and lines[-1][0] == "city" else []
        dialogue = self.config.dialogue
        html = self.pages.get_template("chat.html.j2").render(
            city=self.config.city.name,
            care=self.config.care,
            lines=lines,
            choices=choices,
            idle_seconds=dialogue.idle_minutes * 60,
            warn_seconds=min(self.config.web.idle_warning_seconds, dialogue.idle_minutes * 60 - 1),
            max_chars=dialogue.max_message_chars,
            static=lambda name: request.app.router["static"].url_for(filename=name),
        )
        response = web.Response(text=html, content_type="text/html", charset="utf-8")
        self._set_cookie(response, token)
        return response

    async def post(self, request: web.Request) -> web.Response:
        """The no-script path: take the text, then show the page again (post/redirect/get)."""
        key, token = self._session(request)
        form = await request.post()
        text = str(form.get("text", ""))[: self.config.dialogue.max_message_chars * 2]
        self.chat.delivered(self.chat.visit(CHANNEL, key))
        self.chat.delivered(self.chat.handle(CHANNEL, key, text))
        response = web.HTTPSeeOther("/#latest")
        self._set_cookie(response, token)
        raise response

    async def stay_form(self, request: web.Request) -> web.Response:
        key, _token = self._session(request)
        self.chat.stay(key)
        raise web.HTTPSeeOther("/#latest")

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        key, token = self._session(request)
        if token is not None:  # a socket without a session: the page sets one first
            raise web.HTTPForbidden(text="open the chat page first")
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME)
        await ws.prepare(request)
        self.sockets.setdefault(key, set()).add(ws)
        try:
            await self._push(ws, self.chat.visit(CHANNEL, key))
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                await self._receive(ws, key, message.data)
        finally:
            self.sockets.get(key, set()).discard(ws)
            if not self.sockets.get(key):
                self.sockets.pop(key, None)
        return ws

    async def _receive(self, ws: web.WebSocketResponse, key: str, data: str) -> None:
        try:
            message = json.loads(data)
            kind, text = message.get("type"), message.get("text", "")
        except (ValueError, AttributeError):
            await ws.send_json({"type": "error", "text": "That message could not be read."})
            return
        if kind == "stay":
            self.chat.stay(key)
            await ws.send_json({"type": "stayed"})
        elif kind == "say" and isinstance(text, str):
            await self._push(ws, self.chat.handle(CHANNEL, key, text))
        else:
            await ws.send_json({"type": "error", "text": "Unknown message type."})

    async def _push(self, ws: web.WebSocketResponse, turn: Turn) -> None:
        if not turn.replies:
            return
        await ws.send_json({"type": "replies", "replies": render_turn(turn)})
        self.chat.delivered(turn)

    async def push_pending(self) -> None:
        """Deliver what was queued for connected residents (a pause notice, a reply)."""
        for key, sockets in list(self.sockets.items()):
            turn = self.chat.visit(CHANNEL, key)
            for ws in list(sockets):
                if not ws.closed:
                    await self._push(ws, turn)
                    break


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.path == "/":
        response.headers.setdefault("Cache-Control", "no-store")
    return response
