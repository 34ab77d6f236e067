"""The web chat over real HTTP and WebSocket (aiohttp server and client on loopback).

The browser-level checks (keyboard, screen-reader semantics, axe-core) are in
test_webchat_browser.py; these pin the protocol, the session cookie and the escaping.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from bot.app import build_app, build_services
from bot.clock import PinnedClock
from bot.config import Config
from bot.webchat import COOKIE, conversation_key
from storage.cases import get_case, list_cases

from ..scripts import FULL
from ..servers import free_port

#: The service's clock starts here (and runs at real speed): references carry this year,
#: whatever the day the tests run.
START = datetime(2026, 11, 25, 16, 38, tzinfo=UTC)
INJECTION = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> on Elm St'


class Site:
    def __init__(self, db_path: Path, config: Config | None = None) -> None:
        self.db_path = db_path
        self.config = config or Config()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    async def start(self) -> Site:
        self.services = build_services(self.config, self.db_path, PinnedClock(START))
        self.runner = web.AppRunner(build_app(self.services))
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        await self.runner.cleanup()


@pytest.fixture
async def site(tmp_path) -> AsyncIterator[Site]:
    s = await Site(tmp_path / "caredesk.db").start()
    yield s
    await s.stop()


def browser() -> aiohttp.ClientSession:
    # unsafe=True: keep cookies for an IP address host, as browsers do for 127.0.0.1.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def texts(html: str) -> list[str]:
    return [unescape(t) for t in re.findall(r'<span class="text">(.*?)</span>', html, re.S)]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


def cookie_of(response: aiohttp.ClientResponse) -> str | None:
    morsel = response.cookies.get(COOKIE)
    return morsel.value if morsel is not None else None


class Tab:
    """One browser tab on the chat page: keeps the page's form token as a browser would."""

    def __init__(self, client: aiohttp.ClientSession, site: Site) -> None:
        self.client = client
        self.site = site
        self.csrf = ""
        self.html = ""
        self.body = ""

    async def load(self, path: str = "/") -> str:
        async with self.client.get(self.site.url + path) as response:
            assert response.status == 200
            self.html = await response.text()
        match = re.search(r'name="csrf" value="([0-9a-f]+)"', self.html)
        self.csrf = match.group(1) if match else ""
        return self.html

    async def post(
        self, path: str, headers: dict[str, str] | None = None, **form: str
    ) -> aiohttp.ClientResponse:
        async with self.client.post(
            self.site.url + path,
            data={"csrf": self.csrf, **form},
            headers=headers,
            allow_redirects=False,
        ) as response:
            self.body = await response.text()
        if response.status == 303:
            await self.load(response.headers["Location"].split("#")[0])
        return response

    async def say(self, *lines: str) -> None:
        for line in lines:
            response = await self.post("/", text=line)
            assert response.status == 303, await response.text()

    def ws(self) -> Any:
        return self.client.ws_connect(self.site.url + "/ws", origin=self.site.url)


async def test_page_sets_a_private_session_and_strict_headers(site):
    async with browser() as client:
        response = await client.get(site.url + "/")
        html = await response.text()
    assert response.status == 200
    cookie = response.headers["Set-Cookie"]
    assert "caredesk_chat=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert '<html lang="en">' in html and 'role="log"' in html
    assert "<script>" not in html.replace('<script src="', "")  # no inline script at all
    assert "What is your message about?" in texts(html)[-1]
    async with browser() as client:
        tab = Tab(client, site)
        await tab.load()
        await tab.say("1")
        token = client.cookie_jar.filter_cookies(URL(site.url))[COOKIE].value
    stored = site.services.db.execute("SELECT key FROM conversations").fetchone()[0]
    assert token not in stored  # the store keeps a hash, never the cookie


async def test_a_whole_complaint_through_the_form_fallback(site):
    async with browser() as client:
        tab = Tab(client, site)
        await tab.load()
        await tab.say(*FULL, "confirm")
        html = tab.html
    assert any("We received your complaint [CD-2026-000001]" in t for t in texts(html))
    [case] = list_cases(site.services.db)
    assert get_case(site.services.db, case["ref"])["channel"] == "web"


