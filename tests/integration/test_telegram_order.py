"""Telegram per-chat order: one resident's quick messages are answered in the order sent,
while other residents are answered meanwhile (PerChatOrder, over AiohttpRequest)."""

from __future__ import annotations

import asyncio

import pytest
from telegram.error import NetworkError

from bot.config import parse_config
from bot.telegram import TelegramSender
from storage.outbox import DeliveryError, OutboxItem

from ..telegram_api import FakeBotApi
from ..unit.test_flow import FULL
from .test_telegram_e2e import START, Bot, GatedBotApi, strip_refs


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


async def test_two_quick_messages_of_one_chat_answered_in_order_others_proceed(tmp_path):
    """Resident A sends two lines at once; the reply to the first is held at the Bot API. The
    bot has both of A's updates, yet the second waits for the first's reply; resident B, who
    writes after A's second line, is answered meanwhile. Once the Bot API lets A's reply
    through, A is answered in order: what a resident writing one line at a time is told."""
    api = GatedBotApi()
    await api.start()
    config = parse_config({"dialogue": {"rate_per_minute": 1000}})
    b = await Bot(api, tmp_path / "caredesk.db", config).start()
    quick, other, control = 6001, 6002, 6003
    try:
        for chat in (quick, other, control):
            api.push_text(chat, "/start")
            assert await api.wait_for(lambda c=chat: len(api.sent_to(c)) == 2, 10)
        # The control resident: the same two lines, each after the previous answer.
        api.push_text(control, FULL[0])
        assert await api.wait_for(lambda: len(api.sent_to(control)) > 2, 10)
        after_first = len(api.sent_to(control))
        api.push_text(control, FULL[1])
        assert await api.wait_for(lambda: len(api.sent_to(control)) > after_first, 10)
        await asyncio.sleep(0.1)  # a turn's later messages
        expected = strip_refs(api.sent_to(control)[2:])

        api.held.add(quick)
        first_id = api.push_text(quick, FULL[0])
        second_id = api.push_text(quick, FULL[1])
        other_id = api.push_text(other, FULL[0])
        # B is answered although A's first reply is still held ...
        assert await api.wait_for(lambda: len(api.sent_to(other)) > 2, 10)
        # ... and the bot received all three updates: A's second waits by order, not by chance.
        assert {first_id, second_id, other_id} <= set(api.deliveries)
        await asyncio.sleep(0.2)
        # One sendMessage to A was asked for (the first reply, held); the second line's reply
        # was not even attempted: its turn had not run.
        asked = [p for p in api.calls_to("sendMessage") if str(p.get("chat_id")) == str(quick)]
        assert len(asked) == 2 + 1, "A's second line must wait for the first's reply"
        assert len(api.sent_to(quick)) == 2

        api.gate.set()
        assert await api.wait_for(lambda: len(api.sent_to(quick)) >= 2 + len(expected), 10)
        await asyncio.sleep(0.1)
        assert strip_refs(api.sent_to(quick)[2:]) == expected
        assert expected[0] != expected[-1], "the two lines get different answers"
    finally:
        api.gate.set()
        await b.stop()
        await api.stop()


def item(chat: int) -> OutboxItem:
    return OutboxItem(
        id=1,
        case_id=None,
        channel="telegram",
        recipient=f"telegram:{chat}",
        reply_kind="notice",
        subject="",
        body="Your conversation was paused.",
        idempotency_key="k1",
        attempts=0,
    )


async def test_replies_sent_lean_still_raise_telegrams_typed_errors(tmp_path):
    """The channel sends without parsing Telegram's answer (LeanBot.send_text); a refusal is
    still BadRequest/Forbidden/RetryAfter, so the outbox knows to give up or to retry."""
    api = FakeBotApi()
    await api.start()
    b = await Bot(api, tmp_path / "caredesk.db").start()
    assert b.channel is not None
    sender = TelegramSender(b.channel)
    try:
        await sender.send(item(7001), START)
        assert api.sent_to(7001) == ["Your conversation was paused."]
        api.blocked_chats.add(7002)
        with pytest.raises(DeliveryError) as refused:
            await sender.send(item(7002), START)
        assert refused.value.permanent
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
        with pytest.raises(DeliveryError) as later:
            await sender.send(item(7001), START)
        assert not later.value.permanent
        api.fail_next("sendMessage", 500, "Internal Server Error")
        with pytest.raises(NetworkError):
            await b.channel.send(7001, b.services.chat.open("telegram", "telegram:7001"))
    finally:
        await b.stop()
        await api.stop()
