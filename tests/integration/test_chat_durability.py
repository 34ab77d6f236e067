"""Durability of a chat turn now that `caredesk serve` checkpoints the WAL in a thread and
only the filing turn fsyncs (issue 9, section 4): real SQLite files, a real process kill."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from bot.app import CHECKPOINT_SECONDS, build_app, build_services
from bot.clock import FrozenClock
from bot.config import Config
from storage.checkpoint import AUTOCHECKPOINT_PAGES, Checkpointer, defer_checkpoints
from storage.conversations import chat_log, load_conversation
from storage.db import open_store, write_transaction

from ..unit.test_flow import FULL

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, 21, 38, tzinfo=UTC)
KEY = "web:durable"

#: A child process: three turns with checkpoints deferred (as under `caredesk serve`), then
#: killed at once (SIGKILL: no close, no checkpoint, no Python clean-up).
CHILD = textwrap.dedent(
    f"""
    import os, signal, sys
    from datetime import datetime, UTC
    from pathlib import Path
    from bot.app import build_services
    from bot.clock import FrozenClock
    from bot.config import Config
    from storage.checkpoint import defer_checkpoints
    clock = FrozenClock(datetime(2026, 11, 25, 21, 38, tzinfo=UTC))
    services = build_services(Config(), Path(sys.argv[1]), clock)
    defer_checkpoints(services.db)
    for line in {list(FULL[:3])!r}:
        services.chat.handle("web", {KEY!r}, line, start_if_new=True)
    print("answered", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def wal_size(db_path: Path) -> int:
    wal = db_path.with_name(db_path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_answered_turns_survive_a_process_kill_with_checkpoints_deferred(tmp_path: Path) -> None:
    db_path = tmp_path / "caredesk.db"
    open_store(db_path).close()  # the schema, checkpointed, so the turns below are WAL only
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(db_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout.strip() == "answered"
    assert wal_size(db_path) > 0  # the answers were only in the WAL when the process died
    db = open_store(db_path)
    try:
        state = load_conversation(db, KEY)
        said = [text for who, text, _ in chat_log(db, KEY) if who == "resident"]
    finally:
        db.close()
    assert state is not None and state["status"] == "active"
    assert said == list(FULL[:3])


def test_the_checkpointer_copies_what_the_commits_no_longer_copy(tmp_path: Path) -> None:
    db_path = tmp_path / "caredesk.db"
    db = open_store(db_path)
    checkpointer = Checkpointer(db_path)
    try:
        defer_checkpoints(db)
        db.execute("CREATE TABLE filler (x TEXT)")
        for _ in range(AUTOCHECKPOINT_PAGES + 200):  # a page each, past the default limit
            with write_transaction(db):
                db.execute("INSERT INTO filler VALUES (?)", ["x" * 3000])
        in_wal, copied = checkpointer.run()
        assert in_wal > AUTOCHECKPOINT_PAGES  # no commit checkpointed on its own
        assert copied == in_wal
        with write_transaction(db):  # the WAL starts again from the top
            db.execute("INSERT INTO filler VALUES ('y')")
        assert checkpointer.run()[0] < 10
    finally:
        checkpointer.close()
        db.close()


async def test_serve_checkpoints_in_the_background_and_gives_it_back_on_stop(
    tmp_path: Path,
) -> None:
    services = build_services(Config(), tmp_path / "caredesk.db", FrozenClock(NOW))
    runner = web.AppRunner(build_app(services))
    await runner.setup()
    try:
        autocheckpoint = services.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        assert autocheckpoint == 0
        for line in FULL[:3]:
            services.chat.handle("web", KEY, line, start_if_new=True)
        in_wal = services.db.execute("PRAGMA wal_checkpoint(NOOP)").fetchone()
        await asyncio.sleep(CHECKPOINT_SECONDS * 2.5)
        _busy, pages, copied = services.db.execute("PRAGMA wal_checkpoint(NOOP)").fetchone()
        assert in_wal[1] > 0
        assert copied == pages  # everything in the WAL is in the database file
    finally:
        await runner.cleanup()
    db = open_store(tmp_path / "caredesk.db")
    try:
        assert load_conversation(db, KEY) is not None
    finally:
        db.close()


def test_only_the_filing_turn_fsyncs(tmp_path: Path) -> None:
    services = build_services(Config(), tmp_path / "caredesk.db", FrozenClock(NOW))
    pragmas: list[str] = []
    services.db.conn.set_trace_callback(
        lambda sql: pragmas.append(sql) if "synchronous" in sql else None
    )
    try:
        for line in FULL:
            turn = services.chat.handle("web", KEY, line, start_if_new=True)
            assert turn.ref is None
        assert pragmas == []  # the dialogue's turns: synchronous=NORMAL, no fsync
        turn = services.chat.handle("web", KEY, "confirm", start_if_new=True)
        assert turn.ref is not None
        assert pragmas == ["PRAGMA synchronous = FULL", "PRAGMA synchronous = NORMAL"]
        assert services.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL again
    finally:
        services.db.close()
