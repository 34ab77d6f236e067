"""`caredesk staff ...`: staff accounts from the server's command line.

A generated password is printed once, here, and stored only as its argon2id hash; nobody can
read it again later. Every change is written to the audit log as `cli:<user>`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

import sqlite_utils

from bot.cli_groups import command_group
from bot.clock import Clock
from bot.staff.accounts import (
    DEFAULT_ADMIN_EMAIL,
    DEFAULT_ADMIN_NAME,
    create_account,
    disable_account,
    ensure_admin,
    find_account,
    reset_password,
)
from bot.staff.passwords import MIN_LENGTH, PasswordRuleError
from storage.staff import ROLES, StaffError, StaffInputError, list_staff

STDIN_HELP = (
    f"read the password from the first line of stdin (at least {MIN_LENGTH} characters) "
    "instead of generating one"
)


def add_staff_parser(commands: Any) -> None:
    """Adds `staff` and its actions to the top-level subparsers."""
    actions = command_group(
        commands,
        "staff",
        help="staff accounts for the /staff/ pages: add, list, disable, reset a password",
        description="Staff accounts for the staff pages under /staff/ of `caredesk serve`. "
        "Roles: agent (reviews drafts, works cases), supervisor (also closes cases that "
        "involve Council or the CAO), admin (also manages accounts). Passwords are stored "
        "only as argon2id hashes; a generated password is printed once. Every change is "
        "written to the audit log.",
    )
    add = actions.add_parser(
        "add",
        help="add an account (prints a generated password once)",
        description="Add a staff account. Without --password-stdin a random password is "
        "generated and printed once: give it to the person privately.",
    )
    add.add_argument("email", metavar="EMAIL", help="the person's work email address")
    add.add_argument("--name", required=True, help="the person's name, shown on the pages")
    add.add_argument("--role", required=True, choices=ROLES, help="agent, supervisor or admin")
    add.add_argument("--password-stdin", action="store_true", help=STDIN_HELP)
    listing = actions.add_parser(
        "list", help="list the accounts", description="List staff accounts (no passwords)."
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    disable = actions.add_parser(
        "disable",
        help="disable an account and end its sessions",
        description="Disable a staff account: it can no longer sign in and its open sessions "
        "end at once. The last enabled admin cannot be disabled.",
    )
    disable.add_argument("email", metavar="EMAIL")
    reset = actions.add_parser(
        "reset-password",
        help="set a new password (prints a generated one once); ends the account's sessions",
        description="Set a new password for a staff account and end its open sessions. "
        "Without --password-stdin a random one is generated and printed once.",
    )
    reset.add_argument("email", metavar="EMAIL")
    reset.add_argument("--password-stdin", action="store_true", help=STDIN_HELP)
    ensure = actions.add_parser(
        "ensure-admin",
        help="create an admin with a printed one-time password if there is none (make run)",
        description="If no enabled admin account exists, create one with a generated password "
        "and print it once, with where to sign in. Does nothing when an admin exists.",
    )
    ensure.add_argument(
        "--email",
        default=DEFAULT_ADMIN_EMAIL,
        help=f"the admin's address (default {DEFAULT_ADMIN_EMAIL})",
    )
    ensure.add_argument("--name", default=DEFAULT_ADMIN_NAME, help="the admin's name")
    ensure.add_argument(
        "--url",
        default="http://127.0.0.1:8080",
        help="where caredesk serve listens, for the sign-in link (default http://127.0.0.1:8080)",
    )


def _stdin_password(args: argparse.Namespace) -> str | None:
    if not args.password_stdin:
        return None
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def cmd_staff(args: argparse.Namespace, db: sqlite_utils.Database, clock: Clock) -> int:
    actor = f"cli:{getpass.getuser()}"
    try:
        return _run(args, db, clock, actor)
    except (StaffInputError, PasswordRuleError) as exc:
        print(f"caredesk: error: {exc}", file=sys.stderr)
        return 2
    except StaffError as exc:
        print(f"caredesk: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, db: sqlite_utils.Database, clock: Clock, actor: str) -> int:
    action = args.staff_command
    now = clock.now()
    if action == "add":
        created = create_account(
            db, args.email, args.name, args.role, _stdin_password(args), now, actor
        )
        account = created.account
        print(f"added {account.email} ({account.name}, {account.role})")
        if created.password:
            print(f"password (shown only now; give it privately): {created.password}")
        return 0
    if action == "list":
        accounts = list_staff(db)
        if args.json:
            print(json.dumps([a.__dict__ for a in accounts], indent=2, ensure_ascii=False))
            return 0
        if not accounts:
            print("no staff accounts (add one with `caredesk staff add`)")
            return 0
        print(f"{'EMAIL':<36} {'ROLE':<11} {'STATUS':<9} NAME")
        for a in accounts:
            status = "disabled" if a.disabled else "active"
            print(f"{a.email:<36} {a.role:<11} {status:<9} {a.name}")
        return 0
    if action == "disable":
        account = find_account(db, args.email)
        if disable_account(db, account, now, actor):
            print(f"disabled {account.email}; its sessions have ended")
        else:
            print(f"{account.email} was already disabled")
        return 0
    if action == "reset-password":
        account = find_account(db, args.email)
        generated = reset_password(db, account, _stdin_password(args), now, actor)
        print(f"new password set for {account.email}; its sessions have ended")
        if generated:
            print(f"password (shown only now; give it privately): {generated}")
        return 0
    # ensure-admin
    login = f"{args.url.rstrip('/')}/staff/login"
    first = ensure_admin(db, args.email, args.name, now, actor)
    if first is None:
        print(f"staff pages: {login} (an admin account exists; `caredesk staff list`)")
        return 0
    print(
        f"created the first admin account: {first.account.email}\n"
        f"one-time password (shown only now): {first.password}\n"
        f"sign in at {login}, then add staff with `caredesk staff add` and set your own "
        "password with `caredesk staff reset-password --password-stdin`"
    )
    return 0
