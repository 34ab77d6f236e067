"""The schema of the review queue's actions (issue 11, item 2): one migration entry.

- `drafts.status` gains `returned` (sent back to its author with a comment). SQLite cannot
  widen a CHECK in place, so the column is rebuilt: a new column with the wider CHECK, the
  values copied, the old column dropped and the new one renamed. Plain DDL inside the
  migration's transaction: no table copy, and the outbox's references to drafts stay valid.
- `drafts.author_id`: the staff member who wrote the draft (NULL: the policy drafted it from
  a template). `drafts.revision`: how many times it was edited; a form carries it, so a
  reviewer never approves a text someone changed after the page was opened.
  `drafts.returned_to` and `drafts.review_note`: who it was sent back to, and the comment
  (or the reason of a rejection). Staff text, erased with the draft by retention.
- `draft_revisions`: every edited text, who and when. The timeline (append-only, never
  erased) records that an edit or approval happened, with the revision and a hash of the
  text; the text itself stays here, where retention can erase it (policy 03.01).
"""

from __future__ import annotations

DRAFT_STATUSES = ("pending", "approved", "rejected", "returned")

REVIEW_DATA: tuple[str, ...] = (
    "ALTER TABLE drafts ADD COLUMN status_new TEXT NOT NULL DEFAULT 'pending' "
    f"CHECK (status_new IN ({', '.join(repr(s) for s in DRAFT_STATUSES)}))",
    "UPDATE drafts SET status_new = status",
    "DROP INDEX drafts_status",
    "DROP INDEX drafts_queue",
    "ALTER TABLE drafts DROP COLUMN status",
    "ALTER TABLE drafts RENAME COLUMN status_new TO status",
    "CREATE INDEX drafts_status ON drafts(status)",
    "CREATE INDEX drafts_queue ON drafts(status, due_at)",
    "ALTER TABLE drafts ADD COLUMN author_id INTEGER REFERENCES staff(id)",
    "ALTER TABLE drafts ADD COLUMN revision INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE drafts ADD COLUMN returned_to INTEGER REFERENCES staff(id)",
    "ALTER TABLE drafts ADD COLUMN review_note TEXT",
    "CREATE INDEX drafts_returned ON drafts(returned_to) WHERE status = 'returned'",
    """CREATE TABLE draft_revisions (
        id INTEGER PRIMARY KEY,
        draft_id INTEGER NOT NULL REFERENCES drafts(id),
        n INTEGER NOT NULL,
        at TEXT NOT NULL,
        staff_id INTEGER REFERENCES staff(id),
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (draft_id, n)
    )""",
)
