"""WAL checkpoints off the request path: a second connection copies the WAL into the store.

By default SQLite checkpoints inside the COMMIT that takes the WAL past 1000 pages: every
couple of hundred chat turns, one turn's COMMIT copies 4 MB into the database file and waits
for two fsyncs, on the event loop, while every other conversation waits too. `caredesk serve`
turns that off on its own connection (`defer_checkpoints`) and runs `Checkpointer.run` every
second in a worker thread instead, on a connection of its own (sqlite3 lets go of the GIL
while SQLite works, so the loop keeps answering).

Crash safety is unchanged: a checkpoint only copies committed pages from the WAL into the
database file; a commit is as safe in the WAL as after it (SQLite replays the WAL when the
store is next opened). If checkpoints fail (a disk error...), `Checkpointer.run` raises and
the caller gives the checkpoints back to the commits (`restore_checkpoints`), so the WAL
never grows without bound.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

#: SQLite's default: a commit that takes the WAL past this many pages checkpoints it.
AUTOCHECKPOINT_PAGES = 1000


def defer_checkpoints(db: sqlite_utils.Database) -> None:
    """This connection's commits no longer checkpoint (another connection does)."""
    db.conn.execute("PRAGMA wal_autocheckpoint = 0")


def restore_checkpoints(db: sqlite_utils.Database) -> None:
    """Back to SQLite's default: the commit past AUTOCHECKPOINT_PAGES checkpoints."""
    db.conn.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")


class Checkpointer:
    """A connection of its own that only checkpoints. Use it from one thread at a time."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None

    def run(self) -> tuple[int, int]:
        """One PASSIVE checkpoint: it copies what it can without waiting for readers or
        the writer. Returns (pages in the WAL, pages copied)."""
        if self._conn is None:
            # check_same_thread=False: asyncio.to_thread may use a different worker each time;
            # the caller never runs two at once.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            self._conn = conn
        _busy, wal_pages, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(wal_pages), int(copied)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
