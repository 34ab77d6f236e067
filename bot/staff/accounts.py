"""Staff accounts: the operations the CLI and the admin pages share.

Each change is one transaction together with its audit row, so the log never misses an
action and never records one that did not happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils
from email_validator import EmailNotValidError, validate_email

from bot.staff.passwords import check_new_password, generate_password, hash_password
from storage.db import write_transaction
from storage.staff import (
    ROLES,
    StaffAccount,
    StaffError,
    StaffInputError,
    add_staff,
    count_enabled_admins,
    get_staff,
    get_staff_by_id,
    record_audit,
    set_disabled,
    set_password_hash,
)

#: The first admin `caredesk staff ensure-admin` creates when none exists.
DEFAULT_ADMIN_EMAIL = "admin@caredesk.example.org"
DEFAULT_ADMIN_NAME = "Administrator"


def _audit(
    db: sqlite_utils.Database,
    actor: str,
    actor_id: int | None,
    action: str,
    account_id: int,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """The audit row of an account change, in the change's transaction."""
    record_audit(
        db,
        actor,
        action,
        now,
        staff_id=actor_id,
        target_kind="account",
        target=str(account_id),
        detail=detail,
    )


def normalize_email(text: str) -> str:
    """The address as accounts are keyed: validated (email-validator, as intake does), then
    lower-cased, since nobody means two people by two spellings of one address."""
    try:
        result = validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise StaffInputError(f"{text.strip()!r} is not an email address: {exc}") from None
    return str(result.normalized).lower()


def check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise StaffInputError("a name is needed (at most 200 characters)")
    return name


@dataclass(frozen=True)
class Created:
    account: StaffAccount
    #: The generated password, to print once; None when the caller supplied one.
    password: str | None


def create_account(
    db: sqlite_utils.Database,
    email: str,
    name: str,
    role: str,
    password: str | None,
    now: datetime,
    actor: str,
    actor_id: int | None = None,
) -> Created:
    if role not in ROLES:
        raise StaffInputError(f"unknown role {role!r} (one of: {', '.join(ROLES)})")
    email = normalize_email(email)
    name = check_name(name)
    generated = None
    if password is None:
        generated = password = generate_password()
    else:
        check_new_password(password)
    hashed = hash_password(password)
    with write_transaction(db):
        staff_id = add_staff(db, email, name, role, hashed, now)
        _audit(db, actor, actor_id, "account-added", staff_id, now, {"role": role})
    account = get_staff_by_id(db, staff_id)
    assert account is not None
    return Created(account, generated)


def find_account(db: sqlite_utils.Database, email: str) -> StaffAccount:
    account = get_staff(db, normalize_email(email))
    if account is None:
        raise StaffError(f"no staff account for {email.strip()}")
    return account


def disable_account(
    db: sqlite_utils.Database,
    account: StaffAccount,
    now: datetime,
    actor: str,
    actor_id: int | None = None,
) -> bool:
    """Disable an account and end its sessions. The last enabled admin is kept, so the
    accounts can always be managed; False when it was disabled already."""
    with write_transaction(db):
        if account.role == "admin" and not account.disabled and count_enabled_admins(db) <= 1:
            raise StaffError(f"{account.email} is the only admin left; add another admin first")
        changed = set_disabled(db, account.id, now)
        if changed:
            _audit(db, actor, actor_id, "account-disabled", account.id, now)
    return changed


def reset_password(
    db: sqlite_utils.Database,
    account: StaffAccount,
    password: str | None,
    now: datetime,
    actor: str,
    actor_id: int | None = None,
) -> str | None:
    """Set a new password (generated when None, and returned to print once); the account's
    sessions end."""
    generated = None
    if password is None:
        generated = password = generate_password()
    else:
        check_new_password(password)
    hashed = hash_password(password)
    with write_transaction(db):
        set_password_hash(db, account.id, hashed, now)
        _audit(db, actor, actor_id, "password-reset", account.id, now)
    return generated


def ensure_admin(
    db: sqlite_utils.Database, email: str, name: str, now: datetime, actor: str
) -> Created | None:
    """Create an admin with a generated password when no enabled admin exists; None when one
    does (nothing changes, nothing is printed twice)."""
    if count_enabled_admins(db) > 0:
        return None
    existing = get_staff(db, normalize_email(email))
    if existing is not None:  # the first admin was disabled or demoted: a new password
        raise StaffError(
            f"no enabled admin, and {existing.email} exists; "
            "use `caredesk staff add` with another address"
        )
    return create_account(db, email, name, "admin", None, now, actor)
