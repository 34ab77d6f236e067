"""A department's email reply through mail intake, on a real SQLite file (issue 12): it lands on
its case as a `department-update` for staff and nothing is sent; a forged one, a stranger's, or
another department's writes nothing onto the case as the department."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.config import parse_config
from bot.mail_cli import cmd_mail_inspect
from bot.staff.case_view import timeline
from mail.identity import identity_of
from storage import case_work
from storage.cases import count_cases, get_case, utc
from storage.departments import change_department
from storage.mail import find_case, set_case_status

TZ = ZoneInfo("America/Toronto")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)
LATER = datetime(2026, 11, 26, 11, 0, tzinfo=TZ)
AUTHSERV = "mx.city.example"
DEPARTMENTS = {
    "departments": [
        {
            "key": "roads",
            "name": "Transportation Services",
            "email": "roads@city.example",
            "tracker": "email",
            "supervisor_email": "roads.supervisor@city.example",
            "director_email": "transportation.director@city.example",
        },
        {"key": "parks", "name": "Parks and Forestry", "email": "parks@city.example"},
    ],
    "routing": [
        {"name": "potholes", "department": "roads", "phrases": ["pothole"]},
        {"name": "trees", "department": "parks", "phrases": ["tree"]},
    ],
}
CONFIG = parse_config({**DEPARTMENTS, "mail": {"authserv_id": AUTHSERV}})
ME = identity_of(CONFIG)
RECEIVED = "Received: from mx.city.example by mail.city.example; Wed, 25 Nov 2026 09:00:00 -0500"
PASS = f"Authentication-Results: {AUTHSERV}; spf=pass smtp.mailfrom=city.example; dmarc=pass"
FAIL = f"Authentication-Results: {AUTHSERV}; spf=fail smtp.mailfrom=city.example; dmarc=fail"
REPLY_TEXT = "Inspected today. The crew will fill the pothole by Friday 4 December."


def resident(text: str, n: int = 1) -> bytes:
    return (
        f'From: "Jane Doe" <jane{n}@example.com>\r\n'
        "To: feedback@city.example\r\n"
        "Subject: Please help\r\n"
        f"Message-ID: <res{n}@example.com>\r\n"
        "Date: Wed, 25 Nov 2026 09:00:00 -0500\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{text} It has been there since Monday 16 November. I would like it fixed.\r\n"
    ).encode()


def department_mail(
    *,
    sender: str = "roads@city.example",
    in_reply_to: str = "",
    references: str = "",
    subject: str = "Re: Pothole",
    extra: tuple[str, ...] = (RECEIVED, PASS),
    body: str = REPLY_TEXT,
    content_type: str = "text/plain; charset=utf-8",
    message_id: str = "<d1@roads.city.example>",
) -> bytes:
    head = [
        *extra,
        f"From: Roads Desk <{sender}>",
        "To: feedback@city.example",
        f"Subject: {subject}",
        f"Message-ID: {message_id}",
        "Date: Thu, 26 Nov 2026 10:55:00 -0500",
    ]
    if in_reply_to:
        head.append(f"In-Reply-To: {in_reply_to}")
    if references:
        head.append(f"References: {references}")
    head.append(f"Content-Type: {content_type}")
    return ("\r\n".join(head) + "\r\n\r\n" + body + "\r\n").encode()


@pytest.fixture
def desk(make_mail_desk):
    return make_mail_desk(CONFIG, now=NOW)


def file_case(intake, text: str = "There is a deep pothole on Elm Road.", n: int = 1) -> str:
    result = intake.process(resident(text, n), NOW, NOW)
    assert result.action == "cased"
    return result.ref


def deliver(intake, raw: bytes):
    return intake.process(raw, LATER, LATER)


def updates(db, ref: str) -> list[dict]:
    case = get_case(db, ref)
    return [e for e in case["events"] if e["type"] == "department-update"]


def outbox_count(db) -> int:
    return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])


def forward_id(ref: str, n: int = 1) -> str:
    return ME.forward_message_id(ref, n)


def test_a_reply_to_the_forward_lands_on_the_case_for_staff_and_nothing_is_sent(desk):
    services, intake = desk
    db = services.db
    ref = file_case(intake)
    assert get_case(db, ref)["department"] == "roads"
    cases, queued = count_cases(db), outbox_count(db)
    result = deliver(intake, department_mail(in_reply_to=forward_id(ref)))
    assert (result.action, result.ref, result.rule) == ("threaded", ref, "department-reply")
    case = get_case(db, ref)
    [event] = updates(db, ref)
    message = db.execute(
        "SELECT id, case_id, direction, channel, body, meta FROM messages WHERE message_key LIKE ?",
        ["<d1@roads.city.example>%"],
    ).fetchone()
    assert event["data"] == {
        "source": "email",
        "message": message[0],
        "department": "roads",
        "role": "department",
    }
    assert "pothole" not in json.dumps(event).lower()  # the mail's words stay in the message
    assert message[1:4] == (find_case(db, ref)[0], "in", "email")
    assert REPLY_TEXT in message[4]
    assert json.loads(message[5]) == {
        "rule": "department-reply",
        "department": "roads",
        "role": "department",
    }
    assert case["tracker_updated_at"] == utc(LATER)
    assert case["attention"] == "the department replied (roads)"
    assert case["status"] == "open"
    # Not acted on: no new case, nothing queued for anyone (no acknowledgement, no reply).
    assert (count_cases(db), outbox_count(db)) == (cases, queued)
    assert "resident-replied" not in [e["type"] for e in case["events"]]
    # The same mail fetched again is filed once.
    assert deliver(intake, department_mail(in_reply_to=forward_id(ref))).action == "duplicate"
    assert len(updates(db, ref)) == 1


@pytest.mark.parametrize(
    ("sender", "role"),
    [
        ("roads.supervisor@city.example", "supervisor"),
        ("Transportation.Director@City.Example", "director"),
        ("roads+crew@city.example", "department"),
    ],
)
def test_the_supervisor_or_the_director_may_answer_for_the_department(desk, sender, role):
    services, intake = desk
    ref = file_case(intake)
    follow_up = ME.message_id(ref, "dept-follow-up-3")
    result = deliver(
        intake, department_mail(sender=sender, references=f"<x@y.example> {follow_up}")
    )
    assert result.rule == "department-reply"
    [event] = updates(services.db, ref)
    assert event["data"]["role"] == role


def test_the_reference_in_the_subject_alone_is_enough_from_the_department(desk):
    services, intake = desk
    ref = file_case(intake)
    result = deliver(intake, department_mail(subject=f"RE: Pothole on Elm Road [{ref}]"))
    assert (result.action, result.rule) == ("threaded", "department-reply")
    assert len(updates(services.db, ref)) == 1


def no_update_and_no_department_mail(db, ref: str) -> None:
    assert updates(db, ref) == []
    assert get_case(db, ref)["tracker_updated_at"] is None
    rules = [json.loads(m[0]).get("rule") for m in db.execute("SELECT meta FROM messages")]
    assert "department-reply" not in rules


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param({"extra": (RECEIVED, FAIL)}, id="dmarc-fail"),
        pytest.param(
            {
                "extra": (
                    f"Authentication-Results: {AUTHSERV}; spf=fail smtp.mailfrom=city.example",
                    RECEIVED,
                    PASS,  # the sender's own "pass", below our server's Received line
                )
            },
            id="spf-fail-and-a-forged-pass-below",
        ),
        pytest.param({"sender": "someone@example.com"}, id="a-stranger-quoting-our-id"),
        pytest.param({"sender": "parks@city.example"}, id="another-departments-address"),
        pytest.param({"sender": "feedback@city.example"}, id="our-own-address"),
    ],
)
def test_a_mail_quoting_the_forward_that_is_not_the_departments_writes_no_update(desk, forged):
    services, intake = desk
    db = services.db
    ref = file_case(intake)
    result = deliver(intake, department_mail(in_reply_to=forward_id(ref), **forged))
    assert result.rule != "department-reply"
    no_update_and_no_department_mail(db, ref)


def test_a_forged_reply_goes_the_way_of_any_mail_quoting_a_case(desk):
    """From the department's address but failing DMARC: what intake does today with a mail
    quoting a case from an unverified sender (its own case, linked and flagged)."""
    services, intake = desk
    ref = file_case(intake)
    result = deliver(intake, department_mail(in_reply_to=forward_id(ref), extra=(RECEIVED, FAIL)))
    assert (result.action, result.rule) == ("cased", "thread-other-sender")
    linked = get_case(services.db, result.ref)
    assert "sender-not-verified" in [e["type"] for e in linked["events"]]
    # Its acknowledgement waits for staff, as for any forgery: no email is queued.
    assert [o for o in linked["outbox"] if o["channel"] == "email"] == []


@pytest.mark.parametrize(
    "mail",
    [
        pytest.param({"subject": "Re: Tree [{ref}]", "sender": "parks@city.example"}, id="parks"),
        pytest.param({"subject": "Re: Pothole [{ref}]", "sender": "x@example.com"}, id="stranger"),
    ],
)
def test_the_reference_in_the_subject_from_anyone_else_is_no_update(desk, mail):
    services, intake = desk
    ref = file_case(intake)
    deliver(intake, department_mail(**{k: v.format(ref=ref) for k, v in mail.items()}))
    no_update_and_no_department_mail(services.db, ref)


def test_a_department_quoting_another_departments_case_writes_nothing_there(desk):
    services, intake = desk
    db = services.db
    roads = file_case(intake)
    parks = file_case(intake, "A tree fell across the path in Elm Park.", n=2)
    assert get_case(db, parks)["department"] == "parks"
    # Roads answers, but quotes the parks case's forward: not roads' case.
    deliver(intake, department_mail(in_reply_to=forward_id(parks)))
    no_update_and_no_department_mail(db, parks)
    assert updates(db, roads) == []
    # Its own case's forward, quoted the same way, is an update.
    deliver(intake, department_mail(in_reply_to=forward_id(roads), message_id="<d2@r.example>"))
    assert len(updates(db, roads)) == 1


def test_a_department_the_case_was_forwarded_to_before_a_change_may_still_answer(desk):
    services, intake = desk
    db = services.db
    ref = file_case(intake)
    case_id = find_case(db, ref)[0]
    with db.conn:
        # A forward to roads (as the tracker worker records one; intake may have queued one
        # already), then staff move the case to parks.
        [sequence] = db.execute(
            "SELECT coalesce(max(sequence), 0) + 1 FROM forwards WHERE case_id = ?", [case_id]
        ).fetchone()
        outbox = db.execute(
            "INSERT INTO outbox (case_id, channel, recipient, reply_kind, subject, body, "
            "idempotency_key, status, next_attempt_at, created_at) VALUES "
            "(?, 'tracker', 'roads', 'dept-forward', '', '', ?, 'sent', ?, ?)",
            [case_id, f"test-{ref}-{sequence}", utc(NOW), utc(NOW)],
        ).lastrowid
        db.execute(
            "INSERT INTO forwards (case_id, sequence, department, target, outbox_id, status, "
            "created_at, updated_at) VALUES (?, ?, 'roads', 'email', ?, 'sent', ?, ?)",
            [case_id, sequence, outbox, utc(NOW), utc(NOW)],
        )
        change_department(db, case_id, "staff:ann@city.example", "parks", NOW)
    assert get_case(db, ref)["department"] == "parks"
    deliver(intake, department_mail(in_reply_to=forward_id(ref)))
    deliver(intake, department_mail(sender="parks@city.example", subject=f"Re: [{ref}]"))
    assert [e["data"]["department"] for e in updates(db, ref)] == ["roads", "parks"]


def test_a_case_without_a_department_takes_no_department_reply(desk):
    services, intake = desk
    ref = file_case(intake, "The bus driver was rude to me at the stop.")
    assert get_case(services.db, ref)["department"] is None
    deliver(intake, department_mail(in_reply_to=forward_id(ref)))
    no_update_and_no_department_mail(services.db, ref)


def test_a_reply_on_a_closed_case_is_recorded_for_staff_and_the_case_stays_closed(desk):
    services, intake = desk
    db = services.db
    ref = file_case(intake)
    with db.conn:
        set_case_status(db, find_case(db, ref)[0], "closed", NOW)
    queued = outbox_count(db)
    result = deliver(intake, department_mail(in_reply_to=forward_id(ref)))
    assert (result.action, result.rule) == ("threaded", "department-reply")
    case = get_case(db, ref)
    assert case["status"] == "closed"
    assert "reopened" not in [e["type"] for e in case["events"]]
    [event] = updates(db, ref)
    assert event["data"]["case_status"] == "closed"
    assert case["attention"] == "the department replied (roads) after the case was closed"
    assert outbox_count(db) == queued


def test_a_reply_naming_an_unknown_case_is_kept_without_opening_one(desk):
    services, intake = desk
    db = services.db
    file_case(intake)
    cases, queued = count_cases(db), outbox_count(db)
    unknown = "CD-2026-999999"
    result = deliver(intake, department_mail(in_reply_to=forward_id(unknown)))
    assert (result.action, result.ref, result.rule) == ("stored", unknown, "department-reply")
    assert (count_cases(db), outbox_count(db)) == (cases, queued)
    case_id, meta = db.execute(
        "SELECT case_id, meta FROM messages WHERE message_key LIKE '<d1@roads.city.example>%'"
    ).fetchone()
    assert case_id is None
    assert json.loads(meta)["ref"] == unknown and json.loads(meta)["department"] == "roads"


def test_the_departments_out_of_office_is_a_machines_mail_not_an_update(desk):
    services, intake = desk
    db = services.db
    ref = file_case(intake)
    queued = outbox_count(db)
    auto = department_mail(
        in_reply_to=forward_id(ref),
        subject="Automatic reply: Pothole",
        extra=(RECEIVED, PASS, "Auto-Submitted: auto-replied"),
    )
    result = deliver(intake, auto)
    assert result.rule == "auto-submitted"
    assert updates(db, ref) == []
    assert "automatic-reply" in [e["type"] for e in get_case(db, ref)["events"]]
    assert outbox_count(db) == queued


def test_an_html_only_reply_is_stored_as_text(desk):
    services, intake = desk
    db = services.db
    ref = file_case(intake)
    html = (
        "<html><body><p>Inspected <b>today</b>.</p><p>The crew will fill the hole by Friday."
        "</p><script>alert(1)</script></body></html>"
    )
    deliver(
        intake, department_mail(in_reply_to=forward_id(ref), body=html, content_type="text/html")
    )
    [event] = updates(db, ref)
    body = db.execute(
        "SELECT body FROM messages WHERE id = ?", [event["data"]["message"]]
    ).fetchone()
    words = " ".join(body[0].split())
    assert "Inspected today" in words and "The crew will fill the hole by Friday." in words
    assert "<" not in words and "alert" not in words


def test_a_huge_reply_is_stored_cut_short_with_no_text_in_the_event(make_mail_desk):
    services, intake = make_mail_desk(CONFIG, now=NOW, max_message_bytes=1_000_000)
    db = services.db
    ref = file_case(intake)
    body = (REPLY_TEXT + "\r\n") * 60_000  # about 4 MB
    result = deliver(intake, department_mail(in_reply_to=forward_id(ref), body=body))
    assert result.rule == "department-reply"
    [event] = updates(db, ref)
    stored, meta = db.execute(
        "SELECT body, meta FROM messages WHERE id = ?", [event["data"]["message"]]
    ).fetchone()
    assert 0 < len(stored) < 100_000 and stored.startswith("Inspected today.")
    assert json.loads(meta)["raw_cut_at"] == 1_000_000
    assert len(json.dumps(event)) < 300


# -- what staff read on the case page (bot/staff/case_view.py) ----------------------------------


def timeline_of(db, ref: str) -> list[tuple[str, str, str | None]]:
    case_id = find_case(db, ref)[0]
    entries = timeline(
        get_case(db, ref),
        case_work.events_of(db, case_id),
        case_work.messages_of(db, case_id),
        {},
        {},
        {},
        {},
        LATER,
        TZ,
    )
    return [(e.title, e.actor, e.detail) for e in entries if e.style in ("event", "in")]


def test_the_timeline_says_in_words_that_the_department_replied(desk):
    services, intake = desk
    db = services.db
    ref = file_case(intake)
    deliver(intake, department_mail(sender="roads.supervisor@city.example", subject=f"[{ref}]"))
    lines = timeline_of(db, ref)
    assert ("Message from the resident (email)", "resident", "Please help") in lines
    assert ("Message from the department roads (email)", "department", f"[{ref}]") in lines
    [(title, actor, detail)] = [line for line in lines if "replied by email" in line[0]]
    assert (title, actor) == ("The department replied by email (roads)", "email")
    assert detail == (
        "Answered by its supervisor. "
        "Nothing was sent automatically: read the reply and decide what to do."
    )


def test_the_timeline_says_a_closed_case_stays_closed(desk):
    services, intake = desk
    db = services.db
    ref = file_case(intake)
    with db.conn:
        set_case_status(db, find_case(db, ref)[0], "closed", NOW)
    deliver(intake, department_mail(in_reply_to=forward_id(ref)))
    [detail] = [d for t, _, d in timeline_of(db, ref) if "replied by email" in t]
    assert detail is not None and "it stays closed unless you reopen it" in detail


def test_a_bounce_of_the_forward_says_the_department_was_not_reached(desk):
    """A bounce is a machine's mail (never an update, never answered); of a forward, it tells
    staff that the department did not get the case, not that the resident's address failed."""
    services, intake = desk
    db = services.db
    ref = file_case(intake)
    queued = outbox_count(db)
    bounce = department_mail(
        sender="MAILER-DAEMON@mx.city.example",
        subject="Undelivered Mail Returned to Sender",
        extra=(RECEIVED, PASS, "X-Failed-Recipients: roads@city.example"),
        body=f"Message-ID: {forward_id(ref)}\n550 5.1.1 no such user",
        message_id="<bounce-1@mx.city.example>",
    )
    result = deliver(intake, bounce)
    assert (result.action, result.ref, result.rule) == ("threaded", ref, "delivery-report")
    case = get_case(db, ref)
    assert case["attention"] == "an email to the department bounced"
    bounce_event = case["events"][-1]
    assert bounce_event["type"] == "bounce" and bounce_event["data"]["to"] == "department"
    assert updates(db, ref) == [] and outbox_count(db) == queued
    # The department's address is no resident's: nothing is muted for it.
    assert db.execute("SELECT count(*) FROM bounces").fetchone()[0] == 0


