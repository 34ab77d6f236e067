"""Real headless Chromium for the web chat tests: the app in-process, axe-core, keyboard helpers.

Plain helpers, usable without pytest fixtures; `tests/integration/test_webchat_browser.py` wraps
them. Recipes and pitfalls: /work/shared/TESTING.md section 4. Chromium is Debian's
(`make system-deps`); `playwright install` is never run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Locator, Page, Playwright, Route
from playwright.async_api import Error as PlaywrightError

from bot.app import Services, build_app, build_services
from bot.config import Config

from .servers import LOOPBACK, free_port

CHROMIUM = "/usr/bin/chromium"
#: WCAG 2.0 and 2.1, levels A and AA; no best-practice rules.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: Each wait for the page or the server; generous, a turn takes a few milliseconds here.
TIMEOUT_MS = 10_000

LOG = "#log"
CITY = "#log li.msg.from-city"
YOU = "#log li.msg.from-you"
BOX = "#message"
SEND = "#send"
CHOICES = "#choices button"


def require_chromium() -> None:
    """Fail (never skip): a missing browser must not turn the accessibility tests green."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: run `make system-deps` (Debian package chromium)",
            pytrace=False,
        )


async def launch_chromium(pw: Playwright) -> Browser:
    require_chromium()
    return await pw.chromium.launch(executable_path=CHROMIUM)


# --------------------------------------------------------------------------------------------
# The app, in the test's event loop
# --------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve_app(services: Services, **runner: Any) -> AsyncIterator[str]:
    """`build_app(services)` on 127.0.0.1 and a free port for the length of the block; yields
    its origin ("http://127.0.0.1:PORT"). `runner`: web.AppRunner's keyword arguments."""
    app_runner = web.AppRunner(build_app(services), **runner)
    await app_runner.setup()
    port = free_port()
    try:
        await web.TCPSite(app_runner, LOOPBACK, port).start()
        yield f"http://{LOOPBACK}:{port}"
    finally:
        await app_runner.cleanup()


