"""Retention on a real SQLite file: cases filed through the real chat and mail paths, a frozen
clock moved years ahead, and the store read row by row afterwards."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from bot.app import build_app
from bot.config import Config, ConfigError, parse_config
from bot.mail_intake import MailIntake
from bot.retention import FINAL_STATUSES, cutoff, plan, run
from storage.cases import get_case, utc

from ..scripts import FULL

TZ = ZoneInfo("America/Toronto")
T0 = datetime(2026, 11, 25, 16, 38, tzinfo=TZ)
DAYS = Config().retention_days
LATER = T0 + timedelta(days=DAYS + 1)  # the first cases are past retention, by one day

#: Each persona's words; after erasure none of them may be anywhere in the store.
JANE = ("Jane Doe", "jane@example.com", "905-555-0100", "garbage truck skipped our street")
MARY = ("Mary Mail", "mary@example.com", "416-555-0199", "recycling bin was thrown")
OMAR = ("Omar Open", "omar@example.com", "613-555-0142", "snow plow blocked my driveway")
LEFT = ("Lena Left", "a dialogue abandoned halfway")
ANN = ("Ann Attach", "ann@example.com", "Letter from Ann Attach.pdf")
RITA = ("Rita Redirect", "rita@example.com", "905-555-0177", "The parking ticket I got was wrong")
#: Out of scope (an appeal): the resident agrees to have it recorded, the case is redirected.
REDIRECTED = ["1", "no", RITA[3], "yes", RITA[0], f"{RITA[1]} {RITA[2]}", "confirm"]


def chat_lines(name: str, email: str, phone: str, what: str) -> list[str]:
    lines = list(FULL)
    lines[2] = f"The {what} at 12 Elm Street and the driver was rude when I asked why"
    lines[6], lines[8] = name, f"{email} {phone}"
    return [*lines, "confirm"]


def mail(name: str, email: str, phone: str, what: str, message_id: str) -> bytes:
    return "\r\n".join(
        [
            f'From: "{name}" <{email}>',
            "To: feedback@city.example",
            "Subject: Complaint about collection",
            "Date: Wed, 25 Nov 2026 09:00:00 -0500",
            f"Message-ID: {message_id}",
            "Content-Type: text/plain; charset=utf-8",
            "",
            f"On Monday 16 November at 9:30am my {what} by the crew. "
            f"The driver was rude to me. I would like an apology. Call me on {phone}.",
            "",
        ]
    ).encode()


def mail_with_file(file_name: str) -> bytes:
    """A complaint with a scanned letter attached, its file name naming the resident."""
    msg = EmailMessage()
    msg["From"] = '"Ann Attach" <ann@example.com>'
    msg["To"] = "feedback@city.example"
    msg["Subject"] = "My letter"
    msg["Message-ID"] = "<ann-1@example.com>"
    msg.set_content("My letter about the broken sidewalk on Elm St is attached.")
    msg.add_attachment(b"%PDF-1.4 ...", maintype="application", subtype="pdf", filename=file_name)
    return msg.as_bytes()


def talk(s, channel: str, key: str, lines: list[str], updates: int | None = None) -> str | None:
    """A conversation through ChatService; with `updates`, each message carries an update id
    (as Telegram's do)."""
    s.chat.open(channel, key)
    turn = None
    for i, line in enumerate(lines):
        update = None if updates is None else str(updates + i)
        turn = s.chat.handle(channel, key, line, update_key=update)
        s.chat.delivered(turn)
    return turn.ref if turn is not None else None


def close(s, ref: str) -> None:
    """Staff closing a case (the staff pages are a later issue): status and closed_at."""
    at = s.clock.now().isoformat()
    s.db.execute(
        "UPDATE cases SET status = 'closed', closed_at = ?, updated_at = ? WHERE ref = ?",
        [at, at, ref],
    )


def dump(db) -> dict[str, list[tuple]]:
    tables = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    return {
        # The text index's term table is WITHOUT ROWID: its own key orders it.
        t: db.execute(
            f"SELECT * FROM {t}{'' if 'WITHOUT ROWID' in sql else ' ORDER BY rowid'}"
        ).fetchall()
        for t, sql in tables
    }


def store_text(db, skip: tuple[str, ...] = ()) -> str:
    return repr({t: rows for t, rows in dump(db).items() if t not in skip})


@pytest.fixture
def desk(make_services):
    """A store with: a closed chat case (Telegram, with update ids) and a closed mail case
    filed at T0; a redirected (final at filing) chat case; an open chat case; a chat abandoned
    halfway; a case closed years later (not yet due); and a chat that filed one closed case
    and then one still open (its transcript must stay)."""
    s = make_services(now=T0)
    mails = MailIntake(s.db, s.policy, s.intake)
    refs = {}
    refs["jane"] = talk(s, "telegram", "telegram:4242", chat_lines(*JANE), updates=1000)
    result = mails.process(mail(*MARY, "<mary-1@example.com>"), T0, T0)
    refs["mary"] = result.ref
    # A reply from Mary on her case: a second message with its own raw mail.
    reply = mail(*MARY, "<mary-2@example.com>").replace(
        b"Subject: Complaint about collection", f"Subject: Re: [{result.ref}]".encode()
    )
    assert mails.process(reply, T0, T0).ref == result.ref
    refs["ann"] = mails.process(mail_with_file(ANN[2]), T0, T0).ref
    refs["redirected"] = talk(s, "web", "web:redirect", REDIRECTED)
    refs["omar"] = talk(s, "web", "web:omar", chat_lines(*OMAR))
    s.chat.open("web", "web:left")
    s.chat.handle("web", "web:left", "1")
    s.chat.handle("web", "web:left", "no")
    s.chat.handle("web", "web:left", f"{LEFT[1]}, says {LEFT[0]}")
    refs["shared-closed"] = talk(
        s, "web", "web:shared", chat_lines("Sam Shared", "sam@example.com", "905-555-0111", "bin")
    )
    close(s, refs["jane"])
    close(s, refs["mary"])
    close(s, refs["ann"])
    close(s, refs["shared-closed"])
    s.clock.advance(timedelta(days=30))
    refs["shared-open"] = talk(
        s,
        "web",
        "web:shared",
        chat_lines("Sam Shared", "sam@example.com", "905-555-0111", "streetlight"),
    )
    s.clock.set(T0 + timedelta(days=DAYS - 100))
    refs["recent"] = talk(
        s, "web", "web:recent", chat_lines("Rob Recent", "rob@example.com", "905-555-0123", "tree")
    )
    close(s, refs["recent"])
    s.clock.set(LATER)
    return s, refs


def test_the_fixture_files_what_the_test_assumes(desk):
    s, refs = desk
    statuses = {k: get_case(s.db, ref)["status"] for k, ref in refs.items()}
    assert statuses == {
        "jane": "closed",
        "mary": "closed",
        "ann": "closed",
        "redirected": "redirected",
        "omar": "open",
        "shared-closed": "closed",
        "shared-open": "open",
        "recent": "closed",
    }
    text = store_text(s.db)
    for word in (*JANE, *MARY, *LEFT, *ANN):
        assert word in text, word
    # The attachment's file name is kept with the message, never on the timeline.
    events = repr(dump(s.db)["events"])
    assert ANN[2] not in events and '"application/pdf"' in events
    assert s.db.execute("SELECT count(*) FROM raw_messages").fetchone()[0] == 3
    assert s.db.execute("SELECT count(*) FROM channel_updates").fetchone()[0] > 0


def test_final_statuses_never_include_open_or_unreadable():
    assert set(FINAL_STATUSES) == {"closed", "declined", "redirected", "recorded"}


def test_dry_run_changes_nothing_and_names_what_would_go(desk):
    s, refs = desk
    before = dump(s.db)
    report = run(s.db, DAYS, LATER, dry_run=True)
    assert dump(s.db) == before
    erased = {(e.what, e.target) for e in report.erasures}
    due = ("jane", "mary", "ann", "redirected", "shared-closed")
    assert {("case", refs[k]) for k in due} <= erased
    assert ("update-ids", None) in erased
    assert not {("case", refs[k]) for k in ("omar", "shared-open", "recent")} & erased
    # Chats: Jane's (Telegram), Rita's, and the one abandoned before filing anything; not
    # Sam's, which filed a case that is still open. None is named by its key.
    chats = [e.detail for e in report.erasures if e.what == "conversation"]
    assert sorted((c["channel"], tuple(c["cases"])) for c in chats) == [
        ("telegram", (refs["jane"],)),
        ("web", ()),
        ("web", (refs["redirected"],)),
    ]
    assert "4242" not in repr(report.rows()) and "web:left" not in repr(report.rows())


def test_nothing_is_due_before_the_period_has_passed(desk):
    s, _ = desk
    just_before = T0 + timedelta(days=DAYS - 1)
    p = plan(s.db, DAYS, just_before)
    assert p.cases == [] and p.update_ids == 0
    assert run(s.db, DAYS, just_before).erasures == []


def test_run_erases_personal_data_and_keeps_the_anonymised_record(desk):
    s, refs = desk
    db = s.db
    before = dump(db)
    cases_before = {r[1]: r for r in before["cases"]}
    run(db, DAYS, LATER)
    after = dump(db)

    # Nobody's words, name, address or number survive anywhere: people, cases, messages,
    # raw mail, drafts, outbox, transcripts, conversations, events, audit.
    text = store_text(db)
    for word in (*JANE, *MARY, *LEFT, *RITA, *ANN):
        assert word not in text, word
    assert "telegram:4242" not in text and "web:left" not in text

    # The anonymised record: every case, event and message row is still there.
    assert len(after["cases"]) == len(before["cases"])
    assert after["events"] == before["events"]  # the timeline is untouched (append-only)
    assert len(after["messages"]) == len(before["messages"])
    assert len(after["outbox"]) == len(before["outbox"])
    assert len(after["drafts"]) == len(before["drafts"])
    columns = [c[1] for c in db.execute("PRAGMA table_info(cases)")]
    kept = ["id", "ref", "kind", "status", "channel", "department", "rules", "missing"]
    kept += ["received_at", "ack_due", "follow_up_due", "created_at", "closed_at", "person_id"]
    for ref in (refs[k] for k in ("jane", "mary", "ann", "redirected", "shared-closed")):
        row = dict(zip(columns, next(r for r in after["cases"] if r[1] == ref), strict=True))
        old = dict(zip(columns, cases_before[ref], strict=True))
        assert {k: row[k] for k in kept} == {k: old[k] for k in kept}
        for column in ("subject", "what", "when_text", "who", "outcome", "conversation", "place"):
            assert row[column] is None, (ref, column)
        if ref == refs["jane"]:  # where it was (issue 12): "12 Elm Street", from her chat
            assert "12 Elm Street" in old["place"]
        name, email, phone, erased_at = db.execute(
            "SELECT name, email, phone, erased_at FROM people WHERE id = ?", [row["person_id"]]
        ).fetchone()
        assert (name, email, phone) == (None, None, None)
        assert erased_at == utc(LATER)
        messages = db.execute(
            "SELECT body, subject, meta, direction FROM messages WHERE case_id = ?", [row["id"]]
        ).fetchall()
        assert messages and all(m[0] == "" and m[1] is None for m in messages)
        assert all(m[2] == "{}" for m in messages if m[3] == "in")
        for table in ("drafts", "outbox"):
            for body, recipient in db.execute(
                f"SELECT body, recipient FROM {table} WHERE case_id = ?", [row["id"]]
            ):
                assert (body, recipient) == ("", None)
    assert db.execute("SELECT count(*) FROM raw_messages").fetchone()[0] == 0  # Ann's too
    assert db.execute("SELECT count(*) FROM channel_updates").fetchone()[0] == 0
    # A reply still queued for an erased case is failed, so no worker sends an empty message.
    pending = db.execute(
        "SELECT c.ref FROM outbox o JOIN cases c ON c.id = o.case_id WHERE o.status = 'pending'"
    ).fetchall()
    assert {r[0] for r in pending} <= {refs["omar"], refs["shared-open"], refs["recent"]}

    # Open cases, the recent closed one and the shared chat are exactly as they were.
    for key in ("omar", "shared-open", "recent"):
        case = get_case(db, refs[key])
        assert case["person"]["erased_at"] is None and case["what"], key
    assert before["chat_log"] != after["chat_log"]
    for key in ("web:omar", "web:shared", "web:recent"):
        lines = [r for r in after["chat_log"] if r[1] == key]
        assert lines == [r for r in before["chat_log"] if r[1] == key] and lines, key
    for word in OMAR:
        assert word in text, word


def test_every_erasure_is_one_audit_row_and_a_second_run_adds_none(desk):
    s, refs = desk
    report = run(s.db, DAYS, LATER)
    rows = s.db.execute("SELECT actor, action, target, detail FROM audit ORDER BY id").fetchall()
    assert [(a, t) for _, a, t, _ in rows] == [
        (f"erased-{e.what}", e.target) for e in report.erasures
    ]
    assert {r[0] for r in rows} == {"retention"}
    assert ("erased-case", refs["jane"]) in [(a, t) for _, a, t, _ in rows]
    jane = next(d for _, a, t, d in rows if t == refs["jane"])
    assert '"person": 1' in jane and '"retention_days": 2555' in jane
    mary = next(d for _, a, t, d in rows if t == refs["mary"])
    assert '"raw_mail": 2' in mary

    before = dump(s.db)
    again = run(s.db, DAYS, LATER + timedelta(days=1))
    assert again.erasures == []
    assert dump(s.db) == before


def test_a_late_reply_restarts_the_clock_and_a_reopened_case_is_kept(desk):
    s, refs = desk
    mails = MailIntake(s.db, s.policy, s.intake)
    s.clock.set(T0 + timedelta(days=DAYS - 10))
    reply = mail(*MARY, "<mary-3@example.com>").replace(
        b"Subject: Complaint about collection", f"Subject: Re: [{refs['mary']}]".encode()
    )
    assert mails.process(reply, s.clock.now(), s.clock.now()).action == "threaded"
    erased = {e.target for e in run(s.db, DAYS, LATER).erasures}
    assert refs["mary"] not in erased and refs["jane"] in erased
    assert get_case(s.db, refs["mary"])["person"]["email"] == MARY[1]


def test_cutoff_counts_whole_days_back():
    assert cutoff(LATER, DAYS) == T0 + timedelta(days=1)


@contextlib.asynccontextmanager
async def serving(make_services, every_hours: int) -> AsyncIterator[None]:
    """The HTTP service with its workers on the desk's store, its clock at LATER."""
    config = parse_config({"retention": {"every_hours": every_hours}})
    runner = web.AppRunner(build_app(make_services(config, now=LATER)))
    await runner.setup()
    try:
        yield
    finally:
        await runner.cleanup()


async def test_serve_runs_the_job_on_its_clock(desk, make_services):
    s, refs = desk
    async with serving(make_services, every_hours=24):
        for _ in range(200):  # the job's first run, as soon as the service starts
            person = get_case(s.db, refs["jane"])["person"]
            if person["erased_at"]:
                break
            await asyncio.sleep(0.05)
        assert person == {
            "name": None,
            "email": None,
            "phone": None,
            "erased_at": person["erased_at"],
        }
        assert person["erased_at"] is not None
    assert get_case(s.db, refs["omar"])["person"]["name"] == "Omar Open"


async def test_serve_job_off_with_zero_hours(desk, make_services):
    s, refs = desk
    async with serving(make_services, every_hours=0):
        assert [t for t in asyncio.all_tasks() if t.get_name() == "retention"] == []
    assert get_case(s.db, refs["jane"])["person"]["name"] == "Jane Doe"


@pytest.mark.parametrize("value", [-1, 1.5, "24", True])
def test_every_hours_must_be_whole_hours(value):
    with pytest.raises(ConfigError, match=r"retention\.every_hours"):
        parse_config({"retention": {"every_hours": value}})


def test_retention_keys_default_to_seven_years_daily():
    assert (Config().retention_days, Config().retention_every_hours) == (2555, 24)
    assert parse_config({"retention": {"every_hours": 0}}).retention_every_hours == 0
