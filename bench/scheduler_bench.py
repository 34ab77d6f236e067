"""The scheduler on a big store (issue 13, benchmark): one pass when nothing is due, beside a
bare indexed SELECT of the due rows, and actions per second when many are due.

Generates --cases open cases (default 100,000) forwarded to a department, each with its
follow-up date in the weeks after --now and its next look stored (as a pass leaves them),
into a temporary store. Then:

1. times a whole pass (`Scheduler.tick`) at --now, when nothing is due, --runs times, and the
   bare `SELECT case_id FROM clocks WHERE due_at <= ?` it starts with, and the bare indexed
   SELECT of the cases whose follow-up date has passed (`cases_follow_up_running`);
2. makes --due cases (default 10,000) due, times `caredesk due`'s listing of them, then one
   pass that takes them all (a follow-up request each: the outbox row, the timeline event,
   the claimed action and the next follow-up date, one transaction a case), and prints
   actions per second.

Never part of the test suite:

    PYTHONPATH=. .venv/bin/python bench/scheduler_bench.py --cases 100000 --due 10000
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from bench.figures import machine, percentiles
from bot.config import parse_config
from bot.decide import Policy
from bot.replies import ReplyRenderer
from bot.scheduler import Scheduler
from storage.db import open_store, write_transaction

CONFIG = {
    "departments": [
        {
            "key": "roads",
            "name": "Transportation Services",
            "email": "roads@city.example",
            "supervisor_email": "roads.supervisor@city.example",
            "director_email": "director@city.example",
        }
    ],
    "retention": {"every_hours": 0},
}


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds")


def generate(db: sqlite_utils.Database, n: int, now: datetime, seed: int) -> None:
    """Open complaints received 20 to 34 days before `now`, routed to `roads` (a department
    without a tracker: forwarded by hand), follow-up dates 1 to 30 days after `now` (set by
    staff, or by a request of the ladder); the clocks table as a pass leaves it."""
    rng = random.Random(seed)
    batch = 20_000
    for lo in range(0, n, batch):
        cases, events = [], []
        for i in range(lo, min(n, lo + batch)):
            received = now - timedelta(days=20 + rng.random() * 14)
            follow_up = now + timedelta(days=1 + rng.random() * 29)
            cases.append(
                (
                    i + 1,
                    f"CD-2026-{i + 1:06d}",
                    "complaint",
                    "open",
                    "email",
                    "roads",
                    "Pothole",
                    "a pothole on elm street",
                    iso(received),
                    iso(received + timedelta(days=2)),
                    iso(follow_up),
                    iso(received + timedelta(days=21)),
                    iso(received),
                    iso(received),
                    iso(received),
                )
            )
            events.append((i + 1, iso(received), json.dumps({"department": "roads"})))
        with write_transaction(db):
            db.conn.executemany(
                """INSERT INTO cases (id, ref, kind, status, channel, department, subject, what,
                       received_at, ack_due, follow_up_due, response_due, created_at,
                       updated_at, acked_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                cases,
            )
            db.conn.executemany(
                "INSERT INTO events (case_id, at, type, actor, data) "
                "VALUES (?, ?, 'routed', 'routing', ?)",
                events,
            )
    # What the first pass leaves: each case's next look is its follow-up date.
    with write_transaction(db):
        db.execute(
            "UPDATE clocks SET due_at = (SELECT follow_up_due FROM cases WHERE id = case_id)"
        )
    db.execute("ANALYZE")


def timed(fn: Callable[[], Any], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return percentiles(samples, scale=1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    now = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)  # Monday 09:00 in Toronto
    config = parse_config(CONFIG)
    policy = Policy.from_config(config)
    renderer = ReplyRenderer()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        db = open_store(path)
        t0 = time.perf_counter()
        generate(db, args.cases, now, args.seed)
        generated = time.perf_counter() - t0
        scheduler = Scheduler(db, policy, renderer)
        assert scheduler.tick(now) == []
        at = iso(now)
        quiet_pass = timed(lambda: scheduler.tick(now), args.runs)
        bare_clocks = timed(
            lambda: db.execute("SELECT case_id FROM clocks WHERE due_at <= ?", [at]).fetchall(),
            args.runs,
        )
        bare_cases = timed(
            lambda: db.execute(
                "SELECT id FROM cases INDEXED BY cases_follow_up_running "
                "WHERE status IN ('open', 'unreadable') AND follow_up_due <= ?",
                [at],
            ).fetchall(),
            args.runs,
        )
        plan_rows = db.execute(
            "EXPLAIN QUERY PLAN SELECT case_id FROM clocks WHERE due_at <= ? ORDER BY due_at "
            "LIMIT 500",
            [at],
        ).fetchall()

        # Make --due cases due: their follow-up date an hour ago (as staff or a sync would).
        due_ids = random.Random(args.seed).sample(range(1, args.cases + 1), args.due)
        past = iso(now - timedelta(hours=1))
        with write_transaction(db):
            db.conn.executemany(
                "UPDATE cases SET follow_up_due = ? WHERE id = ?", [(past, i) for i in due_ids]
            )
        t0 = time.perf_counter()
        listed = scheduler.due(now)
        listing = time.perf_counter() - t0
        t0 = time.perf_counter()
        done = scheduler.tick(now)
        taken = time.perf_counter() - t0
        outbox = db.execute(
            "SELECT count(*) FROM outbox WHERE reply_kind = 'dept-follow-up'"
        ).fetchone()[0]
        after = timed(lambda: scheduler.tick(now), 10)
        size = path.stat().st_size
        db.close()
    print(
        json.dumps(
            {
                "machine": machine(),
                "cases": args.cases,
                "generate_seconds": round(generated, 1),
                "store_mb": round(size / 1e6, 1),
                "nothing_due_ms": {
                    "pass": quiet_pass,
                    "bare_select_clocks_due": bare_clocks,
                    "bare_select_cases_follow_up_due": bare_cases,
                    "query_plan": [r[-1] for r in plan_rows],
                },
                "due": {
                    "cases_due": args.due,
                    "due_listing_seconds": round(listing, 2),
                    "actions_listed": len(listed),
                    "pass_seconds": round(taken, 2),
                    "actions_taken": len(done),
                    "actions_per_second": round(len(done) / taken, 1),
                    "outbox_rows": outbox,
                    "next_pass_ms": after,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
