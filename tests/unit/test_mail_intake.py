"""Mail intake on a real SQLite file, without servers: what one raw message leaves behind."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import Config
from bot.outbox_worker import OutboxWorker
from mail.smtp import build_message
from storage.cases import count_cases, get_case
from storage.mail import record_bounce
from storage.outbox import DeliveryError, due_items

from ..scripts import FULL
from .test_chat_service import converse

TZ = ZoneInfo("America/Toronto")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)


def mail(
    body: str = "On Monday 16 November at 9:30am the garbage truck skipped our street. "
    "The driver was rude to me. I would like an apology.",
    subject: str = "Garbage not collected",
    sender: str = '"Jane Doe" <jane@example.com>',
    message_id: str = "<m1@example.com>",
    extra: str = "",
) -> bytes:
    lines = [
        f"From: {sender}",
        "To: feedback@city.example",
        f"Subject: {subject}",
        "Date: Wed, 25 Nov 2026 09:00:00 -0500",
    ]
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    if extra:
        lines.append(extra)
    lines += ["Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\r\n".join(lines).encode()


@pytest.fixture
def desk(make_mail_desk):
    return make_mail_desk(now=NOW)


def process(intake, raw):
    return intake.process(raw, NOW, NOW)


def test_new_mail_opens_a_case_with_an_acknowledgement_in_the_outbox(desk):
    services, intake = desk
    result = process(intake, mail())
    assert result.action == "cased"
    case = get_case(services.db, result.ref)
    assert case["channel"] == "email" and case["kind"] == "complaint"
    assert case["ack_due"] == "2026-11-27T21:30:00+00:00"  # 2 business days, 16:30 Toronto
    [item] = due_items(services.db, "email", NOW)
    assert item.recipient == "jane@example.com"
    assert item.subject == f"Re: Garbage not collected [{result.ref}]"
    assert item.headers["Message-ID"] == f"<{result.ref}.ack-email@caredesk.city.example>"
    assert item.headers["In-Reply-To"] == "<m1@example.com>"
    raw = services.db.execute("SELECT raw FROM raw_messages").fetchone()[0]
    assert raw == mail()


def test_the_same_message_twice_is_filed_once(desk):
    services, intake = desk
    assert process(intake, mail()).action == "cased"
    assert process(intake, mail()).action == "duplicate"
    assert count_cases(services.db) == 1


def test_without_message_id_the_raw_bytes_are_the_key(desk):
    services, intake = desk
    assert process(intake, mail(message_id="")).action == "cased"
    assert process(intake, mail(message_id="")).action == "duplicate"
    assert (
        process(intake, mail(message_id="", body="Another matter entirely, a new one.")).action
        == "cased"
    )
    assert count_cases(services.db) == 2


def test_a_reply_is_threaded_and_reopens_a_closed_case(desk):
    services, intake = desk
    ref = process(intake, mail()).ref
    services.db.execute("UPDATE cases SET status = 'closed' WHERE ref = ?", [ref])
    reply = mail(
        subject=f"Re: Garbage not collected [{ref}]",
        message_id="<m2@example.com>",
        body="It happened again today.\n\nOn Wed, City wrote:\n> We received it",
    )
    result = process(intake, reply)
    assert (result.action, result.ref) == ("threaded", ref)
    case = get_case(services.db, ref)
    assert case["status"] == "open"
    assert [e["type"] for e in case["events"]][-2:] == ["resident-replied", "reopened"]
    assert case["messages"][-1]["body"] == "It happened again today."
    assert len(due_items(services.db, "email", NOW)) == 1  # no second acknowledgement
    assert count_cases(services.db) == 1


def test_a_bounce_of_our_acknowledgement_flags_the_case_and_mutes_the_address(desk):
    services, intake = desk
    ref = process(intake, mail()).ref
    bounce = mail(
        sender="MAILER-DAEMON@mx.example.com",
        subject="Undelivered Mail Returned to Sender",
        message_id="<bounce1@mx.example.com>",
        extra="X-Failed-Recipients: jane@example.com",
        body=f"Message-ID: <{ref}.ack-email@caredesk.city.example>\n550 no such user",
    )
    result = process(intake, bounce)
    assert (result.action, result.ref, result.rule) == ("threaded", ref, "delivery-report")
    case = get_case(services.db, ref)
    assert case["attention"] == "an email to the resident bounced"
    assert case["events"][-1]["type"] == "bounce"
    again = process(
        intake,
        mail(
            message_id="<m3@example.com>",
            body="A new complaint about the snow plow blocking my driveway every single week.",
        ),
    )
    assert again.action == "cased"
    held = get_case(services.db, again.ref)
    assert held["outbox"] == [] and "bounced" in held["drafts"][0]["why"]


def test_acknowledgements_are_rate_limited_per_sender(desk):
    services, intake = desk
    refs = [
        process(
            intake,
            mail(
                message_id=f"<r{i}@example.com>",
                body=f"Complaint number {i} about the noisy garbage truck on our street.",
            ),
        ).ref
        for i in range(4)
    ]
    queued = [len(get_case(services.db, r)["outbox"]) for r in refs]
    assert queued == [1, 1, 1, 0]
    assert "rate limit" in get_case(services.db, refs[3])["drafts"][0]["why"]


def test_machine_mail_is_stored_without_a_case(desk):
    services, intake = desk
    auto = mail(
        sender='"Bob" <bob@example.com>',
        extra="Auto-Submitted: auto-replied",
        subject="Out of office",
    )
    result = process(intake, auto)
    assert (result.action, result.rule) == ("stored", "auto-submitted")
    assert count_cases(services.db) == 0
    assert services.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 1


def test_unreadable_mail_becomes_a_case_for_staff_and_is_not_acknowledged(desk):
    services, intake = desk
    result = process(intake, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR garbage")
    assert result.action == "unreadable"
    case = get_case(services.db, result.ref)
    assert case["status"] == "unreadable" and case["outbox"] == [] and case["drafts"] == []
    assert "unreadable" in case["attention"]


def test_build_message_is_an_rfc3834_auto_reply_without_injection(desk):
    services, intake = desk
    process(intake, mail(subject="=?UTF-8?Q?Hello=0D=0ABcc:_victim@example.net?="))
    [item] = due_items(services.db, "email", NOW)
    msg = build_message(item, services.config.mail, NOW)
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Bcc"] is None
    assert "\n" not in msg["Subject"] and "Bcc: victim" in msg["Subject"]
    assert msg["In-Reply-To"] == "<m1@example.com>"


class ScriptedSender:
    """The outbox's channel interface, answering from a script (not an SMTP stand-in: the
    SMTP behaviour itself is tested against aiosmtpd in tests/integration)."""

    channel = "email"

    def __init__(self, outcomes):
        self.outcomes = list(outcomes)
        self.sent = []

    async def send(self, item, now):
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.sent.append(item.idempotency_key)

    async def close(self):
        pass


async def test_outbox_worker_retries_temporary_failures_with_backoff(desk):
    services, intake = desk
    process(intake, mail())
    clock = services.clock
    sender = ScriptedSender([DeliveryError("451", False, 451), DeliveryError("451", False, 451)])
    worker = OutboxWorker(services.db, sender, clock, retry_base_seconds=30)
    assert await worker.drain() == 0
    assert await worker.drain() == 0  # not due yet: 30 s backoff
    clock.advance(timedelta(seconds=31))
    assert await worker.drain() == 0  # second 451; next in 60 s
    clock.advance(timedelta(seconds=61))
    assert await worker.drain() == 1
    assert len(sender.sent) == 1
    assert await worker.drain() == 0


async def test_outbox_worker_stops_on_a_permanent_failure_and_alerts_staff(desk):
    services, intake = desk
    ref = process(intake, mail()).ref
    worker = OutboxWorker(
        services.db, ScriptedSender([DeliveryError("550", True, 550)]), services.clock
    )
    await worker.drain()
    case = get_case(services.db, ref)
    assert case["outbox"][0]["status"] == "failed"
    assert case["attention"] == "the ack-email reply could not be delivered"
    assert case["events"][-1]["type"] == "delivery-failed"


# ---------------------------------------------------------------------------------------------
# The city's mail is never a weapon (issue 8, section 2)


@pytest.fixture
def make_desk(make_mail_desk):
    """Services + mail intake on one store, with [mail] settings changed as a test needs."""
    return functools.partial(make_mail_desk, now=NOW)


def test_a_mail_carrying_someone_elses_message_id_does_not_suppress_theirs(desk):
    """Dropping by Message-ID alone let a sender who knows (or guesses) a resident's
    Message-ID send first and have the resident's complaint dropped as a duplicate."""
    services, intake = desk
    decoy = mail(sender="mallory@example.net", body="Hello there, just a short note from me.")
    assert process(intake, decoy).action == "cased"
    assert process(intake, mail()).action == "cased"  # same Message-ID, other bytes
    assert process(intake, mail()).action == "duplicate"  # the very same bytes again
    assert count_cases(services.db) == 2


