"""In-process cost of one web chat turn: `ChatService.handle` on a temp SQLite, no network.

Runs N scripted conversations (the web page's script: a complaint from greeting to
confirmation) through `ChatService.handle(..., start_if_new=True)` then `delivered`, as the
web chat does, with a FrozenClock, and prints the CPU time per turn (median, p99, and by step
of the script), the SQL statements run per turn, then cProfile's top functions. The server's own
figure (with aiohttp and the socket) is bench/chat_bench.py --turn-cpu-conversations.

    PYTHONPATH=. .venv/bin/python bench/turn_profile.py -n 200 --top 25
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import nearest_rank
from bot.app import Services, build_services
from bot.clock import FrozenClock
from bot.config import Config
from tests.scripts import FILED

#: Every step of a complaint, from the first menu to "confirm" (tests/scripts.py).
SCRIPT = FILED
NOW = datetime(2026, 11, 25, 16, 38, tzinfo=ZoneInfo("America/Toronto"))


def conversation(services: Services, key: str, samples: list[list[int]]) -> None:
    """One conversation; the CPU ns of each turn goes to samples[step]."""
    chat = services.chat
    for step, line in enumerate(SCRIPT):
        before = time.thread_time_ns()
        turn = chat.handle("web", key, line, start_if_new=True)
        chat.delivered(turn)
        samples[step].append(time.thread_time_ns() - before)
    if turn.ref is None:
        raise SystemExit(f"the script did not file a case: {[r.text for r in turn.replies]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", type=int, default=200, metavar="N", help="conversations (200)")
    parser.add_argument("--warmup", type=int, default=20, metavar="W", help="not counted (20)")
    parser.add_argument("--top", type=int, default=25, metavar="K", help="profile rows (25)")
    parser.add_argument("--no-profile", action="store_true", help="timings only")
    args = parser.parse_args()
    # Every conversation counts against the rate limit of its own key; none is hit here.
    config = Config()
    with tempfile.TemporaryDirectory(prefix="caredesk-turnprof-") as tmp:
        services = build_services(config, Path(tmp) / "caredesk.db", FrozenClock(NOW))
        statements = [0]
        services.db.conn.set_trace_callback(
            lambda _sql: statements.__setitem__(0, statements[0] + 1)
        )
        scratch: list[list[int]] = [[] for _ in SCRIPT]
        for i in range(args.warmup):
            conversation(services, f"web:warm{i}", scratch)
        samples: list[list[int]] = [[] for _ in SCRIPT]
        statements[0] = 0
        for i in range(args.n):
            conversation(services, f"web:c{i}", samples)
        per_turn_sql = statements[0] / (args.n * len(SCRIPT))
        services.db.conn.set_trace_callback(None)
        every = [ns / 1000 for step in samples for ns in step]
        print(
            f"{args.n} conversations, {len(every)} turns: CPU per turn "
            f"median {statistics.median(every):.0f} us, "
            f"p99 {nearest_rank(sorted(every), 99):.0f} us, "
            f"mean {statistics.fmean(every):.0f} us; SQL executions per turn {per_turn_sql:.1f} "
            "(each row of an executemany counts)"
        )
        sys.stdout.flush()
        print("by step (median / p99 us):")
        for line, step in zip(SCRIPT, samples, strict=True):
            us = [ns / 1000 for ns in step]
            print(
                f"  {statistics.median(us):7.0f} {nearest_rank(sorted(us), 99):7.0f}  {line[:50]!r}"
            )
        if args.no_profile:
            return 0
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(args.n):
            conversation(services, f"web:p{i}", scratch)
        profiler.disable()
        stats = pstats.Stats(profiler)
        print(f"\ntop {args.top} by own time (tottime), {args.n} conversations under cProfile:")
        stats.sort_stats("tottime").print_stats(args.top)
        print(f"top {args.top} by cumulative time:")
        stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
