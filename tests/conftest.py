"""Shared fixtures: real servers (see tests/servers.py and /work/shared/TESTING.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .servers import DOVECOT_BIN, DovecotServer, SmtpSink


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    """A started private Dovecot (user caredesk / secret); stopped and removed afterwards."""
    if not os.access(DOVECOT_BIN, os.X_OK):
        pytest.fail(
            f"{DOVECOT_BIN} is missing: run `make system-deps` (Debian dovecot-imapd)",
            pytrace=False,
        )
    server = DovecotServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A started SMTP sink on 127.0.0.1 and a free port; stopped afterwards."""
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
