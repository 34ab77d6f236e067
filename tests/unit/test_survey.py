"""The satisfaction survey after closing (bot/survey.py, bot/survey_answers.py): reading the
answers (pure), who is surveyed (pure), and the two ways answers come back, by mail intake and
by the chat, on a real SQLite file without servers."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.app import Services
from bot.config import Config, SurveyConfig
from bot.survey import SURVEY_KIND, offer_survey, why_no_survey
from bot.survey_answers import Answers, parse_answers
from storage import case_work
from storage.case_work import case_state
from storage.cases import count_cases, get_case
from storage.db import write_transaction
from storage.outbox import mark_sent
from storage.surveys import survey_answers

from ..scripts import FULL
from .test_chat_service import converse, text_of
from .test_mail_intake import NOW, mail

# -- reading the answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", Answers(handled=True)),
        ("Yes!", Answers(handled=True)),
        ("no", Answers(handled=False)),
        ("5", Answers(handled=True, score=5)),
        ("4/5", Answers(handled=True, score=4)),
        ("2 out of 5", Answers(handled=False, score=2)),
        ("3", Answers(score=3)),
        ("yes, no", Answers(handled=True, timely=False)),
        ("yes yes", Answers(handled=True, timely=True)),
        (
            "it was fine but slow",
            Answers(handled=True, timely=False, comment="it was fine but slow"),
        ),
        ("not good, and late", Answers(False, None, False, "not good, and late")),
        ("5 out of 5, very quick", Answers(True, 5, True, "5 out of 5, very quick")),
        (
            "1. yes\n2. no\n3. The crew was kind but it took weeks",
            Answers(True, None, False, "The crew was kind but it took weeks"),
        ),
        ("1) 4/5\n2) yes", Answers(handled=True, score=4, timely=True)),
        ("Q1: no\nQ2: no", Answers(handled=False, timely=False)),
        # Unknown: kept as the comment, nothing guessed.
        ("the man at the desk", Answers(comment="the man at the desk")),
        (
            "There was no one to answer my calls for weeks",
            Answers(comment="There was no one to answer my calls for weeks"),
        ),
        # Opting out is not an answer.
        ("stop", Answers(stop=True)),
        ("STOP.", Answers(stop=True)),
        ("No surveys please", Answers(stop=True)),
        # The survey's own questions sent back unquoted are not answers.
        (
            "yes\n1. Did we handle your complaint well? Answer yes or no, or give a score",
            Answers(handled=True),
        ),
        ("> 2. Did we deal with it in good time? Answer yes or no.\nno", Answers(handled=False)),
    ],
)
def test_answers_are_read_tolerantly(text: str, expected: Answers) -> None:
    assert parse_answers(text) == expected


def test_a_long_comment_is_kept_but_bounded() -> None:
    assert len(parse_answers("x" * 10_000).comment or "") == 2000


# -- who is surveyed -----------------------------------------------------------------------------


def case(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "complaint",
        "channel": "email",
        "out_of_scope": None,
        "rules": [{"rule": "complaint-words"}],
        "person": {"name": "Jane", "email": "jane@example.com", "phone": None},
        "conversation": None,
    }
    return {**base, **overrides}


@pytest.mark.parametrize(
    ("enabled", "overrides", "prior", "why"),
    [
        (True, {}, "open", None),
        (True, {"channel": "web", "conversation": "web:abc", "person": None}, "open", None),
        (True, {"channel": "telegram", "conversation": "telegram:1"}, "open", None),
        (True, {"kind": "request"}, "open", None),
        (False, {}, "open", "turned off"),
        (True, {}, "declined", "declined"),
        (True, {"rules": [{"rule": "anonymous-allegation"}]}, "open", "declined"),
        (True, {}, "redirected", "out of scope"),
        (True, {"kind": "out-of-scope", "out_of_scope": "appeal"}, "open", "out of scope"),
        (True, {}, "unreadable", "nothing could be read"),
        (True, {"kind": "feedback"}, "recorded", "needs no response"),
        (True, {"rules": [{"rule": "ombudsman-office"}]}, "open", "Ombudsman"),
        (True, {"rules": [{"rule": "sender-not-verified"}]}, "open", "could not be verified"),
        (True, {"person": {"name": "Jane", "email": None}}, "open", "no email address"),
        (
            True,
            {"channel": "web", "conversation": None, "person": {"email": None}},
            "open",
            "no chat",
        ),
        (True, {"channel": "web", "conversation": None}, "open", None),  # emailed instead
        (True, {"channel": "console", "conversation": "console:1"}, "open", "console"),
    ],
)
def test_who_is_surveyed(enabled: bool, overrides: dict[str, Any], prior: str, why: str | None):
    found = why_no_survey(enabled, case(**overrides), prior)
    if why is None:
        assert found is None
    else:
        assert found is not None and why in found


# -- closing, and the answers coming back -------------------------------------------------------


def close(s: Services, ref: str, at: datetime) -> str | None:
    """What the staff's close action does (bot/staff/cases.py), in one transaction."""
    with write_transaction(s.db):
        state = case_state(s.db, ref)
        assert state is not None
        case_work.set_status(s.db, state, "staff:test", "closed", at)
        return offer_survey(s.db, s.policy, s.renderer, ref, state.status, at)


