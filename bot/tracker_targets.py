"""One way to reach a department's tracker, for every part that talks to it (forwarding,
status sync): the same URL, jurisdiction, API key variable and timeout everywhere, so a key
that works in `caredesk tracker check` works in `serve` too."""

from __future__ import annotations

from urllib.parse import quote

import aiohttp

from bot.config import Department
from bot.tracker_cli import OPEN311_KEY_ENV, secret_env
from tracker.open311 import Open311Client, Open311Target


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
