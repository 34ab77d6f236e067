"""Staff accounts and sessions without a web server: the pure rules and the storage."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles

from bot.config import StaffConfig
from bot.staff import passwords
from bot.staff.accounts import create_account, normalize_email
from bot.staff.queue import waited
from bot.staff.sessions import expiry_reason, load_session, session_hash, start_session
from storage.db import open_store
from storage.staff import (
    StaffAccount,
    StaffInputError,
    StaffSession,
    get_session,
    record_audit,
)

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
ACCOUNT = StaffAccount(1, "a@city.example.org", "A", "agent", False, "", "")


def session(created: datetime, last_seen: datetime) -> StaffSession:
    return StaffSession("h", "c", created, last_seen, ACCOUNT)


@pytest.mark.parametrize(
    ("created_ago", "seen_ago", "expected"),
    [
        (timedelta(minutes=5), timedelta(minutes=5), None),
        (timedelta(minutes=40), timedelta(minutes=29, seconds=59), None),
        (timedelta(minutes=40), timedelta(minutes=30), "idle"),
        (timedelta(hours=9, minutes=59), timedelta(0), None),
        (timedelta(hours=10), timedelta(0), "absolute"),
        (timedelta(hours=11), timedelta(hours=1), "absolute"),
    ],
)
def test_expiry_reason(created_ago, seen_ago, expected) -> None:
    assert expiry_reason(session(NOW - created_ago, NOW - seen_ago), NOW, StaffConfig()) == expected


@pytest.mark.parametrize(
    ("minutes", "words"),
    [(0, "0 min"), (119, "119 min"), (120, "2 hours"), (47 * 60, "47 hours"), (48 * 60, "2 days")],
)
def test_waited(minutes: int, words: str) -> None:
    assert waited(NOW - timedelta(minutes=minutes), NOW) == words


def test_production_hashes_are_argon2id_with_rfc_9106_parameters() -> None:
    hashed = passwords.hash_password("a long enough password")
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify_password(hashed, "a long enough password")
    assert not passwords.verify_password(hashed, "another password")
    # An unknown account: the same work against a dummy hash, and never a match.
    assert not passwords.verify_password(None, "anything at all")
    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST).hash("x")
    assert passwords.needs_rehash(cheap)


def test_generated_passwords_meet_the_rules_and_differ() -> None:
    made = {passwords.generate_password() for _ in range(20)}
    assert len(made) == 20
    assert all(passwords.check_new_password(p) for p in made)
    with pytest.raises(passwords.PasswordRuleError):
        passwords.check_new_password(" " * 20)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Ana@City.Example.org", "ana@city.example.org"),
        ("  bo@city.example.org ", "bo@city.example.org"),
    ],
)
def test_addresses_are_validated_and_lower_cased(typed: str, expected: str) -> None:
    assert normalize_email(typed) == expected


@pytest.mark.parametrize("typed", ["ana", "ana@", "ana@localhost", "a b@city.example.org"])
def test_bad_addresses_are_refused(typed: str) -> None:
    with pytest.raises(StaffInputError):
        normalize_email(typed)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    store = open_store(tmp_path / "caredesk.db")
    yield store
    store.close()


def test_sessions_store_only_a_hash_and_expire(db) -> None:
    account = create_account(db, "a@city.example.org", "A", "agent", None, NOW, "test").account
    token = start_session(db, account.id, NOW)
    assert get_session(db, token) is None  # looked up by hash only
    assert get_session(db, session_hash(token)).staff == account
    cfg = StaffConfig()
    assert load_session(db, token, NOW + timedelta(minutes=29), cfg) is not None
    assert load_session(db, token, NOW + timedelta(minutes=58), cfg) is not None
    assert load_session(db, token, NOW + timedelta(minutes=88), cfg) is None
    assert get_session(db, session_hash(token)) is None  # ended, not just refused


@pytest.mark.parametrize("statement", ["UPDATE audit SET actor = 'x'", "DELETE FROM audit"])
def test_the_audit_log_is_append_only(db, statement: str) -> None:
    record_audit(
        db,
        "staff:a@city.example.org",
        "viewed-case",
        NOW,
        target_kind="case",
        target="CD-2026-000001",
    )
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute(statement)


def test_audit_target_kinds_are_checked(db) -> None:
    with pytest.raises(ValueError, match="target kind"):
        record_audit(db, "x", "viewed", NOW, target_kind="resident", target="1")
