"""A sliding-window rate limit by key, in memory (a restart forgets it: harmless).

Two are used: one per conversation (bot/chat.py), and one per client address in the web chat
(bot/webchat.py), which a resident with a fresh cookie for every message cannot escape.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta


class RateLimiter:
    def __init__(self, limit: int, window: timedelta = timedelta(minutes=1)) -> None:
        self.limit = limit
        self.window = window
        self._seen: dict[str, deque[datetime]] = {}

    def allow(self, key: str, now: datetime) -> bool:
        times = self._seen.setdefault(key, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        if len(self._seen) > 100_000:  # forget idle keys rather than grow without bound
            self._seen = {k: v for k, v in self._seen.items() if v and now - v[-1] < self.window}
        return True