LONG_BODY = (
    "On Monday 16 November at 9:30am the garbage truck skipped our street. "
    + "SPAM-PAYLOAD buy cheap watches at scam.example today only. " * 60
    + "The driver was rude to me. I would like an apology. TAIL-MARKER"
)


def test_the_email_acknowledgement_quotes_items_cut_short_never_the_whole_mail(desk):
    services, intake = desk
    process(intake, mail(body=LONG_BODY, subject="Garbage " + "very long subject " * 30))
    [item] = due_items(services.db, "email", NOW)
    assert "TAIL-MARKER" not in item.body
    assert item.body.count("SPAM-PAYLOAD") <= 4  # at most the first 200 characters
    what = next(line for line in item.body.splitlines() if line.startswith("- What happened"))
    assert len(what) <= len("- What happened: ") + 200 and what.endswith("\u2026")
    assert all(len(line) <= 400 for line in item.body.splitlines())


def authres(*headers: str) -> str:
    return "\r\n".join(headers)


RECEIVED = "Received: from mail.example.com by mx.city.example; Wed, 25 Nov 2026 09:00:01 -0500"


@pytest.mark.parametrize(
    ("headers", "verified"),
    [
        pytest.param(
            [
                "Authentication-Results: mx.city.example; spf=pass smtp.mailfrom=example.com",
                "Authentication-Results: mx.city.example; dmarc=fail header.from=example.com",
                RECEIVED,
            ],
            False,
            id="dmarc-fail-in-the-second-of-our-headers",
        ),
        pytest.param(
            [
                "Authentication-Results: mx.city.example; spf=fail smtp.mailfrom=example.com;"
                " dkim=pass (good signature) header.d=example.com",
                RECEIVED,
            ],
            True,
            id="spf-fail-but-aligned-dkim-pass",
        ),
        pytest.param(
            [
                "Authentication-Results: mx.city.example; spf=fail smtp.mailfrom=example.com;"
                " dkim=pass header.d=bulk-sender.example",
                RECEIVED,
            ],
            False,
            id="spf-fail-and-only-unaligned-dkim",
        ),
        pytest.param(
            ["Authentication-Results: mx.elsewhere.example; dmarc=fail", RECEIVED],
            True,
            id="someone-elses-server-is-not-read",
        ),
        pytest.param(
            [
                "Authentication-Results: mx.city.example; spf=fail smtp.mailfrom=example.com",
                RECEIVED,
                # written by the sender, below our server's Received line: a forgery
                "Authentication-Results: mx.city.example; dkim=pass header.d=example.com;"
                " dmarc=pass",
            ],
            False,
            id="forged-pass-below-ours-is-ignored",
        ),
        pytest.param(
            [
                "Authentication-Results: mx.city.example; dmarc=pass header.from=example.com",
                RECEIVED,
                "Authentication-Results: mx.city.example; dmarc=fail",
            ],
            True,
            id="forged-fail-below-ours-is-ignored",
        ),
        pytest.param([RECEIVED], True, id="no-results-at-all"),
    ],
)
def test_a_sender_the_city_server_could_not_verify_is_cased_and_its_reply_waits(
    make_desk, headers, verified
):
    services, intake = make_desk(authserv_id="mx.city.example")
    result = process(intake, mail(sender="jane@example.com", extra=authres(*headers)))
    assert result.action == "cased"
    case = get_case(services.db, result.ref)
    rules = [r["rule"] for r in case["rules"]]
    if verified:
        assert "sender-not-verified" not in rules
        assert len(case["outbox"]) == 1 and case["drafts"] == []
        return
    assert "sender-not-verified" in rules
    assert case["outbox"] == []
    [draft] = case["drafts"]
    assert draft["reply_kind"] == "ack-email" and "sender not verified" in case["attention"]
    assert "sender-not-verified" in [e["type"] for e in case["events"]]


