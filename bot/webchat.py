"""The web chat: a page at `/`, a WebSocket at `/ws`, and a plain form post when scripts are off.

An adapter only: it ties a browser to a conversation key through a random session cookie
(HttpOnly, SameSite=Lax; the store keeps only its hash) and hands text to `ChatService`.
Everything a resident typed is escaped by Jinja2 on the page and set as text by the script;
the Content-Security-Policy forbids inline scripts, and every asset is served from here.

Sessions are the server's: a cookie is used only when a conversation exists under it. Any
other token (made up, planted by someone else, left over) is replaced by a fresh one on the
response that starts the conversation, so nobody can choose a resident's session. A page
load writes nothing: the conversation starts with the first message. Forms carry a token
derived from the session cookie, and the socket checks `Origin`, so another site cannot act
in a resident's name. Once a case is filed, or the resident chooses "End and clear", the
page shows only the reference to whoever opens it next.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn

import jinja2
import orjson
from aiohttp import WSMsgType, web

from bot.chat import ChatService, Turn
from bot.config import Config
from bot.ratelimit import RateLimiter

log = logging.getLogger(__name__)

CHANNEL = "web"
COOKIE = "caredesk_chat"
ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "static"
PAGES = ROOT / "templates" / "web"
#: The largest message the socket accepts; the dialogue's own limit is lower and polite.
MAX_FRAME = 64 * 1024
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
REFERENCE = re.compile(r"^[A-Z0-9]{1,10}-\d{4}-\d{1,6}$")
TOO_FAST = (
    "Too many messages are coming from your connection. Please wait a minute, then carry on; "
    "nothing you've told me is lost."
)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def conversation_key(token: str) -> str:
    """The store never holds the cookie itself, only a hash of it."""
    return f"{CHANNEL}:{hashlib.sha256(token.encode()).hexdigest()[:32]}"


def form_token(session: str) -> str:
    """The hidden field of every form: only a page that could read the session cookie's
    value (ours) can know it; a hash, so the page never carries the cookie itself."""
    return hmac.new(b"caredesk-web-form", session.encode(), hashlib.sha256).hexdigest()[:32]


def render_turn(turn: Turn) -> list[dict[str, Any]]:
    return [{"text": r.text, "choices": list(r.choices)} for r in turn.replies]


class Peer:
    """Who is asking, as far as this request can tell: the client's address and whether it
    came over https. Behind the configured proxy only, the proxy's headers say so."""

    def __init__(self, request: web.Request, trusted_proxy: str) -> None:
        remote = request.remote or ""
        self.address = remote
        self.https = request.secure
        if not trusted_proxy or not _in_network(remote, trusted_proxy):
            return
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
        hops = [h for h in hops if h]
        # The proxy appends the address it saw; walk back past any hop that is the proxy.
        for hop in reversed(hops):
            if not _in_network(hop, trusted_proxy):
                self.address = hop
                break
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if proto:
            self.https = proto == "https"


