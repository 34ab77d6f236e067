"""Forwarding throughput: N routed cases sent to the loopback Open311 server by the real tracker
worker, beside a bare aiohttp loop posting the same N forms to the same server (issue 12,
"Benchmark").

Measured (2 shared CPUs, load 4-6, N=10,000): 270 cases/s, per case p50 2.4 ms, ratio 2.8 to
the bare loop (client CPU 1.8 ms a case against 0.55). The ratio was 3.75 (client CPU 2.8 ms)
while the forwarder let aiohttp read the proxy settings and ~/.netrc in a thread on every
request (trust_env); what is left is mostly SQLite: two commits a forward by design (the
attempt before the POST, the answer after) and about 16 statements.

A benchmark, not a test: it prints figures (and the baseline they are compared with), never
pass/fail. Run from the repository root:

    PYTHONPATH=. .venv/bin/python bench/forward_bench.py [--cases 10000] [--profile]

The server (tests/open311_process.py) runs in a process of its own, so its CPU is not counted
against caredesk; both sides' CPU is printed too (this process's and the server's), since on a
shared machine CPU per case says more than wall time.

caredesk: `forward_worker(db, config, clock).drain()` over a store holding N cases, each with
its forward queued, the WAL checkpointed in a thread as under `caredesk serve`: per case, what
serve does (read the forward and the case, build the request, commit the attempt, POST, commit
the answer on the forward, the case and the timeline). The store is set up untimed: `--filed`
cases (default 200) go through the real intake, as in production; the rest are copies of them
(the case row with its own reference and address, its routing event, and its forward queued by
storage/forwards.py `queue_forward`), because intake costs tens of milliseconds a case and
10,000 would take minutes of set-up.

Baseline: one aiohttp session posting the same N `requests.json` forms, one after the other,
reading each answer as JSON: the least any client must do.

The two take turns, `--slice` cases each (caredesk's clock is frozen, and each turn moves it to
where the next slice of forwards is due), so a change in the load of the shared machine falls
on both sides alike; each side's figures are summed over its turns.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.figures import machine as figures_machine
from bench.figures import percentiles
from bot.app import CHECKPOINT_SECONDS
from bot.clock import FrozenClock
from bot.forwarder import _place_fields, describe_case, service_code
from bot.tracker_service import forward_worker
from bot.tracker_targets import OPEN311_KEY_ENV
from storage.checkpoint import Checkpointer, defer_checkpoints
from storage.db import open_store, write_transaction
from storage.forwards import case_for_forward, queue_forward
from storage.outbox import OutboxItem
from tests.forward_load import API_KEY, Open311Process, file_cases, forward_config
from tests.servers import NO_PROXY_ENV
from tracker.open311 import NewRequest, Open311Target, request_form

FILED_AT = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
PCTS = {"p50": 50.0, "p99": 99.0, "max": 100.0}


# --------------------------------------------------------------------------------------------
# The store


def prepare_store(db_path: Path, total: int, filed: int, open311_url: str) -> None:
    """`filed` cases through intake, then copies up to `total` (see the module docstring)."""
    config = forward_config(open311_url)
    file_cases(db_path, config, min(filed, total), FILED_AT)
    db = open_store(db_path)
    try:
        columns = [r[1] for r in db.execute("PRAGMA table_info(cases)").fetchall()]
        copied = [c for c in columns if c not in ("id", "ref", "place", "conversation")]
        originals = [
            (r[0], r[1])
            for r in db.execute("SELECT id, received_at FROM cases ORDER BY id").fetchall()
        ]
        year = FILED_AT.year
        for start in range(len(originals), total, 1000):
            with write_transaction(db):
                for n in range(start, min(total, start + 1000)):
                    _copy_case(db, copied, originals[n % len(originals)][0], n, year)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


def _copy_case(db: Any, copied: list[str], original: int, n: int, year: int) -> None:
    ref = f"CD-{year}-{n + 1:06d}"
    place = {"text": f"{n + 1} Elm Street", "kind": "address", "address": f"{n + 1} Elm Street"}
    names = ", ".join(copied)
    cursor = db.execute(
        f"INSERT INTO cases (ref, place, conversation, {names}) "
        f"SELECT ?, ?, ?, {names} FROM cases WHERE id = ?",
        [ref, json.dumps(place), f"web:forward-{n}", original],
    )
    case_id = int(cursor.lastrowid)
    db.execute(
        "INSERT INTO events (case_id, at, type, actor, data) SELECT ?, at, type, actor, data "
        "FROM events WHERE case_id = ? AND type = 'routed'",
        [case_id, original],
    )
    at = FILED_AT + timedelta(seconds=n)
    queue_forward(db, case_id=case_id, ref=ref, department="roads", target="open311", now=at)


def forms(db_path: Path, target: Open311Target, config: Any) -> list[dict[str, str]]:
    """The `requests.json` forms caredesk will send, built the way the forwarder builds them
    (untimed): the baseline posts exactly these."""
    dept = config.department("roads")
    db = open_store(db_path)
    try:
        built = []
        for (case_id,) in db.execute("SELECT case_id FROM forwards ORDER BY id").fetchall():
            case = case_for_forward(db, case_id)
            assert case is not None
            lat, long, address = _place_fields(case.place)
            new = NewRequest(
                reference=case.ref,
                service_code=service_code(dept, case),
                text=describe_case(case),
                lat=lat,
                long=long,
                address_string=address,
            )
            built.append(request_form(target, new, share_contact=False))
        return built
    finally:
        db.close()


# --------------------------------------------------------------------------------------------
# Timing


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Run:
    """Wall time, this process's CPU, the server's CPU and per-case samples of one side,
    summed over the slices it ran (`with run:` around each)."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.samples: list[int] = []
        self.seconds = self.cpu = self.server_cpu = 0.0

    def __enter__(self) -> Run:
        self.cpu0, self.server0 = time.process_time(), cpu_of(self.server_pid)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self.t0
        self.cpu += time.process_time() - self.cpu0
        self.server_cpu += cpu_of(self.server_pid) - self.server0

    def figures(self, n: int) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 2),
            "cases_per_s": round(n / self.seconds, 1),
            "ms_per_case": percentiles(self.samples, PCTS, scale=1e6),
            "cpu_ms_per_case": round(self.cpu * 1000 / n, 3),
            "server_cpu_ms_per_case": round(self.server_cpu * 1000 / n, 3),
        }


