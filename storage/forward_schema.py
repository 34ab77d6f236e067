"""Schema 11 (issue 12): where a case is, and its forwards to the department's tracker.

A forward is an outbox row (channel `tracker`, recipient the department key, idempotency key
`caredesk-<ref>-<n>`) plus a row here that keeps what only a tracker needs: when the first
attempt began (so a retry after a crash or a timeout looks the request up before posting
again), an Open311 token still waiting for its id, the external id and link, and the tracker's
own words when it refused. The case carries its current external id and link and the last
status the department reported, so the case list and page read them without a join.
"""

from __future__ import annotations

FORWARDS: tuple[str, ...] = (
    # Where it is (issue 12, item 2): JSON {"text", "kind", "address", "lat", "long"}; None
    # when the resident was not asked, or skipped.
    "ALTER TABLE cases ADD COLUMN place TEXT",
    # The department's tracker: its id for the case and a link staff can open.
    "ALTER TABLE cases ADD COLUMN external_id TEXT",
    "ALTER TABLE cases ADD COLUMN external_url TEXT",
    # The department's last word (Open311 status sync, or an email reply): status, when it
    # said so, and the completion it expects (the interim acknowledgement's date, issue 13).
    "ALTER TABLE cases ADD COLUMN tracker_status TEXT",
    "ALTER TABLE cases ADD COLUMN tracker_updated_at TEXT",
    "ALTER TABLE cases ADD COLUMN expected_at TEXT",
    """CREATE TABLE forwards (
        id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL REFERENCES cases(id),
        sequence INTEGER NOT NULL,
        department TEXT NOT NULL,
        target TEXT NOT NULL CHECK (target IN ('open311', 'webhook', 'email')),
        outbox_id INTEGER NOT NULL UNIQUE REFERENCES outbox(id),
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'sent', 'dead', 'superseded')),
        first_tried_at TEXT,
        token TEXT,
        external_id TEXT,
        external_url TEXT,
        errors TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (case_id, sequence)
    )""",
    "CREATE INDEX forwards_status ON forwards(status, department)",
    # Status sync asks the tracker about open cases that have an id, department by department.
    "CREATE INDEX forwards_external ON forwards(department, external_id) "
    "WHERE external_id IS NOT NULL",
    "CREATE INDEX forwards_token ON forwards(department) WHERE token IS NOT NULL",
)
