"""Access to the staff pages: what every staff route reuses.

- `staff_middleware` (installed by `install_staff`) loads the session of every /staff/ request,
  refuses a state-changing request (anything but GET, HEAD, OPTIONS) whose `csrf` form field
  (or `X-CSRF-Token` header) does not match the session's token, refuses any /staff/ route
  that was not given an access rule, and sends the staff pages' strict headers.
- `@require_role("agent" | "supervisor" | "admin")` on each handler: the lowest role that may
  use it (roles are ranked agent < supervisor < admin). Signed-out GETs go to the sign-in page.
  `@public` marks the few pages anyone may open (sign-in).
- `current_staff(request)` / `current_session(request)`: who is signed in.
- `audit_action(request, action, ...)` for every staff action, `audit_view(request, kind,
  target)` for every view of a resident's personal data. Inside a write transaction of your
  own, call `storage.staff.record_audit(db, *actor_of(request)...)` instead, so the action and
  its audit row commit together.
- `render(request, template, **context)`: a page from templates/staff/, escaped, with the
  signed-in person, the CSRF token and the nav filled in.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import sqlite_utils
from aiohttp import web

from bot.clock import Clock
from bot.config import Config
from bot.staff.sessions import LOGIN_COOKIE, SESSION_COOKIE, load_session
from storage.sla import alerts_count
from storage.staff import ROLES, StaffAccount, StaffSession, record_audit

log = logging.getLogger(__name__)

PAGES = Path(__file__).resolve().parents[2] / "templates" / "staff"
PREFIX = "/staff"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
#: Stricter than the chat's: the staff pages run no script at all.
STAFF_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class StaffSite:
    """What the staff pages need, shared through `request.app[STAFF]`."""

    db: sqlite_utils.Database
    config: Config
    clock: Clock
    pages: jinja2.Environment


STAFF = web.AppKey("staff", StaffSite)
_SESSION = web.RequestKey("staff_session", StaffSession)


def make_pages() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(PAGES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


# -- who is signed in ------------------------------------------------------------------------


def current_session(request: web.Request) -> StaffSession | None:
    return request.get(_SESSION)


def current_staff(request: web.Request) -> StaffAccount:
    """The signed-in account; only for handlers behind `require_role`."""
    session = current_session(request)
    if session is None:
        raise web.HTTPForbidden(text="not signed in")
    return session.staff


def actor_of(request: web.Request) -> tuple[str, int | None]:
    """(actor, staff id) for audit rows: `staff:<email>`, or `anonymous` before sign-in."""
    session = current_session(request)
    if session is None:
        return "anonymous", None
    return f"staff:{session.staff.email}", session.staff.id


# -- the audit log ---------------------------------------------------------------------------


def audit_action(
    request: web.Request,
    action: str,
    *,
    target_kind: str | None = None,
    target: str | None = None,
    detail: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """One audit row for a staff action, with who and when (`now`: the instant of the action
    it records, inside the same transaction; default the clock's now). `detail`: ids,
    references, kinds and counts only, never a resident's personal data."""
    site = request.app[STAFF]
    actor, staff_id = actor_of(request)
    record_audit(
        site.db,
        actor,
        action,
        now or site.clock.now(),
        staff_id=staff_id,
        target_kind=target_kind,
        target=target,
        detail=detail,
    )


def audit_view(
    request: web.Request,
    target_kind: str,
    target: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """A resident's personal data was shown: `viewed-case CD-2026-000123`, `viewed-draft 7`."""
    audit_action(
        request, f"viewed-{target_kind}", target_kind=target_kind, target=target, detail=detail
    )


# -- access rules ----------------------------------------------------------------------------


def public(handler: Handler) -> Handler:
    """Anyone may open this page (the sign-in page). CSRF is still checked on posts."""
    handler.staff_access = "public"  # type: ignore[attr-defined]
    return handler


def require_role(role: str) -> Callable[[Handler], Handler]:
    """Only signed-in staff of `role` or a higher one (agent < supervisor < admin)."""
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")
    needed = ROLE_RANK[role]

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            session = current_session(request)
            if session is None:
                if request.method in SAFE_METHODS:
                    raise web.HTTPSeeOther(f"{PREFIX}/login?next={quote(request.path_qs)}")
                raise refused(
                    request,
                    403,
                    "You are signed out",
                    "Your session has ended. Sign in again, then try once more.",
                )
            if ROLE_RANK[session.staff.role] < needed:
                audit_action(request, "access-refused", detail={"path": request.path})
                raise refused(
                    request,
                    403,
                    "You cannot use this page",
                    f"This page is for the {role} role. Ask an administrator if you need it.",
                )
            return await handler(request)

        checked.staff_access = role  # type: ignore[attr-defined]
        return checked

    return decorate


def refused(request: web.Request, status: int, title: str, text: str) -> web.HTTPException:
    """An error page (403, 400...) in the staff pages' layout, to raise."""
    html = render_html(request, "error.html.j2", title=title, text=text)
    classes: dict[int, type[web.HTTPException]] = {
        403: web.HTTPForbidden,
        413: web.HTTPRequestEntityTooLarge,
    }
    cls = classes.get(status, web.HTTPBadRequest)
    if cls is web.HTTPRequestEntityTooLarge:
        return web.HTTPRequestEntityTooLarge(
            max_size=0,  # the text below replaces aiohttp's sentence about sizes
            actual_size=request.content_length or 0,
            text=html,
            content_type="text/html",
        )
    return cls(text=html, content_type="text/html")


# -- CSRF ------------------------------------------------------------------------------------


def signin_form_token(cookie: str) -> str:
    """The sign-in form's token before there is a session: derived from the sign-in cookie,
    which another site can neither read nor send (SameSite=Strict)."""
    return hmac.new(b"caredesk-staff-signin", cookie.encode(), hashlib.sha256).hexdigest()[:32]


async def _csrf_ok(request: web.Request, session: StaffSession | None, access: str) -> bool:
    form = await request.post()
    given = str(form.get("csrf", "") or request.headers.get("X-CSRF-Token", ""))
    expected = []
    if session is not None:
        expected.append(session.csrf)
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if access == "public" and cookie:
        expected.append(signin_form_token(cookie))
    return bool(given) and any(hmac.compare_digest(given.encode(), e.encode()) for e in expected)


@web.middleware
async def staff_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path != PREFIX and not request.path.startswith(PREFIX + "/"):
        return await handler(request)
    try:
        response = await _guarded(request, handler)
    except web.HTTPException as exc:
        _headers(exc)
        raise
    except Exception:
        # Answered here, not by the app's outer handler, so a staff 500 keeps the staff
        # pages' stricter policy (no scripts at all) and no-store like every other answer.
        log.exception("unhandled error on a staff page")
        response = web.Response(
            status=500, text="Something went wrong on our side. Please try again in a minute."
        )
    _headers(response)
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    match = request.match_info
    if match.http_exception is not None:  # 404, 405: aiohttp's own answer
        return await handler(request)
    access = getattr(match.handler, "staff_access", None)
    if access is None:  # fail closed: a staff route someone forgot to give a rule
        log.error("staff route without an access rule: %s", request.path)
        raise web.HTTPForbidden(text="This page has no access rule.")
    site = request.app[STAFF]
    token = request.cookies.get(SESSION_COOKIE, "")
    session = load_session(site.db, token, site.clock.now(), site.config.staff)
    if session is not None:
        request[_SESSION] = session
    try:
        csrf_ok = request.method in SAFE_METHODS or await _csrf_ok(request, session, access)
    except web.HTTPRequestEntityTooLarge:
        # aiohttp's own answer is a line of plain text about bytes: say it in words instead.
        raise refused(
            request,
            413,
            "What you sent is too long",
            "The text you sent is too long to save. Go back, shorten it and try again.",
        ) from None
    if not csrf_ok:
        raise refused(
            request,
            403,
            "This form has expired",
            "The form was out of date or did not come from these pages. Go back, reload the "
            "page and try again.",
        )
    return await handler(request)


def _headers(response: web.StreamResponse) -> None:
    if response.prepared:
        return
    response.headers["Content-Security-Policy"] = STAFF_CSP
    response.headers["Cache-Control"] = "no-store"


# -- ids from the address bar and forms -------------------------------------------------------

#: A route's id: ASCII digits only (`\\d` matches any script's digits, which `int` may refuse)
#: and short enough for SQLite's 64-bit integer; anything else is a 404, not a 500.
ID = "[0-9]{1,12}"


def small_int(value: object) -> int | None:
    """A typed or linked id as an int, or None: ASCII digits, at most 12 of them (a longer one
    overflows SQLite's INTEGER: a 500 instead of "no such thing")."""
    text = str(value or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else None


# -- pages -----------------------------------------------------------------------------------


def render_html(request: web.Request, template: str, **context: Any) -> str:
    site = request.app[STAFF]
    session = current_session(request)
    return site.pages.get_template(template).render(
        staff=session.staff if session else None,
        csrf=session.csrf if session else "",
        city=site.config.city.name,
        care=site.config.care.name,
        static=lambda name: request.app.router["static"].url_for(filename=name),
        path=request.path,
        # The header's alert on every signed-in page: one index range (storage/alerts_schema.py).
        alert_count=alerts_count(site.db, site.clock.now()) if session else None,
        **{"errors": [], **context},
    )


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    return web.Response(
        text=render_html(request, template, **context),
        status=status,
        content_type="text/html",
        charset="utf-8",
    )
