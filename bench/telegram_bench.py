"""Telegram with many residents at once: update -> reply latency with 100 chats in flight.

A benchmark, not a test: it prints figures and what they are compared with, never pass/fail.
Run from the repository root:

    PYTHONPATH=. .venv/bin/python bench/telegram_bench.py [--chats 100] [--json]

In this process: caredesk's TelegramChannel (long polling, poll_timeout 1) against the
loopback FakeBotApi of the tests (tests/telegram_api.py), on a temp store. Each chat sends
/start (not timed), then the complaint script of tests/unit/test_flow.py (FULL + "confirm",
10 turns), each line as soon as the previous turn's last message arrived; all chats at once.
A turn is timed from the moment its update is queued at the fake until the fake receives the
turn's first (and last) sendMessage.

Two channels, the same run, each on its own store and chats:
- "one at a time": python-telegram-bot's default, one update handled after the other (how
  the channel ran before `PerChatOrder`): every chat waits for every other chat's Bot API
  round trips;
- "per-chat order": `PerChatOrder`, chats concurrently, each chat's updates in order.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from telegram.ext import Application, ApplicationBuilder

from bench.chat_bench import (
    AIM_P99_MS,
    SCRIPT,
    TimedBotApi,
    caredesk_expected,
    machine,
    tg_pass,
)
from bot.app import build_services
from bot.config import parse_config
from bot.telegram import TelegramChannel
from storage.cases import count_cases


class OneAtATime(TelegramChannel):
    """The channel as it was built before: PTB handles one update after the other."""

    def _build(self, token: str) -> Application[Any, Any, Any, Any, Any, Any]:
        return (
            ApplicationBuilder()
            .token(token)
            .base_url(self.cfg.api_base_url)
            .base_file_url(self.cfg.api_file_url)
            .build()
        )


async def run_mode(
    channel_class: type[TelegramChannel], chats: int, timeout: float, tmp: Path
) -> dict[str, Any]:
    expected = caredesk_expected(tmp)
    api = TimedBotApi()
    await api.start()
    try:
        config = parse_config(
            {
                "telegram": {
                    "api_base_url": api.base_url,
                    "api_file_url": api.base_file_url,
                    "poll_timeout": 1,
                }
            }
        )
        services = build_services(config, tmp / "telegram.db")
        try:
            channel = channel_class(services.chat, config.telegram, api.token)
            await channel.start()
            try:
                ids = list(range(7_000_000, 7_000_000 + chats))
                result = await tg_pass(api, ids, expected, timeout, concurrent=True)
            finally:
                await channel.stop()
            result["cases"] = count_cases(services.db)
        finally:
            services.db.close()
    finally:
        await api.stop()
    result["errors"] += abs(result["cases"] - chats)
    return result


def print_mode(name: str, r: dict[str, Any]) -> None:
    first, last = r["first_ms"], r["last_ms"]
    print(
        f"  {name:16} turns {r['turns']:5}  {r['turns_per_s']:7.1f} turns/s   "
        f"first reply p50 {first.get('p50', 0):8.2f} ms  p99 {first.get('p99', 0):8.2f} ms   "
        f"last p99 {last.get('p99', 0):8.2f} ms   cases {r['cases']}  errors {r['errors']}"
    )


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, cls in (("one_at_a_time", OneAtATime), ("per_chat_order", TelegramChannel)):
        where = tmp / name
        where.mkdir()
        out[name] = await run_mode(cls, args.chats, args.timeout, where)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chats", type=int, default=100, metavar="N", help="default 100")
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="S", help="wait for one turn (default 60)"
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON object")
    args = parser.parse_args()
    ctx = machine()
    print(
        f"machine   python {ctx['python']}, {ctx['cpus']} CPUs, load {ctx['loadavg']}, "
        f"python-telegram-bot {ctx['python_telegram_bot']}; everything on loopback"
    )
    tmp = Path(tempfile.mkdtemp(prefix="caredesk-tgbench-"))
    try:
        out = asyncio.run(run(args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"\nTELEGRAM  {args.chats} chats at once x {len(SCRIPT)} turns (FULL + confirm), "
        "closed loop; turn = update queued at the fake Bot API -> its sendMessage"
    )
    print_mode("one at a time", out["one_at_a_time"])
    print_mode("per-chat order", out["per_chat_order"])
    before = out["one_at_a_time"]["first_ms"].get("p99", 0.0)
    after = out["per_chat_order"]["first_ms"].get("p99", 0.0)
    if before and after:
        print(f"  p99 first reply: {before:.2f} ms -> {after:.2f} ms ({before / after:.1f}x)")
    print(
        f"  aim (issue): p99 < {AIM_P99_MS:.0f} ms with {args.chats} chats at once: "
        f"{'met' if after and after < AIM_P99_MS else 'not met'} ({after:.2f} ms)"
    )
    if args.json:
        print(json.dumps({"machine": ctx, **out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
