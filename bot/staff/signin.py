"""Checking a sign-in, with throttling per account and per client address.

An unknown address and a wrong password get the same answer, after the same work (a dummy
argon2 verification), and count the same towards throttling: the attempts are keyed by a hash
of the typed address, not by the account, so the page never tells whether an account exists.
Throttled attempts are refused before any password is checked and are not counted, so a
person who waits out the window can sign in again.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

from bot.config import StaffConfig
from bot.staff.passwords import hash_password, needs_rehash, verify_password
from storage.db import write_transaction
from storage.staff import (
    StaffAccount,
    failures_of_account,
    failures_of_client,
    password_hash_of,
    record_attempt,
    record_audit,
    set_password_hash,
)


def attempt_key(kind: str, value: str) -> str:
    """Neither the typed address nor the client's address is stored in plain text."""
    return hashlib.sha256(f"caredesk-signin:{kind}:{value}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SignInResult:
    account: StaffAccount | None
    #: True when refused by throttling (no password was checked).
    throttled: bool = False


def is_throttled(
    db: sqlite_utils.Database, cfg: StaffConfig, account_key: str, client_key: str, now: datetime
) -> bool:
    since = now - timedelta(minutes=cfg.throttle_minutes)
    return (
        failures_of_account(db, account_key, since) >= cfg.account_failures
        or failures_of_client(db, client_key, since) >= cfg.client_failures
    )


async def sign_in(
    db: sqlite_utils.Database,
    cfg: StaffConfig,
    email: str,
    password: str,
    client: str,
    now: datetime,
) -> SignInResult:
    """The account when the address and password match an enabled account, else None."""
    typed = email.strip().lower()
    account_key = attempt_key("account", typed)
    client_key = attempt_key("client", client)
    if is_throttled(db, cfg, account_key, client_key, now):
        record_audit(db, "anonymous", "sign-in-throttled", now)
        return SignInResult(None, throttled=True)
    found = password_hash_of(db, typed) if typed else None
    stored = found[1] if found else None
    # argon2 takes tens of milliseconds: off the event loop, which serves the chats too.
    matches = await asyncio.to_thread(verify_password, stored, password)
    account = found[0] if found and matches and not found[0].disabled else None
    prune = now - timedelta(minutes=cfg.throttle_minutes) * 2
    with write_transaction(db):
        record_attempt(db, account_key, client_key, account is not None, now, prune)
        if account is None:
            # The account's id only when it exists; never the typed address.
            record_audit(
                db,
                "anonymous",
                "sign-in-failed",
                now,
                target_kind="account" if found else None,
                target=str(found[0].id) if found else None,
            )
    if account is not None and stored is not None and needs_rehash(stored):
        # Stronger hasher parameters since this hash was made: renew it now that the password
        # is known. It ends the account's other sessions, as any password change does.
        new_hash = await asyncio.to_thread(hash_password, password)
        set_password_hash(db, account.id, new_hash, now)
    return SignInResult(account)
