"""The web chat in real headless Chromium (Debian's), driven by Playwright, checked by axe-core.

One browser for the session, a fresh context per test, the app started in the test's own event
loop on a free port (tests/browser.py). Residents use this page to complain to the City: it
must work with the keyboard alone, without scripts, and meet WCAG 2.1 AA.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    WebSocket,
    expect,
)

from bot.config import parse_config
from storage.cases import get_case, list_cases

from ..browser import (
    BOX,
    CHOICES,
    CITY,
    LOG,
    SEND,
    ChatServer,
    SocketWatch,
    axe_violations,
    axe_violations_noscript,
    choose,
    city_texts,
    count,
    describe_violations,
    focus_indicator,
    focused,
    indicator_visible,
    post,
    post_choice,
    say,
    tab_to,
    tab_to_box,
    tab_to_choice,
    wait_for_city_reply,
)

DESCRIPTION = "The garbage truck skipped 12 Elm Street and the driver was rude when I asked why"
CONTACT = "jane@example.com 905-555-0100"
#: (what the resident sends, what the next city message must contain); FULL of tests/scripts.py
#: with the quick answers' own labels where the dialogue offers buttons.
SCRIPT: list[tuple[str, str]] = [
    ("Complaint", "immediate danger"),
    ("No", "Please tell me what happened"),
    (DESCRIPTION, "When did it happen?"),
    ("yesterday at 3pm", "Who was involved?"),
    ("the driver of truck 42", "What outcome are you looking for?"),
    ("pick up the garbage and an apology", "May I have your full name?"),
    ("Jane Doe", "on behalf of someone else"),
    ("Me", "How can we reach you?"),
    (CONTACT, "Here is what I have"),
    ("Confirm", "We received your complaint ["),
]
CHOICE_ANSWERS = {"Complaint", "No", "Me", "Confirm"}
ACK = re.compile(r"We received your complaint \[(?P<ref>CD-\d{4}-\d{6})\]")
PAYLOAD = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>'
MARKUP_IN_LOG = "#log img, #log b, #log script"


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser(chromium: Browser) -> Browser:
    """The session's one Chromium (tests/integration/conftest.py)."""
    return chromium


@pytest_asyncio.fixture
async def chat_server(tmp_path: Path) -> AsyncIterator[ChatServer]:
    server = ChatServer(tmp_path / "caredesk.db")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def context(browser: Browser, chat_server: ChatServer) -> AsyncIterator[BrowserContext]:
    """Scripts on. Closed before the server stops (it depends on it), so no socket is open."""
    ctx = await browser.new_context(base_url=chat_server.origin)
    try:
        yield ctx
    finally:
        await ctx.close()


@pytest_asyncio.fixture
async def noscript(browser: Browser, chat_server: ChatServer) -> AsyncIterator[Page]:
    """A page in a context with JavaScript disabled."""
    ctx = await browser.new_context(base_url=chat_server.origin, java_script_enabled=False)
    try:
        yield await ctx.new_page()
    finally:
        await ctx.close()


@pytest_asyncio.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


async def open_chat(page: Page, server: ChatServer) -> SocketWatch:
    """Load the chat page and wait for its WebSocket to open."""
    watch = await SocketWatch.attach(page)
    response = await page.goto(server.url)
    assert response is not None and response.status == 200
    await watch.wait_open()
    await expect(page.locator(CHOICES).first).to_be_visible()
    return watch


async def transcript(page: Page) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = await page.eval_on_selector_all(
        "#log li.msg",
        """items => items.map(li => [li.classList.contains('from-you') ? 'you' : 'city',
                                     li.querySelector('.text').textContent])""",
    )
    return [(who, text) for who, text in rows]


def filed_ref(text: str) -> str:
    found = ACK.search(text)
    assert found, f"no acknowledgement with a reference in: {text!r}"
    return found.group("ref")


def assert_case_filed(server: ChatServer, ref: str) -> dict[str, Any]:
    cases = {c["ref"]: c for c in list_cases(server.services.db)}
    assert ref in cases, f"{ref} not in the store: {sorted(cases)}"
    assert cases[ref]["channel"] == "web" and cases[ref]["kind"] == "complaint"
    return cases[ref]


