"""`caredesk serve` killed with `kill -9` in the middle of forwarding 200 cases: afterwards each
case has exactly one Open311 request (issue 12, "Exactly once" and its test).

Everything is real: `caredesk serve` is a process, killed with SIGKILL (its whole process
group) and started again on the same store; the Open311 server (tests/open311_process.py) is a
process of its own that outlives it and writes down every request it created before it
answers. It holds each answer 20 ms after creating the request, so a kill mostly lands where
the ticket exists but caredesk has not heard of it. The second test puts the crash exactly
there, with the failpoint between the tracker's answer and the commit, so the lookup before
posting again is proven in a real crash, not only with a timeout.

The clocks: both processes run on $CAREDESK_NOW-pinned clocks (the server's `--now`), an hour
after the cases were filed, so nothing depends on the day the test runs.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.failpoints import EXIT_STATUS

from ..forward_load import (
    API_KEY,
    Open311Process,
    child_env,
    config_toml,
    file_cases,
    forward_config,
    kill_group,
    wait_until,
)
from ..servers import free_port, serve_argv

CASES = 200
FILED_AT = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
#: Where the clocks of serve and of the server start: after every case was filed.
STARTED_AT = FILED_AT + timedelta(hours=1)
#: How long the server holds each POST's answer after creating the request.
POST_DELAY = 0.02
REFERENCE = re.compile(r"\[caredesk ([^\]]+)\]")


@dataclass
class Desk:
    """A store of 200 routed cases, `caredesk serve` on it, and the Open311 server."""

    tmp: Path
    server: Open311Process
    refs: list[str]
    db_path: Path
    config: Path
    t0: float = field(default_factory=time.monotonic)
    proc: subprocess.Popen[bytes] | None = None
    runs: int = 0

    def start(self, **env: str) -> None:
        """Start serve with its clock where the server's is now (both pinned, same pace)."""
        now = STARTED_AT + timedelta(seconds=time.monotonic() - self.t0)
        self.runs += 1
        with (self.tmp / f"serve-{self.runs}.log").open("wb") as log:
            self.proc = subprocess.Popen(
                serve_argv(self.config, self.db_path, free_port()),
                cwd=self.tmp,
                env=child_env(CAREDESK_NOW=now.isoformat(), CAREDESK_OPEN311_KEY=API_KEY, **env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one
            )

    def kill(self) -> None:
        assert self.proc is not None
        kill_group(self.proc)
        assert self.proc.returncode == -signal.SIGKILL, self.log()

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        kill_group(self.proc)  # anything it left in its group
        return code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(20)
            kill_group(self.proc)

    def log(self) -> str:
        return (self.tmp / f"serve-{self.runs}.log").read_text(errors="replace")[-3000:]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Read the store as another process would (serve may be writing it)."""
        db = sqlite3.connect(self.db_path, timeout=10)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def sent(self) -> int:
        return int(self.query("SELECT count(*) FROM forwards WHERE status = 'sent'")[0][0])

    def wait_all_sent(self, timeout: float = 60) -> None:
        def done() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.log()}")
            return self.sent() == CASES

        wait_until(done, timeout, f"{CASES} forwards sent", every=0.1)


@pytest.fixture(scope="module")
def filed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The 200 cases, filed once through intake; each test works on a copy of the store.
    The tracker's address is not in the store (the department key is), so any will do."""
    db_path = tmp_path_factory.mktemp("filed") / "caredesk.db"
    refs = file_cases(db_path, forward_config("http://127.0.0.1:9/open311/v2"), CASES, FILED_AT)
    assert not db_path.with_name("caredesk.db-wal").exists()  # all in the one file
    return db_path, refs


@pytest.fixture
def desk(tmp_path: Path, filed: tuple[Path, list[str]]) -> Iterator[Desk]:
    server = Open311Process(tmp_path, delay=POST_DELAY, now=STARTED_AT)
    t0 = time.monotonic()
    try:
        db_path = tmp_path / "caredesk.db"
        shutil.copyfile(filed[0], db_path)
        refs = filed[1]
        config = tmp_path / "caredesk.toml"
        config.write_text(config_toml(server.base_url, retry_base_seconds=1, timeout_seconds=5))
        made = Desk(tmp_path, server, refs, db_path, config, t0=t0)
        try:
            yield made
        finally:
            made.stop()
    finally:
        server.stop()


def requests_by_reference(created: list[dict[str, Any]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for request in created:
        match = REFERENCE.search(request["description"])
        assert match is not None, request["description"]
        found.setdefault(match.group(1), []).append(request["service_request_id"])
    return found


def assert_one_request_per_case(desk: Desk) -> dict[str, str]:
    """Exactly one request per case on the server, and the store agrees; {ref: id}."""
    created = desk.server.created()
    by_ref = requests_by_reference(created)
    twice = {ref: ids for ref, ids in by_ref.items() if len(ids) > 1}
    assert twice == {}, f"cases with more than one request: {twice}"
    assert len(created) == CASES
    assert sorted(by_ref) == sorted(desk.refs)
    posts = [c for c in desk.server.calls() if (c.method, c.path) == ("POST", "requests.json")]
    assert len(posts) == CASES  # never posted again, not even one refused
    rows = desk.query(
        "SELECT c.ref, c.external_id, f.status, f.external_id, f.sequence "
        "FROM forwards f JOIN cases c ON c.id = f.case_id ORDER BY c.ref"
    )
    assert len(rows) == CASES
    ids = {ref: only for ref, (only,) in by_ref.items()}
    for ref, case_external, status, forward_external, sequence in rows:
        assert (status, sequence) == ("sent", 1), ref
        assert case_external == forward_external == ids[ref], ref
    assert desk.query("SELECT count(*) FROM forwards WHERE status = 'dead'") == [(0,)]
    assert desk.query("SELECT count(*) FROM outbox WHERE channel = 'tracker' AND status != 'sent'")[
        0
    ] == (0,)
    return ids


def lookups(desk: Desk) -> int:
    """GET requests.json by date: the lookup before posting again (status sync asks by id)."""
    return sum(
        1
        for c in desk.server.calls()
        if (c.method, c.path) == ("GET", "requests.json") and "start_date" in c.query
    )


def test_serve_killed_mid_forwarding_leaves_exactly_one_request_per_case(desk: Desk) -> None:
    desk.start()
    wait_until(lambda: len(desk.server.created()) >= 40, 60, "40 requests created", every=0.005)
    desk.kill()
    created_before = len(desk.server.created())
    sent_before = desk.sent()
    assert 40 <= created_before < CASES  # the kill landed in the middle of forwarding
    assert sent_before <= created_before

    desk.start()
    desk.wait_all_sent()
    desk.stop()
    assert_one_request_per_case(desk)
    # At most the one forward in flight at the kill had to be looked up.
    assert lookups(desk) <= 1


def test_a_crash_between_the_trackers_answer_and_the_commit_is_looked_up_not_reposted(
    desk: Desk,
) -> None:
    desk.start(CAREDESK_FAILPOINT="tracker-after-send:50")
    assert desk.wait_exit() == EXIT_STATUS, desk.log()
    # The 50th request exists on the server; caredesk died before it wrote that down.
    created = desk.server.created()
    assert len(created) == 50 and desk.sent() == 49
    fiftieth = desk.refs[49]
    assert requests_by_reference(created)[fiftieth] == [created[-1]["service_request_id"]]
    assert desk.query(
        f"SELECT f.status, f.first_tried_at IS NOT NULL FROM forwards f "
        f"JOIN cases c ON c.id = f.case_id WHERE c.ref = '{fiftieth}'"
    ) == [("pending", 1)]
    assert lookups(desk) == 0

    desk.start()
    desk.wait_all_sent()
    desk.stop()
    ids = assert_one_request_per_case(desk)
    assert lookups(desk) == 1  # the 50th forward, found by its reference instead of reposted
    assert ids[fiftieth] == created[-1]["service_request_id"]
