"""Channel health: what /healthz reports, and one log line per change of state."""

from __future__ import annotations

import logging

from bot.health import DEGRADED, OK, STARTING, Backoff, Health


def test_status_is_ok_only_when_every_channel_is():
    health = Health()
    health.set("web", OK)
    assert health.report()["status"] == "ok"
    health.set("telegram", STARTING)
    assert health.report()["status"] == "degraded"
    health.set("telegram", DEGRADED, "Bot API: NetworkError: connection refused")
    report = health.report()
    assert report["status"] == "degraded"
    assert report["channels"]["telegram"]["reason"].startswith("Bot API")
    assert report["channels"]["web"] == {"state": "ok", "since": report["channels"]["web"]["since"]}
    health.set("telegram", OK)
    assert health.report()["status"] == "ok"
    assert "reason" not in health.report()["channels"]["telegram"]


def test_one_log_line_per_change_not_per_retry(caplog):
    health = Health()
    with caplog.at_level(logging.INFO, logger="bot.health"):
        health.set("imap", STARTING)
        for attempt in range(5):
            health.set("imap", DEGRADED, f"refused (attempt {attempt})")
        health.set("imap", OK)
        health.set("imap", OK)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        ("WARNING", "imap: cannot reach its server; retrying"),
        ("INFO", "imap: reachable again"),
    ]
    assert caplog.records[0].exc_info is None  # no traceback


def test_backoff_doubles_up_to_its_cap_and_resets():
    backoff = Backoff(first=1.0, cap=8.0)
    assert [backoff.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    backoff.reset()
    assert backoff.next() == 1.0