async def test_a_whole_complaint_over_the_websocket(site):
    async with browser() as client:
        tab = Tab(client, site)
        await tab.load()
        async with tab.ws() as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "session"
            reply = None
            for line in [*FULL, "confirm"]:
                await ws.send_json({"type": "say", "text": line})
                reply = await ws.receive_json(timeout=10)
            assert reply["type"] == "replies"
            assert "We received your complaint [CD-2026-000001]" in reply["replies"][0]["text"]
            await ws.send_json({"type": "say", "text": "status CD-2026-000001"})
            status = await ws.receive_json(timeout=10)
    assert "CD-2026-000001: your complaint" in status["replies"][0]["text"]


async def test_choices_travel_as_buttons(site):
    async with browser() as client:
        tab = Tab(client, site)
        await tab.load()
        async with tab.ws() as ws:
            await ws.receive_json(timeout=10)  # the new session
            await ws.send_json({"type": "say", "text": "1"})
            reply = await ws.receive_json(timeout=10)
        html = await tab.load()
    assert reply["replies"][-1]["choices"] == ["Yes", "No", "Not sure"]  # issue 8
    assert '<button type="submit" name="text" value="Yes">Yes</button>' in html


async def test_resident_text_is_escaped_on_the_page(site):
    async with browser() as client:
        tab = Tab(client, site)
        await tab.load()
        await tab.say("1", "no", INJECTION)
        html = tab.html
    assert "<img" not in html and "<script>window" not in html
    assert "&lt;img src=x onerror=" in html
    assert INJECTION in texts(html)


async def test_socket_needs_the_page_session_first(site):
    async with browser() as client:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(site.url + "/ws", origin=site.url)
    assert refused.value.status == 403


async def test_garbage_on_the_socket_gets_a_clear_error(site):
    async with browser() as client:
        tab = Tab(client, site)
        await tab.load()
        async with tab.ws() as ws:
            await ws.receive_json(timeout=10)  # the new session
            await ws.send_str("{not json")
            assert (await ws.receive_json(timeout=10))["type"] == "error"
            await ws.send_json({"type": "launch-missiles"})
            assert (await ws.receive_json(timeout=10))["text"] == "Unknown message type."
            await ws.send_str("x" * (200 * 1024))
            closed = await ws.receive(timeout=10)
    assert closed.type in (
        aiohttp.WSMsgType.CLOSE,
        aiohttp.WSMsgType.CLOSED,
        aiohttp.WSMsgType.ERROR,
    )


async def test_conversation_resumes_after_a_restart_of_the_service(tmp_path):
    first = await Site(tmp_path / "caredesk.db").start()
    async with browser() as client:
        tab = Tab(client, first)
        await tab.load()
        await tab.say(*FULL[:4])
        await first.stop()
        second = Site(tmp_path / "caredesk.db")
        second.port, second.url = first.port, first.url
        await second.start()
        try:
            async with tab.ws() as ws:
                await ws.send_json({"type": "say", "text": FULL[4]})
                reply = await ws.receive_json(timeout=10)
        finally:
            await second.stop()
    assert "What outcome are you looking for?" in reply["replies"][-1]["text"]


async def test_stay_restarts_the_idle_clock(site):
    async with browser() as client:
        tab = Tab(client, site)
        await tab.load()
        await tab.say("1")
        db = site.services.db
        db.execute("UPDATE conversations SET updated_at = '2000-01-01T00:00:00+00:00'")
        async with tab.ws() as ws:
            await ws.send_json({"type": "stay"})
            assert (await ws.receive_json(timeout=10))["type"] == "stayed"
        assert db.execute("SELECT updated_at FROM conversations").fetchone()[0] >= START.isoformat()
        db.execute("UPDATE conversations SET updated_at = '2000-01-01T00:00:00+00:00'")
        assert (await tab.post("/stay")).status == 303  # the form, without scripts
    assert db.execute("SELECT updated_at FROM conversations").fetchone()[0] >= START.isoformat()


# --------------------------------------------------------------------------------------------
# Sessions, origins and headers (issue 8, section 4)


