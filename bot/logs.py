"""Structured logs: one JSON object a line, carrying case references, never personal data.

Only the fields named in SAFE_FIELDS are copied from a record's `extra`, so a careless
`log.info(..., extra={"email": ...})` cannot leak an address into the logs.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

SAFE_FIELDS = (
    "ref",
    "kind",
    "status",
    "channel",
    "outbox_id",
    "attempt",
    "host",
    "port",
    "reply",
    "error",
    "version",
    "count",
)


#: A Telegram Bot API token as it appears in request URLs: bot<digits>:<secret>. The digits
#: alone (the bot's id) are public; the part after the colon is the secret.
TOKEN_PATTERN = re.compile(r"(?<![A-Za-z0-9])(bot)?(\d{3,20}):[A-Za-z0-9_-]{20,}")
REDACTED = "[redacted]"
#: Libraries that log every request URL (the token is part of the Bot API's URLs) at INFO.
NOISY_LOGGERS = ("httpx", "httpcore", "telegram", "telegram.ext", "aiosmtplib", "imapclient")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, REDACTED)
    return TOKEN_PATTERN.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}:{REDACTED}", text)


class RedactFilter(logging.Filter):
    """Takes secrets (Bot API tokens, configured passwords) out of every record that passes:
    the message with its arguments, the exception text and the safe `extra` fields. Put on
    the handler, so records of every logger, the libraries' included, go through it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self.secrets)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        for name in SAFE_FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, redact(value, self.secrets))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in SAFE_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Their INFO lines are every request URL (the token among them). At DEBUG the operator
    # asked for everything: the lines come, with the token redacted by the filter.
    quiet = logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
