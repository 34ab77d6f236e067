"""The web chat over real HTTP and WebSocket (aiohttp server and client on loopback).

The browser-level checks (keyboard, screen-reader semantics, axe-core) are in
test_webchat_browser.py; these pin the protocol, the session cookie and the escaping.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.app import build_app, build_services
from bot.config import Config
from storage.cases import get_case, list_cases

from ..servers import free_port
from ..unit.test_flow import FULL

INJECTION = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> on Elm St'


class Site:
    def __init__(self, db_path: Path, config: Config | None = None) -> None:
        self.db_path = db_path
        self.config = config or Config()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    async def start(self) -> Site:
        self.services = build_services(self.config, self.db_path)
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
    token = cookie.split("caredesk_chat=", 1)[1].split(";", 1)[0]
    stored = site.services.db.execute("SELECT key FROM conversations").fetchone()[0]
    assert token not in stored  # the store keeps a hash, never the cookie


async def test_a_whole_complaint_through_the_form_fallback(site):
    async with browser() as client:
        await client.get(site.url + "/")
        for line in [*FULL, "confirm"]:
            response = await client.post(site.url + "/", data={"text": line}, allow_redirects=False)
            assert response.status == 303
        html = await (await client.get(site.url + "/")).text()
    assert any("We received your complaint [CD-2026-000001]" in t for t in texts(html))
    [case] = list_cases(site.services.db)
    assert get_case(site.services.db, case["ref"])["channel"] == "web"


async def test_a_whole_complaint_over_the_websocket(site):
    async with browser() as client:
        await client.get(site.url + "/")
        async with client.ws_connect(site.url + "/ws") as ws:
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
        await client.get(site.url + "/")
        async with client.ws_connect(site.url + "/ws") as ws:
            await ws.send_json({"type": "say", "text": "1"})
            reply = await ws.receive_json(timeout=10)
        html = await (await client.get(site.url + "/")).text()
    assert reply["replies"][-1]["choices"] == ["Yes", "No", "Not sure"]  # issue 8
    assert '<button type="submit" name="text" value="Yes">Yes</button>' in html


async def test_resident_text_is_escaped_on_the_page(site):
    async with browser() as client:
        await client.get(site.url + "/")
        for line in ["1", "no", INJECTION]:
            await client.post(site.url + "/", data={"text": line})
        html = await (await client.get(site.url + "/")).text()
    assert "<img" not in html and "<script>window" not in html
    assert "&lt;img src=x onerror=" in html
    assert INJECTION in texts(html)


async def test_socket_needs_the_page_session_first(site):
    async with browser() as client:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(site.url + "/ws")
    assert refused.value.status == 403


async def test_garbage_on_the_socket_gets_a_clear_error(site):
    async with browser() as client:
        await client.get(site.url + "/")
        async with client.ws_connect(site.url + "/ws") as ws:
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
        await client.get(first.url + "/")
        for line in FULL[:4]:
            await client.post(first.url + "/", data={"text": line})
        await first.stop()
        second = Site(tmp_path / "caredesk.db")
        second.port, second.url = first.port, first.url
        await second.start()
        try:
            async with client.ws_connect(second.url + "/ws") as ws:
                await ws.send_json({"type": "say", "text": FULL[4]})
                reply = await ws.receive_json(timeout=10)
        finally:
            await second.stop()
    assert "What outcome are you looking for?" in reply["replies"][-1]["text"]


async def test_stay_restarts_the_idle_clock(site):
    async with browser() as client:
        await client.get(site.url + "/")
        db = site.services.db
        db.execute("UPDATE conversations SET updated_at = '2000-01-01T00:00:00+00:00'")
        async with client.ws_connect(site.url + "/ws") as ws:
            await ws.send_json({"type": "stay"})
            assert (await ws.receive_json(timeout=10))["type"] == "stayed"
    assert db.execute("SELECT updated_at FROM conversations").fetchone()[0] > "2026"