async def assert_no_markup(page: Page, where: str) -> None:
    elements = await page.eval_on_selector_all(MARKUP_IN_LOG, "es => es.map(e => e.outerHTML)")
    assert elements == [], f"{where}: markup from the resident became elements: {elements}"


# --------------------------------------------------------------------------------------------
# 1. Keyboard only
# --------------------------------------------------------------------------------------------


async def test_full_complaint_with_the_keyboard_only(page: Page, chat_server: ChatServer) -> None:
    navigations: list[str] = []
    await open_chat(page, chat_server)
    page.on("framenavigated", lambda f: navigations.append(f.url) if f == page.main_frame else None)
    ack = ""
    keys = {"Complaint": "Enter", "No": " ", "Me": "Enter", "Confirm": " "}
    for i, (answer, expected) in enumerate(SCRIPT):
        before = await count(page, CITY)
        if answer in CHOICE_ANSWERS:
            # The quick answers sit before the box: Tab from the page's start the first time,
            # Shift+Tab back from the box afterwards.
            await tab_to_choice(page, answer, backwards=i > 0)
            await page.keyboard.press(keys[answer])
        else:
            if (await focused(page)).get("id") != "message":
                await tab_to_box(page)
            if answer.startswith("pick up"):
                # Shift+Enter is a new line, not a send.
                await page.keyboard.type("pick up the garbage")
                await page.keyboard.press("Shift+Enter")
                await page.keyboard.type("and an apology")
                assert await page.locator(BOX).input_value() == (
                    "pick up the garbage\nand an apology"
                )
                assert await count(page, CITY) == before, "Shift+Enter sent the message"
            else:
                await page.keyboard.type(answer)
            await page.keyboard.press("Enter")
        said = await wait_for_city_reply(page, before, expected)
        now = await focused(page)
        assert now.get("id") == "message", f"after sending {answer!r} focus is on {now}"
        assert await page.locator(BOX).input_value() == ""
        ack = said
    assert navigations == [], f"the page navigated (form posts, not the socket): {navigations}"
    ref = filed_ref(ack)
    log_text = await page.locator(LOG).inner_text()
    assert f"[{ref}]" in log_text
    case = assert_case_filed(chat_server, ref)
    assert case["status"] == "open"
    full = get_case(chat_server.services.db, ref)
    assert full is not None and full["person"]["name"] == "Jane Doe"


# --------------------------------------------------------------------------------------------
# 2. Resuming: reload, restart
# --------------------------------------------------------------------------------------------


async def answer_first_four(page: Page) -> None:
    await choose(page, "Complaint", SCRIPT[0][1])
    await choose(page, "No", SCRIPT[1][1])
    await say(page, DESCRIPTION, SCRIPT[2][1])
    await say(page, "yesterday at 3pm", SCRIPT[3][1])


