"""A Telegram location share through the loopback Bot API (issue 12, item 2): the adapter
hands the coordinates to the dialogue, which takes them as the place, at the "where" question
or in the middle of another one; the case carries them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from storage.cases import get_case

from .test_telegram_e2e import CHAT, Bot


@pytest.fixture
async def bot(api, tmp_path) -> AsyncIterator[Bot]:
    b = await Bot(api, tmp_path / "caredesk.db").start()
    yield b
    await b.stop()


async def share(bot: Bot, lat: float, long: float) -> list[str]:
    before = len(bot.api.sent)
    bot.api.push_location(CHAT, lat, long)
    await bot.turns(bot.turns_done + 1)
    return [m["text"] for m in bot.api.sent[before:]]


async def test_a_location_share_answers_where_and_is_filed_with_the_case(api, bot):
    await bot.say("/start", "Request for service", "No")
    asked = await bot.say("Please fix the pothole on King Street, it is deep")
    assert "Where is it?" in asked[-1]
    out = await share(bot, 43.653226, -79.3831843)
    assert "noted the location you shared" in out[0] and "When did you first notice" in out[-1]
    summary = await bot.say("yesterday", "skip")
    assert "- Where: the location you shared (43.65323, -79.38318)" in summary[-1]
    out = await bot.say("Confirm")
    ref = next(t for t in out if "We received your request" in t).split("[")[1].split("]")[0]
    place = get_case(bot.services.db, ref)["place"]
    assert place == {
        "text": "43.65323, -79.38318",
        "kind": "coordinates",
        "address": None,
        "lat": 43.65323,
        "long": -79.38318,
    }


async def test_a_location_shared_mid_question_is_kept_and_the_question_asked_again(api, bot):
    await bot.say("/start", "Request for service")
    out = await share(bot, 45.4215, -75.6972)
    assert "back to my question" in out[0] and "immediate danger" in out[-1]
    off_map = await share(bot, 95.0, 200.0)
    assert "off the map" in off_map[0] and "immediate danger" in off_map[-1]
    await bot.say("No")
    asked = await bot.say("Please fix the pothole, it is deep")
    assert "When did you first notice" in asked[-1]  # the shared place: "where" not asked
