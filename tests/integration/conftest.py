"""Fixtures of the end-to-end tests, once for every module that needs them: the loopback
Telegram Bot API (tests/telegram_api.py), an environment without proxies, one headless
Chromium for the whole session, and cheap password hashes for the staff pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
from argon2 import PasswordHasher, profiles
from playwright.async_api import Browser, async_playwright

from bot.staff import passwords

from ..browser import launch_chromium
from ..servers import NO_PROXY_ENV
from ..telegram_api import FakeBotApi

MakeBotApi = Callable[..., Awaitable[FakeBotApi]]


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """argon2id with its cheapest parameters: these tests are about pages, sessions and
    access, and the production profile costs about a second a hash on a shared machine. The
    production profile itself is pinned in tests/unit/test_staff.py."""
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    passwords._dummy_hash.cache_clear()
    yield
    passwords._dummy_hash.cache_clear()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """One headless Chromium for every browser test of the session (a context per test)."""
    async with async_playwright() as pw:
        browser = await launch_chromium(pw)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Loopback calls go straight to the servers of the test, whatever proxy is configured."""
    for name, value in NO_PROXY_ENV.items():
        monkeypatch.setenv(name, value)
    yield


@pytest.fixture
async def make_bot_api(no_proxy: None) -> AsyncIterator[MakeBotApi]:
    """Factory: `await make_bot_api(token, port=..., kind=FakeBotApi)` starts a loopback Bot
    API (FakeBotApi's arguments, all optional; `kind` for a subclass that misbehaves on
    purpose); every one started is stopped at the end of the test, also one the test
    stopped itself."""
    made: list[FakeBotApi] = []

    async def make(*args: Any, kind: type[FakeBotApi] = FakeBotApi, **options: Any) -> FakeBotApi:
        api = kind(*args, **options)
        await api.start()
        made.append(api)
        return api

    yield make
    for api in made:
        await api.stop()


@pytest.fixture
async def api(make_bot_api: MakeBotApi) -> FakeBotApi:
    """The loopback Telegram Bot API, started with its default token."""
    return await make_bot_api()
