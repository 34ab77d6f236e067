"""The schema the staff pages read (issue 11): review deadlines, clock state, search, SLA indexes.

One migration entry (storage/db.py appends it). Why each part is shaped as it is:

- `drafts.due_at`: the moment a held reply must go out, so the queue is one index range scan
  ordered by deadline. Existing drafts take their case's acknowledgement deadline.
- `cases.acked_at`: when the first reply reached the resident (set by `mark_sent`). Without it
  no query can tell an acknowledgement deadline that was met from one that was missed.
  `cases.hazard_checked_at`: when staff recorded the hazard inspection (storage/sla.py).
- Partial indexes on the cases whose clocks still run: an overdue count reads only the
  entries past `now` of a small index, however many closed cases the store holds.
- `case_fts`: FTS5 over the case's text and the resident's inbound messages, one row a case
  (rowid = case id, so "newest first" is the index's own descending rowid order and a page
  is a range scan). Porter stemming, so "flood" finds "flooding" without a prefix query (FTS5
  builds a prefix query's whole match list in memory: 100 ms for a common word on 1M cases,
  where whole terms are read lazily, newest first, only as far as the page). External
  content over the view `case_text`: the index keeps tokens only, never a second copy of the
  text; `rebuild` and `integrity-check` work against the view.
- `sla_weeks`: the weekly SLA figures of weeks that can no longer change.
  Triggers keep it in step with every write, retention's erasure included: an erased case's
  words leave the index in the same transaction (tests/unit/test_case_search.py).
"""

from __future__ import annotations

#: A case's inbound message bodies, in the order they arrived (the index messages_case gives
#: (case_id, id) order; the same expression is used for every insert and delete, so the
#: tokens removed are always exactly the tokens added).
_INBOUND = (
    "(SELECT group_concat(m.body, ' ') FROM messages m "
    "WHERE m.case_id = {case} AND m.direction = 'in')"
)
_FTS_COLUMNS = "subject, what, who, outcome, inbound"
#: Statuses whose response, follow-up and hazard clocks still run.
OPEN_STATUSES = "status IN ('open', 'unreadable')"
#: The acknowledgement clock runs until the first reply is sent, whatever the status (a
#: declined or redirected resident is owed an answer too), and stops when staff close the case.
ACK_RUNNING = "acked_at IS NULL AND status != 'closed'"


def _reindex(when: str, table: str, event: str, case_ids: str, condition: str) -> str:
    """A trigger that removes (BEFORE) or re-adds (AFTER) the index rows of some cases."""
    name = f"case_fts_{table}_{event.split()[0].lower()}_{when.lower()}"
    if when == "BEFORE":
        body = (
            f"INSERT INTO case_fts(case_fts, rowid, {_FTS_COLUMNS}) "
            f"SELECT 'delete', id, {_FTS_COLUMNS} FROM case_text WHERE id IN ({case_ids});"
        )
    else:
        body = (
            f"INSERT INTO case_fts(rowid, {_FTS_COLUMNS}) "
            f"SELECT id, {_FTS_COLUMNS} FROM case_text WHERE id IN ({case_ids});"
        )
    return f"CREATE TRIGGER {name} {when} {event} ON {table} WHEN {condition} BEGIN {body} END"


STAFF_DATA: tuple[str, ...] = (
    # Review queue: deadline of each held reply.
    "ALTER TABLE drafts ADD COLUMN due_at TEXT",
    """UPDATE drafts SET due_at = (
           SELECT COALESCE(c.ack_due, c.response_due, c.hazard_due, c.follow_up_due,
                           drafts.created_at)
           FROM cases c WHERE c.id = drafts.case_id)""",
    "CREATE INDEX drafts_queue ON drafts(status, due_at)",
    # Clock state.
    "ALTER TABLE cases ADD COLUMN acked_at TEXT",
    "ALTER TABLE cases ADD COLUMN hazard_checked_at TEXT",
    """UPDATE cases SET acked_at = (
           SELECT MIN(o.sent_at) FROM outbox o WHERE o.case_id = cases.id AND o.status = 'sent')""",
    # Clocks still running: one small partial index each.
    f"CREATE INDEX cases_ack_running ON cases(ack_due) WHERE {ACK_RUNNING}",
    f"CREATE INDEX cases_response_running ON cases(response_due) WHERE {OPEN_STATUSES}",
    f"CREATE INDEX cases_follow_up_running ON cases(follow_up_due) WHERE {OPEN_STATUSES}",
    "CREATE INDEX cases_hazard_running ON cases(hazard_due) "
    f"WHERE hazard_checked_at IS NULL AND {OPEN_STATUSES}",
    # The weekly series reads only this index (covering): received, due and acknowledged.
    "CREATE INDEX cases_received ON cases(received_at, ack_due, acked_at)",
    # Weekly SLA figures of weeks that can no longer change (storage/sla.py).
    """CREATE TABLE sla_weeks (
        week_start TEXT NOT NULL,
        week_end TEXT NOT NULL,
        received INTEGER NOT NULL,
        in_time INTEGER NOT NULL,
        overdue INTEGER NOT NULL,
        computed_at TEXT NOT NULL,
        PRIMARY KEY (week_start, week_end)
    )""",
    # Case list filters: each keeps newest-first (rowid order within the key) a range scan.
    "CREATE INDEX cases_kind ON cases(kind)",
    "CREATE INDEX cases_channel ON cases(channel)",
    "CREATE INDEX cases_department ON cases(department)",
    # Full-text search.
    f"""CREATE VIEW case_text AS
        SELECT c.id AS id, c.subject AS subject, c.what AS what, c.who AS who,
               c.outcome AS outcome, {_INBOUND.format(case="c.id")} AS inbound
        FROM cases c""",
    f"""CREATE VIRTUAL TABLE case_fts USING fts5({_FTS_COLUMNS}, content='case_text',
        content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')""",
    "INSERT INTO case_fts(case_fts) VALUES ('rebuild')",
    _reindex("AFTER", "cases", "INSERT", "new.id", "1"),
    _reindex("BEFORE", "cases", "UPDATE OF subject, what, who, outcome", "old.id", "1"),
    _reindex("AFTER", "cases", "UPDATE OF subject, what, who, outcome", "new.id", "1"),
    _reindex(
        "BEFORE",
        "messages",
        "INSERT",
        "new.case_id",
        "new.direction = 'in' AND new.case_id IS NOT NULL",
    ),
    _reindex(
        "AFTER",
        "messages",
        "INSERT",
        "new.case_id",
        "new.direction = 'in' AND new.case_id IS NOT NULL",
    ),
    _reindex(
        "BEFORE",
        "messages",
        "UPDATE OF body, case_id, direction",
        "old.case_id, new.case_id",
        "old.direction = 'in' OR new.direction = 'in'",
    ),
    _reindex(
        "AFTER",
        "messages",
        "UPDATE OF body, case_id, direction",
        "old.case_id, new.case_id",
        "old.direction = 'in' OR new.direction = 'in'",
    ),
    _reindex("BEFORE", "messages", "DELETE", "old.case_id", "old.direction = 'in'"),
    _reindex("AFTER", "messages", "DELETE", "old.case_id", "old.direction = 'in'"),
)
