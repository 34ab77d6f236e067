"""`caredesk tracker check` as a person runs it (a real process) against real targets: the
loopback Open311 server (tests/open311.py), a tiny aiohttp webhook server, and no server at
all. Each department gets one line saying what its target answered or what is wrong; no
secret ever appears in the output."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.clock import FrozenClock

from ..open311 import FakeOpen311
from ..servers import LOOPBACK, free_port, run_cli

KEY = "k3y-of-the-city-0001"
SECRET = "w3bhook-s3cret-0002"


@pytest.fixture
async def open311(no_proxy: None) -> AsyncIterator[FakeOpen311]:
    server = FakeOpen311(api_key=KEY, clock=FrozenClock(datetime(2026, 3, 2, 15, tzinfo=UTC)))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def webhook(no_proxy: None) -> AsyncIterator[str]:
    """A department's webhook endpoint: it answers OPTIONS with 204."""
    app = web.Application()
    app.router.add_route("OPTIONS", "/caredesk", _no_content)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, LOOPBACK, port).start()
    yield f"http://{LOOPBACK}:{port}/caredesk"
    await runner.cleanup()


async def _no_content(_: web.Request) -> web.Response:
    return web.Response(status=204)


def write_config(tmp_path: Path, departments: str, smtp: bool = False) -> Path:
    text = departments
    if smtp:
        text = (
            f'[mail.smtp]\nhost = "{LOOPBACK}"\nport = {free_port()}\nsecurity = "none"\n\n' + text
        )
    path = tmp_path / "caredesk.toml"
    path.write_text(text)
    return path


def open311_dept(url: str, code: str = "POTHOLE", key: str = "roads") -> str:
    return (
        f'[[departments]]\nkey = "{key}"\nname = "Roads"\ntracker = "open311"\n'
        f'open311_url = "{url}"\nopen311_service_code = "{code}"\n\n'
    )


async def check(config: Path, *args: str, **env: str) -> tuple[int, str]:
    """Run `caredesk tracker check` without blocking the loop the servers run in."""
    full = {
        k: v
        for k, v in os.environ.items()
        if k != "CAREDESK_CONFIG" and not k.startswith(("CAREDESK_OPEN311", "CAREDESK_WEBHOOK"))
    }
    full.update(env)
    return await run_cli(
        "--config", str(config), "tracker", "check", "--timeout", "3", *args, env=full
    )


def no_secret(out: str) -> None:
    assert KEY not in out
    assert SECRET not in out


async def test_open311_ok(tmp_path: Path, open311: FakeOpen311) -> None:
    config = write_config(tmp_path, open311_dept(open311.base_url))
    status, out = await check(config, CAREDESK_OPEN311_KEY_ROADS=KEY)
    assert status == 0, out
    assert out.strip() == (
        f"roads (Roads): open311 {open311.base_url}: OK, Open311: 2 services; "
        "service_code 'POTHOLE' offered; API key from CAREDESK_OPEN311_KEY_ROADS accepted"
    )
    no_secret(out)
    assert open311.requests == {}  # the key probe created nothing


async def test_the_category_mapping_is_checked_code_by_code(
    tmp_path: Path, open311: FakeOpen311
) -> None:
    mapping = 'open311_service_codes = { lights = "STREETLIGHT", trees = "TREE-DOWN" }\n\n'
    config = write_config(tmp_path, open311_dept(open311.base_url).rstrip("\n") + "\n" + mapping)
    status, out = await check(config, CAREDESK_OPEN311_KEY_ROADS=KEY)
    assert status == 1, out
    assert "open311_service_codes: category 'trees': the server has no service code" in out
    assert "'lights'" not in out  # STREETLIGHT is offered


async def test_generic_key_variable_is_the_fallback(tmp_path: Path, open311: FakeOpen311) -> None:
    config = write_config(tmp_path, open311_dept(open311.base_url))
    status, out = await check(config, "--json", CAREDESK_OPEN311_KEY=KEY)
    assert status == 0, out
    result = json.loads(out)
    assert result["ok"] is True and result["problems"] == []
    assert "API key from CAREDESK_OPEN311_KEY accepted" in result["answer"]
    no_secret(out)


async def test_open311_service_code_not_offered(tmp_path: Path, open311: FakeOpen311) -> None:
    config = write_config(tmp_path, open311_dept(open311.base_url, code="roads"))
    status, out = await check(config, CAREDESK_OPEN311_KEY_ROADS=KEY)
    assert status == 1
    assert "the server has no service code 'roads'" in out
    assert "Open311: 2 services" in out


async def test_open311_wrong_key_shows_the_servers_words(
    tmp_path: Path, open311: FakeOpen311
) -> None:
    config = write_config(tmp_path, open311_dept(open311.base_url))
    status, out = await check(config, CAREDESK_OPEN311_KEY_ROADS="not-the-key-9")
    assert status == 1
    assert "API key from CAREDESK_OPEN311_KEY_ROADS refused: HTTP 403: 403: Invalid api_key" in out
    assert "not-the-key-9" not in out