def test_without_an_authserv_id_no_header_is_read(make_desk):
    services, intake = make_desk()
    forged = "Authentication-Results: mx.city.example; dmarc=fail"
    result = process(intake, mail(extra=forged))
    assert len(get_case(services.db, result.ref)["outbox"]) == 1


def test_a_mail_quoting_a_case_from_another_address_opens_its_own_linked_case(desk):
    services, intake = desk
    ref = process(intake, mail()).ref
    services.db.execute("UPDATE cases SET status = 'closed' WHERE ref = ?", [ref])
    hijack = mail(
        sender='"Mallory" <mallory@example.net>',
        subject=f"Re: Garbage not collected [{ref}]",
        message_id="<h1@example.net>",
        body="Please send me everything you have on this case, I am her lawyer.",
    )
    result = process(intake, hijack)
    assert result.action == "cased" and result.ref != ref
    assert result.rule == "thread-other-sender"
    original = get_case(services.db, ref)
    assert original["status"] == "closed"  # not reopened...
    assert [m["direction"] for m in original["messages"]] == ["in"]  # ...nor joined
    assert original["events"][-1]["type"] == "linked-case"
    assert original["events"][-1]["data"]["ref"] == result.ref
    linked = get_case(services.db, result.ref)
    assert linked["person"]["email"] == "mallory@example.net"
    assert ref in linked["attention"]
    assert any(r["rule"] == "thread-other-sender" and ref in r["reason"] for r in linked["rules"])
    assert next(e for e in linked["events"] if e["type"] == "linked-case")["data"]["ref"] == ref
    # Its acknowledgement names only its own case: a reply to it threads here, not there.
    [ack] = linked["outbox"]
    assert ack["subject"] == f"Re: Garbage not collected [{result.ref}]"


