"""One way to reach a department's tracker, for every part that talks to it (forwarding,
status sync): the same URL, jurisdiction, API key variable and timeout everywhere, so a key
that works in `caredesk tracker check` works in `serve` too."""

from __future__ import annotations

import os
from collections.abc import Sequence
from urllib.parse import quote

import aiohttp

from bot.config import Department
from tracker.open311 import Open311Client, Open311Target, Service, check_service_codes

#: Per department `<PREFIX>_<KEY>` (key upper-cased, "-" as "_"), else the generic `<PREFIX>`.
OPEN311_KEY_ENV = "CAREDESK_OPEN311_KEY"
WEBHOOK_SECRET_ENV = "CAREDESK_WEBHOOK_SECRET"


def secret_env(prefix: str, department: str) -> tuple[str, str]:
    """The variable that holds a department's secret and its value ("" when unset): the
    department's own variable first, then the generic one shared by all departments."""
    own = f"{prefix}_{department.upper().replace('-', '_')}"
    for name in (own, prefix):
        value = os.environ.get(name, "")
        if value:
            return name, value
    return own, ""


def open311_client(
    session: aiohttp.ClientSession, dept: Department, timeout: float
) -> Open311Client:
    """The client of a department with `tracker = "open311"`; its API key comes from
    CAREDESK_OPEN311_KEY_<KEY>, else CAREDESK_OPEN311_KEY (empty when neither is set: the
    server then says what it thinks of that)."""
    _, key = secret_env(OPEN311_KEY_ENV, dept.key)
    target = Open311Target(dept.open311_url, key, dept.open311_jurisdiction_id or None, timeout)
    return Open311Client(session, target)


def external_link(dept: Department, external_id: str | None) -> str | None:
    """A link staff can open to the department's ticket, from the department's `link`
    template ("https://311.city.example/requests/{id}"); None without one."""
    if not external_id or "{id}" not in dept.link:
        return None
    return dept.link.replace("{id}", quote(external_id, safe=""))


def service_code_check(
    dept: Department, services: Sequence[Service]
) -> tuple[list[str], list[str]]:
    """(problems, what is fine) of a department's service codes, the default and the
    category mapping, against the server's `services.json`, in words. The same check runs
    at `serve`'s start and in `caredesk tracker check`."""
    problems: list[str] = []
    fine: list[str] = []
    code = dept.open311_service_code
    if not code and not dept.open311_service_codes:
        problems.append("open311_service_code is not set: no service code to file cases under")
    if code:
        # The default code: the mapping's "category" label would only be noise here.
        found = check_service_codes({"": code}, services)
        problems.extend(p.removeprefix("category '': ") for p in found)
        if not found:
            fine.append(f"service_code {code!r} offered")
    if dept.open311_service_codes:
        found = check_service_codes(dict(dept.open311_service_codes), services)
        problems.extend(f"open311_service_codes: {p}" for p in found)
        if not found:
            fine.append(f"{len(dept.open311_service_codes)} mapped service codes offered")
    return problems, fine