def _in_network(address: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


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
        self.clients = RateLimiter(config.web.client_rate_per_minute)
        dialogue = config.dialogue
        self.cookie_seconds = (dialogue.idle_minutes + config.web.resume_minutes) * 60

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.page)
        app.router.add_post("/", self.post)
        app.router.add_get("/ws", self.socket)
        app.router.add_post("/stay", self.stay_form)
        app.router.add_post("/end", self.end_form)
        app.router.add_static("/static/", STATIC, append_version=True, name="static")

    # -- session ----------------------------------------------------------------------------

    def _cookie(self, request: web.Request) -> str:
        token = request.cookies.get(COOKIE, "")
        return token if TOKEN.match(token) else ""

    def _known(self, token: str) -> bool:
        """A token is the server's only once a conversation was started under it."""
        return bool(token) and self.chat.exists(conversation_key(token))

    def _set_cookie(self, response: web.StreamResponse, request: web.Request, token: str) -> None:
        """(Re)sets the cookie with the short lifetime resuming needs; Secure over https."""
        peer = Peer(request, self.config.web.trusted_proxy)
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="Lax",
            path="/",
            secure=self.config.web.secure_cookie or peer.https,
            max_age=self.cookie_seconds,
        )

    def _origin_ok(self, request: web.Request, required: bool) -> bool:
        """Origin (or, failing that, Referer) names this site or a configured origin."""
        origin = request.headers.get("Origin", "")
        if not origin or origin == "null":
            referer = request.headers.get("Referer", "")
            match = re.match(r"^(https?://[^/?#]+)", referer)
            origin = match.group(1) if match else ""
        if not origin:
            return not required
        origin = origin.lower().rstrip("/")
        host = request.headers.get("Host", "").lower()
        scheme = "https" if Peer(request, self.config.web.trusted_proxy).https else "http"
        # https://host is never weaker than the request's own scheme (a TLS proxy in front).
        own = {f"{scheme}://{host}", f"https://{host}"}
        return origin in own or origin in self.config.web.allowed_origins

    async def _check_form(self, request: web.Request) -> tuple[str, dict[str, str]]:
        """The session token of a form post after the origin, form token and rate checks."""
        if not self._origin_ok(request, required=False):
            raise web.HTTPForbidden(text="This form was sent from another site.")
        token = self._cookie(request)
        form = await request.post()
        given = str(form.get("csrf", ""))
        if not token or not hmac.compare_digest(given.encode(), form_token(token).encode()):
            self._expired(request)
        self._limit(request)
        # A quick answer's button and the (empty) message box both send `text`: the first
        # one, the button's, in page order, is what the resident chose.
        return token, {k: str(form.get(k, "")) for k in form}

    def _expired(self, request: web.Request) -> NoReturn:
        raise web.HTTPForbidden(
            text="This page has expired (or did not come from this site). "
            "Please open the chat page again and send your message once more.",
        )

    def _limit(self, request: web.Request) -> None:
        peer = Peer(request, self.config.web.trusted_proxy)
        if not self.clients.allow(peer.address, self.chat.clock.now()):
            raise web.HTTPTooManyRequests(text=TOO_FAST)

    # -- handlers ---------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        token = self._cookie(request)
        ended = request.query.get("ended", "")
        if self._known(token):
            key = conversation_key(token)
            filed = self.chat.filed_ref(key)
            turn = self.chat.visit(CHANNEL, key, record=filed is None)
            self.chat.delivered(turn)
            if filed is not None:  # only the reference (and what was just filed, once)
                lines = [("city", r.text, list(r.choices)) for r in turn.replies]
                html = self._render(request, token, lines, [], filed=filed)
            else:
                lines = self.chat.transcript(key)
                choices = lines[-1][2] if lines and lines[-1][0] == "city" else []
                html = self._render(request, token, lines, choices)
        else:  # a newcomer: the greeting, and nothing written until the first message
            token = secrets.token_urlsafe(32)
            greeting = self.chat.greeting()
            lines = [("city", r.text, list(r.choices)) for r in greeting]
            ref = ended if REFERENCE.match(ended) else None
            html = self._render(
                request, token, lines, list(greeting[-1].choices), ended=bool(ended), ref=ref
            )
        response = web.Response(text=html, content_type="text/html", charset="utf-8")
        self._set_cookie(response, request, token)
        return response

    def _render(
        self,
        request: web.Request,
        token: str,
        lines: list[tuple[str, str, list[str]]],
        choices: list[str],
        *,
        filed: str | None = None,
        ended: bool = False,
        ref: str | None = None,
    ) -> str:
        dialogue = self.config.dialogue
        return self.pages.get_template("chat.html.j2").render(
            city=self.config.city.name,
            care=self.config.care,
            lines=lines,
            choices=choices,
            filed=filed,
            ended=ended,
            ref=ref,
            csrf=form_token(token),
            idle_seconds=dialogue.idle_minutes * 60,
            warn_seconds=min(self.config.web.idle_warning_seconds, dialogue.idle_minutes * 60 - 1),
            max_chars=dialogue.max_message_chars,
            static=lambda name: request.app.router["static"].url_for(filename=name),
        )

    async def post(self, request: web.Request) -> web.Response:
        """The no-script path: take the text, then show the page again (post/redirect/get)."""
        token, form = await self._check_form(request)
        text = form.get("text", "")[: self.config.dialogue.max_message_chars * 2]
        if not self._known(token):  # the first message: a new session, chosen here
            token = secrets.token_urlsafe(32)
        key = conversation_key(token)
        turn = self.chat.handle(CHANNEL, key, text, start_if_new=True)
        if turn.ref is None:  # a filing's acknowledgement is shown (and marked) by the page
            self.chat.delivered(turn)
        response = web.HTTPSeeOther("/#latest")
        self._set_cookie(response, request, token)
        raise response

    async def stay_form(self, request: web.Request) -> web.Response:
        token, _form = await self._check_form(request)
        if self._known(token):
            self.chat.stay(conversation_key(token))
        raise web.HTTPSeeOther("/#latest")

    async def end_form(self, request: web.Request) -> web.Response:
        """The resident's "End and clear": the cookie goes, an unfinished conversation is
        forgotten, and the page shows only the reference of what was filed."""
        token, _form = await self._check_form(request)
        ref = None
        if self._known(token):
            key = conversation_key(token)
            ref = self.chat.end(key)
            for ws in list(self.sockets.get(key, ())):
                await ws.close(message=b"ended")
        response = web.HTTPSeeOther(f"/?ended={ref or 1}")
        response.del_cookie(COOKIE, path="/")
        raise response

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        if not self._origin_ok(request, required=True):
            raise web.HTTPForbidden(text="not from this site")
        token = self._cookie(request)
        if not token:  # a socket without a session: the page sets one first
            raise web.HTTPForbidden(text="open the chat page first")
        rotated = not self._known(token)
        if rotated:  # never adopt a token the server did not start a conversation under
            token = secrets.token_urlsafe(32)
        key = conversation_key(token)
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME)
        self._set_cookie(ws, request, token)
        await ws.prepare(request)
        self.sockets.setdefault(key, set()).add(ws)
        try:
            if rotated:  # the page's forms must carry the new session's token
                await ws.send_json({"type": "session", "csrf": form_token(token)})
            await self._push(ws, self.chat.visit(CHANNEL, key))
            # Who is at the other end does not change while the socket is open: work it out
            # once, not on every frame.
            peer = Peer(request, self.config.web.trusted_proxy)
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                await self._receive(ws, peer, key, message.data)
        finally:
            self.sockets.get(key, set()).discard(ws)
            if not self.sockets.get(key):
                self.sockets.pop(key, None)
        return ws

    async def _receive(self, ws: web.WebSocketResponse, peer: Peer, key: str, data: str) -> None:
        if not self.clients.allow(peer.address, self.chat.clock.now()):
            await ws.send_json({"type": "replies", "replies": [{"text": TOO_FAST, "choices": []}]})
            return
        try:
            message = orjson.loads(data)  # raises a ValueError as json.loads did
            kind, text = message.get("type"), message.get("text", "")
        except (ValueError, AttributeError):
            await ws.send_json({"type": "error", "text": "That message could not be read."})
            return
        if kind == "stay":
            self.chat.stay(key)
            await ws.send_json({"type": "stayed"})
        elif kind == "say" and isinstance(text, str):
            await self._push(ws, self.chat.handle(CHANNEL, key, text, start_if_new=True))
        else:
            await ws.send_json({"type": "error", "text": "Unknown message type."})

    async def _push(self, ws: web.WebSocketResponse, turn: Turn) -> None:
        if not turn.replies:
            return
        # orjson: the frame in a tenth of json.dumps' time, on every turn.
        await ws.send_str(orjson.dumps({"type": "replies", "replies": render_turn(turn)}).decode())
        self.chat.delivered(turn)

    async def tell(self, key: str, text: str) -> bool:
        """Show a notice (a pause) on the resident's open page, if there is one."""
        for ws in list(self.sockets.get(key, ())):
            if not ws.closed:
                await ws.send_json({"type": "replies", "replies": [{"text": text, "choices": []}]})
                return True
        return False

    async def push_pending(self) -> None:
        """Deliver what was queued for connected residents (a reply a dropped socket missed)."""
        for key, sockets in list(self.sockets.items()):
            turn = self.chat.visit(CHANNEL, key)
            for ws in list(sockets):
                if not ws.closed:
                    await self._push(ws, turn)
                    break


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every response gets the headers: pages, files, redirects and errors (404, 405, 403, 500)
    alike, since an error page is a page too."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _add_headers(request, exc)
        raise
    except Exception:
        log.exception("unhandled error")
        response = web.Response(
            status=500, text="Something went wrong on our side. Please try again in a minute."
        )
    _add_headers(request, response)
    return response


def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    if response.prepared:  # a WebSocket or a stream: its headers are already out
        return
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
