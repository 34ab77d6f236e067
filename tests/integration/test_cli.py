"""The `caredesk` command as a person types it: real processes, a real SQLite file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

from bot.clock import BusinessCalendar, due_for
from storage.db import open_store

from ..scripts import FULL
from ..servers import free_port

CAREDESK = [sys.executable, "-m", "bot.cli"]
ROOT = Path(__file__).resolve().parents[2]
#: Every process starts its clock here, not at the wall clock's time: no test depends on the
#: day it runs (references carry the year).
PINNED = {"CAREDESK_NOW": "2026-11-25T16:38:00-05:00"}


def run(*args: str, stdin: str | None = None, cwd: Path | None = None, **extra: str):
    env = {k: v for k, v in os.environ.items() if k != "CAREDESK_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    env.update(PINNED)
    env.update(extra)
    return subprocess.run(
        [*CAREDESK, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )


@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "caredesk.db"


COMMANDS = [
    [],
    ["init"],
    ["chat"],
    ["cases"],
    ["cases", "list"],
    ["cases", "show"],
    ["sla"],
    ["sla", "due"],
    ["sla", "kinds"],
    ["serve"],
    ["config"],
    ["config", "check"],
    ["mail"],
    ["mail", "inspect"],
    ["mail", "check"],
    ["tracker"],
    ["tracker", "check"],
    ["tracker", "sync"],
    ["retention"],
    ["retention", "run"],
    ["explain"],
    ["due"],
    ["tick"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "caredesk")
def test_every_command_has_help(command):
    result = run(*command, "--help")
    assert result.returncode == 0
    assert "usage: caredesk" in result.stdout
    assert len(result.stdout.splitlines()) > 3


def test_top_level_help_names_every_command():
    out = run("--help").stdout
    for name in (
        "init",
        "chat",
        "cases",
        "sla",
        "serve",
        "config",
        "mail",
        "tracker",
        "retention",
        "explain",
        "due",
        "tick",
    ):
        assert f"    {name}" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["sla", "due", "--kind", "complaint-ack"], "the following arguments are required"),
        (
            ["sla", "due", "--kind", "nope", "--received", "2026-12-24T16:55:00-05:00"],
            "unknown SLA kind 'nope'",
        ),
        (
            ["sla", "due", "--kind", "complaint-ack", "--received", "2026-12-24T16:55:00"],
            "has no UTC offset",
        ),
        (
            ["sla", "due", "--kind", "complaint-ack", "--received", "last tuesday"],
            "not an ISO-8601",
        ),
        (["cases", "list", "--limit", "many"], "invalid int value"),
        (["explain", "--at", "last tuesday", "a pothole"], "--at"),
        (["explain", "--channel", "fax", "a pothole"], "invalid choice: 'fax'"),
        (["due", "--at", "next friday"], "--at"),
        (["tick", "--at", "2026-12-24T09:00:00"], "has no UTC offset"),
    ],
)
def test_bad_arguments_give_one_clear_line(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


WEBHOOK = '[telegram]\nmode = "webhook"\nwebhook_url = "https://city.example/telegram/webhook"\n'


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["config", "check"]])
def test_webhook_mode_without_its_secret_refuses_to_start(tmp_path, store, command):
    config = tmp_path / "caredesk.toml"
    config.write_text(WEBHOOK)
    result = run("--config", str(config), "--db", str(store), *command)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "CAREDESK_TELEGRAM_WEBHOOK_SECRET" in line and "webhook" in line
    assert "Traceback" not in result.stderr
    assert not store.exists()  # refused before anything was built


def test_webhook_mode_with_its_secret_passes_the_check(tmp_path):
    config = tmp_path / "caredesk.toml"
    config.write_text(WEBHOOK)
    env = {k: v for k, v in os.environ.items() if k != "CAREDESK_CONFIG"}
    result = subprocess.run(
        [*CAREDESK, "--config", str(config), "config", "check"],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(ROOT), "CAREDESK_TELEGRAM_WEBHOOK_SECRET": "s3cret"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("kind", "received", "due"),
    [
        ("complaint-ack", "2026-12-24T16:55:00-05:00", "2026-12-29T16:30:00-05:00"),
        ("email-ack", "2026-03-06T18:00:00-05:00", "2026-03-10T16:30:00-04:00"),
        ("follow-up", "2026-07-20T09:00:00-04:00", "2026-08-04T16:30:00-04:00"),
        ("hazard-inspection", "2026-11-25T02:00:00Z", "2026-11-25T16:30:00-05:00"),
    ],
)
def test_sla_due(kind, received, due):
    result = run("sla", "due", "--kind", kind, "--received", received)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == due


def test_sla_kinds_lists_the_policy_table():
    out = run("sla", "kinds").stdout
    for line in ("complaint-ack", "email-response", "follow-up"):
        assert line in out
    assert "14 calendar days" in out and "15 business days" in out


def test_piped_complaint_creates_a_complete_case(store):
    chat = run("--db", str(store), "chat", stdin="\n".join([*FULL, "confirm"]) + "\n")
    assert chat.returncode == 0, chat.stderr
    ref = "CD-" + chat.stdout.split("[CD-", 1)[1].split("]", 1)[0]
    shown = run("--db", str(store), "cases", "show", ref, "--json")
    assert shown.returncode == 0, shown.stderr
    case = json.loads(shown.stdout)
    assert case["kind"] == "complaint" and case["status"] == "open"
    for item in ("what", "when_text", "who", "outcome"):
        assert case[item], item
    # "yesterday at 3pm": a minute, kept with its precision and the end of its range.
    assert case["when_precision"] == "minute" and case["occurred_until"]
    assert case["person"]["name"] == "Jane Doe"
    assert case["person"]["email"] == "jane@example.com"
    assert case["missing"] == []
    received = datetime.fromisoformat(case["received_at"])
    expected_ack = due_for("complaint-ack", received, BusinessCalendar())
    assert case["ack_due"] == expected_ack.isoformat()
    follow_up = datetime.fromisoformat(case["follow_up_due"])
    # The printed acknowledgement: the reference, the next date and the Ombudsman.
    assert ref in chat.stdout
    assert f"{follow_up:%B} {follow_up.day}, {follow_up.year}" in chat.stdout
    assert "Ontario Ombudsman" in chat.stdout and "1-800-263-1830" in chat.stdout
    listed = json.loads(run("--db", str(store), "cases", "list", "--json").stdout)
    assert [c["ref"] for c in listed] == [ref]
    human = run("--db", str(store), "cases", "show", ref).stdout
    assert ref in human and "timeline" in human
    db = open_store(store)
    viewed = db.execute("SELECT action, target FROM audit").fetchall()
    db.close()
    assert viewed == [("case-viewed", ref), ("case-viewed", ref)]


def test_unknown_case_is_a_clear_error(store):
    run("--db", str(store), "init")
    result = run("--db", str(store), "cases", "show", "CD-2026-999999")
    assert result.returncode == 1 and "no case 'CD-2026-999999'" in result.stderr


def test_eof_mid_conversation_keeps_it_and_files_nothing(store):
    first = run("--db", str(store), "chat", stdin="\n".join(FULL[:5]) + "\n")
    assert first.returncode == 0
    db = open_store(store)
    assert db.execute("SELECT count(*) FROM cases").fetchone()[0] == 0
    db.close()
    second = run("--db", str(store), "chat", stdin="\n".join([*FULL[5:], "confirm"]) + "\n")
    assert "Welcome back" in second.stdout
    assert "[CD-2026-000001]" in second.stdout
    db = open_store(store)
    assert db.execute("SELECT count(*) FROM cases").fetchone()[0] == 1
    db.close()


def test_ctrl_c_mid_conversation_loses_nothing(store):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **PINNED}
    proc = subprocess.Popen(
        [*CAREDESK, "--db", str(store), "chat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdin is not None
    proc.stdin.write("\n".join(FULL[:3]) + "\n")
    proc.stdin.flush()
    db = open_store(store)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # wait until the third answer is stored
        row = db.execute("SELECT state FROM conversations").fetchone()
        if row and '"what"' in row[0]:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert db.execute("SELECT count(*) FROM cases").fetchone()[0] == 0
    state = json.loads(db.execute("SELECT state FROM conversations").fetchone()[0])
    assert state["data"]["what"].startswith("The garbage truck")
    db.close()


def test_bad_store_is_one_line(tmp_path):
    bad = tmp_path / "not-a-db.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    result = run("--db", str(bad), "cases", "list")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "cannot open the store" in result.stderr


def test_serve_answers_its_health_endpoint(store):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), **PINNED}
    proc = subprocess.Popen(
        [*CAREDESK, "--db", str(store), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        body = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.1)
        assert body is not None, "serve did not answer /healthz"
        assert body["status"] == "ok" and body["cases"] == 0
        assert body["schema"] == body["schema_expected"]
    finally:
        proc.send_signal(signal.SIGINT)
        out, _err = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/healthz" in out
    assert "caredesk chat" in out


# -- the policy chain's trace: caredesk explain, cases show, mail inspect -----------------------

CHAIN_RULES = ("resident-safety", "safety-threat", "complaint-words", "anonymous-allegation")


def test_explain_prints_every_rule_which_fired_and_the_result():
    result = run("explain", "The", "clerk", "was", "rude", "to", "me", "yesterday", "at", "3pm")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "message   The clerk was rude to me yesterday at 3pm" in out
    assert "identified resident" in out and "received 2026-11-25T16:38:00-05:00" in out
    assert "result    open: kind complaint, hazard no, scope none" in out
    assert "yesterday at 3pm = 2026-11-24T15:00:00-05:00" in out
    assert "ack-email (automatic)" in out
    lines = {line[6:].split()[0]: line for line in out.splitlines() if line.startswith("  [")}
    for rule in CHAIN_RULES:
        assert rule in lines
    assert lines["complaint-words"].startswith("  [x]") and "'rude'" in lines["complaint-words"]
    assert lines["safety-threat"].startswith("  [ ]")


def test_explain_json_one_object_a_message_from_stdin():
    messages = [
        "There is a gas leak by the school, please fix it",
        "",
        "I want to dispute my parking ticket from last week",
        "Great job to the snow plow crew this morning",
    ]
    result = run("explain", "--json", "-", stdin="\n".join(messages) + "\n")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["kind"], r["hazard"], r["scope"], r["status"]) for r in rows] == [
        ("request", True, None, "open"),
        ("complaint", False, "appeal", "redirected"),
        ("feedback", False, None, "recorded"),
    ]
    hazard, appeal, thanks = rows
    assert hazard["replies"] == [
        {"kind": "ack-hazard", "waits_for_staff": False, "why": hazard["replies"][0]["why"]}
    ]
    assert (
        appeal["replies"][0]["kind"] == "out-of-scope" and appeal["replies"][0]["waits_for_staff"]
    )
    assert appeal["when"]["precision"] == "week" and appeal["when"]["said"] == "last week"
    assert thanks["when"]["said"] == "this morning"
    assert hazard["when"] is None and isinstance(hazard["missing"], list)
    for row in rows:
        assert {"rule", "fired", "reason", "action"} <= set(row["trace"][0])
        assert [t["rule"] for t in row["trace"]] == [t["rule"] for t in rows[0]["trace"]]
    [fired] = [t for t in hazard["trace"] if t["rule"] == "safety-threat"]
    assert fired["fired"] and "gas leak" in fired["reason"] and fired["action"] == "hazard"


def test_explain_options_channel_anonymous_and_at():
    result = run(
        "explain",
        "--json",
        "--at",
        "2026-03-10T10:00:00-04:00",
        "--anonymous",
        "The clerk was rude to me yesterday",
    )
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["status"] == "declined" and "anonymous-allegation" in row["rules"]
    assert row["when"]["start"] == "2026-03-09T00:00:00-04:00"
    assert any("anonymous" in a for a in row["assumptions"])
    chat = json.loads(run("explain", "--json", "--channel", "chat", "The clerk was rude").stdout)
    assert chat["channel"] == "chat" and chat["replies"][0]["kind"] == "ack-complaint"


def test_cases_show_gives_the_trace_the_case_was_decided_by(store):
    chat = run("--db", str(store), "chat", stdin="\n".join([*FULL, "confirm"]) + "\n")
    assert chat.returncode == 0, chat.stderr
    ref = "CD-" + chat.stdout.split("[CD-", 1)[1].split("]", 1)[0]
    case = json.loads(run("--db", str(store), "cases", "show", ref, "--json").stdout)
    fired = [t["rule"] for t in case["trace"] if t["fired"]]
    assert "acknowledge-complaint" in fired and "follow-up-clock" in fired
    assert {r["rule"] for r in case["rules"]} <= set(fired)
    human = run("--db", str(store), "cases", "show", ref).stdout
    assert "decision trace" in human
    assert any(line.startswith("  [x] acknowledge-complaint") for line in human.splitlines())


def test_mail_inspect_gives_the_loop_guard_and_policy_trace():
    eml = ROOT / "tests" / "corpus" / "mail" / "06-hazard-downed-wire.eml"
    result = run("mail", "inspect", str(eml))
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    rules = [t["rule"] for t in row["trace"]]
    assert rules[0] == "unreadable" and "thread-reply" in rules  # the loop guard first
    assert "resident-safety" in rules and "thread-other-sender" in rules  # then the chain
    assert row["kind"] == "hazard"
    assert any(t["rule"] == "safety-threat" and t["fired"] for t in row["trace"])
