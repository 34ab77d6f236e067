"""The staff pages whole, on a big store: the queue page, a text search and the SLA board,
served by the real aiohttp app (issue 11, benchmark).

bench/staff_bench.py times the store's queries alone; this times what a person waits for:
the app from `build_app` (every middleware: session lookup, CSRF, the strict headers, the
header's alert count, Jinja2 rendering) on an aiohttp test server in this process, signed
in as an agent, asked over loopback by an aiohttp client. Two figures a page:

- server time: measured by a middleware put first in the app's chain (outermost), from the
  request reaching the app to the response it returns;
- round trip: the client's time from sending the request to reading the whole body.

The baseline is a bare SELECT of the same rows the page shows (the drafts listed, the cases
found; for the SLA board, the deadline columns of the weeks it reads from the cases).

The text search uses `/staff/cases?q=...` when the case list pages are installed; otherwise
(a branch without them) a page registered here runs `storage.search.search_cases` and
renders its rows in the staff layout, and the output says so.

    PYTHONPATH=. .venv/bin/python bench/staff_pages_bench.py --cases 1000000 --store /tmp/b.db

With --store, a store this bench (or bench/staff_bench.py) already filled is measured again
without generating. Never part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sqlite3
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher, profiles

from bench.staff_bench import RARE, fill
from bot.app import build_app, build_services
from bot.clock import FrozenClock
from bot.config import Config
from bot.sla_bounds import week_starts
from bot.staff import passwords
from bot.staff.access import STAFF, render, require_role
from bot.staff.accounts import create_account
from storage.db import open_store
from storage.review import review_queue
from storage.search import CaseFilter, search_cases
from storage.staff import get_staff

AGENT = "bench-agent@city.example.org"
PASSWORD = "bench password, not a secret"
SEARCH_PAGE = "/staff/bench-search"
SEARCH_TEMPLATE = """{% extends "base.html.j2" %}
{% block main %}
<h1>Cases</h1>
<table><caption>{{ rows|length }} cases</caption>
<thead><tr><th scope="col">Case</th><th scope="col">Kind</th><th scope="col">Status</th>
<th scope="col">Channel</th><th scope="col">Received</th><th scope="col">Subject</th></tr></thead>
<tbody>{% for r in rows %}<tr>
<th scope="row"><a href="/staff/cases/{{ r.ref }}">{{ r.ref }}</a></th>
<td>{{ r.kind }}</td><td>{{ r.status }}</td><td>{{ r.channel }}</td><td>{{ r.received_at }}</td>
<td>{{ r.subject }}</td></tr>{% endfor %}</tbody></table>
{% endblock %}"""

Samples = dict[str, list[float]]


def timing_middleware(samples: Samples) -> Any:
    @web.middleware
    async def timer(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            samples[request.path_qs].append((time.perf_counter() - started) * 1000)

    return timer


@require_role("agent")
async def bench_search(request: web.Request) -> web.StreamResponse:
    """Stands in for the case list page on a branch without it: the same store call, rendered
    in the staff layout."""
    site = request.app[STAFF]
    page = search_cases(site.db, CaseFilter(text=request.query.get("q", "")), site.clock.now())
    return render(request, "bench_search.html.j2", rows=page.rows, title="Cases")


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def timed_sync(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return percentiles(samples)


async def sign_in(client: TestClient) -> None:
    page = await client.get("/staff/login")
    found = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert found, "no sign-in form"
    form = {"csrf": found.group(1), "email": AGENT, "password": PASSWORD}
    response = await client.post("/staff/login", data=form, allow_redirects=False)
    assert response.status == 303, f"sign-in failed: {response.status}"


async def measure(args: argparse.Namespace, path: Path, now: datetime) -> None:
    # One quick hash: the pages are measured, not argon2id.
    passwords.HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)
    services = build_services(Config(retention_every_hours=0), path, FrozenClock(now))
    db = services.db
    if get_staff(db, AGENT) is None:
        create_account(db, AGENT, "Bench Agent", "agent", PASSWORD, now, "bench")
    app = build_app(services)
    samples: Samples = defaultdict(list)
    app.middlewares.insert(0, timing_middleware(samples))
    has_case_list = any(
        getattr(r, "canonical", "") == "/staff/cases" for r in app.router.resources()
    )
    if has_case_list:
        search_path = "/staff/cases"
    else:
        search_path = SEARCH_PAGE
        app[STAFF].pages.loader = jinja2.ChoiceLoader(
            [
                app[STAFF].pages.loader or jinja2.DictLoader({}),
                jinja2.DictLoader({"bench_search.html.j2": SEARCH_TEMPLATE}),
            ]
        )
        app.router.add_get(SEARCH_PAGE, bench_search)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        await sign_in(client)
        queue_ids = [item.draft_id for item in review_queue(db, now, now).items]
        common = search_cases(db, CaseFilter(text=args.query), now)
        rare = search_cases(db, CaseFilter(text=RARE), now)
        weeks = week_starts(services.config.calendar(), now)

        def bare(table: str, ids: list[int]) -> Callable[[], Any]:
            some = ", ".join("?" for _ in ids) or "NULL"
            sql = f"SELECT * FROM {table} WHERE id IN ({some})"
            return lambda: db.execute(sql, ids).fetchall()

        weeks_sql = "SELECT received_at, ack_due, acked_at FROM cases WHERE received_at >= ?"
        pages: list[tuple[str, str, Callable[[], Any]]] = [
            ("queue page /staff/", "/staff/", bare("drafts", queue_ids)),
            (
                f"text search '{args.query}'",
                f"{search_path}?q={args.query.replace(' ', '+')}",
                bare("cases", [r.id for r in common.rows]),
            ),
            (
                "text search, rare word",
                f"{search_path}?q={RARE}",
                bare("cases", [r.id for r in rare.rows]),
            ),
            (
                "SLA board /staff/sla",
                "/staff/sla",
                lambda: db.execute(weeks_sql, [weeks[-3].isoformat()]).fetchall(),
            ),
        ]
        print(
            f"queue page lists {len(queue_ids)} drafts; '{args.query}' page {len(common.rows)} "
            f"cases; '{RARE}' {len(rare.rows)}; search through "
            + (
                "/staff/cases"
                if has_case_list
                else f"{SEARCH_PAGE} (no /staff/cases route on this branch: search_cases + "
                "a table in the staff layout)"
            )
        )
        header = (
            f"{'page':<34} {'server p50':>10} {'p99':>7} {'trip p50':>9} {'p99':>7} "
            f"{'bare p50':>9} {'p99':>7} {'KB':>5}"
        )
        print(header)
        for name, url, baseline in pages:
            size = 0
            trips: list[float] = []
            samples.pop(url, None)
            for i in range(args.runs + 1):
                t = time.perf_counter()
                response = await client.get(url)
                body = await response.read()
                took = (time.perf_counter() - t) * 1000
                assert response.status == 200, f"{url}: {response.status}"
                size = len(body)
                if i:  # the first is a warm-up
                    trips.append(took)
            server = samples[url][1:]
            s50, s99 = percentiles(server)
            t50, t99 = percentiles(trips)
            b50, b99 = timed_sync(baseline, args.runs)
            print(
                f"{name:<34} {s50:10.2f} {s99:7.2f} {t50:9.2f} {t99:7.2f} "
                f"{b50:9.2f} {b99:7.2f} {size / 1024:5.0f}"
            )
    finally:
        await client.close()
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--query", default="basement flooding")
    parser.add_argument("--now", default="2026-11-18T15:00:00+00:00", help="the time base")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--store", type=Path, help="store file to fill or to measure again")
    args = parser.parse_args()
    now = datetime.fromisoformat(args.now)
    tmp = tempfile.TemporaryDirectory(prefix="staff-pages-bench-")
    path = args.store or Path(tmp.name) / "bench.sqlite3"
    print(
        f"sqlite {sqlite3.sqlite_version}; cases {args.cases:,}; runs {args.runs}; "
        f"now {args.now}; load average {os.getloadavg()}"
    )
    db = open_store(path)
    if db.execute("SELECT count(*) FROM cases").fetchone()[0]:
        print(f"measuring the existing store {path}")
    else:
        db.execute("PRAGMA cache_size = -262144")  # 256 MB: index inserts of a bulk load
        t = time.perf_counter()
        fill(db, args.cases, now, args.seed)
        print(f"store ready in {time.perf_counter() - t:.1f} s")
    db.close()
    asyncio.run(measure(args, path, now))
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    print(f"store size on disk: {size / 1e6:,.0f} MB ({path.name} and its WAL)")
    print(f"load average after: {os.getloadavg()}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
