"""`caredesk explain` with departments configured: the department, the rule and the reason,
in the text and in `--json` (issue 12, item 1)."""

from __future__ import annotations

import json
from pathlib import Path

from .test_cli import run

CONFIG = """
[[departments]]
key = "roads"
name = "Transportation Services"

[[routing]]
name = "potholes"
department = "roads"
phrases = ["pothole"]
"""


def test_explain_shows_the_department_with_its_rule(tmp_path: Path) -> None:
    path = tmp_path / "caredesk.toml"
    path.write_text(CONFIG, encoding="utf-8")
    texts = "Please fix the pothole on Elm St\nThe clerk was rude to me\n"
    result = run("--config", str(path), "explain", "--json", "-", stdin=texts)
    assert result.returncode == 0, result.stderr
    pothole, clerk = (json.loads(line)["department"] for line in result.stdout.splitlines())
    assert (pothole["key"], pothole["name"], pothole["rule"]) == (
        "roads",
        "Transportation Services",
        "potholes",
    )
    assert "the phrase 'pothole'" in pothole["reason"]
    assert (clerk["key"], clerk["rule"]) == (None, None)
    assert clerk["reason"] == "no rule matched: waiting for staff"
    text = run("--config", str(path), "explain", "a pothole on Elm St")
    assert text.returncode == 0, text.stderr
    assert "department Transportation Services: " in text.stdout