class Caredesk:
    """The tracker worker on the store, with the WAL checkpointed in a thread every
    CHECKPOINT_SECONDS as under `caredesk serve` (bot/app.py), not inside a forward's COMMIT.
    Its clock is frozen: forward n is due at FILED_AT + n s, so `drain_until(n)` sends the
    forwards up to the nth and no more (one slice)."""

    def __init__(self, db_path: Path, config: Any, run: Run) -> None:
        self.db = open_store(db_path)
        self.clock = FrozenClock(FILED_AT)
        self.worker = forward_worker(self.db, config, self.clock)
        deliver: Callable[[OutboxItem], Awaitable[int]] = self.worker._deliver

        async def timed(item: OutboxItem) -> int:
            t = time.perf_counter_ns()
            sent = await deliver(item)
            run.samples.append(time.perf_counter_ns() - t)
            return sent

        self.worker._deliver = timed  # type: ignore[method-assign]
        self.checkpointer = Checkpointer(db_path)
        defer_checkpoints(self.db)
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self._checkpoints())

    async def _checkpoints(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), CHECKPOINT_SECONDS)
            await asyncio.to_thread(self.checkpointer.run)

    async def drain_until(self, n: int) -> int:
        self.clock.set(FILED_AT + timedelta(seconds=n - 1))
        return await self.worker.drain()

    async def close(self) -> None:
        self.stop.set()
        await self.task
        self.checkpointer.close()
        await self.worker.sender.close()
        self.db.close()


async def post_bare(
    session: aiohttp.ClientSession, url: str, posts: list[dict[str, str]], run: Run
) -> int:
    ok = 0
    for form in posts:
        t = time.perf_counter_ns()
        async with session.post(url, data=form) as response:
            body = json.loads(await response.read())
            ok += response.status == 200 and bool(body[0].get("service_request_id"))
        run.samples.append(time.perf_counter_ns() - t)
    return ok


