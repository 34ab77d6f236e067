"""The chat turn's faster paths write what the slower ones wrote (issue 9, section 4): the
stored state (orjson, the json module as fallback) and the UTC stamps (one isoformat per
instant)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from storage.cases import utc
from storage.conversations import _encode_state, decode_state

STATE = {
    "v": 1,
    "status": "active",
    "data": {
        "what": "Le camion à ordures n'est pas passé — rue Élise 🚛",
        "evidence": [{"name": "photo.jpg", "size": 1024, "ref": None}],
        "safety": False,
        "score": 0.5,
    },
    "step": "when",
    "asked": ["what", "where"],
}


def test_state_text_is_the_compact_json_it_was() -> None:
    as_before = json.dumps(STATE, ensure_ascii=False, separators=(",", ":"))
    assert _encode_state(STATE) == as_before
    assert decode_state(as_before) == STATE


def test_a_state_orjson_refuses_is_written_by_the_json_module() -> None:
    big = {"v": 1, "data": {"count": 2**70}}  # past 64 bits: orjson refuses it
    text = _encode_state(big)
    assert text == '{"v":1,"data":{"count":1180591620717411303424}}'
    assert decode_state(text) == big


def test_utc_stamps_each_instant_and_repeats_the_last() -> None:
    toronto = datetime(2026, 11, 25, 16, 38, 59, 900, tzinfo=ZoneInfo("America/Toronto"))
    assert utc(toronto) == "2026-11-25T21:38:59+00:00"
    assert utc(toronto) == "2026-11-25T21:38:59+00:00"
    later = toronto + timedelta(seconds=1)
    assert utc(later) == "2026-11-25T21:39:00+00:00"
    same_instant = datetime(2026, 11, 25, 21, 38, 59, tzinfo=UTC)  # equal, not identical
    assert utc(same_instant) == "2026-11-25T21:38:59+00:00"
    assert utc(toronto) == "2026-11-25T21:38:59+00:00"