def changes(site: Site) -> int:
    """Rows the service's own connection has written so far (a page load must add none)."""
    return site.services.db.conn.total_changes


async def test_page_loads_without_a_cookie_write_nothing(site):
    before = changes(site)
    async with browser() as client:
        for _ in range(5):
            await Tab(client, site).load()
            client.cookie_jar.clear()
    assert changes(site) == before
    assert site.services.db.execute("SELECT count(*) FROM conversations").fetchone()[0] == 0
    assert site.services.db.execute("SELECT count(*) FROM chat_log").fetchone()[0] == 0


async def test_the_conversation_starts_with_the_first_message(site):
    async with browser() as client:
        tab = Tab(client, site)
        await tab.load()
        await tab.say("1")
    [(_state,)] = site.services.db.execute("SELECT state FROM conversations").fetchall()
    transcript = texts(tab.html)
    assert transcript[0].startswith("Hello") or "thank you for contacting" in transcript[0]
    assert "immediate danger" in transcript[-1]


PLANTED = "A" * 43  # a token someone else chose (e.g. set through a sibling domain)


async def test_a_planted_token_is_never_adopted_by_a_form_post(site):
    from bot.webchat import form_token

    async with browser() as client:
        client.cookie_jar.update_cookies({COOKIE: PLANTED}, URL(site.url))
        async with client.post(
            site.url + "/",
            data={"text": "1", "csrf": form_token(PLANTED)},
            allow_redirects=False,
        ) as response:
            assert response.status == 303
            issued = cookie_of(response)
    assert issued and issued != PLANTED
    keys = [k for (k,) in site.services.db.execute("SELECT key FROM conversations").fetchall()]
    assert keys == [conversation_key(issued)]


async def test_a_planted_token_is_never_adopted_by_the_socket(site):
    async with browser() as client:
        client.cookie_jar.update_cookies({COOKIE: PLANTED}, URL(site.url))
        async with client.ws_connect(site.url + "/ws", origin=site.url) as ws:
            session = await ws.receive_json(timeout=10)
            assert session["type"] == "session"
            await ws.send_json({"type": "say", "text": "1"})
            await ws.receive_json(timeout=10)
        issued = client.cookie_jar.filter_cookies(URL(site.url))[COOKIE].value
    assert issued != PLANTED
    keys = [k for (k,) in site.services.db.execute("SELECT key FROM conversations").fetchall()]
    assert keys == [conversation_key(issued)]


async def test_a_page_load_with_an_unknown_token_gets_a_new_one(site):
    async with browser() as client:
        client.cookie_jar.update_cookies({COOKIE: PLANTED}, URL(site.url))
        async with client.get(site.url + "/") as response:
            issued = cookie_of(response)
    assert issued and issued != PLANTED


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", None, "http://127.0.0.1.evil.example"]
)
async def test_the_socket_refuses_other_origins(site, origin):
    async with browser() as client:
        tab = Tab(client, site)
        await tab.load()
        await tab.say("1")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(site.url + "/ws", origin=origin)
    assert refused.value.status == 403


async def test_the_socket_accepts_a_configured_origin(tmp_path):
    from bot.config import parse_config

    config = parse_config({"web": {"allowed_origins": ["https://chat.city.example"]}})
    site = await Site(tmp_path / "caredesk.db", config).start()
    try:
        async with browser() as client:
            await Tab(client, site).load()
            async with client.ws_connect(
                site.url + "/ws", origin="https://chat.city.example"
            ) as ws:
                assert (await ws.receive_json(timeout=10))["type"] == "session"
    finally:
        await site.stop()