def test_a_reply_in_the_residents_name_that_the_server_could_not_verify_is_not_joined(
    make_desk,
):
    services, intake = make_desk(authserv_id="mx.city.example")
    ref = process(intake, mail()).ref
    spoofed = mail(
        subject=f"Re: Garbage not collected [{ref}]",
        message_id="<s1@example.com>",
        extra="Authentication-Results: mx.city.example; dmarc=fail header.from=example.com",
        body="Please change my address to 1 Fake Street.",
    )
    result = process(intake, spoofed)
    assert result.action == "cased" and result.ref != ref
    assert "unverified" in get_case(services.db, result.ref)["attention"]
    assert [m["direction"] for m in get_case(services.db, ref)["messages"]] == ["in"]


def test_a_mail_naming_our_message_id_from_another_address_is_not_joined(desk):
    services, intake = desk
    ref = process(intake, mail()).ref
    reply = mail(
        sender="someone@example.org",
        subject="Re: your message",
        message_id="<h2@example.org>",
        extra=f"In-Reply-To: <{ref}.ack-email@caredesk.city.example>",
        body="I have something to add to this complaint about the garbage truck.",
    )
    result = process(intake, reply)
    assert result.action == "cased" and result.ref != ref
    assert count_cases(services.db) == 2


def test_the_residents_own_reply_threads_whatever_the_case_of_the_address(desk):
    _, intake = desk
    ref = process(intake, mail()).ref
    reply = mail(
        sender='"Jane" <JANE@example.com>',
        subject=f"Re: [{ref}]",
        message_id="<m9@example.com>",
        body="One more detail.",
    )
    assert process(intake, reply).action == "threaded"


def chat_complaint(services, key="web:copy-test"):
    """A whole web chat complaint (contact jane@example.com), confirmed."""
    turn = converse(services.chat, [*FULL, "confirm"], key=key)
    return get_case(services.db, turn.ref)


def test_the_email_copy_of_a_chat_acknowledgement_carries_only_fixed_wording(desk):
    services, _ = desk
    case = chat_complaint(services)
    [web, copy] = case["outbox"]
    assert (web["channel"], web["reply_kind"]) == ("web", "ack-complaint")
    assert (copy["channel"], copy["reply_kind"], copy["recipient"]) == (
        "email",
        "ack-copy",
        "jane@example.com",
    )
    assert copy["subject"] == f"We received your complaint [{case['ref']}]"
    assert case["ref"] in copy["body"]
    # Nothing the resident typed: a stranger could have typed someone else's address.
    for typed in FULL[2:7]:
        assert typed not in copy["body"]
    for word in ("garbage", "truck", "Jane", "apology", "905-555-0100"):
        assert word not in copy["body"]


def test_the_chat_copy_obeys_the_per_address_limit_shared_with_mail_intake(desk):
    services, intake = desk
    for i in range(3):  # ack_per_sender_per_day = 3, all to jane@example.com by mail
        process(
            intake,
            mail(message_id=f"<q{i}@example.com>", body=f"Complaint {i} about the noisy truck."),
        )
    case = chat_complaint(services)
    assert [o["channel"] for o in case["outbox"]] == ["web"]  # the chat reply is unaffected
    [event] = [e for e in case["events"] if e["type"] == "email-copy-suppressed"]
    assert "rate limit" in event["data"]["why"]


def test_mail_intake_counts_the_chat_copies_too(desk):
    services, intake = desk
    for n in range(3):
        chat_complaint(services, key=f"web:copy-{n}")
    result = process(intake, mail())
    assert "rate limit" in get_case(services.db, result.ref)["drafts"][0]["why"]


