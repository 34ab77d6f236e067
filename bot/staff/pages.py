"""The staff pages: sign in, sign out, the landing page, and the admins' account list.

Server-rendered forms that work without scripts (GOV.UK patterns: an error summary linking
to each field, labels, plain words on buttons). The review queue and case pages are built on
the same pieces (`bot/staff/access.py`).
"""

from __future__ import annotations

from typing import Any

import sqlite_utils
from aiohttp import web

from bot.clock import Clock
from bot.config import Config
from bot.staff import sessions
from bot.staff.access import (
    ID,
    PREFIX,
    STAFF,
    StaffSite,
    audit_action,
    current_session,
    current_staff,
    make_pages,
    public,
    render,
    require_role,
    signin_form_token,
    small_int,
    staff_middleware,
)
from bot.staff.accounts import disable_account
from bot.staff.cases import install_cases
from bot.staff.forwards import install_forwards
from bot.staff.queue import install_queue
from bot.staff.reports import install_reports
from bot.staff.signin import sign_in
from bot.staff.sla import install_sla
from bot.webchat import Peer
from storage.staff import StaffError, get_staff_by_id, list_staff, record_audit

WRONG = "The email address or password is not right. Check them and try again."


def install_staff(
    app: web.Application, db: sqlite_utils.Database, config: Config, clock: Clock
) -> None:
    """The one call the composition root makes: shared state, middleware and routes."""
    app[STAFF] = StaffSite(db, config, clock, make_pages())
    app.middlewares.append(staff_middleware)
    app.router.add_get(f"{PREFIX}/login", login_page)
    app.router.add_post(f"{PREFIX}/login", login_post)
    app.router.add_post(f"{PREFIX}/logout", logout)
    install_queue(app)  # the review queue: /staff/ and /staff/drafts/...
    app.router.add_get(PREFIX, to_home)
    app.router.add_get(f"{PREFIX}/accounts", accounts_page)
    app.router.add_post(f"{PREFIX}/accounts/{{staff_id:{ID}}}/disable", disable_post)
    install_sla(app)
    install_cases(app)
    install_forwards(app)
    install_reports(app)


def _secure(request: web.Request) -> bool:
    config = request.app[STAFF].config
    return config.staff.secure_cookie or Peer(request, config.web.trusted_proxy).https


def _set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path=f"{PREFIX}/",
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
    )


def _safe_next(value: str) -> str:
    """Only back to a staff page of this site: never `//elsewhere` or another path, and
    only visible ASCII (a CR or LF would break the Location header: a 500, not a redirect)."""
    plain = all("!" <= c <= "~" for c in value)
    if plain and value.startswith(f"{PREFIX}/") and "//" not in value and "\\" not in value:
        return value
    return f"{PREFIX}/"


# -- sign in and out --------------------------------------------------------------------------


@public
async def to_home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther(f"{PREFIX}/")


@public
async def login_page(request: web.Request) -> web.StreamResponse:
    if current_session(request) is not None:
        raise web.HTTPSeeOther(f"{PREFIX}/")
    return _login_form(request, status=200)


def _login_form(
    request: web.Request,
    status: int,
    errors: list[tuple[str, str]] | None = None,
    email: str = "",
    next_page: str | None = None,
) -> web.Response:
    cookie = request.cookies.get(sessions.LOGIN_COOKIE, "")
    fresh = not (20 <= len(cookie) <= 100)
    if fresh:
        cookie = sessions.new_token()
    response = render(
        request,
        "login.html.j2",
        status=status,
        errors=errors or [],
        email=email,
        next_page=_safe_next(next_page or request.query.get("next", "")),
        form_token=signin_form_token(cookie),
        signed_out="signed_out" in request.query,
        title="Sign in",
    )
    if fresh:
        _set_cookie(response, request, sessions.LOGIN_COOKIE, cookie)
    return response


@public
async def login_post(request: web.Request) -> web.StreamResponse:
    site = request.app[STAFF]
    form = await request.post()
    email = str(form.get("email", "")).strip()[:320]
    password = str(form.get("password", ""))[:1024]
    next_page = _safe_next(str(form.get("next", "")))
    errors = []
    if not email:
        errors.append(("email", "Enter your email address"))
    if not password:
        errors.append(("password", "Enter your password"))
    if errors:
        return _login_form(request, 400, errors, email, next_page)
    now = site.clock.now()
    client = Peer(request, site.config.web.trusted_proxy).address
    result = await sign_in(site.db, site.config.staff, email, password, client, now)
    if result.throttled:
        minutes = site.config.staff.throttle_minutes
        message = (
            f"Too many attempts to sign in. Wait {minutes} minutes, then try again, or ask an "
            "administrator to reset your password."
        )
        return _login_form(request, 429, [("email", message)], email, next_page)
    if result.account is None:
        return _login_form(request, 401, [("email", WRONG)], email, next_page)
    # A new session id at every sign-in: whatever the browser brought is ended first.
    sessions.end(site.db, request.cookies.get(sessions.SESSION_COOKIE, ""))
    sessions.sweep(site.db, now, site.config.staff)
    token = sessions.start_session(site.db, result.account.id, now)
    response = web.HTTPSeeOther(next_page)
    _set_cookie(response, request, sessions.SESSION_COOKIE, token)
    response.del_cookie(sessions.LOGIN_COOKIE, path=f"{PREFIX}/")
    record_audit(
        site.db, f"staff:{result.account.email}", "signed-in", now, staff_id=result.account.id
    )
    raise response


@require_role("agent")
async def logout(request: web.Request) -> web.StreamResponse:
    site = request.app[STAFF]
    audit_action(request, "signed-out")
    sessions.end(site.db, request.cookies.get(sessions.SESSION_COOKIE, ""))
    response = web.HTTPSeeOther(f"{PREFIX}/login?signed_out=1")
    response.del_cookie(sessions.SESSION_COOKIE, path=f"{PREFIX}/")
    raise response


# -- staff accounts (admins) ------------------------------------------------------------------


@require_role("admin")
async def accounts_page(request: web.Request) -> web.StreamResponse:
    return _accounts(request)


def _accounts(request: web.Request, status: int = 200, errors: Any = None) -> web.Response:
    site = request.app[STAFF]
    done = request.query.get("disabled", "")
    done_id = small_int(done)
    disabled = get_staff_by_id(site.db, done_id) if done_id is not None else None
    return render(
        request,
        "accounts.html.j2",
        status=status,
        errors=errors or [],
        accounts=list_staff(site.db),
        disabled=disabled,
        me=current_staff(request),
        title="Staff accounts",
    )


@require_role("admin")
async def disable_post(request: web.Request) -> web.StreamResponse:
    site = request.app[STAFF]
    me = current_staff(request)
    account = get_staff_by_id(site.db, int(request.match_info["staff_id"]))
    if account is None:
        raise web.HTTPNotFound(text="No such account.")
    if account.id == me.id:
        errors = [(f"disable-{account.id}", "You cannot disable your own account.")]
        return _accounts(request, 400, errors)
    try:
        disable_account(site.db, account, site.clock.now(), f"staff:{me.email}", me.id)
    except StaffError as exc:
        return _accounts(request, 400, [(f"disable-{account.id}", str(exc))])
    raise web.HTTPSeeOther(f"{PREFIX}/accounts?disabled={account.id}")