def check_store(db_path: Path, total: int) -> dict[str, int]:
    db = sqlite3.connect(db_path)
    try:
        rows = db.execute("SELECT status, count(*) FROM forwards GROUP BY status").fetchall()
        with_id = db.execute("SELECT count(*) FROM cases WHERE external_id IS NOT NULL").fetchone()
    finally:
        db.close()
    found = dict(rows)
    found["cases_with_external_id"] = with_id[0]
    if found.get("sent") != total:
        raise SystemExit(f"forwards not all sent: {found}")
    return found


# --------------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    server = Open311Process(tmp, now=FILED_AT)
    try:
        config = forward_config(server.base_url, timeout_seconds=20)
        db_path = tmp / "caredesk.db"
        t = time.perf_counter()
        prepare_store(db_path, args.cases, args.filed, server.base_url)
        setup_s = time.perf_counter() - t
        target = Open311Target(server.base_url, API_KEY)
        posts = forms(db_path, target, config)
        url = target.url("requests.json")
        pid = server.proc.pid
        n = args.cases
        caredesk, bare = Run(pid), Run(pid)
        profile = cProfile.Profile() if args.profile else None
        sent = posted = 0
        desk = Caredesk(db_path, config, caredesk)
        try:
            async with aiohttp.ClientSession() as session:  # aiohttp's defaults
                for k, start in enumerate(range(0, n, args.slice)):
                    stop = min(n, start + args.slice)
                    for side in ("bare", "caredesk") if k % 2 == 0 else ("caredesk", "bare"):
                        if side == "bare":
                            with bare:
                                posted += await post_bare(session, url, posts[start:stop], bare)
                            continue
                        if profile is not None:
                            profile.enable()
                        with caredesk:
                            sent += await desk.drain_until(stop)
                        if profile is not None:
                            profile.disable()
        finally:
            await desk.close()
        if (sent, posted) != (n, n):
            raise SystemExit(f"caredesk sent {sent}, the bare loop {posted}, of {n}")
        stored = check_store(db_path, n)
        created = len(server.created())
        if created != 2 * n:
            raise SystemExit(f"the server created {created} requests, expected {2 * n}")
    finally:
        server.stop()

    report: dict[str, Any] = {
        "bench": "forward",
        "N": n,
        "setup_s": round(setup_s, 1),
        "slice": args.slice,
        "caredesk": caredesk.figures(n),
        "bare": bare.figures(n),
        "ratio_wall": round(caredesk.seconds / bare.seconds, 2),
        "ratio_cpu_client": round(caredesk.cpu / bare.cpu, 2),
        "store": stored,
        "machine": figures_machine(aiohttp=aiohttp.__version__),
    }
    if profile is not None:
        if args.profile_out:
            profile.dump_stats(args.profile_out)
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.top)
        report["profile"] = out.getvalue()
    return report


def line(figures: dict[str, Any]) -> str:
    ms = figures["ms_per_case"]
    return (
        f"{figures['seconds']} s, {figures['cases_per_s']} cases/s, per case ms "
        f"p50 {ms['p50']} p99 {ms['p99']} max {ms['max']}; CPU ms/case: client "
        f"{figures['cpu_ms_per_case']}, server {figures['server_cpu_ms_per_case']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--filed", type=int, default=200, help="cases filed through intake")
    parser.add_argument(
        "--slice", type=int, default=500, help="cases per turn; the two sides take turns"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the caredesk run")
    parser.add_argument("--top", type=int, default=40, help="profile lines to print")
    parser.add_argument("--profile-out", type=Path, help="also write the profile (pstats) here")
    args = parser.parse_args()
    os.environ.update(NO_PROXY_ENV)
    os.environ[OPEN311_KEY_ENV] = API_KEY
    tmp = Path(tempfile.mkdtemp(prefix="caredesk-forward-bench-"))
    try:
        report = asyncio.run(bench(args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    profile = report.pop("profile", None)
    print(f"forward N={report['N']} to loopback Open311 (server in its own process)")
    for name in ("caredesk", "bare"):
        print(f"  {name:12} {line(report[name])}")
    print(
        f"  ratio        {report['ratio_wall']} (wall time, caredesk / bare), "
        f"{report['ratio_cpu_client']} (this process's CPU)"
    )
    print(f"  machine      {json.dumps(report['machine'])}")
    print(json.dumps(report))
    if profile:
        print(profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
