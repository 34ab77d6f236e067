"""The satisfaction survey after a case is closed (seed 000: "measure customer satisfaction,
e.g. use of post-closure customer satisfaction survey").

When staff close a case, `offer_survey` (in the same transaction as the close) queues a short
survey on the channel the case came from: an email, or a chat message on the web chat or
Telegram (the console has no way back to the resident). At most one a case (a unique survey
row and the outbox's idempotency key), and never:

- when `[survey] enabled` is false, or the resident said "stop" to an earlier survey (by email
  address, or in the same chat conversation);
- for a case that was declined (anonymous, 02.01), redirected (out of scope, 02.03) or
  unreadable: the city did not handle it, so "was it handled well?" would be a strange
  question; nor for feedback (no response was promised);
- for mail from the Ombudsman's office, or from a sender the mail server could not verify
  (a survey is mail the resident did not ask for: it goes only where a case's replies could);
- without a way to reach the resident.

The survey leaves `[survey] delay_hours` after the close, so the closing reply (which staff vet)
normally arrives first. Why a survey was not sent is on the case's timeline.

Answers come back the way the survey went: an email reply is recognised by mail intake
(bot/mail_intake.py) from its In-Reply-To/References (our `<REF.survey@...>` Message-ID) or
a subject starting "Re: How did we do?", and is recorded on the case without opening a case,
reopening this one or being acknowledged; a chat message from a conversation whose survey is
waiting is read by the chat service (bot/chat.py) before the dialogue. Parsing the answers is
bot/survey_answers.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from bot.decide import Policy
from bot.intake import compose, reply_context
from bot.model import Inbound, Kind
from bot.replies import ReplyRenderer
from bot.stored_case import decision_of, submission_of
from bot.survey_answers import Answers, parse_answers
from mail.identity import RE_PREFIX, MailIdentity
from storage.cases import add_event, get_case, insert_message
from storage.mail import set_attention
from storage.outbox import queue_reply
from storage.surveys import (
    SurveyRow,
    insert_survey,
    opted_out,
    record_answers,
    record_opt_out,
)

SURVEY_KIND = "survey"
#: The survey email's subject starts with this (templates/replies/survey.txt.j2).
SURVEY_SUBJECT = "How did we do?"
CHAT_CHANNELS = frozenset({"web", "telegram"})
SURVEYED_KINDS = frozenset({Kind.COMPLAINT, Kind.REQUEST, Kind.HAZARD, Kind.OTHER})
#: Statuses a case had before it was closed that mean the city did not take it up.
NOT_HANDLED = {
    "declined": "the case was declined (02.01)",
    "redirected": "the case was out of scope and redirected (02.03)",
    "unreadable": "nothing could be read from the message",
}
#: Rules whose firing means no survey (see the module docstring).
NO_SURVEY_RULES = {
    "anonymous-allegation": "the case was declined (02.01)",
    "ombudsman-office": "mail from the Ombudsman's office",
    "ombudsman-not-verified": "the sender could not be verified",
    "sender-not-verified": "the sender could not be verified",
}


def why_no_survey(config_enabled: bool, case: Mapping[str, Any], prior_status: str) -> str | None:
    """Why this case gets no survey, or None when it gets one. Pure; `case` is
    storage.cases.get_case's dict, `prior_status` its status before it was closed."""
    if not config_enabled:
        return "surveys are turned off ([survey] enabled)"
    if prior_status in NOT_HANDLED:
        return NOT_HANDLED[prior_status]
    if case.get("out_of_scope") or case["kind"] == Kind.OUT_OF_SCOPE.value:
        return NOT_HANDLED["redirected"]
    rules = {str(h.get("rule")) for h in case.get("rules") or () if isinstance(h, Mapping)}
    for rule, why in NO_SURVEY_RULES.items():
        if rule in rules:
            return why
    if Kind(case["kind"]) not in SURVEYED_KINDS:
        return f"a {case['kind']} needs no response, so it is not surveyed"
    channel = case["channel"]
    person = case.get("person") or {}
    if channel == "email" or (channel == "web" and person.get("email")):
        return None if person.get("email") else "no email address to send it to"
    if channel in CHAT_CHANNELS:
        return None if case.get("conversation") else "no chat conversation to send it to"
    return f"no way to reach a resident who used the {channel}"


def survey_channel(case_channel: str, email: str | None) -> str:
    """Where the survey goes: the channel the case came from, except a web chat case with an
    email address. The survey leaves a day after closing, and a web chat page is seldom open
    then (its session ends after hours of quiet); the address reaches the resident."""
    return "email" if case_channel == "web" and email else case_channel