def outbox(s: Services, ref: str) -> list[dict[str, Any]]:
    return get_case(s.db, ref)["outbox"]


def reply_to_survey(ref: str, body: str, *, in_reply_to: bool = True) -> bytes:
    extra = f"In-Reply-To: <{ref}.survey@caredesk.city.example>" if in_reply_to else ""
    subject = f"Re: How did we do? Your complaint [{ref}]"
    return mail(body=body, subject=subject, message_id="<answer@example.com>", extra=extra)


@pytest.mark.parametrize("threading", ["in-reply-to", "subject"])
def test_an_emailed_answer_is_recorded_without_a_case_or_an_acknowledgement(
    make_mail_desk, threading
):
    services, intake = make_mail_desk(now=NOW)
    ref = intake.process(mail(), NOW, NOW).ref
    assert ref is not None
    later = NOW + timedelta(days=3)
    assert close(services, ref, later) is None
    [survey] = [o for o in outbox(services, ref) if o["reply_kind"] == SURVEY_KIND]
    assert survey["channel"] == "email" and survey["recipient"] == "jane@example.com"
    assert survey["subject"] == f"How did we do? Your complaint [{ref}]"
    row = services.db.execute(
        "SELECT headers, next_attempt_at FROM outbox WHERE reply_kind = 'survey'"
    ).fetchone()
    assert json.loads(row[0])["Message-ID"] == f"<{ref}.survey@caredesk.city.example>"
    # It leaves after the closing reply had a day to go first ([survey] delay_hours).
    assert datetime.fromisoformat(row[1]) == later + timedelta(hours=24)
    assert close(services, ref, later) == "the case was already surveyed"  # at most one

    answer = reply_to_survey(ref, "4/5\nA bit slow.", in_reply_to=threading == "in-reply-to")
    result = intake.process(answer, later + timedelta(days=2), later + timedelta(days=2))
    assert (result.action, result.ref, result.rule) == ("threaded", ref, "survey-reply")
    assert count_cases(services.db) == 1
    after = get_case(services.db, ref)
    assert after["status"] == "closed"  # not reopened
    assert [o["reply_kind"] for o in after["outbox"]].count("ack-email") == 1  # no new ack
    assert survey_answers(services.db, after_id(services, ref)) == {
        "channel": "email",
        "status": "answered",
        "asked_at": ANY,
        "answered_at": ANY,
        "handled": 1,
        "score": 4,
        "timely": 0,
        "comment": "4/5\nA bit slow.",
    }
    assert "survey-answered" in [e["type"] for e in after["events"]]


class _Any:
    def __eq__(self, other: object) -> bool:
        return other is not None


ANY = _Any()


