"""`caredesk staff ...` as a person types it: real processes on a real SQLite file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from storage.db import open_store
from storage.staff import audit_rows, get_staff, password_hash_of

from .test_cli import run

PASSWORD = "a long enough password"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "caredesk.db"


def staff(store: Path, *args: str, stdin: str | None = None):
    return run("--db", str(store), "staff", *args, stdin=stdin)


def stored_hash(store: Path, email: str) -> str:
    db = open_store(store)
    try:
        found = password_hash_of(db, email)
        assert found is not None
        return found[1]
    finally:
        db.close()


@pytest.mark.parametrize(
    "command",
    [[], ["add"], ["list"], ["disable"], ["reset-password"], ["ensure-admin"]],
    ids=lambda c: " ".join(c) or "staff",
)
def test_every_staff_command_has_help(store: Path, command: list[str]) -> None:
    result = staff(store, *command, "--help")
    assert result.returncode == 0
    assert "usage: caredesk" in result.stdout
    assert len(result.stdout.splitlines()) > 3


def test_top_level_help_names_staff(store: Path) -> None:
    assert "    staff" in run("--help").stdout


def test_add_with_a_generated_password_prints_it_once(store: Path) -> None:
    result = staff(store, "add", "Ana@City.Example.org", "--name", "Ana Silva", "--role", "agent")
    assert result.returncode == 0, result.stderr
    assert "added ana@city.example.org (Ana Silva, agent)" in result.stdout
    password = re.search(r"password \(shown only now; give it privately\): (\S+)", result.stdout)
    assert password is not None
    hashed = stored_hash(store, "ana@city.example.org")
    assert hashed.startswith("$argon2id$")
    assert PasswordHasher().verify(hashed, password.group(1))
    assert password.group(1) not in store.read_bytes().decode("latin-1")
    listing = staff(store, "list")
    assert re.search(r"ana@city.example.org\s+agent\s+active\s+Ana Silva", listing.stdout)


def test_add_with_password_on_stdin(store: Path) -> None:
    result = staff(
        store,
        "add",
        "bo@city.example.org",
        "--name",
        "Bo",
        "--role",
        "admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert "password" not in result.stdout.replace("added", "")
    assert PasswordHasher().verify(stored_hash(store, "bo@city.example.org"), PASSWORD)
    db = open_store(store)
    [row] = audit_rows(db, "account-added")
    assert row["actor"].startswith("cli:")
    assert row["detail"] == {"role": "admin"}
    db.close()


@pytest.mark.parametrize(
    ("args", "stdin", "status", "message"),
    [
        (
            ["add", "not-an-address", "--name", "X", "--role", "agent"],
            None,
            2,
            "is not an email address",
        ),
        (
            ["add", "x@city.example.org", "--name", "X", "--role", "boss"],
            None,
            2,
            "invalid choice: 'boss'",
        ),
        (
            ["add", "x@city.example.org", "--name", "X", "--role", "agent", "--password-stdin"],
            "short\n",
            2,
            "at least 12 characters",
        ),
        (["disable", "ghost@city.example.org"], None, 1, "no staff account"),
        (["reset-password", "ghost@city.example.org"], None, 1, "no staff account"),
    ],
)
def test_bad_input_gives_one_clear_line(store, args, stdin, status, message) -> None:
    result = staff(store, *args, stdin=stdin)
    assert result.returncode == status
    [line] = result.stderr.strip().splitlines()
    assert message in line
    assert "Traceback" not in result.stderr


def test_an_address_is_added_once(store: Path) -> None:
    args = ("add", "ana@city.example.org", "--name", "Ana", "--role", "agent")
    assert staff(store, *args).returncode == 0
    again = staff(store, *args[:1], "ANA@city.example.org", *args[2:])
    assert again.returncode == 1
    assert "already an account for ana@city.example.org" in again.stderr


def test_disable_and_reset_password(store: Path) -> None:
    staff(store, "add", "ana@city.example.org", "--name", "Ana", "--role", "agent")
    before = stored_hash(store, "ana@city.example.org")
    reset = staff(
        store, "reset-password", "ana@city.example.org", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert reset.returncode == 0
    assert "sessions have ended" in reset.stdout
    after = stored_hash(store, "ana@city.example.org")
    assert after != before and PasswordHasher().verify(after, PASSWORD)
    disabled = staff(store, "disable", "ana@city.example.org")
    assert disabled.returncode == 0 and "disabled ana@city.example.org" in disabled.stdout
    assert "already disabled" in staff(store, "disable", "ana@city.example.org").stdout
    assert re.search(r"ana@city.example.org\s+agent\s+disabled", staff(store, "list").stdout)
    db = open_store(store)
    assert get_staff(db, "ana@city.example.org").disabled
    assert [r["action"] for r in audit_rows(db)][:2] == ["account-disabled", "password-reset"]
    db.close()


def test_the_last_admin_cannot_be_disabled(store: Path) -> None:
    staff(store, "add", "bo@city.example.org", "--name", "Bo", "--role", "admin")
    result = staff(store, "disable", "bo@city.example.org")
    assert result.returncode == 1
    assert "only admin left" in result.stderr


def test_ensure_admin_creates_one_the_first_time_only(store: Path) -> None:
    first = staff(store, "ensure-admin", "--url", "http://127.0.0.1:9000")
    assert first.returncode == 0, first.stderr
    assert "created the first admin account: admin@caredesk.example.org" in first.stdout
    assert "sign in at http://127.0.0.1:9000/staff/login" in first.stdout
    password = re.search(r"one-time password \(shown only now\): (\S+)", first.stdout).group(1)
    assert PasswordHasher().verify(stored_hash(store, "admin@caredesk.example.org"), password)
    second = staff(store, "ensure-admin", "--url", "http://127.0.0.1:9000")
    assert second.returncode == 0
    assert "an admin account exists" in second.stdout
    assert password not in second.stdout and "created" not in second.stdout
    assert "http://127.0.0.1:9000/staff/login" in second.stdout