async def test_open311_without_a_key_names_the_variable(
    tmp_path: Path, open311: FakeOpen311
) -> None:
    config = write_config(tmp_path, open311_dept(open311.base_url))
    status, out = await check(config)
    assert status == 1
    assert "no API key: set CAREDESK_OPEN311_KEY_ROADS (or CAREDESK_OPEN311_KEY)" in out


async def test_open311_server_error_words(tmp_path: Path, open311: FakeOpen311) -> None:
    open311.fail(
        "status",
        path="services.json",
        status=503,
        errors=[{"code": "503", "description": "down for maintenance"}],
    )
    config = write_config(tmp_path, open311_dept(open311.base_url))
    status, out = await check(config, CAREDESK_OPEN311_KEY_ROADS=KEY)
    assert status == 1
    assert "services.json: HTTP 503: 503: down for maintenance" in out


async def test_open311_server_down(tmp_path: Path, no_proxy: None) -> None:
    url = f"http://{LOOPBACK}:{free_port()}/open311/v2"
    config = write_config(tmp_path, open311_dept(url))
    status, out = await check(config, CAREDESK_OPEN311_KEY_ROADS=KEY)
    assert status == 1
    assert "services.json: unreachable (network error: ClientConnectorError)" in out
    no_secret(out)
    status, out = await check(config)
    assert status == 1
    assert out.strip().endswith(
        "services.json: unreachable (network error: ClientConnectorError); "
        "no API key: set CAREDESK_OPEN311_KEY_ROADS (or CAREDESK_OPEN311_KEY) in the environment"
    )


async def test_webhook_reachable_with_secret(tmp_path: Path, webhook: str) -> None:
    dept = '[[departments]]\nkey = "water-dept"\nname = "Water"\ntracker = "webhook"\n'
    dept += f'webhook_url = "{webhook}"\n'
    status, out = await check(
        write_config(tmp_path, dept), CAREDESK_WEBHOOK_SECRET_WATER_DEPT=SECRET
    )
    assert status == 0, out
    assert out.strip() == (
        f"water-dept (Water): webhook {webhook}: OK, reachable: OPTIONS answered 204; "
        "signing secret from CAREDESK_WEBHOOK_SECRET_WATER_DEPT"
    )
    no_secret(out)


async def test_webhook_unreachable_and_no_secret(tmp_path: Path, no_proxy: None) -> None:
    url = f"http://{LOOPBACK}:{free_port()}/caredesk"
    dept = '[[departments]]\nkey = "water"\nname = "Water"\ntracker = "webhook"\n'
    dept += f'webhook_url = "{url}"\n'
    status, out = await check(write_config(tmp_path, dept), "--json")
    assert status == 1
    result = json.loads(out)
    assert result["ok"] is False
    assert result["problems"] == [
        "unreachable: ClientConnectorError",
        "no signing secret: set CAREDESK_WEBHOOK_SECRET_WATER (or CAREDESK_WEBHOOK_SECRET) "
        "in the environment",
    ]


async def test_email_without_smtp_and_none(tmp_path: Path, no_proxy: None) -> None:
    depts = (
        '[[departments]]\nkey = "waste"\nname = "Waste"\ntracker = "email"\n'
        'email = "waste@city.example"\n\n'
        '[[departments]]\nkey = "parks"\nname = "Parks"\ntracker = "none"\n'
    )
    status, out = await check(write_config(tmp_path, depts))
    assert status == 1
    lines = out.strip().splitlines()
    assert lines == [
        "waste (Waste): email waste@city.example: [mail.smtp] is not configured: nothing can "
        "send the forward",
        "parks (Parks): none: OK, not forwarded: staff forward by hand",
    ]
    status, out = await check(write_config(tmp_path, depts, smtp=True))
    assert status == 0, out
    assert "waste (Waste): email waste@city.example: OK, sent through smtp" in out


async def test_no_departments(tmp_path: Path, no_proxy: None) -> None:
    status, out = await check(write_config(tmp_path, ""))
    assert status == 0
    assert "no departments are configured" in out


async def test_json_one_object_per_department(
    tmp_path: Path, open311: FakeOpen311, webhook: str
) -> None:
    depts = open311_dept(open311.base_url)
    depts += '[[departments]]\nkey = "water"\nname = "Water"\ntracker = "webhook"\n'
    depts += f'webhook_url = "{webhook}"\n'
    status, out = await check(
        write_config(tmp_path, depts),
        "--json",
        CAREDESK_OPEN311_KEY=KEY,
        CAREDESK_WEBHOOK_SECRET=SECRET,
    )
    assert status == 0, out
    rows: list[dict[str, Any]] = [json.loads(line) for line in out.splitlines()]
    assert [r["department"] for r in rows] == ["roads", "water"]
    assert [r["tracker"] for r in rows] == ["open311", "webhook"]
    no_secret(out)
