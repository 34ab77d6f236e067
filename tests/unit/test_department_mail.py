"""A case forwarded to a department by email (mail/department.py): the reference in the subject,
a Message-ID that reads back, no header injection through case text, contact details only when
allowed, and the department's reply recognised (and a stranger's or a resident's not)."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from bot.config import Department, MailConfig
from mail.department import (
    REPLY_HINT,
    DepartmentSender,
    ForwardedCase,
    department_addresses,
    department_mail_ref,
    department_sender,
    forward_message,
    is_department_reply,
)
from mail.identity import MailIdentity
from mail.parse import MAIL_POLICY, parse_message
from mail.smtp import build_message
from storage.outbox import OutboxItem

ME = MailIdentity(frozenset({"feedback@city.example"}), "caredesk.city.example", "CD")
REF = "CD-2026-000123"
ROADS = "roads@city.example"
RECEIVED = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
CASE = ForwardedCase(
    ref=REF,
    kind="complaint",
    received=RECEIVED,
    what="The pothole on Main St was not fixed",
    when="last Tuesday",
    who="the road crew",
    outcome="fix the pothole",
    contact="Ann Lee, ann@example.com, 555-0100",
    place="12 Main St",
    deadlines={"follow-up": datetime(2026, 3, 16, 17, 0, tzinfo=UTC)},
)


def forward(case: ForwardedCase = CASE, **kw: object) -> tuple[str, str, dict[str, str]]:
    return forward_message(ME, "Roads", ROADS, case, 1, **kw)  # type: ignore[arg-type]


def sent(subject: str, body: str, headers: dict[str, str]) -> EmailMessage:
    """The forward as mail/smtp.py writes it, parsed back from its bytes."""
    item = OutboxItem(1, 1, "email", ROADS, "forward-1", subject, body, "k", 0, headers)
    raw = build_message(item, MailConfig(), RECEIVED).as_bytes()
    parsed = email.message_from_bytes(raw, policy=MAIL_POLICY)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_the_subject_carries_the_reference_and_the_message_id_reads_back():
    subject, _, headers = forward()
    assert subject == f"Complaint for Roads: The pothole on Main St was not fixed [{REF}]"
    assert ME.ref_in_subject(subject) == REF
    assert headers == {"Message-ID": f"<{REF}.forward-1@caredesk.city.example>"}
    assert ME.reply_in_message_id(headers["Message-ID"]) == (REF, "forward-1")
    assert ME.forward_in_message_id(headers["Message-ID"]) == (REF, 1)
    assert ME.forward_message_id(REF, 3) == f"<{REF}.forward-3@caredesk.city.example>"
    assert ME.forward_in_message_id(f"<{REF}.ack-email@caredesk.city.example>") is None
    assert ME.forward_in_message_id(f"<{REF}.forward-1@elsewhere.example>") is None


def test_a_long_what_is_cut_at_a_word_and_another_reference_is_dropped():
    case = ForwardedCase(
        REF, "request", RECEIVED, "see [CD-2025-000007] " + "word " * 30, None, None, None, None
    )
    subject, _, _ = forward(case)
    assert subject.endswith(f"… [{REF}]")
    assert "CD-2025-000007" not in subject
    assert ME.ref_in_subject(subject) == REF


def test_the_body_is_a_summary_for_department_staff():
    _, body, _ = forward(include_contact=True)
    lines = body.splitlines()
    for line in [
        f"Reference: {REF}",
        "Kind: complaint",
        "Received: 2026-03-02 09:15+00:00",
        "What happened: The pothole on Main St was not fixed",
        "When: last Tuesday",
        "Who was involved: the road crew",
        "Outcome sought: fix the pothole",
        "Contact: Ann Lee, ann@example.com, 555-0100",
        "Place: 12 Main St",
        "  follow-up: 2026-03-16 17:00+00:00",
        REPLY_HINT,
    ]:
        assert line in lines


def test_contact_details_are_left_out_unless_allowed():
    _, body, _ = forward()
    assert "Contact:" not in body
    assert "ann@example.com" not in body and "555-0100" not in body
    assert "Contact: Ann Lee" in forward(include_contact=True)[1]


def test_missing_items_say_so_and_no_place_line_without_a_place():
    case = ForwardedCase(REF, "hazard", RECEIVED, "Tree down", None, None, None, None)
    body = forward(case)[1]
    assert "When: (not given)" in body.splitlines()
    assert "Place:" not in body and "Deadlines:" not in body


@pytest.mark.parametrize(
    "evil",
    [
        "Pothole\r\nBcc: victim@example.com",
        "Pothole\nBcc: victim@example.com",
        "Pothole\rBcc: victim@example.com",
        "Pothole\u2028Bcc: victim@example.com",
        "Pothole\x85Bcc: victim@example.com",
    ],
)
def test_case_text_never_becomes_a_header_line(evil):
    case = ForwardedCase(REF, "complaint", RECEIVED, evil, evil, evil, evil, evil, evil)
    subject, body, headers = forward_message(ME, "Roads" + evil, ROADS, case, 1)
    msg = sent(subject, body, headers)
    assert msg["Bcc"] is None
    assert sorted(msg.keys()) == sorted(
        [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "X-Auto-Response-Suppress",
            "X-Loop",
            "Content-Type",
            "Content-Transfer-Encoding",
            "MIME-Version",
        ]
    )
    assert ME.ref_in_subject(str(msg["Subject"])) == REF
    assert msg["Message-ID"] == f"<{REF}.forward-1@caredesk.city.example>"
    # In the body the resident's second line stays indented under its label.
    text = msg.get_content()
    assert "\nBcc:" not in text
    assert "    Bcc: victim@example.com" in text


def reply(
    *, sender: str = ROADS, subject: str = "Re: something", in_reply_to: str = "", refs: str = ""
) -> bytes:
    head = [
        f"From: Roads Desk <{sender}>",
        "To: feedback@city.example",
        f"Subject: {subject}",
        "Message-ID: <r1@roads.city.example>",
        "Date: Tue, 03 Mar 2026 10:00:00 +0000",
    ]
    if in_reply_to:
        head.append(f"In-Reply-To: {in_reply_to}")
    if refs:
        head.append(f"References: {refs}")
    return ("\r\n".join(head) + "\r\n\r\nCrew sent, fixed by Friday.\r\n").encode()


FWD_ID = f"<{REF}.forward-1@caredesk.city.example>"


def test_a_reply_is_recognised_by_in_reply_to():
    assert is_department_reply(parse_message(reply(in_reply_to=FWD_ID)), ME) == REF


def test_a_reply_is_recognised_by_references_from_a_colleague_address():
    refs = f"<x@mail.example> {FWD_ID} <y@roads.city.example>"
    inbound = parse_message(reply(sender="j.smith@city.example", refs=refs))
    assert is_department_reply(inbound, ME) == REF


def test_a_reply_is_recognised_by_the_reference_in_the_subject_from_the_department():
    inbound = parse_message(reply(sender="Roads+desk@City.Example", subject=f"RE: Pothole [{REF}]"))
    assert is_department_reply(inbound, ME, [ROADS]) == REF


def test_a_strangers_mail_is_not_a_department_reply():
    stranger = parse_message(
        reply(sender="someone@example.com", in_reply_to="<m1@example.com>", refs="<m0@x.example>")
    )
    assert is_department_reply(stranger, ME, [ROADS]) is None
    # A resident answering their acknowledgement carries [REF] too, and quotes the ack's ID.
    resident = parse_message(
        reply(
            sender="ann@example.com",
            subject=f"Re: Pothole [{REF}]",
            in_reply_to=f"<{REF}.ack-email@caredesk.city.example>",
        )
    )
    assert is_department_reply(resident, ME, [ROADS]) is None


def test_our_own_forward_coming_back_is_not_a_reply():
    own = parse_message(reply(sender="feedback@city.example", in_reply_to=FWD_ID))
    assert is_department_reply(own, ME, [ROADS]) is None


def test_a_forward_needs_an_address_and_a_sequence_from_one():
    with pytest.raises(ValueError):
        forward_message(ME, "Roads", " ", CASE, 1)
    with pytest.raises(ValueError):
        forward_message(ME, "Roads", ROADS, CASE, 0)


# -- which of our Message-IDs a department answers, and who may answer for it -------------------

ROADS_DEPT = Department(
    key="roads",
    name="Roads",
    email=ROADS,
    supervisor_email="Roads.Supervisor@city.example",
    director_email="director@city.example",
)
PARKS_DEPT = Department(key="parks", name="Parks", email="parks@city.example")


@pytest.mark.parametrize(
    ("message_id", "ref"),
    [
        (FWD_ID, REF),
        (f"<{REF}.forward-12@caredesk.city.example>", REF),
        (f"<{REF}.dept-follow-up-3@caredesk.city.example>", REF),
        (ME.message_id(REF, "dept-forward"), REF),
        (f"<{REF.lower()}.DEPT-follow-up-1@CAREDESK.city.example>", REF),
        (f"<{REF}.ack-email@caredesk.city.example>", None),  # to the resident, not a department
        (f"<{REF}.forward@caredesk.city.example>", None),
        (f"<{REF}.forward-1x@caredesk.city.example>", None),
        (f"<{REF}.dept-@caredesk.city.example>", None),
        (f"<{REF}.dept-follow-up-1@elsewhere.example>", None),  # not our domain
        ("<XX-2026-000123.dept-follow-up-1@caredesk.city.example>", None),
        ("<r1@roads.city.example>", None),
    ],
)
def test_our_department_bound_message_ids_read_back(message_id, ref):
    assert department_mail_ref(ME, message_id) == ref


def test_a_reply_to_a_follow_up_request_is_recognised():
    follow_up = ME.message_id(REF, "dept-follow-up-2")
    inbound = parse_message(reply(in_reply_to=follow_up))
    assert is_department_reply(inbound, ME) == REF
    refs = f"<{REF}.ack-email@caredesk.city.example> {follow_up}"
    assert is_department_reply(parse_message(reply(refs=refs)), ME) == REF


def test_a_reply_quoting_only_the_acknowledgement_is_not_a_department_reply():
    inbound = parse_message(reply(in_reply_to=f"<{REF}.ack-email@caredesk.city.example>"))
    assert is_department_reply(inbound, ME) is None


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("roads@city.example", DepartmentSender("roads", "department")),
        ("ROADS+desk@City.Example", DepartmentSender("roads", "department")),
        ("roads.supervisor@city.example", DepartmentSender("roads", "supervisor")),
        ("director@city.example", DepartmentSender("roads", "director")),
        ("parks@city.example", DepartmentSender("parks", "department")),
        ("someone@example.com", None),
        ("roads@city.example.evil.example", None),
        ("", None),
        (None, None),
    ],
)
def test_who_may_answer_for_a_department(sender, expected):
    assert department_sender(sender, [ROADS_DEPT, PARKS_DEPT]) == expected


def test_only_the_departments_given_may_answer():
    """Intake passes the case's own departments: another department's address is nobody."""
    assert department_sender("parks@city.example", [ROADS_DEPT]) is None
    assert department_sender("roads@city.example", []) is None


def test_an_empty_contact_address_matches_nobody():
    bare = Department(key="bare", name="Bare")
    assert department_sender("", [bare]) is None
    assert department_addresses([bare]) == frozenset()
    assert department_addresses([ROADS_DEPT, PARKS_DEPT]) == {
        "roads@city.example",
        "roads.supervisor@city.example",
        "director@city.example",
        "parks@city.example",
    }
