"""Server-side staff sessions: the cookie holds a random 256-bit id, the store its SHA-256.

A session ends when unused for `[staff] idle_minutes`, `absolute_hours` after sign-in however
busy, at sign-out, and when the account is disabled or its password reset. Signing in always
makes a new id (any session the browser brought is ended first), so an id planted before
sign-in is worth nothing after it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlite_utils

from bot.config import StaffConfig
from storage.staff import (
    StaffSession,
    end_session,
    end_stale_sessions,
    get_session,
    insert_session,
    touch_session,
)

#: The session cookie (path /staff/); the sign-in form's own cookie before there is a session.
SESSION_COOKIE = "caredesk_staff"
LOGIN_COOKIE = "caredesk_staff_signin"
#: last_seen is written at most this often: idle expiry is counted in minutes anyway.
TOUCH_SECONDS = 30


def session_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def start_session(db: sqlite_utils.Database, staff_id: int, now: datetime) -> str:
    """A new session; returns the token for the cookie (never stored)."""
    token = new_token()
    insert_session(db, session_hash(token), staff_id, secrets.token_urlsafe(32), now)
    return token


def expiry_reason(session: StaffSession, now: datetime, cfg: StaffConfig) -> str | None:
    """'idle' or 'absolute' when the session is over, else None. Pure, for tests."""
    if now - session.created_at >= timedelta(hours=cfg.absolute_hours):
        return "absolute"
    if now - session.last_seen >= timedelta(minutes=cfg.idle_minutes):
        return "idle"
    return None


def load_session(
    db: sqlite_utils.Database, token: str, now: datetime, cfg: StaffConfig
) -> StaffSession | None:
    """The live session of a cookie, its use recorded; an expired one is ended here."""
    if not token or len(token) > 100:
        return None
    id_hash = session_hash(token)
    session = get_session(db, id_hash)
    if session is None:
        return None
    if session.staff.disabled or expiry_reason(session, now, cfg) is not None:
        end_session(db, id_hash)
        return None
    if (now - session.last_seen).total_seconds() >= TOUCH_SECONDS:
        touch_session(db, id_hash, now)
    return session


def end(db: sqlite_utils.Database, token: str) -> None:
    if token:
        end_session(db, session_hash(token))


def sweep(db: sqlite_utils.Database, now: datetime, cfg: StaffConfig) -> int:
    """Remove every expired session (run at sign-in, so the table stays small)."""
    return end_stale_sessions(
        db, now - timedelta(minutes=cfg.idle_minutes), now - timedelta(hours=cfg.absolute_hours)
    )
