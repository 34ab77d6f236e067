"""The labelled evaluation set is well formed, and its benchmark runs end to end.

No accuracy threshold here: figures belong in `bench/understanding.py`'s output, not in a
pass/fail suite (tests/eval/README.md says how the labels were decided).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SET = ROOT / "tests" / "eval" / "messages.jsonl"
BENCH = ROOT / "bench" / "understanding.py"
KINDS = {"complaint", "request", "feedback", "other"}
SCOPES = {None, "legislation", "appeal", "council", "employee"}
ITEMS = {"what", "when", "who", "outcome", "contact"}


def load() -> list[dict[str, Any]]:
    with SET.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("understanding", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_size_and_parts():
    messages = load()
    assert len(messages) >= 300
    held_out = [m for m in messages if m["split"] == "heldout"]
    dev = [m for m in messages if m["split"] == "dev"]
    assert len(held_out) >= 100
    assert dev
    assert len(dev) + len(held_out) == len(messages)


def test_ids_are_unique():
    ids = [m["id"] for m in load()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("msg", load(), ids=lambda m: m["id"])
def test_every_label_is_valid(msg):
    assert msg["channel"] in ("chat", "email")
    assert isinstance(msg["text"], str) and msg["text"].strip()
    assert msg["kind"] in KINDS
    assert isinstance(msg["hazard"], bool)
    assert msg["scope"] in SCOPES
    if msg["channel"] == "email":
        assert isinstance(msg.get("subject"), str)
    if "items" in msg:
        assert msg["channel"] == "email"
        assert set(msg["items"]) == ITEMS
        for name, value in msg["items"].items():
            assert value is None or isinstance(value, str)
            # a phrase a person would extract is in the mail (a contact is normalised)
            if value is not None and name != "contact":
                assert value.lower() in " ".join(msg["text"].split()).lower(), name


def test_the_set_covers_every_label():
    messages = load()
    assert {m["kind"] for m in messages} == KINDS
    assert {m["scope"] for m in messages} == SCOPES
    assert any(m["hazard"] for m in messages)
    assert sum("items" in m for m in messages) >= 30


def test_bench_runs_end_to_end_on_a_few_messages():
    module = bench()
    messages = [m for m in load() if m["channel"] == "email"][:3] + load()[:3]
    pairs = module.evaluate(messages, module.Policy.from_config(module.Config()))
    assert len(pairs) == 6
    for _msg, got in pairs:
        assert got.label in module.LABELS
        assert got.rules  # every decision names the rule that made it
    out: list[str] = []
    module.report("sample", pairs, out, misses=True)
    text = "\n".join(out)
    for figure in ("kind accuracy", "hazard recall", "out-of-scope precision", "confusion"):
        assert figure in text


def test_bench_script_exits_zero():
    done = subprocess.run(
        [sys.executable, str(BENCH), "--limit", "8", "--split", "dev", "--misses"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "kind accuracy" in done.stdout and ">= 95%" in done.stdout