async def test_form_posts_need_the_page_token_and_our_origin(site):
    async with browser() as client:
        tab = Tab(client, site)
        await tab.load()
        for path in ("/", "/stay", "/end"):
            async with client.post(site.url + path, data={"text": "1"}) as response:
                assert response.status == 403, path  # no token: another site's form
            async with client.post(
                site.url + path,
                data={"text": "1", "csrf": tab.csrf},
                headers={"Origin": "http://evil.example"},
                allow_redirects=False,
            ) as response:
                assert response.status == 403, path
        assert site.services.db.execute("SELECT count(*) FROM conversations").fetchone()[0] == 0
        response = await tab.post("/", text="1")
        assert response.status == 303


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("a bug in a handler")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("GET", "/healthz", 200),
        ("GET", "/nowhere", 404),
        ("GET", "/stay", 405),
        ("POST", "/", 403),
        ("POST", "/end", 403),
        ("GET", "/ws", 403),
        ("GET", "/boom", 500),
    ],
)
async def test_every_response_has_the_security_headers(tmp_path, method, path, status):
    site = Site(tmp_path / "caredesk.db")
    site.services = build_services(site.config, site.db_path, PinnedClock(START))
    app = build_app(site.services)
    app.router.add_get("/boom", boom)
    site.runner = web.AppRunner(app)
    await site.runner.setup()
    await web.TCPSite(site.runner, "127.0.0.1", site.port).start()
    try:
        async with (
            browser() as client,
            client.request(method, site.url + path, allow_redirects=False) as response,
        ):
            assert response.status == status
            headers = response.headers
    finally:
        await site.stop()
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


async def test_a_redirect_has_the_security_headers(site):
    async with browser() as client:
        tab = Tab(client, site)
        await tab.load()
        response = await tab.post("/", text="1")
    assert response.status == 303
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


async def test_cookie_lives_only_as_long_as_resuming_needs(site):
    async with browser() as client, client.get(site.url + "/") as response:
        morsel = response.cookies[COOKIE]
    idle, resume = site.config.dialogue.idle_minutes, site.config.web.resume_minutes
    assert int(morsel["max-age"]) == (idle + resume) * 60 <= 24 * 3600
    assert not morsel["secure"]  # plain http, no proxy: a Secure cookie would not come back


async def proxied(tmp_path, trusted: str | None, **web_cfg: Any) -> Site:
    from bot.config import parse_config

    cfg: dict[str, Any] = dict(web_cfg)
    if trusted is not None:
        cfg["trusted_proxy"] = trusted
    return await Site(tmp_path / "caredesk.db", parse_config({"web": cfg})).start()


async def test_secure_cookie_behind_a_trusted_https_proxy(tmp_path):
    site = await proxied(tmp_path, "127.0.0.1")
    try:
        async with (
            browser() as client,
            client.get(site.url + "/", headers={"X-Forwarded-Proto": "https"}) as response,
        ):
            assert response.cookies[COOKIE]["secure"]
    finally:
        await site.stop()


async def test_forwarded_headers_from_anyone_else_are_ignored(tmp_path):
    site = await proxied(tmp_path, "10.0.0.0/8", client_rate_per_minute=3)
    try:
        async with browser() as client:
            async with client.get(
                site.url + "/", headers={"X-Forwarded-Proto": "https"}
            ) as response:
                assert not response.cookies[COOKIE]["secure"]
            tab = Tab(client, site)
            await tab.load()
            statuses = []
            for n in range(5):  # a made-up X-Forwarded-For does not escape the limit
                forged = {"X-Forwarded-For": f"203.0.113.{n}"}
                statuses.append((await tab.post("/", forged, text="1")).status)
    finally:
        await site.stop()
    assert statuses[:3] == [303, 303, 303] and statuses[3:] == [429, 429]
    assert "wait a minute" in tab.body


async def test_per_client_limit_uses_the_trusted_proxy_header(tmp_path):
    site = await proxied(tmp_path, "127.0.0.1", client_rate_per_minute=2)
    try:
        async with browser() as client:
            tab = Tab(client, site)
            await tab.load()

            async def post_as(address: str) -> int:
                forwarded = {"X-Forwarded-For": f"{address}, 127.0.0.1"}
                return (await tab.post("/", forwarded, text="1")).status

            first = [await post_as("198.51.100.7") for _ in range(3)]
            other = await post_as("198.51.100.8")
    finally:
        await site.stop()
    assert first == [303, 303, 429]
    assert other == 303  # another resident behind the same proxy is not held up


