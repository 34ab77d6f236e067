"""Fixtures of the end-to-end tests: the loopback Telegram Bot API (tests/telegram_api.py)
and an environment without proxies, once for every module that talks to them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from ..servers import NO_PROXY_ENV
from ..telegram_api import FakeBotApi

MakeBotApi = Callable[..., Awaitable[FakeBotApi]]


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
