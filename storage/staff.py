"""Staff accounts, their sessions, sign-in attempts and the staff audit log: the SQL only.

Hashing passwords, making session ids and deciding what is expired belong to `bot/staff/`;
this module stores and reads what those decide, so the rules stay testable without SQL and
the SQL stays in `storage/`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from storage.cases import utc

ROLES = ("agent", "supervisor", "admin")
#: What an audit row's target is: a case (its reference), a draft (its id), an account (its id).
TARGET_KINDS = ("case", "draft", "account", "report")  # report: a month, "2026-11"


class StaffError(Exception):
    """A staff command cannot be done as asked (unknown account, address taken...)."""


class StaffInputError(StaffError):
    """What was given is not valid (an address, a role, a name): a usage error."""


@dataclass(frozen=True)
class StaffAccount:
    id: int
    email: str
    name: str
    role: str
    disabled: bool
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class StaffSession:
    """A signed-in session: who, and the times expiry is judged by."""

    id_hash: str
    csrf: str
    created_at: datetime
    last_seen: datetime
    staff: StaffAccount


_ACCOUNT_COLUMNS = "s.id, s.email, s.name, s.role, s.disabled, s.created_at, s.updated_at"


def _account(row: tuple[Any, ...]) -> StaffAccount:
    return StaffAccount(int(row[0]), row[1], row[2], row[3], bool(row[4]), str(row[5]), str(row[6]))


# -- accounts ---------------------------------------------------------------------------------


def add_staff(
    db: sqlite_utils.Database,
    email: str,
    name: str,
    role: str,
    password_hash: str,
    now: datetime,
) -> int:
    if role not in ROLES:
        raise StaffInputError(f"unknown role {role!r} (one of: {', '.join(ROLES)})")
    if get_staff(db, email) is not None:
        raise StaffError(f"there is already an account for {email}")
    cursor = db.execute(
        """INSERT INTO staff (email, name, role, password_hash, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?)""",
        [email, name, role, password_hash, utc(now), utc(now)],
    )
    return int(cursor.lastrowid or 0)


def get_staff(db: sqlite_utils.Database, email: str) -> StaffAccount | None:
    row = db.execute(
        f"SELECT {_ACCOUNT_COLUMNS} FROM staff s WHERE s.email = ?", [email]
    ).fetchone()
    return _account(row) if row else None


def get_staff_by_id(db: sqlite_utils.Database, staff_id: int) -> StaffAccount | None:
    row = db.execute(
        f"SELECT {_ACCOUNT_COLUMNS} FROM staff s WHERE s.id = ?", [staff_id]
    ).fetchone()
    return _account(row) if row else None


def password_hash_of(db: sqlite_utils.Database, email: str) -> tuple[StaffAccount, str] | None:
    """The account and its stored hash, for signing in only (never shown anywhere)."""
    row = db.execute(
        f"SELECT {_ACCOUNT_COLUMNS}, s.password_hash FROM staff s WHERE s.email = ?", [email]
    ).fetchone()
    return (_account(row[:7]), str(row[7])) if row else None


def list_staff(db: sqlite_utils.Database) -> list[StaffAccount]:
    rows = db.execute(f"SELECT {_ACCOUNT_COLUMNS} FROM staff s ORDER BY s.email").fetchall()
    return [_account(r) for r in rows]


def count_enabled_admins(db: sqlite_utils.Database) -> int:
    row = db.execute("SELECT count(*) FROM staff WHERE role = 'admin' AND disabled = 0").fetchone()
    return int(row[0])


def set_disabled(db: sqlite_utils.Database, staff_id: int, now: datetime) -> bool:
    """Disable an account and end its sessions; False when it was disabled already."""
    cursor = db.execute(
        "UPDATE staff SET disabled = 1, updated_at = ? WHERE id = ? AND disabled = 0",
        [utc(now), staff_id],
    )
    end_sessions_of(db, staff_id)
    return cursor.rowcount > 0


def set_password_hash(
    db: sqlite_utils.Database, staff_id: int, password_hash: str, now: datetime
) -> None:
    """A new password ends every session signed in with the old one."""
    db.execute(
        "UPDATE staff SET password_hash = ?, updated_at = ? WHERE id = ?",
        [password_hash, utc(now), staff_id],
    )
    end_sessions_of(db, staff_id)


# -- sessions ---------------------------------------------------------------------------------


def insert_session(
    db: sqlite_utils.Database, id_hash: str, staff_id: int, csrf: str, now: datetime
) -> None:
    db.execute(
        """INSERT INTO staff_sessions (id_hash, staff_id, csrf, created_at, last_seen)
           VALUES (?, ?, ?, ?, ?)""",
        [id_hash, staff_id, csrf, utc(now), utc(now)],
    )


def get_session(db: sqlite_utils.Database, id_hash: str) -> StaffSession | None:
    row = db.execute(
        f"""SELECT x.id_hash, x.csrf, x.created_at, x.last_seen, {_ACCOUNT_COLUMNS}
            FROM staff_sessions x JOIN staff s ON s.id = x.staff_id WHERE x.id_hash = ?""",
        [id_hash],
    ).fetchone()
    if row is None:
        return None
    return StaffSession(
        row[0],
        row[1],
        datetime.fromisoformat(row[2]),
        datetime.fromisoformat(row[3]),
        _account(row[4:]),
    )


def touch_session(db: sqlite_utils.Database, id_hash: str, now: datetime) -> None:
    db.execute("UPDATE staff_sessions SET last_seen = ? WHERE id_hash = ?", [utc(now), id_hash])


def end_session(db: sqlite_utils.Database, id_hash: str) -> None:
    db.execute("DELETE FROM staff_sessions WHERE id_hash = ?", [id_hash])


def end_sessions_of(db: sqlite_utils.Database, staff_id: int) -> None:
    db.execute("DELETE FROM staff_sessions WHERE staff_id = ?", [staff_id])


def end_stale_sessions(
    db: sqlite_utils.Database, idle_before: datetime, created_before: datetime
) -> int:
    """Remove sessions past either expiry, so the table does not grow with abandoned ones."""
    cursor = db.execute(
        "DELETE FROM staff_sessions WHERE last_seen < ? OR created_at < ?",
        [utc(idle_before), utc(created_before)],
    )
    return cursor.rowcount


# -- sign-in attempts -------------------------------------------------------------------------


def record_attempt(
    db: sqlite_utils.Database,
    account: str,
    client: str,
    ok: bool,
    now: datetime,
    prune_before: datetime,
) -> None:
    db.execute(
        "INSERT INTO login_attempts (at, account, client, ok) VALUES (?, ?, ?, ?)",
        [utc(now), account, client, int(ok)],
    )
    db.execute("DELETE FROM login_attempts WHERE at < ?", [utc(prune_before)])


def failures_of_account(db: sqlite_utils.Database, account: str, since: datetime) -> int:
    """Failures for an account since `since` and since its last successful sign-in."""
    row = db.execute(
        """SELECT count(*) FROM login_attempts
           WHERE account = ? AND ok = 0 AND at >= ?
             AND at >= coalesce((SELECT max(at) FROM login_attempts
                                 WHERE account = ? AND ok = 1), '')""",
        [account, utc(since), account],
    ).fetchone()
    return int(row[0])


def failures_of_client(db: sqlite_utils.Database, client: str, since: datetime) -> int:
    """A client's failures count whatever account they name (a success does not reset them)."""
    row = db.execute(
        "SELECT count(*) FROM login_attempts WHERE client = ? AND ok = 0 AND at >= ?",
        [client, utc(since)],
    ).fetchone()
    return int(row[0])