class ChatServer:
    """`build_services` + `build_app` on 127.0.0.1 and a fixed free port; restartable on the
    same store and port, as a redeploy would be."""

    def __init__(
        self, db_path: Path, config: Config | None = None, *, shutdown_timeout: float = 60.0
    ) -> None:
        self.db_path = db_path
        self.config = config or Config()
        #: aiohttp's own default is 60 s: how long a stop waits for open requests and sockets.
        self.shutdown_timeout = shutdown_timeout
        self.port = free_port()
        self.runner: web.AppRunner | None = None
        self._services: Services | None = None

    @property
    def origin(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return self.origin + "/"

    @property
    def ws_origin(self) -> str:
        return f"ws://{LOOPBACK}:{self.port}"

    @property
    def services(self) -> Services:
        assert self._services is not None, "server not started"
        return self._services

    async def start(self) -> None:
        assert self.runner is None, "already started"
        self._services = build_services(self.config, self.db_path)
        runner = web.AppRunner(build_app(self._services), shutdown_timeout=self.shutdown_timeout)
        await runner.setup()
        try:
            await web.TCPSite(runner, LOOPBACK, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self.runner = runner

    async def stop(self) -> float:
        """Stop and return how long the shutdown took (open sockets can hold it up)."""
        if self.runner is None:
            return 0.0
        runner, self.runner = self.runner, None
        started = time.perf_counter()
        await runner.cleanup()
        return time.perf_counter() - started

    async def restart(self) -> float:
        took = await self.stop()
        await self.start()
        return took


# --------------------------------------------------------------------------------------------
# Talking to the page
# --------------------------------------------------------------------------------------------


class SocketWatch:
    """The page's WebSockets as Chromium sees them (DevTools Network events): the page offers
    no sign of an open socket, and a message sent before it opens goes by form post instead."""

    def __init__(self) -> None:
        self.opened = 0
        self.open: set[str] = set()
        self.urls: list[str] = []
        self._changed = asyncio.Event()

    @classmethod
    async def attach(cls, page: Page) -> SocketWatch:
        watch = cls()
        cdp = await page.context.new_cdp_session(page)
        cdp.on("Network.webSocketCreated", watch._created)
        cdp.on("Network.webSocketHandshakeResponseReceived", watch._handshake)
        cdp.on("Network.webSocketClosed", watch._closed)
        await cdp.send("Network.enable")
        return watch

    def _created(self, event: dict[str, Any]) -> None:
        self.urls.append(str(event.get("url", "")))

    def _handshake(self, event: dict[str, Any]) -> None:
        if event.get("response", {}).get("status") == 101:
            self.opened += 1
            self.open.add(event["requestId"])
            self._changed.set()

    def _closed(self, event: dict[str, Any]) -> None:
        self.open.discard(event["requestId"])
        self._changed.set()

    async def wait_open(self, after: int = 0, timeout: float = TIMEOUT_MS / 1000) -> None:
        """Until more than `after` sockets have opened and one is open now."""
        async with asyncio.timeout(timeout):
            while not (self.opened > after and self.open):
                self._changed.clear()
                await self._changed.wait()
        # The handshake event reaches us as the page's "open" event is queued; let it run.
        await asyncio.sleep(0.05)


async def count(page: Page, selector: str) -> int:
    return await page.locator(selector).count()


async def city_texts(page: Page) -> list[str]:
    return await page.locator(f"{CITY} .text").all_text_contents()


async def wait_for_city_reply(page: Page, before: int, expect_text: str | None = None) -> str:
    """Wait until the transcript holds more than `before` city messages and, if given, one of
    the new ones contains `expect_text`; return the new city messages' text."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    new = ""
    while True:
        try:
            texts = await city_texts(page)
        except PlaywrightError:  # the page is navigating (form post, reload): ask again
            texts = []
        new = "\n".join(texts[before:])
        if len(texts) > before and (expect_text is None or expect_text in new):
            return new
        if time.monotonic() > deadline:
            pytest.fail(
                f"waited {TIMEOUT_MS} ms for a reply containing {expect_text!r}; "
                f"the city said: {new!r}",
                pytrace=False,
            )
        await asyncio.sleep(0.05)


async def say(page: Page, text: str, expect_text: str | None = None) -> str:
    """Scripts on: put `text` in the message box and press Enter there."""
    before = await count(page, CITY)
    box = page.locator(BOX)
    await box.fill(text)
    await box.press("Enter")
    return await wait_for_city_reply(page, before, expect_text)


async def choose(page: Page, label: str, expect_text: str | None = None) -> str:
    """Click the quick answer `label` (a real button)."""
    before = await count(page, CITY)
    await page.get_by_role("button", name=label, exact=True).click()
    return await wait_for_city_reply(page, before, expect_text)


async def post(page: Page, text: str, expect_text: str | None = None, *, key: str = "") -> str:
    """Scripts off: fill the box and submit the form with the Send button (clicked, or
    focused and `key` pressed); the server answers 303 and the page is loaded again."""
    before = await count(page, CITY)
    await page.locator(BOX).fill(text)
    async with page.expect_navigation():
        if key:
            await page.locator(SEND).focus()
            await page.keyboard.press(key)
        else:
            await page.locator(SEND).click()
    return await wait_for_city_reply(page, before, expect_text)


async def post_choice(
    page: Page, label: str, expect_text: str | None = None, *, key: str = ""
) -> str:
    """Scripts off: submit the quick answer `label` (clicked, or focused and `key` pressed)."""
    before = await count(page, CITY)
    button = page.get_by_role("button", name=label, exact=True)
    async with page.expect_navigation():
        if key:
            await button.focus()
            await page.keyboard.press(key)
        else:
            await button.click()
    return await wait_for_city_reply(page, before, expect_text)


async def focused(page: Page) -> dict[str, Any]:
    """What has the keyboard focus: tag, id, name, value, text (for assertions and messages)."""
    info: dict[str, Any] = await page.evaluate(
        """() => {
            const e = document.activeElement;
            if (!e) return {tag: null};
            return {tag: e.tagName.toLowerCase(), id: e.id, name: e.getAttribute('name'),
                    value: e.value === undefined ? null : e.value,
                    text: (e.textContent || '').trim().slice(0, 60),
                    inChoices: !!e.closest('#choices')};
        }"""
    )
    return info


async def tab_to(
    page: Page, matches: str, *, max_presses: int = 40, backwards: bool = False
) -> list[dict[str, Any]]:
    """Press Tab (or Shift+Tab) until `matches` (a JS expression over `e`, the focused
    element) is true. Fails with the visited focus path if it is never reached: unreachable by
    keyboard, or a keyboard trap. Returns the path."""
    key = "Shift+Tab" if backwards else "Tab"
    check = f"() => {{ const e = document.activeElement; return !!e && ({matches}); }}"
    path: list[dict[str, Any]] = []
    for _ in range(max_presses):
        await page.keyboard.press(key)
        path.append(await focused(page))
        if await page.evaluate(check):
            return path
    trail = " -> ".join(f"{p.get('tag')}#{p.get('id') or ''}[{p.get('text') or ''}]" for p in path)
    pytest.fail(f"{matches!r} not reached after {max_presses} x {key}; focus went: {trail}")


async def tab_to_box(page: Page) -> None:
    await tab_to(page, "e.id === 'message'")


async def tab_to_choice(page: Page, label: str, *, backwards: bool = False) -> None:
    await tab_to(
        page,
        f"e.matches('#choices button') && e.textContent.trim() === {label!r}",
        backwards=backwards,
    )


# --------------------------------------------------------------------------------------------
# axe-core
# --------------------------------------------------------------------------------------------

AXE_OPTIONS: dict[str, Any] = {
    "runOnly": {"type": "tag", "values": AXE_TAGS},
    "resultTypes": ["violations"],
}


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """WCAG 2.1 A/AA violations on the page as it is now (axe is injected by evaluate, so the
    page's strict CSP does not block it). The page must have scripts enabled: axe never
    finishes in a `java_script_enabled=False` context (its timers do not run there)."""
    results = await Axe().run(page, options=AXE_OPTIONS)
    violations: list[dict[str, Any]] = results.response["violations"]
    return violations


def describe_violations(where: str, violations: Sequence[dict[str, Any]]) -> str:
    lines = [f"{where}: {len(violations)} axe violation(s)"]
    for v in violations:
        lines.append(f"  - {v['id']} ({v.get('impact')}): {v['help']} [{v.get('helpUrl', '')}]")
        for node in v.get("nodes", [])[:5]:
            target = ", ".join(str(t) for t in node.get("target", []))
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"      at {target}: {summary[:300]}")
    return "\n".join(lines)


_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.I | re.S)
_NOSCRIPT_OPEN = re.compile(r"<noscript\b[^>]*>", re.I)
_NOSCRIPT_CLOSE = re.compile(r"</noscript\s*>", re.I)


def noscript_snapshot(html: str) -> str:
    """The DOM a script-less browser built, made safe to re-open with scripts on: every
    <script> removed, <noscript> content kept as the visible elements it was."""
    html = _SCRIPT.sub("", html)
    html = _NOSCRIPT_OPEN.sub('<div data-was-noscript="">', html)
    return _NOSCRIPT_CLOSE.sub("</div>", html)


async def axe_violations_noscript(
    browser: Browser, page: Page, origin: str
) -> list[dict[str, Any]]:
    """axe on a page rendered with scripts off: its DOM is re-served (scripts stripped) at the
    app's origin to a scripts-on page, so the same stylesheet applies, and axe runs there."""
    html = noscript_snapshot(await page.content())
    viewport = page.viewport_size
    context = await browser.new_context(viewport=viewport)
    try:
        shadow = await context.new_page()
        snapshot_url = origin + "/__noscript_snapshot__"

        async def serve(route: Route) -> None:
            await route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

        await shadow.route(snapshot_url, serve)
        await shadow.goto(snapshot_url)
        return await axe_violations(shadow)
    finally:
        await context.close()


# --------------------------------------------------------------------------------------------
# Focus visibility
# --------------------------------------------------------------------------------------------


async def focus_indicator(locator: Locator) -> dict[str, str]:
    """The computed outline and box-shadow of an element (call it while it has focus)."""
    style: dict[str, str] = await locator.evaluate(
        """e => { const s = getComputedStyle(e);
                 return {outlineStyle: s.outlineStyle, outlineWidth: s.outlineWidth,
                         outlineColor: s.outlineColor, boxShadow: s.boxShadow}; }"""
    )
    return style


def indicator_visible(style: dict[str, str]) -> bool:
    outline = style["outlineStyle"] != "none" and style["outlineWidth"] not in ("0px", "")
    shadow = style["boxShadow"] not in ("none", "")
    return outline or shadow
