"""Crash on purpose at a named point, for the tests that prove a crash loses nothing.

`CAREDESK_FAILPOINT=imap-after-commit:3` makes the process exit abruptly (os._exit, no
cleanup, like a power cut) the 3rd time that point is reached. Unset, it costs one dict
lookup. Used by the integration tests; never set it in production.
"""

from __future__ import annotations

import os
import threading

ENV = "CAREDESK_FAILPOINT"
EXIT_STATUS = 99

_counts: dict[str, int] = {}
_lock = threading.Lock()


def failpoint(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    target, _, nth = spec.partition(":")
    if target != name:
        return
    with _lock:
        _counts[name] = _counts.get(name, 0) + 1
        if _counts[name] >= int(nth or 1):
            os._exit(EXIT_STATUS)
