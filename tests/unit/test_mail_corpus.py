"""The test corpus (tests/corpus/mail): each message's expected inspect result, table-driven.

Run twice: through `assess()` in-process, and through `caredesk mail inspect` on every file
at once, as an administrator would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import Config
from bot.decide import Policy
from bot.mail_cli import inspect_result
from bot.mail_intake import assess, mail_identity
from mail.parse import parse_message

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "mail"
EXPECTED: dict[str, dict] = json.loads((CORPUS / "expected.json").read_text())
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("America/Toronto"))
POLICY = Policy.from_config(Config())
ME = mail_identity(POLICY)


def check(result: dict, expected: dict) -> None:
    assert result["acknowledge"] is expected["acknowledge"]
    assert result["reason"] == expected["reason"]
    assert result["thread"] == expected["thread"]
    if expected.get("kind") is not None:
        assert result["kind"] == expected["kind"]
    assert set(expected.get("missing_at_least", [])) <= set(result["missing"])
    if "from" in expected:
        assert result["from"] == expected["from"]
    if "subject" in expected:
        assert result["subject"] == expected["subject"]
        assert "\n" not in (result["subject"] or "") and "\r" not in (result["subject"] or "")
    for fragment in expected.get("text_contains", []):
        assert fragment in result["text"]
    for fragment in expected.get("text_not_contains", []):
        assert fragment not in result["text"]


def test_the_corpus_is_large_and_every_file_has_an_expectation():
    files = sorted(p.name for p in CORPUS.glob("*.eml"))
    assert len(files) >= 30
    assert files == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_assess(name):
    raw = (CORPUS / name).read_bytes()
    found = assess(parse_message(raw), NOW, POLICY, ME)
    check(inspect_result(name, found), EXPECTED[name])


def test_duplicates_have_the_same_key():
    for name, expected in EXPECTED.items():
        if "duplicate_of" in expected:
            a = parse_message((CORPUS / name).read_bytes())
            b = parse_message((CORPUS / expected["duplicate_of"]).read_bytes())
            assert a.key == b.key


def test_mail_inspect_cli_on_every_file():
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "CAREDESK_CONFIG"}
    env["PYTHONPATH"] = str(root)
    files = [str(CORPUS / name) for name in sorted(EXPECTED)]
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "mail", "inspect", *files],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(files)
    for line, name in zip(lines, sorted(EXPECTED), strict=True):
        data = json.loads(line)
        assert Path(data["file"]).name == name
        assert set(data) >= {
            "acknowledge",
            "reason",
            "thread",
            "from",
            "subject",
            "text",
            "missing",
            "kind",
        }
        check(data, EXPECTED[name])


def test_mail_inspect_cli_reports_a_missing_file(tmp_path):
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "mail",
            "inspect",
            str(tmp_path / "nope.eml"),
            str(CORPUS / "01-complaint-all-items.eml"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd=root,
        timeout=60,
    )
    assert result.returncode == 1
    assert "nope.eml" in result.stderr and len(result.stdout.splitlines()) == 1