def offer_survey(
    db: sqlite_utils.Database,
    policy: Policy,
    renderer: ReplyRenderer,
    ref: str,
    prior_status: str,
    now: datetime,
) -> str | None:
    """Queue the survey of a case just closed (call inside the closing transaction). Returns
    None when it was queued, else why not (also on the case's timeline)."""
    case = get_case(db, ref)
    assert case is not None
    case_id = int(db.execute("SELECT id FROM cases WHERE ref = ?", [ref]).fetchone()[0])
    config = policy.config
    why = why_no_survey(config.survey.enabled, case, prior_status)
    person = case.get("person") or {}
    email = (person.get("email") or "").lower() or None
    channel = survey_channel(case["channel"], email)
    conversation = case.get("conversation")
    if why is None and opted_out(db, email, channel, conversation):
        why = "the resident asked for no surveys"
    if why is None and not insert_survey(
        db, case_id, channel, conversation if channel in CHAT_CHANNELS else None, now
    ):
        why = "the case was already surveyed"
    if why is not None:
        add_event(db, case_id, "survey-not-sent", "policy", now, {"why": why})
        return why
    case["messages"] = _messages(db, case_id)
    sub, decision = submission_of(case), decision_of(case)
    out = compose(policy, renderer, ref, sub, decision, SURVEY_KIND, channel)
    subject = out.subject
    if channel == "email":  # its own subject, not "Re: <theirs>": a reply then says what it is
        context = reply_context(policy, ref, sub, decision, SURVEY_KIND)
        subject = renderer.render(SURVEY_KIND, context).subject
    queue_reply(
        db,
        case_id=case_id,
        ref=ref,
        channel=channel,
        recipient=email if channel == "email" else conversation,
        reply_kind=SURVEY_KIND,
        subject=subject,
        body=out.body,
        now=now,
        why="satisfaction survey after closing",
        headers=out.headers,
        not_before=now + timedelta(hours=config.survey.delay_hours),
    )
    return None


def _messages(db: sqlite_utils.Database, case_id: int) -> list[dict[str, Any]]:
    cursor = db.execute(
        "SELECT direction, message_key, body FROM messages WHERE case_id = ? ORDER BY id",
        [case_id],
    )
    return [{"direction": d, "message_key": k, "body": b} for d, k, b in cursor.fetchall()]


def is_survey_reply(inbound: Inbound, me: MailIdentity, ref: str) -> bool:
    """Does this mail answer case `ref`'s survey? Our survey's Message-ID in its In-Reply-To
    or References, or (a mail program that drops them) a subject "Re: How did we do? ...
    [REF]". A reply to any other of our emails (the closing reply: "it is not fixed") is not."""
    for message_id in (*inbound.in_reply_to, *reversed(inbound.references)):
        ours = me.reply_in_message_id(message_id)
        if ours is not None and ours[0] == ref:
            return ours[1] == SURVEY_KIND
    subject = RE_PREFIX.sub("", inbound.subject).strip()
    return subject.lower().startswith(SURVEY_SUBJECT.lower()) and me.ref_in_subject(subject) == ref


@dataclass(frozen=True)
class Answered:
    answers: Answers
    ref: str


def answer_survey(
    db: sqlite_utils.Database,
    survey: SurveyRow,
    text: str,
    channel: str,
    now: datetime,
    *,
    message_id: int | None = None,
) -> Answered:
    """Record a reply to the survey on its case (inside the caller's transaction). The
    timeline gets `survey-answered` (or `survey-opted-out`) without the resident's words (it is
    never erased); the words are in the survey row and the stored message."""
    answers = parse_answers(text)
    if message_id is None:
        message_id = insert_message(
            db, case_id=survey.case_id, direction="in", channel=channel, body=text, now=now
        )
    if answers.stop:
        record_opt_out(db, survey.id, survey.case_id)
        add_event(db, survey.case_id, "survey-opted-out", channel, now, {"message": message_id})
        return Answered(answers, survey.ref)
    record_answers(
        db, survey.id, answers.handled, answers.score, answers.timely, answers.comment, now
    )
    add_event(
        db,
        survey.case_id,
        "survey-answered",
        channel,
        now,
        {
            "message": message_id,
            "handled": answers.handled,
            "score": answers.score,
            "timely": answers.timely,
            "comment": answers.comment is not None,
        },
    )
    if answers.handled is False:
        set_attention(db, survey.case_id, "survey: the resident said it was not handled well", now)
    return Answered(answers, survey.ref)


def chat_thanks(answered: Answered) -> str:
    """What the chat says after an answer (email answers get no reply: no acknowledgement)."""
    ref = answered.ref
    if answered.answers.stop:
        return f"All right. You won't get any more surveys from us. Thank you ({ref})."
    if answered.answers.handled is False:
        return (
            f"Thank you for answering our survey about {ref}. We're sorry we didn't do "
            "better. Our team will read what you told us."
        )
    return (
        f"Thank you for answering our survey about {ref}. Your answers help us improve our service."
    )
