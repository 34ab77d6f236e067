"""A store full of cases waiting to be forwarded, and the Open311 server process they go to:
what the forwarding crash test (tests/integration/test_forward_crash.py) and the forwarding
benchmark (bench/forward_bench.py) share.

The cases are filed through the real intake (routing rule `potholes` to department `roads`,
whose tracker is Open311), so each comes with its forward queued in the filing transaction as
in production; the place is then set on the case as the dialogue's "where" step stores it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import build_services
from bot.clock import FrozenClock
from bot.config import Config, parse_config
from bot.model import Person, Submission
from storage.db import write_transaction

from .open311 import Received
from .open311_process import read_state
from .servers import LOOPBACK, NO_PROXY_ENV, free_port

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "test-key"
STREETS = ("Elm Street", "Oak Avenue", "King Street", "Birch Lane", "Cedar Drive", "Main Street")


def department_settings(open311_url: str) -> dict[str, Any]:
    """One Open311 department and the rule that routes potholes to it."""
    return {
        "departments": [
            {
                "key": "roads",
                "name": "Transportation Services",
                "tracker": "open311",
                "open311_url": open311_url,
                "open311_service_code": "POTHOLE",
                "link": "https://311.city.example/requests/{id}",
            }
        ],
        "routing": [{"name": "potholes", "department": "roads", "phrases": ["pothole"]}],
    }


def forward_config(open311_url: str, **tracker: Any) -> Config:
    return parse_config({"tracker": tracker, **department_settings(open311_url)})


def config_toml(open311_url: str, **tracker: int) -> str:
    """The same configuration as a caredesk.toml for `caredesk serve`."""
    lines = ["[tracker]", *(f"{k} = {v}" for k, v in tracker.items())]
    settings = department_settings(open311_url)
    for table in ("departments", "routing"):
        for entry in settings[table]:
            lines.append(f"[[{table}]]")
            lines.extend(f"{k} = {json.dumps(v)}" for k, v in entry.items())
    return "\n".join(lines) + "\n"


def file_cases(db_path: Path, config: Config, count: int, at: datetime) -> list[str]:
    """File `count` pothole complaints (each from its own resident, with a street address) on a
    frozen clock; returns their references in filing order. Many to a transaction: intake
    nests in it, and a benchmark's store is ready in seconds instead of a commit per case."""
    services = build_services(config, db_path, FrozenClock(at))
    refs: list[str] = []
    try:
        for start in range(0, count, 500):
            with write_transaction(services.db):
                for n in range(start, min(count, start + 500)):
                    refs.append(_file_one(services, n, at + timedelta(seconds=n)))
    finally:
        services.db.close()
    return refs


def _file_one(services: Any, n: int, at: datetime) -> str:
    street = STREETS[n % len(STREETS)]
    text = f"There is a deep pothole in front of {n + 1} {street} that broke my tire"
    sub = Submission(
        channel="web",
        received_at=at,
        text=text,
        what=text,
        when_text="yesterday morning",
        who="nobody",
        outcome="fill the pothole",
        person=Person(name=f"Resident {n}", email=f"resident{n}@example.org"),
        conversation=f"web:forward-{n}",
    )
    filed = services.intake.file(sub, at)
    place = {"text": f"{n + 1} {street}", "kind": "address", "address": f"{n + 1} {street}"}
    services.db.execute("UPDATE cases SET place = ? WHERE ref = ?", [json.dumps(place), filed.ref])
    return str(filed.ref)


class Open311Process:
    """tests/open311_process.py started as a process of its own (and its own process group):
    it outlives a killed `caredesk serve` and keeps what it received in `state`."""

    def __init__(self, tmp: Path, *, delay: float = 0.0, now: datetime | None = None) -> None:
        self.port = free_port()
        self.state = tmp / f"open311-{self.port}.jsonl"
        self.log_path = tmp / f"open311-{self.port}.log"
        argv = [
            sys.executable,
            "-m",
            "tests.open311_process",
            *("--port", str(self.port), "--state", str(self.state), "--delay", str(delay)),
            *("--api-key", API_KEY),
            *(("--now", now.isoformat()) if now else ()),
        ]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=child_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        if ready.strip() != b"ready":
            self.stop()
            raise RuntimeError(f"the Open311 server did not start:\n{self.log_path.read_text()}")

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/open311/v2"

    def created(self) -> list[dict[str, Any]]:
        return read_state(self.state)[0]

    def calls(self) -> list[Received]:
        return read_state(self.state)[1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                kill_group(self.proc)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: the repository importable, no proxy for loopback,
    no caredesk setting of the caller's (a failpoint left set would fire in the child)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREDESK_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return {**env, **NO_PROXY_ENV, **extra}


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL a process started with start_new_session=True and everything it started."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def wait_until(predicate: Any, timeout: float, what: str, every: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)
