"""In-process cost of one email's intake: `MailIntake.process` on N resident complaints (the
same messages bench/mail_bench.py loads into Dovecot), on a temp SQLite store, with a
FrozenClock. No IMAP, no SMTP: what is left is parsing, deciding and storing.

A benchmark, not a test: it prints microseconds a message and (with --profile) the top
functions by cumulative and own time. Run from the repository root:

    PYTHONPATH=. .venv/bin/python bench/mail_profile.py [--messages N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sqlite3
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.mail_bench import resident_mail
from bot.app import build_services
from bot.clock import FrozenClock
from bot.config import Config
from bot.mail_intake import MailIntake, warm_up

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("America/Toronto"))


class Counting:
    """Counts the SQL statements a connection runs (sqlite3's trace callback)."""

    def __init__(self) -> None:
        self.statements = 0

    def __call__(self, sql: str) -> None:
        self.statements += 1


def run(n: int, profile: bool, top: int) -> None:
    raws = [resident_mail(i, "profile", NOW)[1] for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        services = build_services(Config(), Path(tmp) / "p.db", FrozenClock(NOW))
        warm_up(services.policy, NOW)
        intake = MailIntake(services.db, services.policy, services.intake)
        counting = Counting()
        conn: sqlite3.Connection = services.db.conn
        conn.set_trace_callback(counting)
        actions: Counter[str] = Counter()
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter_ns()
        cpu_started = time.thread_time_ns()
        if profiler is not None:
            profiler.enable()
        for raw in raws:
            actions[intake.process(raw, NOW, NOW).action] += 1
        if profiler is not None:
            profiler.disable()
        elapsed = time.perf_counter_ns() - started
        cpu = time.thread_time_ns() - cpu_started
        conn.set_trace_callback(None)
    print(
        f"messages  {n} ({', '.join(f'{k} {v}' for k, v in sorted(actions.items()))})\n"
        f"per msg   {elapsed / n / 1000:.0f} us{' (under cProfile)' if profile else ''}, "
        f"{counting.statements / n:.1f} SQL statements\n"
        # The machine is shared: CPU time of this thread is what the code costs, wall time
        # is that plus waiting for a core (see the load average).
        f"CPU       {cpu / n / 1000:.0f} us a message (this thread's CPU time); load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    if profiler is not None:
        for key in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(top)
            print(f"\n--- top {top} by {key} ---")
            print(out.getvalue().split("\n\n", 2)[-1].rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000, metavar="N")
    parser.add_argument("--profile", action="store_true", help="cProfile and print top costs")
    parser.add_argument("--top", type=int, default=30, metavar="K")
    args = parser.parse_args()
    run(args.messages, args.profile, args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
