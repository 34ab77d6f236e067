"""Staff pages' store queries on a big store: review queue, text search, a filtered list page,
the SLA board and the header's alert count (issue 11, benchmark).

Generates --cases cases (default 1,000,000) with a year of timelines (people, inbound and
outbound messages, events, drafts, statuses and clocks spread over the year before --now)
into a temporary store, then times each query --runs times and prints p50 and p99 beside a
bare SELECT of the same rows as the baseline. Also prints the generation time, the write-path
cost of the text index (filings with and without its triggers) and the store's size on disk.
Never part of the test suite:

    PYTHONPATH=. .venv/bin/python bench/staff_bench.py --cases 1000000
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.clock import BusinessCalendar, SlaRule
from bot.sla_bounds import board_bounds, near_deadline_bound, week_starts
from storage.db import open_store
from storage.review import review_queue
from storage.search import CaseFilter, search_cases
from storage.sla import alerts_count, clock_figures, weekly_series
from storage.staff_schema import STAFF_DATA

KINDS = (("complaint", 45), ("request", 35), ("feedback", 10), ("out_of_scope", 4))
KINDS += (("hazard", 3), ("other", 3))
CHANNELS = (("email", 50), ("web", 25), ("telegram", 20), ("console", 5))
DEPARTMENTS = [f"dept-{i}" for i in range(12)] + [None, None, None]
_WORDS = (
    "garbage pickup missed street pothole tree branch noise bylaw parking ticket water main "
    "leak sidewalk snow plow icy crosswalk light broken bus stop shelter graffiti park bench "
    "dog barking neighbour fence permit inspector rude staff counter waited hours phone call "
    "returned never email reply office desk clerk cheque refund tax bill wrong charge meter "
    "sewer backup basement flooding smell drain catch basin rat pest bin recycling compost "
    "ward councillor meeting road closure detour construction dust vibration crack driveway "
    "curb cut ramp accessible wheelchair elevator library hours pool closed arena rink ice"
)
WORDS = tuple(_WORDS.split())
_NAMES = "smith jones brown taylor wilson martin lee white clark hall young king wright"
NAMES = tuple(_NAMES.split())
STREETS = [f"{w}{n}" for w in ("maple", "oak", "elm", "king", "queen") for n in range(40)]
RARE = "zebracrossingxyz"  # in one case in 20,000: the rare-word search


def weighted(pairs: tuple[tuple[str, int], ...]) -> tuple[list[str], list[int]]:
    return [p[0] for p in pairs], [p[1] for p in pairs]


class Dues:
    """Deadlines by local receipt day, computed once a day with the real calendar."""

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.calendar = calendar
        self.cache: dict[tuple[date, str], str] = {}
        self.rules = {
            "ack": SlaRule(1),
            "response": SlaRule(15),
            "follow": SlaRule(14, "calendar"),
        }

    def get(self, received: datetime, which: str) -> str:
        day = self.calendar.local(received).date()
        key = (day, which)
        if key not in self.cache:
            due = self.calendar.due(self.rules[which], received)
            self.cache[key] = due.astimezone(UTC).isoformat(timespec="seconds")
        return self.cache[key]


def iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def generate(db: sqlite_utils.Database, n: int, now: datetime, seed: int) -> dict[str, int]:
    """Bulk load in transactions of 50,000 cases with executemany (text index triggers off)."""
    rng = random.Random(seed)
    dues = Dues(BusinessCalendar())
    kinds, kind_w = weighted(KINDS)
    channels, channel_w = weighted(CHANNELS)
    start = now - timedelta(days=365)
    span = 365 * 86400
    offsets = sorted(rng.random() * span for _ in range(n))
    # Pools drawn once: drawing every word of every case dominated the generation time.
    kind_pool = [k for k, w in zip(kinds, kind_w, strict=True) for _ in range(w)]
    channel_pool = [c for c, w in zip(channels, channel_w, strict=True) for _ in range(w)]
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(12, 40))) for _ in range(50_000)]
    mores = [" ".join(rng.choices(WORDS, k=20)) for _ in range(10_000)]
    outcomes = [" ".join(rng.choices(WORDS, k=6)) for _ in range(5_000)]
    subjects = [" ".join(rng.choices(WORDS, k=4)) for _ in range(5_000)]
    whos = [f"{a} at {b}" for a in NAMES for b in STREETS]
    now_iso = iso(now)
    counts = {"cases": 0, "messages": 0, "events": 0, "drafts": 0, "pending_drafts": 0}
    batch = 50_000
    for lo in range(0, n, batch):
        people, cases, messages, events, drafts = [], [], [], [], []
        for i in range(lo, min(n, lo + batch)):
            case_id = i + 1
            received = start + timedelta(seconds=offsets[i])
            age = (now - received).total_seconds() / 86400
            kind = kind_pool[int(rng.random() * 100)]
            channel = channel_pool[int(rng.random() * 100)]
            what = texts[int(rng.random() * len(texts))]
            if rng.random() < 1 / 20_000:
                what += " " + RARE
            who = whos[int(rng.random() * len(whos))]
            outcome = outcomes[int(rng.random() * len(outcomes))]
            subject = subjects[int(rng.random() * len(subjects))]
            received_iso = iso(received)
            ack_due = dues.get(received, "ack")
            response_due = dues.get(received, "response") if channel == "email" else None
            forwarded = kind in ("complaint", "request")
            follow_due = dues.get(received, "follow") if forwarded else None
            hazard_due = ack_due if kind == "hazard" else None
            roll = rng.random()
            acked: str | None
            if roll < 0.95:  # on time: minutes to hours after receipt
                acked = iso(received + timedelta(minutes=rng.randint(1, 300)))
            elif roll < 0.985:  # late
                acked = iso(datetime.fromisoformat(ack_due) + timedelta(hours=rng.randint(1, 48)))
            else:
                acked = None
            if acked is not None and acked > now_iso:
                acked = None
            if kind == "feedback":
                status = "recorded"
            elif kind == "out_of_scope":
                status = "redirected"
            elif age > 40 or (age > 3 and rng.random() < age / 45):
                status = "closed" if rng.random() < 0.995 else "open"
            else:
                status = "open"
            closed = iso(received + timedelta(days=min(age, rng.uniform(1, 30))))
            closed_at = closed if status == "closed" else None
            if status == "open":
                # The scheduler's follow-ups and interim replies set the next date: most open
                # cases past their first dates have a new one ahead.
                if follow_due and follow_due < now_iso and rng.random() < 0.95:
                    follow_due = iso(now + timedelta(days=rng.uniform(0.1, 10)))
                if response_due and response_due < now_iso and rng.random() < 0.9:
                    response_due = iso(now + timedelta(days=rng.uniform(0.1, 15)))
            hazard_checked = acked if hazard_due and rng.random() < 0.9 else None
            people.append(
                (case_id, NAMES[case_id % len(NAMES)], f"r{case_id}@mail.example", received_iso)
            )
            cases.append(
                (case_id, f"CD-{received.year}-{case_id:07d}", kind, status, channel,
                 rng.choice(DEPARTMENTS), case_id, subject, what, who, outcome,
                 received_iso, ack_due, follow_due, response_due, hazard_due,
                 received_iso, closed_at or acked or received_iso, closed_at, acked,
                 hazard_checked)
            )  # fmt: skip
            messages.append((case_id, "in", channel, f"in-{case_id}", received_iso, subject, what))
            if rng.random() < 0.2:
                more = mores[int(rng.random() * len(mores))]
                messages.append(
                    (case_id, "in", channel, f"in2-{case_id}", received_iso, None, more)
                )
            events.append((case_id, received_iso, "case-filed", "policy"))
            if acked:
                messages.append((case_id, "out", channel, f"ack-{case_id}", acked, subject, "ack"))
                events.append((case_id, acked, "reply-sent", channel))
            if closed_at:
                events.append((case_id, closed_at, "closed", "staff"))
            if rng.random() < 0.05 or (kind == "out_of_scope" and age < 3):
                pending = age < 2 or rng.random() < 0.002
                counts["pending_drafts"] += pending
                drafts.append(
                    (case_id, "redirect", channel, f"r{case_id}@mail.example", subject,
                     "Dear resident ...", "out of scope: has its own appeal process",
                     "pending" if pending else "approved", received_iso, ack_due)
                )  # fmt: skip
        with db.atomic():
            db.conn.executemany(
                "INSERT INTO people (id, name, email, created_at) VALUES (?, ?, ?, ?)", people
            )
            db.conn.executemany(
                """INSERT INTO cases (id, ref, kind, status, channel, department, person_id,
                       subject, what, who, outcome, received_at, ack_due, follow_up_due,
                       response_due, hazard_due, created_at, updated_at, closed_at, acked_at,
                       hazard_checked_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                cases,
            )
            db.conn.executemany(
                """INSERT INTO messages (case_id, direction, channel, message_key, at, subject,
                       body) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                messages,
            )
            db.conn.executemany(
                "INSERT INTO events (case_id, at, type, actor) VALUES (?, ?, ?, ?)", events
            )
            db.conn.executemany(
                """INSERT INTO drafts (case_id, reply_kind, channel, recipient, subject, body,
                       why, status, created_at, due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                drafts,
            )
        for key, rows in (("cases", cases), ("messages", messages), ("events", events)):
            counts[key] += len(rows)
        counts["drafts"] += len(drafts)
    return counts


TRIGGERS = [s for s in STAFF_DATA if s.startswith("CREATE TRIGGER")]


def drop_triggers(db: sqlite_utils.Database) -> None:
    for statement in TRIGGERS:
        db.execute(f"DROP TRIGGER {statement.split()[2]}")


def filings(db: sqlite_utils.Database, first_id: int, count: int, now: datetime) -> float:
    """File `count` cases the way intake does (case + inbound message + event, one
    transaction each); mean seconds a filing."""
    rng = random.Random(first_id)
    started = time.perf_counter()
    for case_id in range(first_id, first_id + count):
        what = " ".join(rng.choices(WORDS, k=30))
        with db.atomic():
            db.execute(
                """INSERT INTO cases (id, ref, kind, status, channel, subject, what, who, outcome,
                       received_at, ack_due, created_at, updated_at)
                   VALUES (?, ?, 'complaint', 'open', 'email', 's', ?, 'w', 'o', ?, ?, ?, ?)""",
                [case_id, f"CD-W-{case_id}", what, iso(now), iso(now), iso(now), iso(now)],
            )
            db.execute(
                "INSERT INTO messages (case_id, direction, channel, at, body) "
                "VALUES (?, 'in', 'email', ?, ?)",
                [case_id, iso(now), what],
            )
            db.execute(
                "INSERT INTO events (case_id, at, type, actor) VALUES (?, ?, 'case-filed', 'x')",
                [case_id, iso(now)],
            )
    return (time.perf_counter() - started) / count


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    fn()  # warm the page cache
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    return statistics.median(samples), p99


def bare(db: sqlite_utils.Database, table: str, ids: list[int]) -> Callable[[], Any]:
    marks = ", ".join("?" for _ in ids) or "NULL"
    return lambda: db.execute(f"SELECT * FROM {table} WHERE id IN ({marks})", ids).fetchall()


def rows_of(sql: str, db: sqlite_utils.Database, params: list[Any]) -> Iterator[Any]:
    yield from db.execute(sql, params).fetchall()


def fill(db: sqlite_utils.Database, cases: int, now: datetime, seed: int) -> None:
    """Generate the store, then build the text index and measure its cost per filing."""
    drop_triggers(db)
    t = time.perf_counter()
    counts = generate(db, cases, now, seed)
    generated = time.perf_counter() - t
    print(f"generated in {generated:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    without = filings(db, cases + 1, 1000, now)
    t = time.perf_counter()
    db.execute("INSERT INTO case_fts(case_fts) VALUES ('rebuild')")
    for statement in TRIGGERS:
        db.execute(statement)
    print(f"text index built in {time.perf_counter() - t:.1f} s")
    with_fts = filings(db, cases + 1001, 1000, now)
    print(
        f"write path: a filing (case + inbound message + event, own transaction) takes "
        f"{without * 1000:.2f} ms without the text index triggers, {with_fts * 1000:.2f} ms "
        f"with them (+{(with_fts - without) * 1000:.2f} ms)"
    )
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--page", type=int, default=50)
    parser.add_argument("--now", default="2026-11-18T15:00:00+00:00", help="the time base")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--store",
        type=Path,
        help="store file (default: a temporary one, removed after). An existing store that "
        "this bench filled is measured again without generating",
    )
    args = parser.parse_args()
    now = datetime.fromisoformat(args.now)
    tmp = tempfile.TemporaryDirectory(prefix="staff-bench-")
    path = args.store or Path(tmp.name) / "bench.sqlite3"
    db = open_store(path)
    db.execute("PRAGMA cache_size = -262144")  # 256 MB: index inserts of a bulk load
    print(f"sqlite {sqlite3.sqlite_version}; cases {args.cases:,}; runs {args.runs}; "
          f"page {args.page}; now {args.now}; load average {os.getloadavg()}")  # fmt: skip
    if db.execute("SELECT count(*) FROM cases").fetchone()[0]:
        print(f"measuring the existing store {path}")
    else:
        fill(db, args.cases, now, args.seed)
    calendar = BusinessCalendar()
    near = near_deadline_bound(calendar, now)
    bounds = board_bounds(calendar, now)
    weeks = week_starts(calendar, now)
    page = review_queue(db, now, near, limit=args.page)
    queue_ids = [i.draft_id for i in page.items]
    open_complaints = CaseFilter(status="open", kind="complaint")
    common = search_cases(db, CaseFilter(text="basement flooding"), now, limit=args.page)
    rare = search_cases(db, CaseFilter(text=RARE), now, limit=args.page)
    first = search_cases(db, open_complaints, now, limit=args.page)
    deep_row = db.execute(
        "SELECT id FROM cases WHERE status = 'open' AND kind = 'complaint' ORDER BY id DESC "
        "LIMIT 1 OFFSET ?",
        [args.page * 999],
    ).fetchone()
    deep_before = int(deep_row[0]) if deep_row else None
    deep = search_cases(db, open_complaints, now, limit=args.page, before=deep_before)
    overdue = search_cases(db, CaseFilter(overdue=True), now, limit=args.page)
    weeks_sql = "SELECT received_at, ack_due, acked_at FROM cases WHERE received_at >= ?"
    print(
        f"queue: {page.pending:,} pending, {page.near} near, {page.overdue} overdue; "
        f"'basement flooding' page {len(common.rows)}; '{RARE}' {len(rare.rows)}; "
        f"open complaints page 1 {len(first.rows)}, page 1,000 {len(deep.rows)}; "
        f"alerts {alerts_count(db, now):,}"
    )
    cases_ids = [[r.id for r in p.rows] for p in (common, rare, first, deep, overdue)]

    def board() -> None:
        clock_figures(db, bounds)
        weekly_series(db, weeks, now)
        alerts_count(db, now)

    def board_cold() -> None:
        db.execute("DELETE FROM sla_weeks")  # every week read from the cases again
        board()

    measures: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        ("review queue page", lambda: review_queue(db, now, near, limit=args.page),
         bare(db, "drafts", queue_ids)),
        ("text search 'basement flooding' p1", lambda: search_cases(
            db, CaseFilter(text="basement flooding"), now, limit=args.page),
         bare(db, "cases", cases_ids[0])),
        ("text search rare word p1", lambda: search_cases(
            db, CaseFilter(text=RARE), now, limit=args.page), bare(db, "cases", cases_ids[1])),
        ("list open complaints page 1", lambda: search_cases(
            db, open_complaints, now, limit=args.page), bare(db, "cases", cases_ids[2])),
        ("list open complaints page 1,000", lambda: search_cases(
            db, open_complaints, now, limit=args.page, before=deep_before),
         bare(db, "cases", cases_ids[3])),
        ("list overdue page 1", lambda: search_cases(
            db, CaseFilter(overdue=True), now, limit=args.page), bare(db, "cases", cases_ids[4])),
        ("SLA board (4 clocks, 12 weeks, alerts)", board,
         lambda: list(rows_of(weeks_sql, db, [weeks[-3].isoformat()]))),
        ("SLA board, no week kept yet", board_cold,
         lambda: list(rows_of(weeks_sql, db, [weeks[0].isoformat()]))),
        ("alerts count (page header)", lambda: alerts_count(db, now),
         lambda: db.execute("SELECT count(*) FROM cases WHERE acked_at IS NULL").fetchone()),
    ]  # fmt: skip
    print(f"{'query':<42} {'p50 ms':>8} {'p99 ms':>8} {'bare p50':>9} {'bare p99':>9}")
    for name, fn, base in measures:
        p50, p99 = timed(fn, args.runs)
        b50, b99 = timed(base, args.runs)
        print(f"{name:<42} {p50:8.2f} {p99:8.2f} {b50:9.2f} {b99:9.2f}")
    db.close()
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    print(f"store size on disk: {size / 1e6:,.0f} MB ({path.name} and its WAL)")
    print(f"load average after: {os.getloadavg()}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
