"""One HTTP exchange with a department's tracker, its transport failures classified the same
way for every kind of target (Open311, webhook): a timeout or a network error is worth
retrying; it may have created the ticket when the request was a POST, unless the connection
was refused (nothing reached the server). What the answer's status means is the caller's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

#: Builds the caller's own error: `fail(message, status=None, retryable=True,
#: maybe_created=...)` (Open311Error and WebhookError both take these).
Fail = Callable[..., Exception]


async def exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    timeout: float,
    fail: Fail,
    **request: Any,
) -> tuple[int, bytes]:
    """The status and body of one request (`request`: aiohttp's keyword arguments), or
    `fail(...)` raised for a timeout or a network error."""
    posting = method == "POST"
    try:
        async with session.request(
            method, url, timeout=aiohttp.ClientTimeout(total=timeout), **request
        ) as response:
            return response.status, await response.read()
    except TimeoutError as exc:
        raise fail(
            f"no answer within {timeout:g} s", status=None, retryable=True, maybe_created=posting
        ) from exc
    except aiohttp.ClientError as exc:
        # The class name only: an exception's text can carry the URL, with a key or a query.
        refused = isinstance(exc, aiohttp.ClientConnectorError)
        raise fail(
            f"network error: {type(exc).__name__}",
            status=None,
            retryable=True,
            maybe_created=posting and not refused,
        ) from exc