# -- audit ------------------------------------------------------------------------------------


def record_audit(
    db: sqlite_utils.Database,
    actor: str,
    action: str,
    now: datetime,
    *,
    staff_id: int | None = None,
    target_kind: str | None = None,
    target: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """One audit row. `detail` must hold no resident's personal data in plain text: ids,
    references, kinds and counts only."""
    if target_kind is not None and target_kind not in TARGET_KINDS:
        raise ValueError(f"unknown audit target kind {target_kind!r}")
    db.execute(
        """INSERT INTO audit (at, actor, action, target, detail, staff_id, target_kind)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        [
            utc(now),
            actor,
            action,
            target,
            json.dumps(dict(detail or {}), ensure_ascii=False, sort_keys=True, default=str),
            staff_id,
            target_kind,
        ],
    )


def audit_rows(
    db: sqlite_utils.Database, action: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The newest audit rows first (for tests and, later, an audit page)."""
    where, params = ("WHERE action = ?", [action]) if action else ("", [])
    cursor = db.execute(
        f"""SELECT id, at, actor, action, target, target_kind, staff_id, detail FROM audit
            {where} ORDER BY id DESC LIMIT ?""",
        [*params, limit],
    )
    names = [c[0] for c in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    for r in rows:
        r["detail"] = json.loads(r["detail"])
    return rows
