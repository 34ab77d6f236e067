"""The log filter: no Bot API token (or configured secret) in any line, tracebacks included."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.logs import JsonFormatter, RedactFilter, redact

TOKEN = "7012345678:AAHf0-Secret_Part_Of_The_Token_x1y2z3"
SECRET = TOKEN.split(":")[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"POST https://api.telegram.org/bot{TOKEN}/getMe", "/bot7012345678:[redacted]/getMe"),
        (f"token {TOKEN} in a sentence", "token 7012345678:[redacted] in a sentence"),
        ("CD-2026-000123 at 10:30", "CD-2026-000123 at 10:30"),  # not a token
        ("ratio 123456:abc", "ratio 123456:abc"),  # too short to be a token's secret
    ],
)
def test_token_patterns_are_redacted(text, expected):
    assert expected in redact(text)
    assert SECRET not in redact(text)


def test_a_configured_secret_is_redacted_whatever_its_shape():
    assert redact("password=hunter2-but-long", ["hunter2-but-long"]) == "password=[redacted]"


def capture(secrets=()) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactFilter(secrets))
    logger = logging.getLogger("test.redact")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_messages_arguments_extras_and_tracebacks_are_redacted():
    logger, stream = capture([TOKEN])
    logger.info("HTTP Request: POST %s", f"http://127.0.0.1/bot{TOKEN}/sendMessage")
    logger.warning("failed", extra={"error": f"url bot{TOKEN}/x"})
    try:
        raise ConnectionError(f"cannot reach https://api.telegram.org/bot{TOKEN}/getMe")
    except ConnectionError:
        logger.exception("telegram error")
    out = stream.getvalue()
    assert SECRET not in out
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["msg"].endswith("/bot[redacted]/sendMessage")
    assert "[redacted]" in lines[1]["error"]
    assert "ConnectionError" in lines[2]["exception"] and "[redacted]" in lines[2]["exception"]
