"""The SQLite store: connection settings, schema and forward migrations.

One file, WAL mode so readers (staff pages, `cases list`) never block the writer, and a schema
version in `PRAGMA user_version` so every start brings an older file forward. Migrations only
ever add; each runs in its own transaction together with its version bump.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlite_utils

from storage.alerts_schema import ALERTS_INDEX
from storage.case_work import CASE_WORK
from storage.clocks_schema import CLOCKS_SCHEMA
from storage.forward_schema import FORWARDS
from storage.review_schema import REVIEW_DATA
from storage.staff_schema import STAFF_DATA
from storage.survey_schema import SURVEYS
from storage.tracker_sync_schema import TRACKER_SYNC

#: Each entry is one migration: a list of statements. Never edit a released entry; append.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # Contact details live apart from case text so they can be protected and erased
        # (policy 03.01) without touching the record of what happened (04.08).
        """CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            name TEXT, email TEXT, phone TEXT,
            created_at TEXT NOT NULL,
            erased_at TEXT
        )""",
        """CREATE TABLE cases (
            id INTEGER PRIMARY KEY,
            ref TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            channel TEXT NOT NULL,
            department TEXT,
            person_id INTEGER REFERENCES people(id),
            subject TEXT,
            what TEXT, when_text TEXT, occurred_at TEXT, who TEXT, outcome TEXT,
            on_behalf_of TEXT,
            missing TEXT NOT NULL DEFAULT '[]',
            rules TEXT NOT NULL DEFAULT '[]',
            sensitive INTEGER NOT NULL DEFAULT 0,
            out_of_scope TEXT,
            received_at TEXT NOT NULL,
            ack_due TEXT,
            follow_up_due TEXT,
            response_due TEXT,
            hazard_due TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            closed_at TEXT
        )""",
        "CREATE INDEX cases_status ON cases(status)",
        "CREATE INDEX cases_person ON cases(person_id)",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id),
            at TEXT NOT NULL,
            type TEXT NOT NULL,
            actor TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX events_case ON events(case_id, id)",
        # The timeline is a record (04.08): append-only, enforced by the database itself.
        """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
           BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
        """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
           BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            case_id INTEGER REFERENCES cases(id),
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            channel TEXT NOT NULL,
            message_key TEXT UNIQUE,
            at TEXT NOT NULL,
            subject TEXT,
            body TEXT NOT NULL,
            meta TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX messages_case ON messages(case_id)",
        """CREATE TABLE drafts (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id),
            reply_kind TEXT NOT NULL,
            channel TEXT NOT NULL,
            recipient TEXT,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            why TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'approved', 'rejected')),
            created_at TEXT NOT NULL,
            reviewed_by TEXT,
            reviewed_at TEXT
        )""",
        "CREATE INDEX drafts_status ON drafts(status)",
        # Every side effect that leaves the machine is first a row here (DESIGN.md).
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            case_id INTEGER REFERENCES cases(id),
            draft_id INTEGER REFERENCES drafts(id),
            channel TEXT NOT NULL,
            recipient TEXT,
            reply_kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sent', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT
        )""",
        "CREATE INDEX outbox_due ON outbox(status, channel, next_attempt_at)",
        """CREATE TABLE conversations (
            key TEXT PRIMARY KEY,
            channel TEXT NOT NULL,
            state TEXT NOT NULL,
            case_id INTEGER REFERENCES cases(id),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT,
            detail TEXT NOT NULL DEFAULT '{}'
        )""",
        """CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        )""",
    ),
    (
        # 2: the feedback mailbox.
        "ALTER TABLE outbox ADD COLUMN headers TEXT NOT NULL DEFAULT '{}'",
        "CREATE INDEX outbox_recipient ON outbox(recipient, created_at)",
        # Something about the case needs a person (a reply that could not be delivered...).
        "ALTER TABLE cases ADD COLUMN attention TEXT",
        # Mail is kept as it arrived (04.08), apart from the text, for staff and re-parsing.
        """CREATE TABLE raw_messages (
            message_id INTEGER PRIMARY KEY REFERENCES messages(id),
            raw BLOB NOT NULL,
            size INTEGER NOT NULL
        )""",
        # Addresses our mail bounced from: not acknowledged again for a while.
        """CREATE TABLE bounces (
            id INTEGER PRIMARY KEY,
            address TEXT NOT NULL,
            at TEXT NOT NULL,
            case_id INTEGER REFERENCES cases(id)
        )""",
        "CREATE INDEX bounces_address ON bounces(address, at)",
        # Where IMAP intake stands in each folder.
        """CREATE TABLE mail_state (
            folder TEXT PRIMARY KEY,
            uidvalidity INTEGER NOT NULL,
            last_uid INTEGER NOT NULL,
            updated_at TEXT NOT NULL
        )""",
    ),
    (
        # 3: chat channels.
        # Which conversation filed a case: a resident may ask for the status of their own.
        "ALTER TABLE cases ADD COLUMN conversation TEXT",
        "CREATE INDEX cases_conversation ON cases(conversation)",
        # Updates a channel delivered (Telegram update_id...): a redelivery has no effect.
        """CREATE TABLE channel_updates (
            channel TEXT NOT NULL,
            update_key TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (channel, update_key)
        )""",
        "CREATE INDEX conversations_idle ON conversations(updated_at)",
    ),
    (
        # 4: what was said in each chat, in order: shown again on reload, kept as a record.
        """CREATE TABLE chat_log (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL,
            at TEXT NOT NULL,
            who TEXT NOT NULL CHECK (who IN ('resident', 'city')),
            text TEXT NOT NULL,
            choices TEXT NOT NULL DEFAULT '[]'
        )""",
        "CREATE INDEX chat_log_key ON chat_log(key, id)",
    ),
    (
        # issue 8: when precision. occurred_at is the start of what the resident said, this
        # the end (exclusive) and how precise it is (bot/when.py: minute ... unknown).
        "ALTER TABLE cases ADD COLUMN occurred_until TEXT",
        "ALTER TABLE cases ADD COLUMN when_precision TEXT",
        # issue 8: mail. The global hourly cap on acknowledgement mail counts recent email rows.
        # Partial: only automatic emails, so the count reads the hour's acknowledgements and
        # nothing else (a backlog of chat replies or drafts does not slow it down).
        "CREATE INDEX outbox_email_acks ON outbox(created_at) "
        "WHERE channel = 'email' AND draft_id IS NULL",
        # issue 8: hostile input. How often intake has started on a message: one that keeps
        # failing (or killing the process) is quarantined after [mail.imap] max_attempts.
        """CREATE TABLE mail_attempts (
            folder TEXT NOT NULL,
            uidvalidity INTEGER NOT NULL,
            uid INTEGER NOT NULL,
            attempts INTEGER NOT NULL,
            last_error TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (folder, uidvalidity, uid)
        )""",
    ),
    (
        # 6 (issue 11): staff accounts, their sessions, sign-in throttling, and the audit log
        # naming which staff member did what. Passwords only as argon2id hashes.
        """CREATE TABLE staff (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
            password_hash TEXT NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        # The session id is never stored, only its SHA-256: a copy of the store opens no session.
        """CREATE TABLE staff_sessions (
            id_hash TEXT PRIMARY KEY,
            staff_id INTEGER NOT NULL REFERENCES staff(id),
            csrf TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_seen TEXT NOT NULL
        )""",
        "CREATE INDEX staff_sessions_staff ON staff_sessions(staff_id)",
        # Failed and successful sign-ins, by a hash of the typed address and of the client's
        # address (neither kept in plain text); old rows are pruned as new ones come.
        """CREATE TABLE login_attempts (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            account TEXT NOT NULL,
            client TEXT NOT NULL,
            ok INTEGER NOT NULL
        )""",
        "CREATE INDEX login_attempts_account ON login_attempts(account, at)",
        "CREATE INDEX login_attempts_client ON login_attempts(client, at)",
        "CREATE INDEX login_attempts_at ON login_attempts(at)",
        # The audit log says which staff member (if one) and what kind of thing was touched.
        "ALTER TABLE audit ADD COLUMN staff_id INTEGER REFERENCES staff(id)",
        "ALTER TABLE audit ADD COLUMN target_kind TEXT",
        "CREATE INDEX audit_target ON audit(target_kind, target)",
        "CREATE INDEX audit_staff ON audit(staff_id, at)",
        # A record of who did what is only worth something if nobody can rewrite it.
        """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
           BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
           BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    ),
    STAFF_DATA,
    ALERTS_INDEX,
    # issue 11: the review queue's actions: sent-back drafts, revisions (storage/review_schema.py).
    REVIEW_DATA,
    # issue 11: staff work on a case: assignment, notes, corrections (storage/case_work.py).
    CASE_WORK,
    # issue 12: the place of a case, and its forwards to the tracker (storage/forward_schema.py).
    FORWARDS,
    # issue 12: where status sync stands per department (storage/tracker_sync_schema.py).
    TRACKER_SYNC,
    SURVEYS,  # issue 13: the satisfaction survey and opting out (storage/survey_schema.py)
    # issue 13: the scheduler's due times and actions taken (storage/clocks_schema.py).
    CLOCKS_SCHEMA,
)

SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The store cannot be used (newer schema than this code, unreadable file)."""


def connect(path: Path | str) -> sqlite_utils.Database:
    """Open the store with the settings every process must share."""
    db = sqlite_utils.Database(str(path))
    # Autocommit outside write_transaction(): a lone write is its own transaction, and its
    # explicit BEGIN IMMEDIATE/COMMIT groups the writes that belong together.
    db.conn.isolation_level = None
    db.execute("PRAGMA busy_timeout = 10000")
    db.execute("PRAGMA foreign_keys = ON")
    if str(path) != ":memory:":
        db.enable_wal()
    db.execute("PRAGMA synchronous = NORMAL")
    return db


def schema_version(db: sqlite_utils.Database) -> int:
    row = db.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(db: sqlite_utils.Database) -> int:
    """Apply the missing migrations, each in one transaction; return the version reached."""
    current = schema_version(db)
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"the store is at schema version {current}, newer than this caredesk "
            f"({SCHEMA_VERSION}); upgrade caredesk"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        with db.atomic():
            for statement in MIGRATIONS[version - 1]:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version}")
    return SCHEMA_VERSION


class write_transaction:
    """A write transaction that takes the write lock up front (BEGIN IMMEDIATE).

    With several writers (the service's loop, the IMAP thread, a `caredesk chat` in another
    terminal) a deferred transaction that read first can fail to upgrade to a writer; an
    immediate one waits its turn (busy_timeout) instead. An error rolls everything back.
    Nested calls become savepoints (`db.atomic()`); the outermost needs none: its ROLLBACK
    undoes all (a savepoint there cost two statements and a random name on every chat turn).

    A class rather than a @contextmanager generator, and the connection itself rather than
    db.execute (sqlite-utils parses each statement's first keyword to decide whether to
    commit): every chat turn opens one, and both cost more than the work they wrapped.
    """

    __slots__ = ("_nested", "db")

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self._nested: contextlib.AbstractContextManager[Any] | None = None

    def __enter__(self) -> sqlite_utils.Database:
        conn = self.db.conn
        if conn.in_transaction:
            self._nested = self.db.atomic()
            self._nested.__enter__()
        else:
            conn.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Never swallows an exception (None): the caller's error goes on after ROLLBACK."""
        if self._nested is not None:
            self._nested.__exit__(kind, error, trace)
            return
        conn = self.db.conn
        if kind is not None:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return
        conn.execute("COMMIT")


def commit_durably(db: sqlite_utils.Database) -> None:
    """Make every commit so far survive a power cut, with one fsync (a group commit).

    In WAL mode with synchronous=NORMAL (the setting above, for speed) a commit is in the WAL
    but not yet fsynced: a power loss can roll back the last commits. With synchronous=FULL
    SQLite fsyncs the WAL at commit, and an fsync covers the whole file, so one small FULL
    commit makes all the earlier ones durable too. Call it before acting on commits outside
    the store (e.g. moving mail out of the INBOX). It writes the schema version (unchanged)."""
    db.execute("PRAGMA synchronous = FULL")
    try:
        with write_transaction(db):
            db.execute(f"PRAGMA user_version = {schema_version(db)}")
    finally:
        db.execute("PRAGMA synchronous = NORMAL")


def open_store(path: Path | str) -> sqlite_utils.Database:
    """Connect and migrate: what every command does before touching data."""
    try:
        db = connect(path)
        migrate(db)
    except StoreError as exc:
        raise StoreError(f"{path}: {exc}") from None
    except Exception as exc:  # sqlite3.DatabaseError for a file that is not a database
        raise StoreError(f"{path}: cannot open the store: {exc}") from exc
    return db
