"""Schema 12 (issue 12): where status sync stands with each department's tracker.

Open311 servers that refuse a list of ids are asked instead for every request updated after
an instant; that instant is the start of the last pass that succeeded, kept here per
department so a restart (or a server that was down for a day) picks up where it stopped.
"""

from __future__ import annotations

TRACKER_SYNC: tuple[str, ...] = (
    """CREATE TABLE tracker_sync (
        department TEXT PRIMARY KEY,
        last_synced_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
)
