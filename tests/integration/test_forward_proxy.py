"""Forwards honour the proxy the environment names (HTTP_PROXY, NO_PROXY), as a city network
may require: through a real forwarding proxy on loopback, or straight past it.

The tracker worker reads the environment once per tracker host rather than letting aiohttp
look it up (and read ~/.netrc) in a thread on every request (bench/forward_bench.py measured
that at half a forward's cost); these tests keep the behaviour that lookup gave.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession, web

from bot.clock import FrozenClock
from storage.forwards import forwards_of_case

from ..conftest import NOW, MakeServices
from ..open311 import FakeOpen311
from ..servers import LOOPBACK, free_port
from .test_forwarding import KEY, config, file_case, worker_for


class ForwardingProxy:
    """A plain-HTTP forward proxy: records the absolute URL of each request, passes it on."""

    def __init__(self) -> None:
        self.port = free_port()
        self.seen: list[tuple[str, str]] = []
        self.runner: web.AppRunner | None = None
        self.upstream: ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, str(request.url)))
        assert self.upstream is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with self.upstream.request(
            request.method, request.url, headers=headers, data=await request.read()
        ) as answer:
            body = await answer.read()
            return web.Response(body=body, status=answer.status, content_type=answer.content_type)

    async def start(self) -> None:
        self.upstream = ClientSession()  # not trust_env: the proxy itself goes direct
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, LOOPBACK, self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        if self.upstream is not None:
            await self.upstream.close()


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardingProxy]:
    p = ForwardingProxy()
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def open311(clock: FrozenClock) -> AsyncIterator[FakeOpen311]:
    server = FakeOpen311(api_key=KEY, clock=clock)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


def proxy_env(monkeypatch: pytest.MonkeyPatch, proxy: ForwardingProxy, no_proxy: str) -> None:
    monkeypatch.setenv("CAREDESK_OPEN311_KEY", KEY)
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, proxy.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, no_proxy)


async def test_a_forward_goes_through_the_proxy_the_environment_names(
    make_services: MakeServices,
    open311: FakeOpen311,
    proxy: ForwardingProxy,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy_env(monkeypatch, proxy, no_proxy="")
    s = make_services(config(open311.base_url), clock=clock)
    _, first = file_case(s)
    _, second = file_case(s)
    worker = worker_for(s)
    assert await worker.drain() == 2
    posted = [url for method, url in proxy.seen if method == "POST"]
    assert posted == [f"{open311.base_url}/requests.json"] * 2
    assert len(open311.requests) == 2
    for case_id in (first, second):
        [sent] = forwards_of_case(s.db, case_id)
        assert sent.status == "sent" and sent.external_id in open311.requests
    await worker.sender.close()


async def test_a_tracker_named_in_no_proxy_is_reached_directly(
    make_services: MakeServices,
    open311: FakeOpen311,
    proxy: ForwardingProxy,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy_env(monkeypatch, proxy, no_proxy="127.0.0.1,localhost")
    s = make_services(config(open311.base_url), clock=clock)
    _, case_id = file_case(s)
    worker = worker_for(s)
    assert await worker.drain() == 1
    assert proxy.seen == []
    assert len(open311.posts()) == 1
    [sent] = forwards_of_case(s.db, case_id)
    assert sent.status == "sent"
    await worker.sender.close()
