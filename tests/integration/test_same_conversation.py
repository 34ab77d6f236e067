"""One scripted conversation through the console, Telegram and the web chat: the same case and
the same replies, because the channels only translate (DESIGN.md: one path for every message).
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web

from bot.app import Services, build_app, build_services
from bot.clock import FrozenClock
from bot.config import Config, parse_config
from bot.console import run_console
from bot.telegram import TelegramChannel
from storage.cases import get_case, list_cases
from storage.conversations import chat_log

from ..scripts import FULL
from ..servers import free_port
from ..telegram_api import FakeBotApi

NOW = datetime(2026, 11, 25, 10, 15, tzinfo=ZoneInfo("America/Toronto"))
SCRIPT = [*FULL, "edit who", "the driver of truck 42, badge 1187", "confirm"]
CASE_FIELDS = (
    "ref",
    "kind",
    "status",
    "what",
    "when_text",
    "occurred_at",
    "who",
    "outcome",
    "missing",
    "rules",
    "ack_due",
    "follow_up_due",
    "received_at",
    "person",
)


def outcome(db_path: Path) -> tuple[dict, list[str]]:
    services = build_services(Config(), db_path)
    try:
        [row] = list_cases(services.db)
        case = get_case(services.db, row["ref"])
        [key] = [k for (k,) in services.db.execute("SELECT key FROM conversations")]
        said = [text for who, text, _ in chat_log(services.db, key) if who == "city"]
    finally:
        services.db.close()
    return {f: case[f] for f in CASE_FIELDS}, said


async def run_console_channel(services: Services) -> None:
    stdin = io.StringIO("\n".join(SCRIPT) + "\n")
    assert run_console(services.chat, "default", stdin, io.StringIO()) == 0


async def run_web_channel(services: Services) -> None:
    runner = web.AppRunner(build_app(services))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as client:
            await client.get(f"http://127.0.0.1:{port}/")
            async with client.ws_connect(
                f"http://127.0.0.1:{port}/ws", origin=f"http://127.0.0.1:{port}"
            ) as ws:
                assert (await ws.receive_json(timeout=10))["type"] == "session"
                for line in SCRIPT:
                    await ws.send_json({"type": "say", "text": line})
                    assert (await ws.receive_json(timeout=10))["type"] == "replies"
    finally:
        await runner.cleanup()


def telegram_config(api: FakeBotApi) -> Config:
    return parse_config({"telegram": {"api_base_url": api.base_url, "poll_timeout": 1}})


async def run_telegram_channel(services: Services, api: FakeBotApi) -> None:
    channel = TelegramChannel(services.chat, services.config.telegram, api.token)
    await channel.start()
    try:
        for line in ["/start", *SCRIPT]:
            before = len(api.sent)
            api.push_text(4242, line)
            await api.wait_sent(before + 1)
        # A turn may answer in several messages, so the waits above can run ahead of the
        # service: wait for the acknowledgement itself before stopping.
        assert await api.wait_for(lambda: any("[CD-" in m["text"] for m in api.sent), 10)
    finally:
        await channel.stop()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[dict, list[str]]:
    """The same script straight through the shared ChatService, no transport at all (as a
    live chat, so that the acknowledgement is shown in the conversation)."""
    db_path = tmp_path_factory.mktemp("reference") / "caredesk.db"
    services = build_services(Config(), db_path, FrozenClock(NOW))
    services.chat.open("web", "reference:1")
    for line in SCRIPT:
        services.chat.delivered(services.chat.handle("web", "reference:1", line))
    services.db.close()
    return outcome(db_path)


@pytest.mark.parametrize("channel", ["console", "telegram", "web"])
async def test_the_same_conversation_gives_the_same_case_and_replies(
    channel, reference, tmp_path, make_services, make_bot_api
):
    if channel == "console":
        await run_console_channel(make_services(now=NOW))
    elif channel == "web":
        await run_web_channel(make_services(now=NOW))
    else:
        api = await make_bot_api()
        await run_telegram_channel(make_services(telegram_config(api), now=NOW), api)
    case, replies = outcome(tmp_path / "caredesk.db")
    expected_case, expected_replies = reference
    assert case == expected_case
    assert case["who"] == "the driver of truck 42, badge 1187"
    assert replies == expected_replies
    assert any("We received your complaint [CD-2026-000001]" in r for r in replies)
