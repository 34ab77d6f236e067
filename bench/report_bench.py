"""The trend report's cost on a busy month, beside a bare indexed count of the same cases.

A benchmark, not a test: it prints figures, never pass/fail. Run from the repository root:

    PYTHONPATH=. .venv/bin/python bench/report_bench.py [--cases 20000] [--other 100000]

A temporary store gets `--cases` cases received in November 2026 and `--other` in the months
around it (the report must read only its month), written with plain INSERTs (intake's path is
not what is measured here), each with a `routed` event naming a phrase, a fifth with follow-up
requests. Then, three times each: `load_report` (the rows of the month from storage/report.py
plus the figures of bot/report.py), and the baseline `SELECT count(*)` over the month's range
of the `cases_received` index.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.report import Month
from bot.report_source import load_report
from storage.db import open_store

TORONTO = ZoneInfo("America/Toronto")
PHRASES = ("pothole", "missed pickup", "flooding", "street light", "green bin", "sidewalk")


def fill(db_path: Path, in_month: int, other: int) -> None:
    db = open_store(db_path)
    rng = random.Random(7)
    nov = datetime(2026, 11, 1, tzinfo=TORONTO).astimezone(UTC)
    cases, events = [], []
    for i in range(in_month + other):
        if i < in_month:
            received = nov + timedelta(minutes=rng.randint(0, 29 * 24 * 60))
        else:
            received = nov + timedelta(days=rng.choice([-90, -60, -30, 31, 45]))
        due = received + timedelta(days=1)
        acked = received + timedelta(hours=rng.choice([1, 5, 30]))
        iso = [t.isoformat(timespec="seconds") for t in (received, due, acked)]
        status = rng.choice(["open", "closed"])
        cases.append(
            (
                f"CD-2026-{i + 1:07d}",
                rng.choice(["complaint", "request", "hazard"]),
                status,
                rng.choice(["email", "web", "telegram"]),
                rng.choice(["roads", "waste", None]),
                iso[0],
                iso[1],
                iso[2],
                iso[1] if status == "closed" else None,
            )
        )
        phrase = rng.choice(PHRASES)
        events.append(
            (i + 1, iso[0], "routed", json.dumps({"reason": f"x: the phrase '{phrase}'"}))
        )
        if i % 5 == 0:
            events += [
                (i + 1, iso[1], "follow-up-requested", json.dumps({"n": n})) for n in (1, 2, 3)
            ]
    with db.atomic():
        db.conn.executemany(
            "INSERT INTO cases (ref, kind, status, channel, department, received_at, ack_due, "
            "acked_at, closed_at, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?6, ?6)",
            cases,
        )
        db.conn.executemany(
            "INSERT INTO events (case_id, at, type, actor, data) VALUES (?, ?, ?, 'bench', ?)",
            events,
        )
    db.execute("ANALYZE")
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000, help="cases in November 2026")
    parser.add_argument("--other", type=int, default=100_000, help="cases in other months")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        started = time.perf_counter()
        fill(path, args.cases, args.other)
        print(
            f"store: {args.cases:,} cases in the month, {args.other:,} in others "
            f"(filled in {time.perf_counter() - started:.1f} s)"
        )
        db = open_store(path)
        config = Config(retention_every_hours=0)
        at = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
        start, end = Month(2026, 11).bounds(TORONTO)
        bounds = [t.astimezone(UTC).isoformat(timespec="seconds") for t in (start, end)]
        for _ in range(3):
            t0 = time.perf_counter()
            report = load_report(db, config, Month(2026, 11), at)
            t1 = time.perf_counter()
            n = db.execute(
                "SELECT count(*) FROM cases INDEXED BY cases_received "
                "WHERE received_at >= ? AND received_at < ?",
                bounds,
            ).fetchone()[0]
            t2 = time.perf_counter()
            print(
                f"load_report: {(t1 - t0) * 1000:7.1f} ms for {report.cases:,} cases "
                f"({report.escalations.requests:,} follow-up requests, "
                f"{len(report.topics)} topics)   baseline count(*): {(t2 - t1) * 1000:5.1f} ms "
                f"({n:,})"
            )
        db.close()


if __name__ == "__main__":
    main()
