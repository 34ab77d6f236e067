"""Chat conversation state, persisted after every turn so a conversation survives a restart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlite_utils

from storage.cases import utc

#: The state is written on every chat turn: compact JSON, no spaces (read back as the same value).
_json_encode_state = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _encode_state(state: dict[str, Any]) -> str:
    """The state as stored. orjson writes the same compact text as the json module in about a
    thirtieth of the time (it was a tenth of a chat turn's CPU, with `decode_state`); what it
    refuses (an integer past 64 bits...) goes through the json module as before."""
    try:
        return orjson.dumps(state).decode()
    except orjson.JSONEncodeError:
        return _json_encode_state(state)


def decode_state(text: str) -> dict[str, Any]:
    """A stored state, read back (orjson: a quarter of the json module's time)."""
    state: dict[str, Any] = orjson.loads(text)
    return state


#: Most transcript lines offer no choices: their column value, without a json.dumps each.
_NO_CHOICES = "[]"


def load_conversation(db: sqlite_utils.Database, key: str) -> dict[str, Any] | None:
    # db.conn, not db.execute, on the chat turn's path: no sqlite-utils wrapper per statement.
    row = db.conn.execute("SELECT state FROM conversations WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
    return decode_state(row[0])


def save_conversation(
    db: sqlite_utils.Database,
    key: str,
    channel: str,
    state: dict[str, Any],
    now: datetime,
    case_id: int | None = None,
) -> str:
    """Insert or update the conversation; returns the state as stored (JSON text)."""
    text = _encode_state(state)
    at = utc(now)
    db.conn.execute(
        """INSERT INTO conversations (key, channel, state, case_id, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT(key) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at,
               case_id = COALESCE(excluded.case_id, conversations.case_id)""",
        (key, channel, text, case_id, at, at),
    )
    return text


def delete_conversation(db: sqlite_utils.Database, key: str) -> None:
    db.execute("DELETE FROM conversations WHERE key = ?", [key])


def delete_chat_log(db: sqlite_utils.Database, key: str) -> None:
    db.execute("DELETE FROM chat_log WHERE key = ?", [key])


def idle_conversations(
    db: sqlite_utils.Database, before: datetime, channels: Sequence[str]
) -> list[tuple[str, str, dict[str, Any]]]:
    """Active conversations of these channels with no message since `before`."""
    if not channels:
        return []
    marks = ", ".join("?" for _ in channels)
    rows = db.execute(
        f"""SELECT key, channel, state FROM conversations
            WHERE updated_at < ? AND channel IN ({marks})
              AND json_extract(state, '$.status') = 'active'
            LIMIT 1000""",
        [utc(before), *channels],
    ).fetchall()
    return [(key, channel, decode_state(state)) for key, channel, state in rows]


def log_chat(
    db: sqlite_utils.Database,
    key: str,
    who: str,
    text: str,
    now: datetime,
    choices: Sequence[str] = (),
) -> None:
    db.execute(
        "INSERT INTO chat_log (key, at, who, text, choices) VALUES (?, ?, ?, ?, ?)",
        [key, utc(now), who, text, json.dumps(list(choices), ensure_ascii=False)],
    )


def log_chat_lines(
    db: sqlite_utils.Database,
    key: str,
    lines: Sequence[tuple[str, str, Sequence[str]]],
    now: datetime,
) -> None:
    """Several transcript lines (who, text, choices) at once, in order: one statement for
    a chat turn's lines instead of one per line. Call inside a transaction."""
    at = utc(now)
    db.conn.executemany(
        "INSERT INTO chat_log (key, at, who, text, choices) VALUES (?, ?, ?, ?, ?)",
        [
            (
                key,
                at,
                who,
                text,
                json.dumps(list(choices), ensure_ascii=False) if choices else _NO_CHOICES,
            )
            for who, text, choices in lines
        ],
    )


def chat_log(
    db: sqlite_utils.Database, key: str, limit: int = 200
) -> list[tuple[str, str, list[str]]]:
    """The last `limit` lines of a conversation, oldest first: (who, text, choices)."""
    rows = db.execute(
        "SELECT who, text, choices FROM chat_log WHERE key = ? ORDER BY id DESC LIMIT ?",
        [key, limit],
    ).fetchall()
    return [(who, text, json.loads(choices)) for who, text, choices in reversed(rows)]


def touch_conversation(db: sqlite_utils.Database, key: str, now: datetime) -> bool:
    """The resident is still there (the web page's "stay" button): restart the idle clock."""
    cursor = db.execute("UPDATE conversations SET updated_at = ? WHERE key = ?", [utc(now), key])
    return cursor.rowcount == 1