# -- `caredesk mail inspect` ---------------------------------------------------------------------


def inspect(tmp_path, capsys, raws: dict[str, bytes]) -> dict[str, dict]:
    for name, raw in raws.items():
        (tmp_path / name).write_bytes(raw)
    assert cmd_mail_inspect([str(tmp_path / n) for n in raws], CONFIG) == 0
    lines = capsys.readouterr().out.splitlines()
    return {n: json.loads(line)["department_reply"] for n, line in zip(raws, lines, strict=True)}


def test_mail_inspect_says_which_case_a_department_reply_names_and_why_it_may_be_refused(
    tmp_path, capsys
):
    ref = "CD-2026-000007"
    found = inspect(
        tmp_path,
        capsys,
        {
            "roads.eml": department_mail(in_reply_to=forward_id(ref)),
            "director.eml": department_mail(
                sender="transportation.director@city.example", subject=f"Re: [{ref}]"
            ),
            "forged.eml": department_mail(in_reply_to=forward_id(ref), extra=(RECEIVED, FAIL)),
            "stranger.eml": department_mail(sender="x@example.com", in_reply_to=forward_id(ref)),
            "away.eml": department_mail(
                in_reply_to=forward_id(ref), extra=(RECEIVED, PASS, "Auto-Submitted: auto-replied")
            ),
            "resident.eml": resident("There is a pothole."),
        },
    )
    assert found["roads.eml"] == {
        "ref": ref,
        "department": "roads",
        "role": "department",
        "refused": None,
    }
    assert found["director.eml"]["role"] == "director"
    assert found["forged.eml"]["refused"].startswith("the sender is not verified: DMARC failed")
    assert found["stranger.eml"] == {
        "ref": ref,
        "department": None,
        "role": None,
        "refused": "the sender is no configured department's address",
    }
    assert found["away.eml"]["refused"] == "a machine wrote it (loop-guard rule auto-submitted)"
    assert found["resident.eml"] is None