async def test_the_socket_has_the_per_client_limit_too(tmp_path):
    site = await proxied(tmp_path, None, client_rate_per_minute=2)
    try:
        async with browser() as client:
            tab = Tab(client, site)
            await tab.load()
            async with tab.ws() as ws:
                await ws.receive_json(timeout=10)
                replies = []
                for line in ("1", "no", "The bus was late"):
                    await ws.send_json({"type": "say", "text": line})
                    replies.append((await ws.receive_json(timeout=10))["replies"][-1]["text"])
    finally:
        await site.stop()
    assert "Too many messages" in replies[2] and "Too many" not in replies[1]


# --------------------------------------------------------------------------------------------
# Shared computers


async def test_after_filing_the_next_visitor_sees_only_the_reference(site):
    async with browser() as client:
        tab = Tab(client, site)
        await tab.load()
        await tab.say(*FULL, "confirm")
        first = tab.html  # the resident who just confirmed sees the acknowledgement
        later = await tab.load()  # whoever opens the page next
    assert "CD-2026-000001" in first
    assert any("We received your complaint [CD-2026-000001]" in t for t in texts(first))
    assert "CD-2026-000001" in later
    for private in ("jane@example.com", "Jane Doe", "garbage", "We received your complaint"):
        assert private not in later, private
    assert 'id="message"' not in later  # no message box that would add to someone's case
    assert "Start a new conversation" in later


async def test_end_and_clear_an_unfinished_conversation(site):
    async with browser() as client:
        tab = Tab(client, site)
        await tab.load()
        await tab.say(*FULL[:8])
        response = await tab.post("/end")
        assert response.status == 303
        assert response.cookies[COOKIE].value == ""  # the cookie is removed
        html = tab.html
    assert "Your conversation has ended" in html
    assert "Jane Doe" not in html and FULL[2] not in html
    db = site.services.db
    assert db.execute("SELECT count(*) FROM conversations").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM chat_log").fetchone()[0] == 0
    assert list_cases(db) == []


async def test_end_and_clear_after_filing_keeps_the_case_and_shows_the_reference(site):
    async with browser() as client:
        tab = Tab(client, site)
        await tab.load()
        await tab.say(*FULL, "confirm")
        await tab.post("/end")
        html = tab.html
        again = await tab.load()
    assert "Your reference is <strong>CD-2026-000001</strong>" in html
    assert "jane@example.com" not in html
    assert "CD-2026-000001" not in again  # a fresh page, a fresh greeting
    assert [c["ref"] for c in list_cases(site.services.db)] == ["CD-2026-000001"]


async def test_secure_cookie_when_served_over_https_directly(tmp_path):
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    site = Site(tmp_path / "caredesk.db")
    site.services = build_services(site.config, site.db_path, PinnedClock(START))
    site.runner = web.AppRunner(build_app(site.services))
    await site.runner.setup()
    await web.TCPSite(site.runner, "127.0.0.1", site.port, ssl_context=server_tls).start()
    try:
        async with (
            browser() as client,
            client.get(f"https://127.0.0.1:{site.port}/", ssl=False) as response,
        ):
            assert response.status == 200
            assert response.cookies[COOKIE]["secure"]
    finally:
        await site.stop()


async def test_a_pause_is_shown_on_the_open_page_and_leaves_no_outbox_row(tmp_path):
    from bot.config import parse_config

    config = parse_config({"web": {"sweep_seconds": 1}})
    site = await Site(tmp_path / "caredesk.db", config).start()
    db = site.services.db
    try:
        async with browser() as client:
            tab = Tab(client, site)
            await tab.load()
            async with tab.ws() as ws:
                await ws.receive_json(timeout=10)  # the new session
                await ws.send_json({"type": "say", "text": "1"})
                await ws.receive_json(timeout=10)
                db.execute("UPDATE conversations SET updated_at = '2000-01-01T00:00:00+00:00'")
                notice = await ws.receive_json(timeout=10)  # the sweeper, within a second
            html = await tab.load()
        outbox = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    finally:
        await site.stop()
    assert "paused our conversation" in notice["replies"][0]["text"]
    assert "paused our conversation" in texts(html)[-1]  # in the transcript for next time
    assert outbox == 0
