"""The test corpus (tests/corpus/mail): each message's expected inspect result, table-driven.

Run twice: through `assess()` in-process, and through `caredesk mail inspect` on every file
at once, as an administrator would run it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import Config
from bot.decide import Policy
from bot.mail_cli import inspect_result, preview_reference, rendered_replies
from bot.mail_intake import assess, mail_identity
from bot.replies import ReplyRenderer
from mail.parse import parse_message
from storage.cases import get_case

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
    # What the mail gave is never asked for again.
    assert not set(expected.get("not_missing", [])) & set(result["missing"])
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
    if "from_name" in EXPECTED[name]:
        assert found.inbound.from_name == EXPECTED[name]["from_name"]


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


def minimal(subject: str = "Garbage not collected", sender: str = "jane@example.com", extra=""):
    raw = (
        f"From: {sender}\nTo: feedback@city.example\nSubject: {subject}\n"
        f"Message-ID: <t@example.com>\n{extra}Content-Type: text/plain; charset=utf-8\n\n"
        "The garbage truck skipped our street on Monday.\n"
    ).encode()
    return assess(parse_message(raw), NOW, POLICY, ME)


# Beside the corpus files (one per class), every phrase and address convention on its own.
SUBJECTS = [
    ("Out of Office: Garbage", "autoreply-subject"),
    ("Out of Office AutoReply: Garbage", "autoreply-subject"),
    ("OUT OF OFFICE", "autoreply-subject"),
    ("Automatic reply: Re: Garbage [CD-2026-000001]", "autoreply-subject"),
    ("Auto-Reply: your message", "autoreply-subject"),
    ("Autoreply: your message", "autoreply-subject"),
    ("Abwesenheitsnotiz: Ihre Nachricht", "autoreply-subject"),
    ("Automatische Antwort: Ihre Nachricht", "autoreply-subject"),
    ("=?UTF-8?Q?R=C3=A9ponse_automatique_:_votre_message?=", "autoreply-subject"),
    ("=?UTF-8?Q?Respuesta_autom=C3=A1tica:_su_mensaje?=", "autoreply-subject"),
    ("Risposta automatica: il suo messaggio", "autoreply-subject"),
    ("Afwezigheidsassistent: uw bericht", "autoreply-subject"),
    ("Automatisch antwoord: uw bericht", "autoreply-subject"),
    ("Autosvar: ditt meddelande", "autoreply-subject"),
    ("Undelivered Mail Returned to Sender", "bounce-subject"),
    ("Delivery Status Notification (Failure)", "bounce-subject"),
    ("Delivery Status Notification (Delay)", "bounce-subject"),
    ("Mail delivery failed: returning message to sender", "bounce-subject"),
    ("Undeliverable: Garbage not collected", "bounce-subject"),
    ("Returned mail: see transcript for details", "bounce-subject"),
    ("Delivery has failed to these recipients or groups", "bounce-subject"),
    ("Warning: could not send message for past 4 hours", "bounce-subject"),
    ("failure notice", "bounce-subject"),
    ("Your message to Ward5-talk awaits moderator approval", "list-moderation"),
    ("Posting to a restricted list", "list-moderation"),
    # A resident's own words that merely start like one: acknowledged as usual.
    ("Out of office hours noise on Elm Road", None),
    ("Automatic replies are rude", None),
    ("Returned mail never arrived at my house", None),
    ("Delivery truck blocking the lane", None),
]


@pytest.mark.parametrize(("subject", "rule"), SUBJECTS)
def test_machine_mail_known_by_its_subject_alone(subject, rule):
    found = minimal(subject=subject)
    assert (found.hit.rule if found.hit else None) == rule


SENDERS = [
    ("MAILER-DAEMON@mx.example.net", "system-sender"),
    ("Mail-Daemon@gw.example.net", "system-sender"),
    ("postmaster@example.net", "system-sender"),
    ("bounce@esp.example.com", "system-sender"),
    ("bounces+12345-abcd@esp.example.com", "system-sender"),
    ("noreply@portal.example", "system-sender"),
    ("no-reply@portal.example", "system-sender"),
    ("donotreply@portal.example", "system-sender"),
    ("ward5-talk-bounces@lists.example.org", "system-sender"),
    ("ward5-talk-owner@lists.example.org", "system-sender"),
    ("ward5-talk-request@lists.example.org", "system-sender"),
    ("feedback+anything@city.example", "own-address"),
    ("FEEDBACK@CITY.EXAMPLE", "own-address"),
    ("jane.bounce@example.com", None),
    ("homeowner@example.com", None),
]


@pytest.mark.parametrize(("sender", "rule"), SENDERS)
def test_machine_mail_known_by_its_sender(sender, rule):
    found = minimal(sender=sender)
    assert (found.hit.rule if found.hit else None) == rule


@pytest.mark.parametrize(
    ("header", "rule"),
    [
        ("Precedence: bulk (comment)", "precedence"),
        ("Precedence: BULK", "precedence"),
        ("Precedence: (why) junk", "precedence"),
        ("Precedence: first-class", None),
        ("Auto-Submitted: auto-replied (vacation)", "auto-submitted"),
        ("Auto-Submitted: no (a person wrote this)", None),
        ("Auto-Submitted: No", None),
        ("X-Loop: Feedback+Loop@City.Example", "loop"),
    ],
)
def test_header_values_with_comments_and_case(header, rule):
    found = minimal(extra=header + "\n")
    assert (found.hit.rule if found.hit else None) == rule


RENDERED = [
    "01-complaint-all-items.eml",
    "02-complaint-missing-items.eml",
    "05-out-of-scope-council.eml",
]


@pytest.mark.parametrize("name", RENDERED)
def test_render_gives_each_reply_exactly_what_intake_would_queue(make_mail_desk, name):
    """`mail inspect --render` and intake share compose(): compare with a real filing."""
    raw = (CORPUS / name).read_bytes()
    found = assess(parse_message(raw), NOW, POLICY, ME)
    rendered = rendered_replies(POLICY, ReplyRenderer(), found)
    assert rendered and all({"kind", "review", "subject", "body"} <= set(r) for r in rendered)
    services, intake = make_mail_desk(now=NOW)
    result = intake.process(raw, NOW, NOW)
    case = get_case(services.db, result.ref)
    stored = [*case["outbox"], *case["drafts"]]
    placeholder = preview_reference(POLICY, found)
    for reply in rendered:
        [row] = [r for r in stored if r["reply_kind"] == reply["kind"]]
        assert row["subject"] == reply["subject"].replace(placeholder, result.ref)
        assert row["body"] == reply["body"].replace(placeholder, result.ref)


def test_inspect_says_why_a_sender_is_not_verified():
    config = Config()
    policy = Policy.from_config(replace(config, mail=replace(config.mail, authserv_id="mx.c")))
    raw = b"Authentication-Results: mx.c; dmarc=fail\n" + (CORPUS / RENDERED[0]).read_bytes()
    found = assess(parse_message(raw), NOW, policy, ME)
    result = inspect_result("x.eml", found, rendered_replies(policy, ReplyRenderer(), found))
    assert result["sender_not_verified"] and "sender-not-verified" in result["rules"]
    assert result["replies"] and all(r["review"] for r in result["replies"])


def test_mail_inspect_cli_render_adds_subject_and_body():
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "CAREDESK_CONFIG"}
    env["PYTHONPATH"] = str(root)
    files = [str(CORPUS / name) for name in RENDERED]
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "mail", "inspect", "--render", *files],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        for reply in json.loads(line)["replies"]:
            assert re.search(r"\[CD-\d{4}-000000\]", reply["subject"])
            assert reply["body"].startswith("Hello") and "Ombudsman" in reply["body"]
