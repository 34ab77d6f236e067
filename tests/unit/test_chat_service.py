"""ChatService + Intake on a real SQLite file: what a confirmed dialogue leaves in the store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from storage.cases import count_cases, get_case, list_cases
from storage.conversations import load_conversation

from ..scripts import FULL

TZ = ZoneInfo("America/Toronto")
NOW = datetime(2026, 11, 25, 16, 38, tzinfo=TZ)


def converse(chat, lines, key="console:t"):
    channel = key.split(":", 1)[0]
    chat.open(channel, key)
    turn = None
    for line in lines:
        turn = chat.handle(channel, key, line)
        chat.delivered(turn)
    return turn


def text_of(turn):
    return "\n".join(r.text for r in turn.replies)


def test_confirmed_complaint_is_filed_and_acknowledged(make_services):
    s = make_services()
    turn = converse(s.chat, [*FULL, "confirm"])
    assert turn.ref == "CD-2026-000001"
    reply = text_of(turn)
    assert "CD-2026-000001" in reply
    assert "Wednesday, December 9, 2026" in reply  # follow-up, 14 calendar days
    assert "1-800-263-1830" in reply  # the Ombudsman (04.05)
    case = get_case(s.db, turn.ref)
    assert case["kind"] == "complaint" and case["status"] == "open"
    assert case["missing"] == []
    assert case["ack_due"] == "2026-11-26T21:30:00+00:00"  # Thu 16:30 Toronto
    assert case["person"]["email"] == "jane@example.com"
    assert [e["type"] for e in case["events"]] == [
        "received",
        "decided",
        "reply-queued",
        "reply-queued",
        "reply-sent",
    ]
    assert [m["direction"] for m in case["messages"]] == ["in", "out"]
    assert [(o["reply_kind"], o["channel"], o["status"]) for o in case["outbox"]] == [
        ("ack-complaint", "console", "sent"),
        ("ack-copy", "email", "pending"),  # a fixed-wording copy (dialogue.email_copy)
    ]
    assert load_conversation(s.db, "console:t")["status"] == "filed"


def test_anonymous_allegation_is_recorded_with_a_draft_for_review(make_services):
    s = make_services()
    turn = converse(s.chat, [*FULL[:6], "no", "no", "confirm"])
    assert "02.01" in text_of(turn) and turn.ref in text_of(turn)
    case = get_case(s.db, turn.ref)
    assert case["status"] == "declined" and case["person"] is None
    assert [(d["reply_kind"], d["status"]) for d in case["drafts"]] == [
        ("anonymous-declined", "pending")
    ]
    assert case["outbox"] == []


def test_hazard_is_accepted_anonymously_with_an_inspection_clock(make_services):
    s = make_services()
    turn = converse(
        s.chat,
        ["1", "yes", "Downed wire across the path in Kinsmen Park", "right now", "skip", "confirm"],
    )
    case = get_case(s.db, turn.ref)
    assert case["kind"] == "hazard" and case["status"] == "open"
    assert case["hazard_due"] == "2026-11-26T21:30:00+00:00"
    assert "911" in text_of(turn)


def test_out_of_scope_gets_a_reviewed_redirect(make_services):
    s = make_services()
    turn = converse(
        s.chat,
        [
            "1",
            "no",
            "I disagree with the council decision to close the library",
            "yes",
            "Sam Lee",
            "sam@example.org",
            "confirm",
        ],
    )
    case = get_case(s.db, turn.ref)
    assert (case["kind"], case["status"], case["out_of_scope"]) == (
        "out-of-scope",
        "redirected",
        "council",
    )
    assert case["drafts"][0]["reply_kind"] == "out-of-scope"
    assert "reply by email" in text_of(turn)


def test_a_question_is_recorded_with_a_drafted_answer_and_no_follow_up_clock(make_services):
    s = make_services()
    turn = converse(
        s.chat,
        [
            "When does the outdoor rink at Sandy Beach Road open this winter?",
            "Sam Lee",
            "sam@example.org",
            "confirm",
        ],
    )
    case = get_case(s.db, turn.ref)
    assert (case["kind"], case["status"]) == ("other", "recorded")
    assert case["follow_up_due"] is None and case["hazard_due"] is None
    assert case["ack_due"] == "2026-11-26T21:30:00+00:00"  # the acknowledgement clock applies
    assert [(d["reply_kind"], d["status"]) for d in case["drafts"]] == [
        ("enquiry-answer", "pending")
    ]
    assert case["outbox"] == []  # the answer waits for staff
    said = text_of(turn)
    assert "Thank you for your question" in said and "Thursday, November 26, 2026" in said


def test_an_anonymous_question_is_recorded_not_declined(make_services):
    s = make_services()
    turn = converse(
        s.chat,
        ["4", "no", "Is this the right address for transit lost and found?", "skip", "confirm"],
    )
    case = get_case(s.db, turn.ref)
    assert (case["kind"], case["status"]) == ("other", "recorded")
    assert [d["reply_kind"] for d in case["drafts"]] == ["enquiry-answer"]
    assert "02.01" not in text_of(turn) and "please call" in text_of(turn)


def test_cancelled_conversation_files_nothing(make_services):
    s = make_services()
    converse(s.chat, [*FULL, "cancel"])
    assert count_cases(s.db) == 0


def test_a_failure_while_filing_leaves_no_half_written_case(make_services, monkeypatch):
    s = make_services()
    converse(s.chat, FULL)

    def broken(*args, **kwargs):
        raise RuntimeError("template engine exploded")

    monkeypatch.setattr(s.renderer, "render", broken)
    with pytest.raises(RuntimeError):
        s.chat.handle("console", "console:t", "confirm")
    assert count_cases(s.db) == 0
    for table in ("people", "events", "outbox", "drafts", "messages"):
        assert s.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
    assert load_conversation(s.db, "console:t")["step"] == "summary"  # nothing confirmed lost
    monkeypatch.undo()
    turn = s.chat.handle("console", "console:t", "confirm")
    assert turn.ref == "CD-2026-000001" and count_cases(s.db) == 1


def test_a_crash_before_delivery_redelivers_once_and_files_once(make_services):
    s = make_services()
    converse(s.chat, FULL)
    turn = s.chat.handle("console", "console:t", "confirm")  # filed, never marked delivered
    again = make_services()  # a new process on the same store
    resumed = again.chat.open("console", "console:t")
    assert turn.ref in text_of(resumed)
    again.chat.delivered(resumed)
    assert again.chat.open("console", "console:t").outbox_ids == []
    assert count_cases(again.db) == 1


def test_unfinished_conversation_resumes_after_restart(make_services):
    s = make_services()
    converse(s.chat, FULL[:4])
    s.db.close()
    again = make_services()
    welcome = text_of(again.chat.open("console", "console:t"))
    assert "Welcome back" in welcome and "Who was involved" in welcome
    turn = converse(again.chat, [*FULL[4:], "confirm"])
    assert get_case(again.db, turn.ref)["who"] == "the driver of truck 42"


def test_references_count_up(make_services):
    s = make_services()
    refs = [converse(s.chat, [*FULL, "confirm"], key=f"console:{i}").ref for i in range(3)]
    assert refs == ["CD-2026-000001", "CD-2026-000002", "CD-2026-000003"]
    assert [c["ref"] for c in list_cases(s.db)] == list(reversed(refs))


def test_email_copy_can_be_switched_off(make_services):
    from bot.config import parse_config

    s = make_services(parse_config({"dialogue": {"email_copy": False}}))
    turn = converse(s.chat, [*FULL, "confirm"])
    assert [o["channel"] for o in get_case(s.db, turn.ref)["outbox"]] == ["console"]


def test_status_shows_only_this_conversations_cases(make_services):
    s = make_services()
    mine = converse(s.chat, [*FULL, "confirm"], key="web:alice").ref
    theirs = converse(s.chat, [*FULL, "confirm"], key="web:bob").ref
    own = text_of(s.chat.handle("web", "web:alice", f"status {mine}"))
    assert mine in own and "open" in own and "Wednesday, December 9, 2026" in own
    other = text_of(s.chat.handle("web", "web:alice", f"/status {theirs}"))
    assert theirs in other and "can't find" in other and "open" not in other
    listing = text_of(s.chat.handle("web", "web:alice", "status"))
    assert mine in listing and theirs not in listing


def test_a_redelivered_update_has_no_second_effect(make_services):
    s = make_services()
    converse(s.chat, FULL, key="telegram:7")
    first = s.chat.handle("telegram", "telegram:7", "confirm", update_key="1001")
    again = s.chat.handle("telegram", "telegram:7", "confirm", update_key="1001")
    assert first.ref and again.replies == [] and again.ref is None
    assert count_cases(s.db) == 1


def test_rate_limit_is_polite_and_loses_nothing(make_services):
    from bot.config import parse_config

    s = make_services(parse_config({"dialogue": {"rate_per_minute": 3}}))
    s.chat.open("web", "web:fast")
    replies = [text_of(s.chat.handle("web", "web:fast", line)) for line in FULL[:4]]
    assert "faster than I can take them in" in replies[3]
    assert load_conversation(s.db, "web:fast")["step"] == "when"  # the 4th was not applied
    s.clock.advance(timedelta(minutes=1))
    assert "Who was involved" in text_of(s.chat.handle("web", "web:fast", FULL[3]))


def test_evidence_is_recorded_on_the_case(make_services):
    from bot.model import Attachment

    s = make_services()
    s.chat.open("telegram", "telegram:9")
    for line in FULL[:3]:
        s.chat.handle("telegram", "telegram:9", line)
    photo = Attachment(None, "image/jpeg", 48213, "AgACAgQAAxkBAAIB")
    reply = text_of(s.chat.handle("telegram", "telegram:9", "", attachments=[photo]))
    assert "added the file" in reply
    turn = None
    for line in [*FULL[3:], "confirm"]:
        turn = s.chat.handle("telegram", "telegram:9", line)
    case = get_case(s.db, turn.ref)
    [event] = [e for e in case["events"] if e["type"] == "attachments"]
    assert event["data"]["files"] == [
        {"type": "image/jpeg", "size": 48213, "ref": "AgACAgQAAxkBAAIB"}
    ]


def test_idle_conversations_are_paused_with_a_notice_and_resume(make_services):
    s = make_services()
    converse(s.chat, FULL[:4], key="telegram:idle")
    assert s.chat.expire_idle(["telegram"]) == 0
    s.clock.advance(timedelta(minutes=31))
    assert s.chat.expire_idle(["telegram"]) == 1
    notice = s.chat._pending("telegram", "telegram:idle")  # the Telegram worker sends it
    assert "paused our conversation" in text_of(notice) and "'resume'" in text_of(notice)
    assert s.chat.expire_idle(["telegram"]) == 0  # once
    back = text_of(s.chat.handle("telegram", "telegram:idle", "resume"))
    assert "Who was involved" in back


def test_a_paused_web_chat_leaves_no_outbox_row_that_no_worker_sends(make_services):
    s = make_services()
    converse(s.chat, FULL[:4], key="web:idle")
    s.clock.advance(timedelta(minutes=31))
    told: list[tuple[str, str]] = []
    assert s.chat.expire_idle(["web"], told) == 1
    [(key, notice)] = told  # for the open page, if there is one
    assert key == "web:idle" and "paused our conversation" in notice
    pending = s.db.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
    assert pending == 0
    assert s.chat.transcript("web:idle")[-1][1] == notice  # shown on the next visit
    back = text_of(s.chat.handle("web", "web:idle", "resume"))
    assert "Who was involved" in back


def _ack_when_line(turn) -> str:
    return next(line for line in text_of(turn).splitlines() if line.startswith("- When"))


def test_acknowledgement_of_a_day_without_a_time_shows_no_time(make_services):
    s = make_services()
    turn = converse(s.chat, [*FULL[:3], "12 March", "not sure", *FULL[4:], "confirm"])
    line = _ack_when_line(turn)
    assert line.endswith("Thursday, March 12, 2026")
    assert "a.m." not in line and "p.m." not in line
    case = get_case(s.db, turn.ref)
    assert case["when_precision"] == "day"
    assert (case["occurred_at"], case["occurred_until"]) == (
        "2026-03-12T04:00:00+00:00",
        "2026-03-13T04:00:00+00:00",
    )


def test_acknowledgement_of_last_week_shows_the_week_not_a_day(make_services):
    s = make_services()
    turn = converse(s.chat, [*FULL[:3], "last week", *FULL[4:], "confirm"])
    line = _ack_when_line(turn)
    assert line.endswith("the week of November 16, 2026")
    assert "Monday" not in line and "a.m." not in line
    case = get_case(s.db, turn.ref)
    assert (case["when_text"], case["when_precision"]) == ("last week", "week")


def test_acknowledgement_of_an_approximate_answer_says_about(make_services):
    s = make_services()
    turn = converse(s.chat, [*FULL[:3], "a couple of weeks ago", *FULL[4:], "confirm"])
    assert _ack_when_line(turn).endswith("about two weeks ago (around November 11, 2026)")


def test_acknowledgement_keeps_words_that_could_not_be_read(make_services):
    s = make_services()
    turn = converse(s.chat, [*FULL[:3], "banana", "the day of the storm", *FULL[4:], "confirm"])
    assert _ack_when_line(turn).endswith('in your words: "the day of the storm"')
    case = get_case(s.db, turn.ref)
    assert (case["when_precision"], case["occurred_at"]) == ("unknown", None)


def test_a_page_load_writes_nothing_and_the_first_message_starts(make_services):
    s = make_services()
    changes = s.db.conn.total_changes
    assert s.chat.visit("web", "web:new").replies == []
    assert "What is your message about?" in s.chat.greeting()[-1].text
    assert not s.chat.exists("web:new")
    assert s.db.conn.total_changes == changes  # no row, no write
    turn = s.chat.handle("web", "web:new", "1", start_if_new=True)
    assert "immediate danger" in text_of(turn)
    assert "thank you for contacting" not in text_of(turn)  # the page showed the greeting
    lines = s.chat.transcript("web:new")
    assert [who for who, _t, _c in lines][:3] == ["city", "city", "resident"]


def test_end_and_clear_forgets_an_unfinished_chat_but_keeps_a_filed_one(make_services):
    s = make_services()
    converse(s.chat, FULL[:4], key="web:a")
    assert s.chat.end("web:a") is None
    assert not s.chat.exists("web:a") and s.chat.transcript("web:a") == []
    converse(s.chat, [*FULL, "confirm"], key="web:b")
    assert s.chat.filed_ref("web:b") == "CD-2026-000001"
    assert s.chat.end("web:b") == "CD-2026-000001"
    assert count_cases(s.db) == 1


# -- issue 8 -----------------------------------------------------------------------------


def test_no_to_danger_with_a_fire_word_is_filed_as_said_and_flagged_for_staff(make_services):
    s = make_services()
    turn = converse(
        s.chat,
        [
            "1",
            "no",
            "Someone set a fire in the bin behind the library and nobody came",
            "behind the library",
            "yesterday at 3pm",
            "the caretaker",
            "empty the bins more often",
            "Jane Doe",
            "me",
            "jane@example.com",
            "confirm",
        ],
    )
    case = get_case(s.db, turn.ref)
    assert case["kind"] == "complaint" and case["hazard_due"] is None
    assert "safety-phrase-vs-answer" in [r["rule"] for r in case["rules"]]
    [flag] = [e for e in case["events"] if e["type"] == "flagged"]
    assert flag["data"]["rule"] == "safety-phrase-vs-answer"
    assert "hazard" not in text_of(turn)


@pytest.mark.parametrize(
    "what",
    [
        "The fire hydrant on Elm Street has been leaking for a week",
        "My basement flood rebate has not been paid after six months",
    ],
)
def test_a_thing_named_after_a_hazard_is_not_a_hazard(make_services, what):
    s = make_services()
    lines = ["1", "no", what, "skip", "yesterday at 3pm", "staff", "fix it", "Jane Doe", "me"]
    turn = converse(s.chat, [*lines, "j@x.org", "confirm"])
    case = get_case(s.db, turn.ref)
    assert case["kind"] == "complaint"
    assert not [e for e in case["events"] if e["type"] == "flagged"]


def test_a_named_resident_without_contact_is_filed_and_not_declined(make_services):
    s = make_services()
    turn = converse(s.chat, [*FULL[:8], "no thanks", "confirm"])
    case = get_case(s.db, turn.ref)
    assert case["status"] == "open" and case["missing"] == ["contact"]
    assert case["person"]["name"] == "Jane Doe" and case["person"]["email"] is None
    assert "not investigated" not in text_of(turn) and "can't be investigated" not in text_of(turn)
    # The acknowledgement does not promise updates it can't send.
    assert "can't send you updates" in text_of(turn) and "keep you updated" not in text_of(turn)


def test_a_message_after_filing_joins_the_case_and_staff_see_it(make_services):
    s = make_services()
    filed = converse(s.chat, [*FULL, "confirm"])
    assert "'new'" in text_of(filed)
    s.clock.advance(timedelta(minutes=5))
    turn = s.chat.handle("console", "console:t", "Actually it was Wednesday")
    assert filed.ref in text_of(turn) and "added" in text_of(turn)
    assert count_cases(s.db) == 1
    case = get_case(s.db, filed.ref)
    assert [m["direction"] for m in case["messages"]][-1] == "in"
    assert case["messages"][-1]["body"] == "Actually it was Wednesday"
    assert case["events"][-1]["type"] == "resident-message"
    from bot.cli import format_case

    assert "Actually it was Wednesday" in format_case(case)
    assert load_conversation(s.db, "console:t")["status"] == "filed"


def test_new_after_filing_starts_a_new_complaint(make_services):
    s = make_services()
    converse(s.chat, [*FULL, "confirm"])
    s.clock.advance(timedelta(minutes=2))  # past the rate limit
    reply = text_of(s.chat.handle("console", "console:t", "new"))
    assert "What is your message about?" in reply
    assert load_conversation(s.db, "console:t")["status"] == "active"
    converse(s.chat, [*FULL, "confirm"])
    assert count_cases(s.db) == 2


def test_after_the_window_a_message_starts_a_new_conversation(make_services):
    s = make_services()
    converse(s.chat, [*FULL, "confirm"])
    s.clock.advance(timedelta(hours=25))
    s.chat.handle("console", "console:t", "Actually it was Wednesday")
    assert load_conversation(s.db, "console:t")["status"] == "active"
    case = get_case(s.db, "CD-2026-000001")
    assert [m["direction"] for m in case["messages"]] == ["in", "out"]


def test_a_photo_after_filing_joins_the_case(make_services):
    from bot.model import Attachment

    s = make_services()
    filed = converse(s.chat, [*FULL, "confirm"], key="telegram:5")
    photo = Attachment(None, "image/jpeg", 1234, "AgACphoto")
    reply = text_of(s.chat.handle("telegram", "telegram:5", "", attachments=[photo]))
    assert filed.ref in reply and "added the file" in reply
    [event] = [e for e in get_case(s.db, filed.ref)["events"] if e["type"] == "attachments"]
    assert event["data"]["files"][0]["ref"] == "AgACphoto"
    assert load_conversation(s.db, "telegram:5")["status"] == "filed"


def test_a_file_name_sent_after_filing_stays_off_the_timeline(make_services):
    """File names can name people: kept with a message (erased by retention), never on the
    append-only timeline, as for evidence sent before filing."""
    from bot.model import Attachment

    s = make_services()
    filed = converse(s.chat, [*FULL, "confirm"], key="telegram:6")
    doc = Attachment("jane-doe-medical-note.pdf", "application/pdf", 999, "BQACdoc")
    s.chat.handle("telegram", "telegram:6", "", attachments=[doc])
    case = get_case(s.db, filed.ref)
    assert "jane-doe" not in json.dumps(case["events"])
    metas = [m for (m,) in s.db.execute("SELECT meta FROM messages WHERE direction = 'in'")]
    assert any("jane-doe-medical-note.pdf" in m for m in metas)


def test_a_named_resident_without_contact_is_asked_only_for_a_way_to_reach_them(make_services):
    s = make_services()
    turn = converse(s.chat, [*FULL[:-1], "I'd rather not", "confirm"])
    text = text_of(turn)
    assert "- how to reach you (an email address or a phone number)" in text
    assert "your name and how to reach you" not in text


def test_a_first_web_message_reads_the_conversation_once_and_logs_every_line(make_services):
    """The greeting's state is used as written, not read back; the transcript has the
    greeting, the resident's line and the replies, in order, with their choices."""
    s = make_services()
    greeting = s.chat.greeting()
    statements: list[str] = []
    s.db.conn.set_trace_callback(statements.append)
    try:
        turn = s.chat.handle("web", "web:once", "1", start_if_new=True)
    finally:
        s.db.conn.set_trace_callback(None)
    reads = [q for q in statements if q.lstrip().upper().startswith("SELECT STATE")]
    assert len(reads) == 1
    expected = [
        *[("city", r.text, list(r.choices)) for r in greeting],
        ("resident", "1", []),
        *[("city", r.text, list(r.choices)) for r in turn.replies],
    ]
    assert s.chat.transcript("web:once") == expected
    assert any(choices for _who, _text, choices in expected)  # choices are kept too
    assert load_conversation(s.db, "web:once")["step"] == "safety"