async def test_reload_resumes_the_same_conversation(
    page: Page, context: BrowserContext, chat_server: ChatServer
) -> None:
    watch = await open_chat(page, chat_server)
    await answer_first_four(page)
    before = await transcript(page)
    assert [t for w, t in before if w == "you"] == [
        "Complaint",
        "No",
        DESCRIPTION,
        "yesterday at 3pm",
    ]
    opened = watch.opened
    await page.reload()
    await watch.wait_open(after=opened)
    after = await transcript(page)
    assert after == before, "the reloaded page does not show the same transcript"
    await say(page, "the driver of truck 42", "What outcome are you looking for?")
    conversations = chat_server.services.db.execute(
        "SELECT count(*) FROM conversations WHERE channel = 'web'"
    ).fetchone()[0]
    assert conversations == 1

    cookies = {c["name"]: c for c in await context.cookies()}
    assert "caredesk_chat" in cookies, f"no session cookie: {sorted(cookies)}"
    cookie = cookies["caredesk_chat"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert "caredesk_chat" not in await page.evaluate("document.cookie")


async def test_restart_mid_conversation_with_the_page_open(
    browser: Browser, tmp_path: Path
) -> None:
    """A redeploy while a resident has the page open: the conversation goes on, and the old
    process stops promptly rather than waiting for the resident's WebSocket to end."""
    server = ChatServer(tmp_path / "caredesk.db", shutdown_timeout=2.0)
    await server.start()
    ctx = await browser.new_context(base_url=server.origin)
    try:
        page = await ctx.new_page()
        await open_chat(page, server)
        await answer_first_four(page)
        before = await transcript(page)
        stop_took = await server.restart()
        # The next answer goes by the reconnected socket or, until then, by form post.
        await say(page, "the driver of truck 42", "What outcome are you looking for?")
        after = await transcript(page)
        assert after[: len(before)] == before
        await page.reload()
        await say(page, "pick up the garbage and an apology", "May I have your full name?")
        rest = [(a, e) for a, e in SCRIPT[6:]]
        ack = ""
        for answer, expected in rest:
            if answer in CHOICE_ANSWERS:
                ack = await choose(page, answer, expected)
            else:
                ack = await say(page, answer, expected)
        assert_case_filed(server, filed_ref(ack))
        assert stop_took < 1.5, (
            f"stopping the app took {stop_took:.1f} s while a chat page was open: runner.cleanup() "
            "waits for the open /ws handler until aiohttp's shutdown_timeout (60 s by default in "
            "`caredesk serve`, 2 s here). The app should close its WebSockets on shutdown "
            "(app.on_shutdown: ws.close(code=WSCloseCode.GOING_AWAY))."
        )
    finally:
        await ctx.close()
        await server.stop()


# --------------------------------------------------------------------------------------------
# 3. Without scripts
# --------------------------------------------------------------------------------------------


async def test_noscript_complaint_by_form_posts(noscript: Page, chat_server: ChatServer) -> None:
    page = noscript
    response = await page.goto(chat_server.url)
    assert response is not None and response.status == 200
    await expect(page.get_by_role("button", name="Complaint", exact=True)).to_be_visible()
    for i, (answer, expected) in enumerate(SCRIPT[:-1]):
        if answer in CHOICE_ANSWERS:
            key = {"No": " ", "Me": "Enter"}.get(answer, "")
            await post_choice(page, answer, expected, key=key)
        else:
            await post(page, answer, expected, key="Enter" if i == 2 else "")
        assert page.url.startswith(chat_server.url)
    you = [t for w, t in await transcript(page) if w == "you"]
    assert you == [a for a, _ in SCRIPT[:-1]]
    # Confirming files the case: the page shows the acknowledgement once, then the reference
    # only (a shared computer: whoever opens the page next must not see the conversation).
    async with page.expect_navigation():
        await page.get_by_role("button", name="Confirm", exact=True).click()
    ack = "\n".join(await city_texts(page))
    ref = filed_ref(ack)
    assert_case_filed(chat_server, ref)
    assert [w for w, _ in await transcript(page)] == ["city"]
    await page.reload()
    await expect(page.get_by_text(ref)).to_be_visible()
    assert await transcript(page) == []
    assert CONTACT.split()[0] not in await page.content()


async def test_noscript_instructions_match_what_the_keys_do(
    noscript: Page, chat_server: ChatServer
) -> None:
    """The hint tied to the box (aria-describedby) must be true on the page the resident has.
    Without scripts Enter in a textarea is a new line, so "Press Enter to send" misleads
    (WCAG 3.3.2 Labels or Instructions); the script could add that sentence itself."""
    page = noscript
    await page.goto(chat_server.url)
    box = page.locator(BOX)
    hint_id = await box.get_attribute("aria-describedby") or ""
    hints = " ".join([await page.locator(f"#{i}").inner_text() for i in hint_id.split()])
    await box.fill("hello")
    await box.press("Enter")
    await page.wait_for_timeout(300)
    sent = "hello" in [t for w, t in await transcript(page) if w == "you"]
    if "enter to send" in hints.lower():
        assert sent, (
            f"with scripts off the hint says {hints!r}, but Enter in the box only adds a new line "
            f"(box now {await box.input_value()!r}); templates/web/chat.html.j2 #message-hint"
        )


# --------------------------------------------------------------------------------------------
# 4. axe-core: WCAG 2.1 A and AA
# --------------------------------------------------------------------------------------------


async def test_axe_finds_no_wcag21_aa_violations(
    browser: Browser, page: Page, noscript: Page, chat_server: ChatServer
) -> None:
    found: dict[str, list[dict[str, Any]]] = {}

    async def scan(where: str, target: Page) -> None:
        found[where] = await axe_violations(target)

    await page.clock.install()
    await open_chat(page, chat_server)
    await scan("fresh page, quick answers shown", page)
    await choose(page, "Complaint", SCRIPT[0][1])
    await expect(page.get_by_role("button", name="Yes", exact=True)).to_be_visible()
    await scan("after one turn, Yes/No quick answers", page)
    await choose(page, "No", SCRIPT[1][1])
    await say(page, DESCRIPTION, SCRIPT[2][1])
    await page.locator(BOX).fill("half-typed")
    await scan("after three turns, text in the box", page)
    # The idle warning: the page's timers run on Playwright's clock.
    idle = int(await page.locator("body").get_attribute("data-idle-seconds") or 0)
    warn = int(await page.locator("body").get_attribute("data-warn-seconds") or 0)
    await page.clock.run_for((idle - warn + 1) * 1000)
    await expect(page.locator("#idle-warning")).to_be_visible()
    await scan("idle warning shown", page)

    await noscript.goto(chat_server.url)
    found["no-script page, fresh"] = await axe_violations_noscript(
        browser, noscript, chat_server.origin
    )
    await post_choice(noscript, "Complaint", SCRIPT[0][1])
    await post(noscript, "I'd like to complain", None)
    found["no-script page, after two turns"] = await axe_violations_noscript(
        browser, noscript, chat_server.origin
    )

    report = "\n".join(describe_violations(w, v) for w, v in found.items() if v)
    assert not report, "\n" + report


# --------------------------------------------------------------------------------------------
# 5. HTML injection
# --------------------------------------------------------------------------------------------


async def test_html_from_the_resident_stays_text(
    page: Page, noscript: Page, chat_server: ChatServer
) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    await open_chat(page, chat_server)
    await choose(page, "Complaint", SCRIPT[0][1])
    await choose(page, "No", SCRIPT[1][1])
    await say(page, PAYLOAD, "Where did it happen?")
    await say(page, "skip", "When did it happen?")

    async def check(where: str) -> None:
        you = [t for w, t in await transcript(page) if w == "you"]
        assert PAYLOAD in you, f"{where}: the payload is not shown as typed: {you}"
        await assert_no_markup(page, where)
        assert await page.evaluate("typeof window.pwned") == "undefined", where
        bad = [u for u in requests if u.rstrip("/").endswith("/x")]
        assert bad == [], f"{where}: the injected <img> was loaded: {bad}"

    await check("scripts on, sent by socket")
    for answer, expected in SCRIPT[3:9]:
        if answer in CHOICE_ANSWERS:
            await choose(page, answer, expected)
        else:
            await say(page, answer, expected)
    summary = (await city_texts(page))[-1]
    assert PAYLOAD in summary, f"the summary does not repeat the description as text: {summary!r}"
    await check("scripts on, summary")
    await page.reload()
    await expect(page.locator(CITY).last).to_contain_text("Here is what I have")
    await check("after a reload (server-rendered)")
    assert PAYLOAD in (await city_texts(page))[-1]

    await noscript.goto(chat_server.url)
    await post_choice(noscript, "Complaint", SCRIPT[0][1])
    await post_choice(noscript, "No", SCRIPT[1][1])
    await post(noscript, PAYLOAD, "Where did it happen?")
    you = [t for w, t in await transcript(noscript) if w == "you"]
    assert PAYLOAD in you
    await assert_no_markup(noscript, "no-script page")


# --------------------------------------------------------------------------------------------
# 6. Accessibility details
# --------------------------------------------------------------------------------------------


async def test_names_roles_and_visible_focus(page: Page, chat_server: ChatServer) -> None:
    await open_chat(page, chat_server)
    assert await page.locator("html").get_attribute("lang") == "en"
    await expect(page.locator("main h1")).to_have_count(1)

    log = page.get_by_role("log")
    await expect(log).to_have_count(1)
    assert await log.get_attribute("id") == "log"
    assert await log.get_attribute("aria-live") == "polite"

    label = (await page.locator("label[for=message]").inner_text()).strip()
    assert label, "the message box's <label> is empty"
    by_label = page.get_by_label(label, exact=True)
    await expect(by_label).to_have_count(1)
    assert await by_label.get_attribute("id") == "message"
    await expect(page.get_by_role("textbox", name=label, exact=True)).to_have_count(1)

    complaint = page.get_by_role("button", name="Complaint", exact=True)
    assert await complaint.evaluate("e => [e.tagName, e.type]") == ["BUTTON", "submit"]

    # Keyboard: every stop shows where the focus is.
    await tab_to_choice(page, "Complaint")
    style = await focus_indicator(complaint)
    assert indicator_visible(style), f"no visible focus on a quick answer: {style}"
    await tab_to_box(page)
    style = await focus_indicator(page.locator(BOX))
    assert indicator_visible(style), f"no visible focus on the message box: {style}"
    await tab_to(page, "e.id === 'send'")
    style = await focus_indicator(page.locator(SEND))
    assert indicator_visible(style), f"no visible focus on Send: {style}"
    # No keyboard trap: Tab goes round the page and back to the box.
    await tab_to(page, "e.id !== 'send'")
    await tab_to_box(page)

    await tab_to_choice(page, "Complaint", backwards=True)
    before = await count(page, CITY)
    await page.keyboard.press(" ")
    await wait_for_city_reply(page, before, SCRIPT[0][1])
    for name in ("Yes", "No"):
        button = page.get_by_role("button", name=name, exact=True)
        await expect(button).to_have_count(1)
        assert await button.evaluate("e => e.tagName") == "BUTTON"
        assert await button.evaluate("e => !!e.closest('#choices')")

    # Reflow (1.4.10): at 320 CSS px (400 % zoom) nothing scrolls sideways, even a long word.
    await page.set_viewport_size({"width": 320, "height": 640})
    await say(page, "no" + "x" * 120, None)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"the page is {width} px wide at a 320 px viewport"


async def test_idle_warning_is_an_alertdialog_and_stay_keeps_the_conversation(
    browser: Browser, tmp_path: Path
) -> None:
    config = parse_config({"dialogue": {"idle_minutes": 1}, "web": {"idle_warning_seconds": 55}})
    server = ChatServer(tmp_path / "caredesk.db", config)
    await server.start()
    ctx = await browser.new_context(base_url=server.origin)
    try:
        page = await ctx.new_page()
        sent: list[str] = []

        def on_socket(ws: WebSocket) -> None:
            ws.on("framesent", lambda payload: sent.append(str(payload)))

        page.on("websocket", on_socket)
        await page.clock.install()
        await open_chat(page, server)
        body = page.locator("body")
        assert await body.get_attribute("data-idle-seconds") == "60"
        assert await body.get_attribute("data-warn-seconds") == "55"
        warning = page.locator("#idle-warning")
        await expect(warning).to_be_hidden()
        await page.clock.run_for(4_000)
        await expect(warning).to_be_hidden()
        await page.clock.run_for(1_500)

        dialog = page.get_by_role("alertdialog")
        await expect(dialog).to_be_visible()
        assert await dialog.get_attribute("id") == "idle-warning"
        await expect(dialog).to_have_accessible_name(re.compile(r"\S"))
        stay = page.locator("#stay")
        if (await focused(page)).get("id") != "stay":
            await tab_to(page, "e.id === 'stay'")
        assert indicator_visible(await focus_indicator(stay)), "no visible focus on #stay"
        await page.keyboard.press("Enter")
        await expect(warning).to_be_hidden()
        assert any('"stay"' in s for s in sent), f"no stay message on the socket: {sent}"
        assert (await focused(page)).get("id") == "message"

        # The conversation goes on, and the warning comes back after another quiet spell.
        await page.keyboard.type("1")
        before = await count(page, CITY)
        await page.keyboard.press("Enter")
        await wait_for_city_reply(page, before, SCRIPT[0][1])
        await page.clock.run_for(5_500)
        await expect(dialog).to_be_visible()
    finally:
        await ctx.close()
        await server.stop()


# --------------------------------------------------------------------------------------------
# 7. CSP and no third parties
# --------------------------------------------------------------------------------------------


def csp_directives(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


async def test_strict_csp_and_nothing_from_third_parties(
    page: Page, chat_server: ChatServer
) -> None:
    requests: list[str] = []
    sockets: list[str] = []
    console: list[str] = []
    errors: list[str] = []

    def on_request(r: Request) -> None:
        requests.append(r.url)

    def on_console(m: ConsoleMessage) -> None:
        if m.type in ("error", "warning"):
            console.append(m.text)

    page.on("request", on_request)
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.on("console", on_console)
    page.on("pageerror", lambda e: errors.append(str(e)))

    started = time.perf_counter()
    response = await page.goto(chat_server.url)
    assert response is not None
    headers = await response.all_headers()
    csp = headers.get("content-security-policy", "")
    assert csp, f"no Content-Security-Policy header: {headers}"
    directives = csp_directives(csp)
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts is not None, f"CSP limits no scripts: {csp}"
    assert "'self'" in scripts
    loose = {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:", "blob:"}
    assert not loose & set(scripts), f"loose script-src: {csp}"
    assert "'unsafe-inline'" not in csp
    assert directives.get("object-src") == ["'none'"] or directives.get("default-src") in (
        ["'none'"],
        ["'self'"],
    )

    # A few turns (socket), a reload, then check every URL the page touched.
    watch = await SocketWatch.attach(page)
    await page.reload()
    await watch.wait_open()
    await choose(page, "Complaint", SCRIPT[0][1])
    await say(page, "no", SCRIPT[1][1])
    assert requests, "no requests recorded"
    own = (chat_server.origin + "/", chat_server.ws_origin + "/")
    foreign = [u for u in [*requests, *sockets, *watch.urls] if not u.startswith(own)]
    assert foreign == [], f"the page loaded other origins: {foreign}"
    assert sockets and all(s == chat_server.ws_origin + "/ws" for s in sockets), sockets
    blocked = [m for m in console if "Content Security Policy" in m or "CSP" in m]
    assert blocked == [], f"the page breaks its own CSP: {blocked}"
    assert errors == [], f"script errors: {errors}"
    assert time.perf_counter() - started < 10


# --------------------------------------------------------------------------------------------
# 7. Shared computers: "End and clear", and the page after filing
# --------------------------------------------------------------------------------------------


async def test_end_and_clear_by_keyboard_leaves_nothing_to_see(
    page: Page, chat_server: ChatServer
) -> None:
    await open_chat(page, chat_server)
    await choose(page, "Complaint", SCRIPT[0][1])
    await choose(page, "No", SCRIPT[1][1])
    await say(page, DESCRIPTION, SCRIPT[2][1])
    end = page.get_by_role("button", name="End and clear", exact=True)
    await expect(end).to_be_visible()
    await tab_to(page, "e.id === 'end'")
    assert indicator_visible(await focus_indicator(end)), "no visible focus on End and clear"
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Your conversation has ended")).to_be_visible()
    assert DESCRIPTION not in await page.content()
    assert [w for w, _ in await transcript(page)] == ["city", "city"]  # a fresh greeting
    violations = await axe_violations(page)
    assert not violations, describe_violations("after End and clear", violations)
    db = chat_server.services.db
    assert db.execute("SELECT count(*) FROM conversations").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM chat_log").fetchone()[0] == 0
    await page.go_back()  # the previous page is not kept (Cache-Control: no-store)
    assert DESCRIPTION not in await page.content()


async def test_after_filing_a_reload_shows_only_the_reference(
    page: Page, chat_server: ChatServer
) -> None:
    await open_chat(page, chat_server)
    ack = ""
    for answer, expected in SCRIPT:
        if answer in CHOICE_ANSWERS:
            ack = await choose(page, answer, expected)
        else:
            ack = await say(page, answer, expected)
    ref = filed_ref(ack)
    await page.reload()
    heading = page.get_by_role("heading", name="Your message has been sent to the City")
    await expect(heading).to_be_visible()
    content = await page.content()
    assert ref in content
    for private in ("Jane Doe", "jane@example.com", DESCRIPTION):
        assert private not in content, private
    assert await page.locator(BOX).count() == 0
    violations = await axe_violations(page)
    assert not violations, describe_violations("page after filing", violations)
    start = page.get_by_role("button", name="Start a new conversation", exact=True)
    await tab_to(page, "e.id === 'end'")
    assert indicator_visible(await focus_indicator(start))
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(page.get_by_text(f"Your reference is {ref}")).to_be_visible()
    await expect(page.locator(BOX)).to_be_visible()
    assert_case_filed(chat_server, ref)
