"""Passwords: argon2id hashes (argon2-cffi), generated passwords, and the rules for new ones.

Verifying costs tens of milliseconds and a lot of memory on purpose; callers on the event loop
run it in a thread. An unknown account is checked against a dummy hash made with the same
parameters, so a wrong address takes as long to refuse as a wrong password.
"""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: argon2-cffi's defaults are RFC 9106's second recommended argon2id profile.
HASHER = PasswordHasher()
MIN_LENGTH = 12
MAX_LENGTH = 1024


class PasswordRuleError(ValueError):
    """A new password does not meet the rules; the message says which."""


def hash_password(password: str) -> str:
    return HASHER.hash(password)


@functools.cache
def _dummy_hash() -> str:
    return HASHER.hash(secrets.token_urlsafe(24))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash (unknown account) the same work is done
    against a dummy, and the answer is False."""
    try:
        HASHER.verify(stored_hash or _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return stored_hash is not None


def needs_rehash(stored_hash: str) -> bool:
    """After the hasher's parameters are raised, old hashes are renewed at the next sign-in."""
    return HASHER.check_needs_rehash(stored_hash)


def generate_password() -> str:
    """A random password of 20 characters (about 120 bits), easy to copy: no look-alikes
    matter since it is pasted once and changed."""
    return secrets.token_urlsafe(15)


def check_new_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise PasswordRuleError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordRuleError(f"a password can have at most {MAX_LENGTH} characters")
    if not password.strip():
        raise PasswordRuleError("a password cannot be only spaces")
    return password
