"""The environment's proxy for an outgoing URL, looked up once per scheme and host.

Why not aiohttp's `trust_env=True`: it looks the proxy up and reads ~/.netrc in a thread on
every request, which cost a third of the Telegram channel's CPU at 100 chats and doubled a
forward's cost. HTTP_PROXY/HTTPS_PROXY/ALL_PROXY and NO_PROXY are read here the way urllib
reads them (as httpx does), and remembered.
"""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit


class ProxyTable:
    def __init__(self) -> None:
        self._proxies: dict[tuple[str, str], str | None] = {}

    def for_url(self, url: str) -> str | None:
        """The proxy URL for `url`, or None to go direct."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key not in self._proxies:
            proxies = urllib.request.getproxies()
            found = proxies.get(parts.scheme) or proxies.get("all")
            if found and urllib.request.proxy_bypass(key[1]):
                found = None
            self._proxies[key] = found or None
        return self._proxies[key]
