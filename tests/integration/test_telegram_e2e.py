"""Telegram end to end: python-telegram-bot against the loopback Bot API of the tests."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import Services, build_services
from bot.chat import Turn
from bot.clock import PinnedClock
from bot.config import Config, parse_config
from bot.outbox_worker import OutboxWorker
from bot.telegram import TelegramChannel, TelegramSender
from storage.cases import count_cases, get_case, list_cases

from ..scripts import FULL
from ..telegram_api import FakeBotApi

#: The bot's clock starts here (and runs at real speed): references carry this year, whatever
#: the day the tests run.
START = datetime(2026, 11, 25, 16, 38, tzinfo=UTC)

CHAT = 4242


class Bot:
    """caredesk's Telegram channel running in the test's loop, on a store that outlives it."""

    def __init__(self, api: FakeBotApi, db_path: Path, config: Config | None = None) -> None:
        base = parse_config(
            {
                "telegram": {
                    "api_base_url": api.base_url,
                    "api_file_url": api.base_url.replace("/bot", "/file/bot"),
                    "poll_timeout": 1,
                }
            }
        )
        self.config = replace(config, telegram=base.telegram) if config else base
        self.api = api
        self.db_path = db_path
        self.services: Services | None = None
        self.channel: TelegramChannel | None = None
        #: Turns whose replies all went out: the channel marks each one delivered then.
        self.turns_done = 0

    async def start(self) -> Bot:
        self.services = build_services(self.config, self.db_path, PinnedClock(START))
        chat = self.services.chat
        deliver = chat.delivered

        def delivered(turn: Turn) -> None:
            deliver(turn)
            self.turns_done += 1

        chat.delivered = delivered  # type: ignore[method-assign]
        self.channel = TelegramChannel(chat, self.config.telegram, self.api.token)
        await self.channel.start()
        return self

    async def turns(self, count: int, timeout: float = 10.0) -> None:
        """Wait until `count` turns in all were answered to the end (every message of each)."""
        if not await self.api.wait_for(lambda: self.turns_done >= count, timeout):
            raise AssertionError(f"{self.turns_done} of {count} turns answered in {timeout} s")

    async def say(self, *lines: str, chat: int = CHAT) -> list[str]:
        """Send lines one at a time, each waiting until its turn was answered (a reply may come
        in several messages); returns the texts."""
        texts = []
        for line in lines:
            before = len(self.api.sent)
            self.api.push_text(chat, line)
            await self.turns(self.turns_done + 1)
            texts += [m["text"] for m in self.api.sent[before:]]
        return texts

    async def stop(self) -> None:
        assert self.channel is not None and self.services is not None
        await self.channel.stop()
        self.services.db.close()


@pytest.fixture
async def bot(api, tmp_path) -> AsyncIterator[Bot]:
    b = await Bot(api, tmp_path / "caredesk.db").start()
    yield b
    await b.stop()


async def test_a_full_complaint(api, bot):
    greeting = await bot.say("/start")
    assert "thank you for contacting" in greeting[0]
    keyboard = api.sent[-1]["reply_markup"]
    labels = [b["text"] for row in keyboard["keyboard"] for b in row]
    assert labels == [
        "Complaint",
        "Request for service",
        "Compliment or suggestion",
        "Something else",
    ]
    out = await bot.say(*FULL, "confirm")
    ack = next(t for t in out if "We received your complaint [CD-2026-000001]" in t)
    assert "Ombudsman" in ack
    case = get_case(bot.services.db, "CD-2026-000001")
    assert case["channel"] == "telegram" and case["person"]["name"] == "Jane Doe"
    assert (await bot.say("/status CD-2026-000001"))[0].startswith("CD-2026-000001: your")


async def test_anonymous_allegation_is_declined(api, bot):
    await bot.say("/start")
    out = await bot.say(*FULL[:6], "no", "no", "confirm")
    assert any("02.01" in t for t in out)
    [case] = list_cases(bot.services.db)
    assert case["status"] == "declined"


async def test_safety_path(api, bot):
    await bot.say("/start")
    out = await bot.say("1", "yes")
    assert any("call 911 now" in t for t in out)
    await bot.say("Downed wire across the path in Kinsmen Park", "right now", "skip", "confirm")
    [case] = list_cases(bot.services.db)
    assert case["kind"] == "hazard"


async def test_edit_at_summary_and_cancel(api, bot):
    await bot.say("/start")
    await bot.say(*FULL)
    out = await bot.say("edit when", "12 March 2026 at 10am")
    assert "Thursday, March 12, 2026 at 10 a.m." in out[-1]
    out = await bot.say("/cancel")
    assert "Nothing has been sent" in out[-1]
    assert count_cases(bot.services.db) == 0


async def test_restart_of_the_service_mid_conversation(api, tmp_path):
    first = await Bot(api, tmp_path / "caredesk.db").start()
    await first.say("/start", *FULL[:4])
    await first.stop()
    second = await Bot(api, tmp_path / "caredesk.db").start()
    try:
        out = await second.say(FULL[4])
        assert "What outcome are you looking for?" in out[-1]
        await second.say(*FULL[5:], "confirm")
        assert count_cases(second.services.db) == 1
    finally:
        await second.stop()


async def test_a_redelivered_update_has_no_second_effect(api, bot):
    await bot.say("/start", *FULL)
    before = len(api.sent)
    update_id = api.push_text(CHAT, "confirm")
    await bot.turns(bot.turns_done + 1)  # the acknowledgement, all of it
    sent_after_first = len(api.sent)
    assert sent_after_first > before
    api.redeliver(update_id, force=True)  # as Telegram does after a crash before the offset
    assert await api.wait_for(lambda: api.deliveries.count(update_id) == 2)
    await bot.turns(bot.turns_done + 1)  # the channel has handled the second delivery too
    assert len(api.sent) == sent_after_first  # delivered twice, answered once
    assert count_cases(bot.services.db) == 1


async def test_rate_limit_is_polite(api, tmp_path):
    config = parse_config({"dialogue": {"rate_per_minute": 3}})
    b = await Bot(api, tmp_path / "caredesk.db", config).start()
    try:
        out = await b.say("/start", "1", "no", "The bus driver was rude to me", "yesterday")
        assert "faster than I can take them in" in out[-1]
    finally:
        await b.stop()


async def test_long_replies_are_split(api, bot):
    await bot.say("/start", "1", "no")
    out = await bot.say("word " * 2000)  # over the dialogue's 4000 characters: refused politely
    assert "longer than 4000 characters" in out[0]
    long_description = "The truck blocked the lane again. " * 115  # about 3900 characters
    before = len(api.sent)
    await bot.say(long_description, "skip", *FULL[3:])  # "skip": no place in the description
    summary_parts = [m for m in api.sent[before:] if "Here is what I have" in m["text"]]
    assert summary_parts, "the summary was sent"
    assert all(len(m["text"]) <= 4096 for m in api.sent)
    last = api.sent[-1]
    assert "'confirm'" in last["text"] and last["reply_markup"] is not None  # keyboard on the last


async def test_photos_are_recorded_as_evidence(api, bot):
    await bot.say("/start", *FULL[:3])
    before = len(api.sent)
    api.push_photo(CHAT, file_id="AgACAgQAAxkBAAIBPhoto", file_size=48213)
    await api.wait_sent(before + 1)
    assert "added the file" in api.sent[-1]["text"]
    await bot.say(*FULL[3:], "confirm")
    case = get_case(bot.services.db, "CD-2026-000001")
    [event] = [e for e in case["events"] if e["type"] == "attachments"]
    assert event["data"]["files"][0]["ref"] == "AgACAgQAAxkBAAIBPhoto"
    assert event["data"]["files"][0]["size"] == 48213


async def test_a_paused_conversation_is_told_by_the_outbox_worker(api, bot):
    await bot.say("/start", *FULL[:2])
    bot.services.db.execute("UPDATE conversations SET updated_at = '2000-01-01T00:00:00+00:00'")
    assert bot.services.chat.expire_idle(["telegram"]) == 1
    worker = OutboxWorker(bot.services.db, TelegramSender(bot.channel), bot.services.clock)
    before = len(api.sent)
    assert await worker.drain() == 1
    assert "paused our conversation" in api.sent[before]["text"]
    out = await bot.say("resume")
    assert "Please tell me what happened" in out[-1]


async def test_webhook_mode_checks_the_secret(api, tmp_path, monkeypatch):
    import aiohttp
    from aiohttp import web

    from bot.app import build_app

    from ..servers import free_port

    monkeypatch.setenv("CAREDESK_TELEGRAM_TOKEN", api.token)
    monkeypatch.setenv("CAREDESK_TELEGRAM_WEBHOOK_SECRET", "s3cret-token")
    port = free_port()
    config = parse_config(
        {
            "telegram": {
                "api_base_url": api.base_url,
                "mode": "webhook",
                "webhook_url": "https://city.example/telegram/webhook",
            }
        }
    )
    services = build_services(config, tmp_path / "caredesk.db", PinnedClock(START))
    runner = web.AppRunner(build_app(services))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        assert await api.wait_for(lambda: api.webhook_url != "")  # set in the background
        assert api.webhook_url == "https://city.example/telegram/webhook"
        assert api.webhook_secret == "s3cret-token"
        update = {
            "update_id": 900,
            "message": {
                "message_id": 1,
                "date": 1764000000,
                "chat": {"id": CHAT, "type": "private"},
                "from": {"id": CHAT, "is_bot": False, "first_name": "R"},
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        async with aiohttp.ClientSession() as client:
            bad = await client.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
            )
            assert bad.status == 403
            for foreign in ("sécret-tökén", "s3cret-token\u00e9", "\u2603"):
                # aiohttp's client would refuse non-ASCII; send the header's raw UTF-8 bytes
                raw = foreign.encode().decode("latin-1")
                odd = await client.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": raw}
                )
                assert odd.status == 403, foreign
            good = await client.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
            )
            assert good.status == 200
        await api.wait_sent(1)
        assert "thank you for contacting" in api.sent[0]["text"]
    finally:
        await runner.cleanup()


class GatedBotApi(FakeBotApi):
    """Holds every sendMessage to the chats in `held` until `gate` is set: a Bot API that is
    slow for one resident."""

    def __init__(self) -> None:
        super().__init__()
        self.held: set[int] = set()
        self.gate = asyncio.Event()

    async def _send_message(self, params):
        if self._chat_id(params) in self.held:
            await self.gate.wait()
        return await super()._send_message(params)


async def test_chats_are_answered_concurrently_each_in_its_order(tmp_path, make_bot_api):
    """Two residents type at once: a reply held up for one does not hold up the other, and
    each chat's lines are read in the order the resident sent them (an answer never lands
    on the wrong question)."""
    api = await make_bot_api(kind=GatedBotApi)
    config = parse_config({"dialogue": {"rate_per_minute": 1000}})
    b = await Bot(api, tmp_path / "caredesk.db", config).start()
    first, second = 5001, 5002
    try:
        for chat in (first, second):
            api.push_text(chat, "/start")
            assert await api.wait_for(lambda c=chat: len(api.sent_to(c)) == 2, 10)  # two messages
        api.held.add(first)
        api.push_text(first, FULL[0])  # its reply is held at the Bot API
        api.push_text(second, FULL[0])
        assert await api.wait_for(lambda: len(api.sent_to(second)) > 2, 10)
        assert len(api.sent_to(first)) == 2, "the held chat's reply is still waiting"
        api.gate.set()
        # The rest of both conversations, interleaved line by line, all pushed at once.
        for line in (*FULL[1:], "confirm"):
            api.push_text(first, line)
            api.push_text(second, line)
        assert await api.wait_for(lambda: count_cases(b.services.db) == 2, 20)
        await b.turns(2 * len(["/start", *FULL, "confirm"]))  # the acknowledgements' last words
        for chat in (first, second):
            assert any("We received your complaint [CD-" in t for t in api.sent_to(chat))
        cases = list_cases(b.services.db)
        assert len(cases) == 2
        for summary in cases:
            case = get_case(b.services.db, summary["ref"])
            assert case["person"]["name"] == "Jane Doe"
            assert case["channel"] == "telegram"
        # Same answers, same order: both chats were told the same things in the same order.
        assert strip_refs(api.sent_to(first)) == strip_refs(api.sent_to(second))
    finally:
        await b.stop()


def strip_refs(texts: list[str]) -> list[str]:
    return [re.sub(r"CD-\d{4}-\d{6}", "CD-REF", t) for t in texts]