def test_no_chat_copy_to_an_address_that_bounced(desk):
    services, _ = desk
    record_bounce(services.db, "Jane@Example.com", None, NOW - timedelta(days=10))
    case = chat_complaint(services)
    assert [o["channel"] for o in case["outbox"]] == ["web"]
    [event] = [e for e in case["events"] if e["type"] == "email-copy-suppressed"]
    assert "bounced" in event["data"]["why"]


def test_a_global_hourly_cap_holds_acknowledgement_mail_from_every_channel(make_desk):
    services, intake = make_desk(acks_per_hour=2)
    for i in range(2):
        process(
            intake,
            mail(
                sender=f"r{i}@example.com",
                message_id=f"<c{i}@example.com>",
                body=f"Complaint {i} about the garbage truck on our street.",
            ),
        )
    held = process(intake, mail(sender="r9@example.com", message_id="<c9@example.com>"))
    assert "an hour" in get_case(services.db, held.ref)["drafts"][0]["why"]
    case = chat_complaint(services)
    [event] = [e for e in case["events"] if e["type"] == "email-copy-suppressed"]
    assert "an hour" in event["data"]["why"]
    services.clock.advance(timedelta(hours=1, seconds=1))
    later = chat_complaint(services, key="web:later")
    assert [o["channel"] for o in later["outbox"]] == ["web", "email"]


def test_a_message_filed_under_the_old_key_is_still_a_duplicate_after_the_upgrade(desk):
    """Older stores keyed mail by Message-ID alone."""
    services, intake = desk
    assert process(intake, mail()).action == "cased"
    services.db.execute("UPDATE messages SET message_key = '<m1@example.com>'")
    assert process(intake, mail()).action == "duplicate"  # same bytes
    other = mail(body="A different mail that borrows the same Message-ID, from someone.")
    assert process(intake, other).action == "cased"


def test_a_new_message_runs_the_policy_chain_once(desk, monkeypatch):
    """assess() decided without the store's facts and intake threw that decision away and
    decided again inside its transaction: two runs of the chain for every message."""
    import bot.mail_intake as mail_intake

    runs = []
    real = mail_intake.decide

    def counted(*args, **kwargs):
        runs.append(args[0].message_key)
        return real(*args, **kwargs)

    monkeypatch.setattr(mail_intake, "decide", counted)
    services, intake = desk
    result = process(intake, mail())
    assert result.action == "cased"
    assert len(runs) == 1
    assert get_case(services.db, result.ref)["kind"] == "complaint"


def test_assess_without_a_decision_keeps_everything_else():
    from bot.decide import Policy
    from bot.mail_intake import assess, mail_identity
    from mail.parse import parse_message

    policy = Policy.from_config(Config())
    inbound = parse_message(mail())
    full = assess(inbound, NOW, policy, mail_identity(policy))
    bare = assess(inbound, NOW, policy, mail_identity(policy), decided=False)
    assert full.decision is not None and bare.decision is None
    assert replace(full, decision=None) == bare


def test_an_email_that_names_an_address_files_its_place(desk):
    """Issue 12, item 2: the address in the resident's own words is the case's place; the
    postal address in a signature is not (it is where the resident lives, not the problem)."""
    services, intake = desk
    body = (
        "There has been a pothole outside 12 Elm Street since Monday. A car lost a tyre in it. "
        "Please fix it.\n\n-- \nJane Doe\n99 Birch Road\nSpringfield"
    )
    result = process(intake, mail(body=body, subject="Pothole"))
    case = get_case(services.db, result.ref)
    assert case["place"] == {
        "text": "12 Elm Street",
        "kind": "address",
        "address": "12 Elm Street",
        "lat": None,
        "long": None,
    }


@pytest.mark.parametrize(
    ("subject", "body", "where"),
    [
        ("Light out", "The street light on the corner of King and Queen is out.", "King and Queen"),
        (
            "Pothole at 40 King St W",
            "It is getting deeper every day, please fix it.",
            "40 King St W",
        ),
        ("Garbage", "The truck skipped our street two weeks ago, at 5 pm on Monday.", None),
        (
            "Late truck",
            "The truck was late again and the driver was rude.\n\nRegards,\nJane Doe\n"
            "99 Birch Road\nSpringfield",
            None,
        ),
    ],
)
def test_email_place_is_found_conservatively(desk, subject, body, where):
    services, intake = desk
    result = process(intake, mail(body=body, subject=subject))
    place = get_case(services.db, result.ref)["place"]
    assert (place["text"] if place else None) == where
