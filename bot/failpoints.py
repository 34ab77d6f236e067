"""Crash on purpose at a named point, for the tests that prove a crash loses nothing.

`CAREDESK_FAILPOINT=imap-after-commit:3` makes the process exit abruptly (os._exit, no
cleanup, like a power cut) the 3rd time that point is reached.
`CAREDESK_FAILPOINT=mail-process:raise=TOKEN` raises `FailpointError` at that point whenever
the data passed there contains TOKEN (one poisoned message among good ones).
Unset, it costs one dict lookup. Used by the integration tests; never set it in production.
"""

from __future__ import annotations

import os
import threading

ENV = "CAREDESK_FAILPOINT"
EXIT_STATUS = 99

_counts: dict[str, int] = {}
_lock = threading.Lock()


class FailpointError(RuntimeError):
    """Raised on purpose by a `raise=` failpoint."""


def failpoint(name: str, data: bytes = b"") -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    target, _, nth = spec.partition(":")
    if target != name:
        return
    if nth.startswith("raise="):
        if nth.removeprefix("raise=").encode() in data:
            raise FailpointError(f"failpoint {name}")
        return
    with _lock:
        _counts[name] = _counts.get(name, 0) + 1
        if _counts[name] >= int(nth or 1):
            os._exit(EXIT_STATUS)
