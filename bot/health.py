"""Each channel's state for `/healthz`, and one log line each time a state changes.

A channel whose server cannot be reached (the Bot API, the IMAP or SMTP server) is
`degraded` with a reason while it retries; the others carry on. Monitoring reads the
reason from `/healthz`; the log says it once, when it happens, and once on recovery,
never a traceback per retry. The IMAP channel reports from its own thread, hence the lock.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

STARTING = "starting"
OK = "ok"
DEGRADED = "degraded"
#: Retrying a channel's server: the first wait, doubled after each failure, up to the cap.
RETRY_FIRST_SECONDS = 1.0
RETRY_CAP_SECONDS = 60.0


@dataclass(frozen=True)
class ChannelState:
    state: str
    reason: str
    since: datetime


class Backoff:
    """Waits between retries: 1 s, 2 s, 4 s... capped, back to the start after a success."""

    def __init__(self, first: float = RETRY_FIRST_SECONDS, cap: float = RETRY_CAP_SECONDS) -> None:
        self.first = first
        self.cap = cap
        self.delay = first

    def next(self) -> float:
        delay, self.delay = self.delay, min(self.delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        self.delay = self.first


class Health:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._channels: dict[str, ChannelState] = {}

    def set(self, channel: str, state: str, reason: str = "") -> None:
        """Record a channel's state; log only when it differs from the last one."""
        with self._lock:
            before = self._channels.get(channel)
            if before is not None and before.state == state:
                if state == DEGRADED and not before.reason and reason:
                    self._channels[channel] = ChannelState(state, reason, before.since)
                return
            self._channels[channel] = ChannelState(state, reason, datetime.now(UTC))
        extra = {"channel": channel, "status": state}
        if state == DEGRADED:
            log.warning(
                f"{channel}: cannot reach its server; retrying", extra={**extra, "error": reason}
            )
        elif state == OK and before is not None and before.state == DEGRADED:
            log.info(f"{channel}: reachable again", extra=extra)
        elif state == OK:
            log.info(f"{channel}: connected", extra=extra)

    def get(self, channel: str) -> ChannelState | None:
        with self._lock:
            return self._channels.get(channel)

    def report(self) -> dict[str, Any]:
        """`status` is ok only when every channel is; `channels` says which is not and why."""
        with self._lock:
            channels = dict(self._channels)
        status = OK if all(c.state == OK for c in channels.values()) else DEGRADED
        return {
            "status": status,
            "channels": {
                name: {
                    "state": c.state,
                    **({"reason": c.reason} if c.reason else {}),
                    "since": c.since.isoformat(timespec="seconds"),
                }
                for name, c in sorted(channels.items())
            },
        }
