"""The staff pages' accounts and access: aiohttp's test client against the whole app
(`build_services` + `build_app`) on a real SQLite file, with a frozen clock the tests move."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from http.cookies import SimpleCookie
from pathlib import Path

import aiohttp
import aiohttp.abc
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Services, build_app, build_services
from bot.clock import FrozenClock
from bot.config import Config, StaffConfig
from bot.staff.access import audit_view, public, require_role
from bot.staff.accounts import create_account
from bot.staff.sessions import LOGIN_COOKIE, SESSION_COOKIE, session_hash
from storage.cases import add_event, insert_case, insert_person, next_reference
from storage.outbox import insert_draft
from storage.staff import audit_rows, get_staff

from ..unit.test_storage import decision, submission

START = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Toronto
PASSWORD = "correct horse battery staple"
ADMIN = "boss@city.example.org"
AGENT = "agent@city.example.org"
SCRIPT = "<script>alert(1)</script>"


@dataclass
class Site:
    services: Services
    clock: FrozenClock
    client: TestClient

    @property
    def db(self):
        return self.services.db

    async def new_client(self) -> aiohttp.ClientSession:
        """Another browser on the same server, with its own cookies."""
        return aiohttp.ClientSession(
            base_url=str(self.client.make_url("/")), cookie_jar=aiohttp.CookieJar(unsafe=True)
        )


async def start_site(tmp_path: Path, config: Config | None = None, extra=None) -> Site:
    config = config or Config(retention_every_hours=0)
    clock = FrozenClock(START)
    services = build_services(config, tmp_path / "caredesk.db", clock)
    app = build_app(services)
    if extra:
        extra(app)
    client = TestClient(TestServer(app))
    await client.start_server()
    for email, role in ((ADMIN, "admin"), (AGENT, "agent")):
        create_account(services.db, email, role.title(), role, PASSWORD, START, "test")
    return Site(services, clock, client)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    s = await start_site(tmp_path)
    yield s
    await s.client.close()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def login(client: TestClient, email: str, password: str = PASSWORD, next_page: str = ""):
    page = await client.get("/staff/login")
    assert page.status == 200
    form = {"csrf": csrf_of(await page.text()), "email": email, "password": password}
    if next_page:
        form["next"] = next_page
    return await client.post("/staff/login", data=form, allow_redirects=False)


def jar(client: TestClient | aiohttp.ClientSession) -> aiohttp.abc.AbstractCookieJar:
    return client.session.cookie_jar if isinstance(client, TestClient) else client.cookie_jar


def session_cookie(client: TestClient | aiohttp.ClientSession) -> str | None:
    for cookie in jar(client):
        if cookie.key == SESSION_COOKIE:
            return cookie.value
    return None


async def staff_csrf(client: TestClient) -> str:
    page = await client.get("/staff/")
    assert page.status == 200
    return csrf_of(await page.text())


def sessions_of(site: Site, email: str) -> int:
    staff = get_staff(site.db, email)
    row = site.db.execute(
        "SELECT count(*) FROM staff_sessions WHERE staff_id = ?", [staff.id]
    ).fetchone()
    return int(row[0])


# -- sign in, sign out -----------------------------------------------------------------------


async def test_sign_in_sets_a_strict_http_only_cookie_and_shows_who(site: Site) -> None:
    response = await login(site.client, AGENT)
    assert response.status == 303
    assert response.headers["Location"] == "/staff/"
    set_cookie = next(h for h in response.headers.getall("Set-Cookie") if SESSION_COOKIE in h)
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    assert "Path=/staff/" in set_cookie
    assert "Secure" not in set_cookie  # plain http, and not forced by the configuration
    token = session_cookie(site.client)
    assert token and len(token) >= 43  # 256 bits, URL-safe
    # Only the hash is stored.
    stored = [r[0] for r in site.db.execute("SELECT id_hash FROM staff_sessions")]
    assert stored == [session_hash(token)]
    page = await site.client.get("/staff/")
    html = await page.text()
    assert page.status == 200
    assert "Signed in as <strong>Agent</strong> (agent)" in html
    assert '<html lang="en">' in html
    assert "script" not in page.headers["Content-Security-Policy"].replace("script-src", "")
    assert "<script" not in html
    assert [r["action"] for r in audit_rows(site.db, "signed-in")] == ["signed-in"]


async def test_sign_out_ends_the_session(site: Site) -> None:
    await login(site.client, AGENT)
    token = session_cookie(site.client)
    response = await site.client.post(
        "/staff/logout", data={"csrf": await staff_csrf(site.client)}, allow_redirects=False
    )
    assert response.status == 303
    assert response.headers["Location"] == "/staff/login?signed_out=1"
    assert sessions_of(site, AGENT) == 0
    # The old cookie, sent again by someone who kept it, opens nothing.
    other = await site.new_client()
    jar(other).update_cookies({SESSION_COOKIE: token})
    again = await other.get("/staff/", allow_redirects=False)
    assert again.status == 303
    assert again.headers["Location"].startswith("/staff/login")
    await other.close()
    [row] = audit_rows(site.db, "signed-out")
    assert row["actor"] == f"staff:{AGENT}"
    assert row["staff_id"] == get_staff(site.db, AGENT).id


async def test_signed_out_page_asks_to_sign_in_and_comes_back(site: Site) -> None:
    response = await site.client.get("/staff/accounts", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/staff/login?next=/staff/accounts"
    signed_in = await login(site.client, ADMIN, next_page="/staff/accounts")
    assert signed_in.headers["Location"] == "/staff/accounts"
    # Never off to another site.
    await site.client.post(
        "/staff/logout", data={"csrf": await staff_csrf(site.client)}, allow_redirects=False
    )
    elsewhere = await login(site.client, ADMIN, next_page="//evil.example/staff/")
    assert elsewhere.headers["Location"] == "/staff/"


async def test_secure_cookie_when_configured(tmp_path: Path) -> None:
    config = Config(retention_every_hours=0, staff=StaffConfig(secure_cookie=True))
    s = await start_site(tmp_path, config)
    try:
        page = await s.client.get("/staff/login")
        assert "Secure" in page.headers["Set-Cookie"]
        # The test client is plain http, so it would not send a Secure cookie back: post with
        # the sign-in cookie by hand.
        cookie = page.cookies[LOGIN_COOKIE].value
        jar(s.client).update_cookies({LOGIN_COOKIE: cookie})
        form = {"csrf": csrf_of(await page.text()), "email": AGENT, "password": PASSWORD}
        response = await s.client.post("/staff/login", data=form, allow_redirects=False)
        assert response.status == 303
        set_cookie = [h for h in response.headers.getall("Set-Cookie") if SESSION_COOKIE in h]
        assert "Secure" in set_cookie[0]
    finally:
        await s.client.close()


# -- one answer for unknown accounts and wrong passwords; throttling -------------------------


async def test_unknown_account_and_wrong_password_get_the_same_answer(site: Site) -> None:
    wrong = await login(site.client, AGENT, "not the password at all")
    unknown = await login(site.client, "nobody@city.example.org", "not the password at all")
    assert wrong.status == unknown.status == 401
    wrong_html = (await wrong.text()).replace(AGENT, "EMAIL")
    unknown_html = (await unknown.text()).replace("nobody@city.example.org", "EMAIL")
    assert wrong_html == unknown_html
    assert "The email address or password is not right" in wrong_html
    assert '<a href="#email">' in wrong_html  # the error summary links to the field
    assert "<title>Error: Sign in" in wrong_html
    assert session_cookie(site.client) is None
    failed = audit_rows(site.db, "sign-in-failed")
    assert len(failed) == 2
    # The typed address is never in the audit log, only a known account's id.
    assert all("nobody" not in str(row) for row in failed)


async def test_repeated_wrong_passwords_throttle_the_account(site: Site) -> None:
    for _ in range(StaffConfig().account_failures):
        assert (await login(site.client, AGENT, "wrong password here")).status == 401
    # Now even the right password waits, and an unknown account is refused the same way.
    throttled = await login(site.client, AGENT)
    assert throttled.status == 429
    assert "Too many attempts to sign in" in await throttled.text()
    assert session_cookie(site.client) is None
    # Another account from another client is not affected.
    other = await site.new_client()
    assert (await login(other, ADMIN)).status == 303
    await other.close()
    # After the window, the right password works again.
    site.clock.advance(timedelta(minutes=StaffConfig().throttle_minutes, seconds=1))
    assert (await login(site.client, AGENT)).status == 303
    assert audit_rows(site.db, "sign-in-throttled")


async def test_unknown_accounts_are_throttled_like_real_ones(site: Site) -> None:
    for _ in range(StaffConfig().account_failures):
        await login(site.client, "ghost@city.example.org", "wrong password here")
    assert (await login(site.client, "ghost@city.example.org", "x" * 12)).status == 429


async def test_one_client_trying_many_accounts_is_throttled(tmp_path: Path) -> None:
    config = Config(retention_every_hours=0, staff=StaffConfig(client_failures=3))
    s = await start_site(tmp_path, config)
    try:
        for n in range(3):
            guess = await login(s.client, f"guess{n}@city.example.org", "password guess")
            assert guess.status == 401
        assert (await login(s.client, AGENT)).status == 429
    finally:
        await s.client.close()


# -- session expiry and rotation -------------------------------------------------------------


async def test_idle_session_expires(site: Site) -> None:
    await login(site.client, AGENT)
    idle = timedelta(minutes=StaffConfig().idle_minutes)
    site.clock.advance(idle - timedelta(minutes=1))
    assert (await site.client.get("/staff/", allow_redirects=False)).status == 200
    site.clock.advance(idle - timedelta(minutes=1))  # used a minute ago... 29 minutes on
    assert (await site.client.get("/staff/", allow_redirects=False)).status == 200
    site.clock.advance(idle)
    expired = await site.client.get("/staff/", allow_redirects=False)
    assert expired.status == 303
    assert expired.headers["Location"].startswith("/staff/login")
    assert sessions_of(site, AGENT) == 0


async def test_busy_session_ends_at_the_absolute_limit(site: Site) -> None:
    await login(site.client, AGENT)
    limit = timedelta(hours=StaffConfig().absolute_hours)
    used = timedelta()
    while used + timedelta(minutes=20) < limit:
        site.clock.advance(timedelta(minutes=20))
        used += timedelta(minutes=20)
        assert (await site.client.get("/staff/", allow_redirects=False)).status == 200
    site.clock.advance(limit - used)
    assert (await site.client.get("/staff/", allow_redirects=False)).status == 303


async def test_session_id_changes_at_sign_in(site: Site) -> None:
    # An id planted in the browser before sign-in is not adopted.
    planted = "p" * 43
    cookie: SimpleCookie = SimpleCookie()
    cookie[SESSION_COOKIE] = planted
    cookie[SESSION_COOKIE]["path"] = "/staff/"
    jar(site.client).update_cookies(cookie, response_url=site.client.make_url("/staff/"))
    await login(site.client, AGENT)
    first = session_cookie(site.client)
    assert first and first != planted
    # Signing in again (as someone else on the same browser) ends the first session.
    form = {"csrf": await staff_csrf(site.client), "email": ADMIN, "password": PASSWORD}
    again = await site.client.post("/staff/login", data=form, allow_redirects=False)
    assert again.status == 303
    second = session_cookie(site.client)
    assert second and second != first
    assert sessions_of(site, AGENT) == 0
    assert sessions_of(site, ADMIN) == 1


# -- CSRF and roles --------------------------------------------------------------------------


async def test_post_without_csrf_token_is_refused(site: Site) -> None:
    await login(site.client, ADMIN)
    agent = get_staff(site.db, AGENT)
    for data in ({}, {"csrf": "forged-token-value"}):
        response = await site.client.post(f"/staff/accounts/{agent.id}/disable", data=data)
        assert response.status == 403
        assert "This form has expired" in await response.text()
        response = await site.client.post("/staff/logout", data=data, allow_redirects=False)
        assert response.status == 403
    assert not get_staff(site.db, AGENT).disabled
    assert sessions_of(site, ADMIN) == 1
    # The sign-in form needs its token too.
    fresh = await site.new_client()
    no_token = await fresh.post("/staff/login", data={"email": AGENT, "password": PASSWORD})
    assert no_token.status == 403
    assert session_cookie(fresh) is None
    await fresh.close()


async def test_agent_is_refused_the_admin_pages(site: Site) -> None:
    await login(site.client, AGENT)
    page = await site.client.get("/staff/accounts")
    assert page.status == 403
    assert "You cannot use this page" in await page.text()
    admin = get_staff(site.db, ADMIN)
    post = await site.client.post(
        f"/staff/accounts/{admin.id}/disable", data={"csrf": await staff_csrf(site.client)}
    )
    assert post.status == 403
    assert not get_staff(site.db, ADMIN).disabled
    refused = audit_rows(site.db, "access-refused")
    assert [r["detail"]["path"] for r in refused] == [
        f"/staff/accounts/{admin.id}/disable",
        "/staff/accounts",
    ]
    assert "Staff accounts" not in await (await site.client.get("/staff/")).text()


async def test_admin_disables_an_account_and_its_sessions_end(site: Site) -> None:
    agent_browser = await site.new_client()
    await login(agent_browser, AGENT)
    await login(site.client, ADMIN)
    page = await site.client.get("/staff/accounts")
    html = await page.text()
    assert page.status == 200
    assert AGENT in html and 'aria-current="page"' in html
    agent = get_staff(site.db, AGENT)
    response = await site.client.post(
        f"/staff/accounts/{agent.id}/disable", data={"csrf": csrf_of(html)}
    )
    assert response.status == 200  # after the redirect
    assert "is disabled" in await response.text()
    assert get_staff(site.db, AGENT).disabled
    assert (await agent_browser.get("/staff/", allow_redirects=False)).status == 303
    assert (await login(agent_browser, AGENT)).status == 401  # same answer as a wrong password
    await agent_browser.close()
    [row] = audit_rows(site.db, "account-disabled")
    assert (row["target_kind"], row["target"]) == ("account", str(agent.id))
    assert row["staff_id"] == get_staff(site.db, ADMIN).id


async def test_admin_cannot_disable_themselves(site: Site) -> None:
    await login(site.client, ADMIN)
    admin = get_staff(site.db, ADMIN)
    response = await site.client.post(
        f"/staff/accounts/{admin.id}/disable", data={"csrf": await staff_csrf(site.client)}
    )
    assert response.status == 400
    html = await response.text()
    assert f'<a href="#disable-{admin.id}">You cannot disable your own account.</a>' in html
    assert not get_staff(site.db, ADMIN).disabled


async def test_a_staff_route_without_an_access_rule_is_refused(tmp_path: Path) -> None:
    async def forgotten(request: web.Request) -> web.Response:
        return web.Response(text="resident data")

    @require_role("supervisor")
    async def supervisors(request: web.Request) -> web.Response:
        return web.Response(text="for supervisors")

    @public
    async def open_page(request: web.Request) -> web.Response:
        return web.Response(text="anyone")

    def extra(app: web.Application) -> None:
        app.router.add_get("/staff/forgotten", forgotten)
        app.router.add_get("/staff/supervisors", supervisors)
        app.router.add_get("/staff/open", open_page)

    s = await start_site(tmp_path, extra=extra)
    try:
        await login(s.client, ADMIN)
        assert (await s.client.get("/staff/forgotten")).status == 403
        assert await (await s.client.get("/staff/supervisors")).text() == "for supervisors"
        assert await (await s.client.get("/staff/open")).text() == "anyone"
        agent = await s.new_client()
        await login(agent, AGENT)
        assert (await agent.get("/staff/supervisors")).status == 403
        await agent.close()
    finally:
        await s.client.close()


# -- the landing page ------------------------------------------------------------------------


def file_with_draft(site: Site, why: str) -> str:
    db = site.db
    sub = submission(what=SCRIPT, received_at=START)
    with db.atomic():
        ref = next_reference(db, "CD", 2026)
        person_id = insert_person(db, sub.person, START)
        case_id = insert_case(db, ref, sub, decision(), person_id, START)
        add_event(db, case_id, "received", sub.channel, START, {})
        insert_draft(
            db,
            case_id=case_id,
            reply_kind="anonymous-declined",
            channel="email",
            recipient=sub.person.email,
            subject="About your message",
            body=SCRIPT,
            why=why,
            now=START,
        )
    return ref


async def test_landing_page_lists_pending_drafts_escaped(site: Site) -> None:
    ref = file_with_draft(site, f"held: {SCRIPT}")
    site.clock.advance(timedelta(hours=5))
    await login(site.client, AGENT)
    html = await (await site.client.get("/staff/")).text()
    assert ref in html
    assert "anonymous-declined" in html
    assert "<script>" not in html
    assert "held: &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "5 hours" in html and "Wed 25 Nov, 10:00" in html  # waited, since (city time)
    assert "1 waiting" in unescape(html)


async def test_landing_page_without_drafts(site: Site) -> None:
    await login(site.client, AGENT)
    html = await (await site.client.get("/staff/")).text()
    assert "No drafts are waiting" in html


async def test_staff_pages_keep_their_own_strict_headers_on_errors(site: Site) -> None:
    for response in (
        await site.client.get("/staff/login"),
        await site.client.post("/staff/login", data={}),
        await site.client.get("/staff/nope"),
    ):
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"


async def test_audit_view_records_who_saw_which_case(tmp_path: Path) -> None:
    @require_role("agent")
    async def case_page(request: web.Request) -> web.Response:
        audit_view(request, "case", request.match_info["ref"])
        return web.Response(text="the case")

    def extra(app: web.Application) -> None:
        # Not /staff/cases/{ref}: the real case page is there (test_staff_cases.py).
        app.router.add_get("/staff/probe/cases/{ref}", case_page)

    s = await start_site(tmp_path, extra=extra)
    try:
        await login(s.client, AGENT)
        s.clock.advance(timedelta(minutes=3))
        assert (await s.client.get("/staff/probe/cases/CD-2026-000007")).status == 200
        [row] = audit_rows(s.db, "viewed-case")
        assert row["actor"] == f"staff:{AGENT}"
        assert row["staff_id"] == get_staff(s.db, AGENT).id
        assert (row["target_kind"], row["target"]) == ("case", "CD-2026-000007")
        assert row["at"] == (START + timedelta(minutes=3)).isoformat()
    finally:
        await s.client.close()