def after_id(s: Services, ref: str) -> int:
    return int(s.db.execute("SELECT id FROM cases WHERE ref = ?", [ref]).fetchone()[0])


def test_a_reply_to_the_closing_email_still_reopens_the_case(make_mail_desk):
    """Only a reply to the survey is an answer: "it is not fixed" to the closing reply reopens."""
    services, intake = make_mail_desk(now=NOW)
    ref = intake.process(mail(), NOW, NOW).ref
    close(services, ref, NOW + timedelta(days=1))
    raw = mail(
        body="It is not fixed at all.",
        subject=f"Re: Your complaint is now closed [{ref}]",
        message_id="<again@example.com>",
        extra=f"In-Reply-To: <{ref}.closing@caredesk.city.example>",
    )
    intake.process(raw, NOW + timedelta(days=2), NOW + timedelta(days=2))
    assert get_case(services.db, ref)["status"] == "open"


def test_stop_opts_the_resident_out_of_every_later_survey(make_mail_desk):
    services, intake = make_mail_desk(now=NOW)
    first = intake.process(mail(), NOW, NOW).ref
    close(services, first, NOW + timedelta(days=1))
    intake.process(reply_to_survey(first, "Stop"), NOW + timedelta(days=2), NOW + timedelta(days=2))
    assert survey_answers(services.db, after_id(services, first))["status"] == "opted-out"
    second = intake.process(
        mail(message_id="<m9@example.com>", sender="JANE@example.com"),
        NOW + timedelta(days=3),
        NOW + timedelta(days=3),
    ).ref
    assert close(services, second, NOW + timedelta(days=4)) == "the resident asked for no surveys"
    assert SURVEY_KIND not in [o["reply_kind"] for o in outbox(services, second)]


def test_no_survey_when_turned_off(make_mail_desk):
    config = replace(Config(), survey=SurveyConfig(enabled=False))
    services, intake = make_mail_desk(config, now=NOW)
    ref = intake.process(mail(), NOW, NOW).ref
    assert "turned off" in (close(services, ref, NOW + timedelta(days=1)) or "")
    assert survey_answers(services.db, after_id(services, ref)) is None
    [event] = [e for e in get_case(services.db, ref)["events"] if e["type"] == "survey-not-sent"]
    assert "turned off" in event["data"]["why"]


def test_a_web_chat_resident_with_an_email_address_gets_the_survey_by_email(make_services):
    s = make_services(now=NOW)
    filed = converse(s.chat, [*FULL, "confirm"], key="web:with-email")
    close(s, filed.ref, NOW)
    [survey] = [o for o in outbox(s, filed.ref) if o["reply_kind"] == SURVEY_KIND]
    assert (survey["channel"], survey["recipient"]) == ("email", "jane@example.com")


def test_a_chat_resident_answers_in_the_chat(make_services):
    s = make_services(now=NOW)
    key = "web:survey-test"
    # A phone number only: no address to email the survey to, so it waits in the chat.
    filed = converse(s.chat, [*FULL[:-1], "905-555-0100", "confirm"], key=key)
    ref = filed.ref
    close(s, ref, NOW)
    [survey] = [o for o in outbox(s, ref) if o["reply_kind"] == SURVEY_KIND]
    assert survey["channel"] == "web" and survey["recipient"] == key
    # Not before its delay (the closing reply, which staff vet, goes first)...
    early = s.chat.visit("web", key)
    assert not any("How did we do?" in r.text for r in early.replies)
    s.clock.advance(timedelta(hours=s.config.survey.delay_hours))  # type: ignore[attr-defined]
    # ...then the resident comes back: the survey is shown, and their next message answers it.
    shown = s.chat.visit("web", key)
    assert any("How did we do?" in r.text for r in shown.replies)
    s.chat.delivered(shown)
    turn = s.chat.handle("web", key, "yes, but it was slow")
    assert "Thank you for answering our survey" in text_of(turn) and ref in text_of(turn)
    answers = survey_answers(s.db, after_id(s, ref))
    assert (answers["status"], answers["handled"], answers["timely"]) == ("answered", 1, 0)
    # Answered once: the next message is the dialogue's again, not a second answer.
    again = s.chat.handle("web", key, "new")
    assert "Thank you for answering" not in text_of(again)
    assert count_cases(s.db) == 1


