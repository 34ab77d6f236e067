"""Dialogue throughput: turns/second and per-turn latency (store write included) over complete
complaint conversations, beside the bare cost of the conversation-state store write.

A benchmark, not a test: it prints figures, never pass/fail. Run from the root:
`PYTHONPATH=. .venv/bin/python bench/dialogue_bench.py`
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.figures import PCTS, percentiles
from bot.app import build_services
from bot.clock import SystemClock
from bot.config import Config
from storage.cases import count_cases
from storage.conversations import load_conversation, save_conversation
from storage.db import open_store

CHANNEL = "console"
STREETS = ("Elm Road", "Oak Avenue", "Maple Street", "Birch Lane", "Cedar Drive")
ASKS = ("an apology", "a call back", "a new schedule", "an explanation")
PCTS2 = {"p50": 50.0, "p99": 99.0}


def script(i: int) -> list[str]:
    """A complete complaint, every answer valid; a few words vary with i."""
    street, ask = STREETS[i % len(STREETS)], ASKS[i % len(ASKS)]
    what = f"The garbage truck skipped our street on {street} and the driver was rude when asked"
    when, who = f"yesterday at {1 + i % 5}pm", f"the driver of truck {i % 90 + 10}"
    outcome, contact = f"pick up the garbage and {ask}", f"jane{i}@example.com 905-555-0100"
    return ["1", "no", what, when, who, outcome, "Jane Doe", "me", contact, "confirm"]


def stats(ns: list[int], pcts: dict[str, float]) -> dict[str, float]:
    """Nearest-rank percentiles of nanosecond samples, in milliseconds."""
    return percentiles(ns, pcts, scale=1e6)


def fmt(ms: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.3f}" for k, v in ms.items())


def run_dialogues(n: int, db_path: Path) -> dict[str, Any]:
    services = build_services(Config(), db_path, clock=SystemClock())
    chat = services.chat
    ns: dict[str, list[int]] = {"turn": [], "confirm": [], "other": []}
    no_ref = 0
    start = time.perf_counter_ns()
    for i in range(n):
        key = f"bench:{i}"
        chat.delivered(chat.open(CHANNEL, key))
        lines = script(i)
        turn = None
        for j, line in enumerate(lines):
            t0 = time.perf_counter_ns()
            turn = chat.handle(CHANNEL, key, line)
            dt = time.perf_counter_ns() - t0
            chat.delivered(turn)
            ns["turn"].append(dt)
            ns["confirm" if j == len(lines) - 1 else "other"].append(dt)
        no_ref += turn is None or turn.ref is None
    total_s = (time.perf_counter_ns() - start) / 1e9
    cases = count_cases(services.db)
    services.db.close()
    return {
        "conversations": n,
        "turns": len(ns["turn"]),
        "total_s": round(total_s, 3),
        "turns_per_s": round(len(ns["turn"]) / total_s, 1),
        "turn_ms": stats(ns["turn"], PCTS),
        "confirm_ms": stats(ns["confirm"], PCTS2),
        "other_ms": stats(ns["other"], PCTS2),
        "cases": cases,
        "errors": abs(cases - n) + no_ref,
    }


def run_baseline(calls: int, keys: int, db_path: Path) -> dict[str, Any]:
    """save_conversation + load_conversation of a ~1 KB state, `calls` times over `keys` keys."""
    db = open_store(db_path)
    history = ["kind", "safety", "what", "when", "who", "outcome", "name", "on_behalf"]
    data = {"what": "The garbage truck skipped our street " * 21, "name": "Jane Doe"}
    state: dict[str, Any] = {"v": 1, "status": "active", "step": "contact", "data": data}
    state |= {"history": history, "strikes": 0, "started_at": datetime.now(UTC).isoformat()}
    size = len(json.dumps(state, ensure_ascii=False))
    saves, loads = list[int](), list[int]()
    for c in range(calls):
        key = f"base:{c % keys}"
        t0 = time.perf_counter_ns()
        save_conversation(db, key, CHANNEL, state, datetime.now(UTC))
        t1 = time.perf_counter_ns()
        load_conversation(db, key)
        loads.append(time.perf_counter_ns() - t1)
        saves.append(t1 - t0)
    db.close()
    return {"state_bytes": size, "calls": calls} | {
        "save_ms": stats(saves, PCTS2),
        "load_ms": stats(loads, PCTS2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1000, metavar="N")
    parser.add_argument("--json", action="store_true", help="also print one JSON object")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="caredesk-bench-"))
    try:
        d = run_dialogues(args.conversations, tmp / "dialogue.db")
        b = run_baseline(d["turns"], args.conversations, tmp / "baseline.db")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ctx = {"python": platform.python_version(), "cpus": os.cpu_count()}
    ctx["sqlite"] = sqlite3.sqlite_version
    t, sv, ld = d["turn_ms"], b["save_ms"], b["load_ms"]
    ratio = {"turn_p50_over_save_p50": round(t["p50"] / sv["p50"], 1)}
    ratio["turn_p50_over_save_load_p50"] = round(t["p50"] / (sv["p50"] + ld["p50"]), 1)
    print(f"machine        python {ctx['python']}, {ctx['cpus']} CPUs, sqlite {ctx['sqlite']}")
    print(f"conversations  {d['conversations']}   turns {d['turns']}   cases {d['cases']}")
    print(f"errors         {d['errors']}" + ("   (figures are worthless)" if d["errors"] else ""))
    print(f"total          {d['total_s']:.2f} s   {d['turns_per_s']:.0f} turns/s")
    print(f"turn ms        {fmt(t)}")
    print(f"  confirm ms   {fmt(d['confirm_ms'])}   (files the case)")
    print(f"  other ms     {fmt(d['other_ms'])}")
    print(f"baseline       {b['calls']} calls, {b['state_bytes']} B state, fresh store")
    print(f"  save ms      {fmt(sv)}")
    print(f"  load ms      {fmt(ld)}")
    print(
        f"ratio          turn p50 / save p50 {ratio['turn_p50_over_save_p50']}x;"
        f"  turn p50 / (save+load) p50 {ratio['turn_p50_over_save_load_p50']}x"
    )
    if args.json:
        print(json.dumps({"machine": ctx, "dialogue": d, "baseline": b, "ratio": ratio}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
