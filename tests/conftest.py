"""Shared fixtures: real servers (see tests/servers.py and /work/shared/TESTING.md) and
factories for the service graph, in the way aiosmtpd's and sqlite-utils' own tests expose
factories: a test asks for `make_services` and calls it with what it changes (a config, a
clock, a store), and whatever it made is closed afterwards."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import Services, build_services
from bot.clock import Clock, FrozenClock
from bot.config import Config
from bot.mail_intake import MailIntake

from .servers import DOVECOT_BIN, DovecotServer, SmtpSink

#: The instant the factories' clock is frozen at, unless a test passes its own: a fixed day,
#: so no test depends on the day it runs.
NOW = datetime(2026, 11, 25, 16, 38, tzinfo=ZoneInfo("America/Toronto"))

MakeServices = Callable[..., Services]
MakeMailDesk = Callable[..., tuple[Services, MailIntake]]


@pytest.fixture
def make_services(tmp_path: Path) -> Iterator[MakeServices]:
    """Factory: `make_services(config=None, *, now=NOW, clock=None, path=None)` builds the
    services as `caredesk serve` does, on `tmp_path/caredesk.db` (or `path`) with a frozen
    clock (or `clock`). Calls with the same path share the store, as a restart would. Every
    store opened is closed at the end of the test."""
    made: list[Services] = []

    def make(
        config: Config | None = None,
        *,
        now: datetime = NOW,
        clock: Clock | None = None,
        path: Path | None = None,
    ) -> Services:
        services = build_services(
            config or Config(), path or tmp_path / "caredesk.db", clock or FrozenClock(now)
        )
        made.append(services)
        return services

    yield make
    for services in made:
        services.db.close()


@pytest.fixture
def make_mail_desk(make_services: MakeServices) -> MakeMailDesk:
    """Factory: `make_mail_desk(config=None, *, now=NOW, **mail_settings)` gives the services
    and a `MailIntake` on their store, with `[mail]` settings changed as the test needs."""

    def make(
        config: Config | None = None, *, now: datetime = NOW, **mail_settings: object
    ) -> tuple[Services, MailIntake]:
        config = config or Config()
        if mail_settings:
            config = replace(config, mail=replace(config.mail, **mail_settings))
        services = make_services(config, now=now)
        return services, MailIntake(services.db, services.policy, services.intake)

    return make


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