def test_a_chat_no_is_shown_to_staff(make_services):
    s = make_services(now=NOW)
    key = "web:unhappy"
    ref = converse(s.chat, [*FULL[:-1], "905-555-0100", "confirm"], key=key).ref
    close(s, ref, NOW)
    turn = s.chat.handle("web", key, "no")
    assert "sorry" in text_of(turn)
    assert "not handled well" in get_case(s.db, ref)["attention"]


def test_a_telegram_survey_goes_to_the_conversation_and_is_recorded_when_sent(make_services):
    s = make_services(now=NOW)
    ref = converse(s.chat, [*FULL, "confirm"], key="telegram:42").ref
    close(s, ref, NOW)
    item, recipient, body = s.db.execute(
        "SELECT id, recipient, body FROM outbox WHERE reply_kind = 'survey'"
    ).fetchone()
    assert recipient == "telegram:42" and "send your answers here" in body
    with write_transaction(s.db):
        mark_sent(s.db, item, NOW + timedelta(days=1))
    sent = [e for e in get_case(s.db, ref)["events"] if e["type"] == "reply-sent"]
    assert sent[-1]["data"]["reply"] == SURVEY_KIND


def test_retention_erases_the_comment_and_keeps_the_figures(make_mail_desk):
    from storage.retention import erase_case

    services, intake = make_mail_desk(now=NOW)
    ref = intake.process(mail(), NOW, NOW).ref
    close(services, ref, NOW + timedelta(days=1))
    later = NOW + timedelta(days=2)
    intake.process(reply_to_survey(ref, "yes\nMy neighbour Bob Smith helped"), later, later)
    with write_transaction(services.db):
        erase_case(services.db, after_id(services, ref), later)
    answers = survey_answers(services.db, after_id(services, ref))
    assert (answers["handled"], answers["comment"]) == (1, None)


def test_a_complaint_filed_after_the_survey_keeps_its_own_messages(make_services):
    """Surveyed, then a new complaint in the same chat: "Actually it was Wednesday" is about
    the new case, not an answer to the old survey."""
    s = make_services(now=NOW)
    key = "web:twice"
    first = converse(s.chat, [*FULL, "confirm"], key=key).ref
    close(s, first, NOW)
    s.clock.advance(timedelta(minutes=5))  # past the chat's rate limit
    s.chat.handle("web", key, "new")
    second = converse(s.chat, [*FULL, "confirm"], key=key).ref
    assert second not in (None, first)
    s.clock.advance(timedelta(minutes=5))
    turn = s.chat.handle("web", key, "Actually it was Wednesday")
    assert f"added your message to your case {second}" in text_of(turn)
    assert "survey" not in text_of(turn)
    assert survey_answers(s.db, after_id(s, first))["status"] == "asked"


def test_an_undelivered_survey_does_not_keep_a_reopened_case_open(make_services):
    """A web chat's survey waits for the resident's next visit, maybe for ever; a case reopened
    meanwhile can still be closed (its survey is not sent twice)."""
    s = make_services(now=NOW)
    ref = converse(s.chat, [*FULL, "confirm"], key="web:gone").ref
    for (item,) in s.db.execute("SELECT id FROM outbox").fetchall():
        with write_transaction(s.db):
            mark_sent(s.db, item, NOW)
    close(s, ref, NOW)
    state = case_state(s.db, ref)
    with write_transaction(s.db):
        case_work.set_status(s.db, state, "staff:test", "open", NOW)
    assert case_work.open_work(s.db, after_id(s, ref)) == {"drafts": 0, "outbox": 0}
    assert close(s, ref, NOW) == "the case was already surveyed"
