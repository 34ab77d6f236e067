"""AiohttpRequest, the Telegram channel's HTTP client, against real loopback servers: the
answers, the errors PTB expects (NetworkError, TimedOut), uploads, the proxy from the
environment."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import InputFile
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.telegram_http import AiohttpRequest


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(2)
    return web.json_response({"ok": True, "result": True})


async def echo(request: web.Request) -> web.Response:
    """Names what it received: form fields, and uploaded files with their name and bytes."""
    fields: dict[str, str] = {}
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            body = (await part.read()).decode()  # type: ignore[union-attr]
            name = part.name or ""
            fields[name] = f"{part.filename}:{body}" if part.filename else body  # type: ignore[union-attr]
    else:
        fields = dict(await request.post())  # type: ignore[arg-type]
    return web.json_response({"ok": True, "result": fields})


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/slow", slow)
    app.router.add_post("/echo", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def request_() -> AsyncIterator[AiohttpRequest]:
    req = AiohttpRequest(read_timeout=0.3)
    await req.initialize()
    yield req
    await req.shutdown()


def data(**params: object) -> RequestData:
    return RequestData([RequestParameter.from_input(k, v) for k, v in params.items()])


async def test_parameters_are_posted_as_a_form_and_the_answer_returned(server, request_):
    status, body = await request_.do_request(
        f"{server}/echo", "POST", data(chat_id=42, text="hello", reply_markup={"a": 1})
    )
    assert status == 200
    assert b'"chat_id": "42"' in body and b'"text": "hello"' in body
    assert b'"reply_markup": "{\\"a\\": 1}"' in body  # JSON text, as Telegram wants it


async def test_a_file_is_uploaded_as_multipart_with_its_name(server, request_):
    upload = InputFile(b"photo bytes", filename="leak.jpg")
    status, body = await request_.do_request(
        f"{server}/echo", "POST", data(chat_id=42, document=upload)
    )
    assert status == 200
    assert b'"chat_id": "42"' in body
    assert b"leak.jpg:photo bytes" in body


async def test_an_answer_slower_than_the_read_timeout_is_timed_out(server, request_):
    with pytest.raises(TimedOut):
        await request_.do_request(f"{server}/slow", "POST", data(chat_id=1))


async def test_a_server_that_is_not_there_is_a_network_error(request_):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens there
    with pytest.raises(NetworkError) as caught:
        await request_.do_request(f"http://127.0.0.1:{port}/x", "POST", data(chat_id=1))
    assert not isinstance(caught.value, TimedOut)


async def test_not_initialized_is_a_clear_error():
    with pytest.raises(RuntimeError, match="not initialized"):
        await AiohttpRequest().do_request("http://127.0.0.1:9/x", "POST")


def test_the_proxy_comes_from_the_environment_and_no_proxy_is_honoured(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    for name in ("https_proxy", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    req = AiohttpRequest()
    assert req._proxy("https://api.telegram.org/botX/getMe") == "http://proxy.example:3128"
    assert req._proxy("https://127.0.0.1/botX/getMe") is None
