"""Reply templates: each kind rendered with an example context and compared with a golden file.

To regenerate the golden files after changing a template, run

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_replies.py -q

and then read every changed file in tests/unit/replies_expected/ as a resident would.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import jinja2
import pytest

from bot.intake import COPY_CONTEXT_KEYS
from bot.replies import REPLY_KINDS, RenderedReply, ReplyRenderer, default_templates_dir

EXPECTED_DIR = Path(__file__).parent / "replies_expected"

CARE = {
    "name": "Customer Care Centre",
    "phone": "905.683.7575",
    "email": "customercare@pickering.ca",
    "web": "pickering.ca/customercare",
    "hours": "Monday to Friday, 8:30 a.m. to 4:30 p.m.",
}
OMBUDSMAN = {
    "name": "Ontario Ombudsman",
    "phone": "1-800-263-1830",
    "web": "ombudsman.on.ca",
    "text": (
        "If you are not satisfied with how we handled your complaint or with its outcome, "
        "you can contact the Ontario Ombudsman once our process is complete."
    ),
}
NO_ITEMS: dict[str, str | None] = {
    "what": None,
    "when": None,
    "who": None,
    "outcome": None,
    "contact": None,
}


def context(**overrides: Any) -> dict[str, Any]:
    """The full context every template receives; keys that do not apply are None."""
    ctx: dict[str, Any] = {
        "city_name": "City of Pickering",
        "care": CARE,
        "ombudsman": OMBUDSMAN,
        "ref": "CD-2026-000123",
        "kind_label": "complaint",
        "resident_name": None,
        "received": "Tuesday, November 24, 2026 at 3:05 p.m.",
        "channel": "chat",
        "items": dict(NO_ITEMS),
        "missing": [],
        "next_date": None,
        "original_subject": None,
        "redirect_process": None,
        "expected_date": None,
        "resolution": None,
    }
    ctx.update(overrides)
    return ctx


GARBAGE = {
    "what": "the garbage at 12 Elm Street was not picked up on collection day",
    "when": "Monday, November 23, 2026, at about 7 a.m.",
    "who": "the waste collection crew on Elm Street",
    "outcome": "the garbage collected, and the missed pickup not to happen again",
    "contact": "jane.doe@example.com, 905-555-0142",
}
STREETLIGHT = {
    "what": (
        "the streetlight outside 1450 Glenanna Road has been out for two weeks; "
        "I reported it by phone and nothing has happened"
    ),
    "when": "out since Monday, November 9, 2026; reported by phone on November 10 at 10 a.m.",
    "who": "the staff member who took my call on November 10",
    "outcome": "the light repaired, and an explanation of why my first report was not acted on",
    "contact": "priya.singh@example.com",
}

# case id -> (reply kind, context). The case id is the golden file's name.
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "ack-complaint": (
        "ack-complaint",
        context(
            resident_name="Jane Doe",
            items=GARBAGE,
            next_date="Wednesday, December 9, 2026",
        ),
    ),
    "ack-request": (
        "ack-request",
        context(
            ref="CD-2026-000124",
            kind_label="request for service",
            resident_name="Sam Patel",
            items={
                "what": "a deep pothole in the eastbound lane of Kingston Road near Liverpool Road",
                "when": "first noticed on Sunday, November 22, 2026, around 6 p.m.",
                "who": "two drivers whose cars hit it while I was waiting at the light",
                "outcome": "the pothole filled before someone is hurt",
                "contact": "905-555-0177",
            },
            next_date="Tuesday, December 8, 2026",
        ),
    ),
    "ack-email": (
        "ack-email",
        context(
            ref="CD-2026-000125",
            resident_name="Priya Singh",
            channel="email",
            items=STREETLIGHT,
            original_subject="Streetlight out on Glenanna Road for two weeks",
            next_date="Tuesday, December 15, 2026",
        ),
    ),
    # The email copy of a chat acknowledgement: fixed wording only, whatever the items say.
    "ack-copy": (
        "ack-copy",
        context(
            ref="CD-2026-000133",
            resident_name="Jane Doe",
            channel="web",
            items=GARBAGE,
            next_date="Wednesday, December 9, 2026",
        ),
    ),
    # An email with an address but no name, and two of the five items missing.
    "ack-email.missing": (
        "ack-email",
        context(
            ref="CD-2026-000126",
            kind_label="request for service",
            channel="email",
            items={
                **NO_ITEMS,
                "what": "the sidewalk on Whites Road by the plaza is broken and people trip on it",
                "contact": "r.chen@example.com",
            },
            missing=["the date and time it happened", "who was involved"],
            next_date="Tuesday, December 15, 2026",
        ),
    ),
    "ack-hazard": (
        "ack-hazard",
        context(
            ref="CD-2026-000127",
            kind_label="report of a potential hazard",
            resident_name="Luis Ortega",
            items={
                "what": "a cracked tree limb hanging over the Finch Avenue sidewalk by the school",
                "when": "Tuesday, November 24, 2026, at about 2:30 p.m.",
                "who": "children walking to and from school",
                "outcome": "the limb removed before it falls",
                "contact": "905-555-0188",
            },
            next_date="Wednesday, November 25, 2026",
        ),
    ),
    # Safety threats are accepted even when anonymous (02.01).
    "ack-hazard.anonymous": (
        "ack-hazard",
        context(
            ref="CD-2026-000128",
            kind_label="report of a potential hazard",
            items={
                **NO_ITEMS,
                "what": "a manhole cover is missing on Brock Road at the Pickering Parkway corner",
                "when": "tonight around 9 p.m.",
            },
            missing=["your name and how to reach you (email or phone)"],
            next_date="Wednesday, November 25, 2026",
        ),
    ),
    "enquiry-answer": (
        "enquiry-answer",
        context(
            ref="CD-2026-000131",
            kind_label="question",
            resident_name="Sam Okafor",
            items={
                **NO_ITEMS,
                "what": "What day is the yard waste collection on Fairport Road in the spring?",
                "contact": "sam.okafor@example.com",
            },
            next_date="Wednesday, November 25, 2026",
        ),
    ),
    "enquiry-answer.anonymous": (
        "enquiry-answer",
        context(
            ref="CD-2026-000132",
            kind_label="question",
            items={**NO_ITEMS, "what": "Is this the right address for transit lost and found?"},
        ),
    ),
    "feedback-thanks": (
        "feedback-thanks",
        context(
            ref="CD-2026-000129",
            kind_label="feedback",
            resident_name="Marie Dubois",
            items={
                "what": (
                    "the lifeguards at the Chestnut Hill Developments Recreation Complex were "
                    "patient and kind with my son at his first swimming lesson"
                ),
                "when": "Saturday, November 21, 2026",
                "who": "the lifeguards at the Saturday morning lesson",
                "outcome": "more beginner lessons on weekday evenings",
                "contact": "marie.dubois@example.com",
            },
        ),
    ),
    "anonymous-declined": (
        "anonymous-declined",
        context(
            ref="CD-2026-000130",
            items={
                **NO_ITEMS,
                "what": "a by-law officer shouted at residents during a parking check",
                "when": "Saturday, November 21, 2026",
                "who": "a by-law enforcement officer",
            },
            missing=["your name and how to reach you (email or phone)"],
        ),
    ),
    # Named writer, but on behalf of someone they will not name.
    "anonymous-declined.on-behalf": (
        "anonymous-declined",
        context(
            ref="CD-2026-000131",
            resident_name="Tom Baker",
            channel="email",
            items={
                **NO_ITEMS,
                "what": "my neighbour was refused entry to the library program she registered for",
                "contact": "tom.baker@example.com",
            },
        ),
    ),
    "out-of-scope": (
        "out-of-scope",
        context(
            ref="CD-2026-000132",
            kind_label="message",
            resident_name="Jane Doe",
            items={
                **NO_ITEMS,
                "what": "I received a parking ticket on Liverpool Road that I think is unfair",
                "when": "Friday, November 20, 2026",
                "outcome": "the ticket cancelled",
            },
            # Worded as bot.policy.REDIRECTS words it: what the matter is and where it goes.
            redirect_process=(
                "a matter with its own appeal or dispute process (for example, a parking "
                "ticket, a by-law order or a committee decision is disputed through the "
                "process printed on the notice or decision you received)"
            ),
        ),
    ),
    "missing-info": (
        "missing-info",
        context(
            ref="CD-2026-000125",
            resident_name="Priya Singh",
            channel="email",
            items={**STREETLIGHT, "when": None, "who": None},
            missing=["the date and time it happened", "who was involved"],
        ),
    ),
    "interim-ack": (
        "interim-ack",
        context(
            ref="CD-2026-000125",
            resident_name="Priya Singh",
            channel="email",
            items=STREETLIGHT,
            expected_date="Friday, January 15, 2027",
        ),
    ),
    "closing": (
        "closing",
        context(
            resident_name="Jane Doe",
            items=GARBAGE,
            resolution=(
                "Waste Management found that your street was missed because of a route change. "
                "The crew collected your garbage on Wednesday, November 25, 2026, and the route "
                "has been corrected so that Elm Street is collected every Monday."
            ),
        ),
    ),
    # Issue 13: the City Clerk told of mail from the Ombudsman's office: nothing of the
    # resident's, whatever the context holds.
    "dept-clerk-notice": (
        "dept-clerk-notice",
        context(ref="CD-2026-000140", kind_label="message", channel="email"),
    ),
    # The satisfaction survey after closing, by email and in a chat.
    "survey": (
        "survey",
        context(ref="CD-2026-000125", resident_name="Priya Singh", channel="email"),
    ),
    "survey.chat": (
        "survey",
        context(resident_name="Jane Doe", channel="web", items=GARBAGE),
    ),
    "hazard-update": (
        "hazard-update",
        context(
            ref="CD-2026-000127",
            kind_label="report of a potential hazard",
            resident_name="Luis Ortega",
            items={
                **NO_ITEMS,
                "what": "a cracked tree limb hanging over the Finch Avenue sidewalk by the school",
            },
            resolution=(
                "Parks and Forestry staff have fenced off the sidewalk under the tree. "
                "A crew will remove the cracked limb."
            ),
            expected_date="Friday, November 27, 2026",
        ),
    ),
    # Drafted by the scheduler a week before the anticipated date; staff write the reason.
    "timeline-notice": (
        "timeline-notice",
        context(
            ref="CD-2026-000125",
            resident_name="Priya Singh",
            channel="email",
            items=STREETLIGHT,
            expected_date="Friday, January 15, 2027",
        ),
    ),
}

ACK_CASES = ("ack-complaint", "ack-request", "ack-email", "ack-hazard", "ack-copy")


@pytest.fixture(scope="module")
def renderer() -> ReplyRenderer:
    return ReplyRenderer()


def as_text(reply: RenderedReply) -> str:
    return reply.subject + "\n\n" + reply.body


def check_golden(name: str, text: str) -> None:
    """Compare with tests/unit/replies_expected/<name>.txt; UPDATE_GOLDEN=1 rewrites it."""
    path = EXPECTED_DIR / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    assert path.exists(), f"no golden file {path}; run with UPDATE_GOLDEN=1 and read it"
    assert text == path.read_text(encoding="utf-8")


def assert_reads_cleanly(reply: RenderedReply) -> None:
    text = as_text(reply)
    assert "None" not in text
    assert "{{" not in text and "{%" not in text
    assert "<" not in text  # no HTML
    assert "\n\n\n" not in text, "paragraphs are separated by exactly one blank line"
    assert not re.search(r"[ \t]$", text, re.MULTILINE), "no trailing spaces"
    assert not re.search(r" [,.]", text), "no gap left where an item was omitted"
    assert ".." not in text, 'no doubled full stop (dates end in "a.m." / "p.m.")'
    assert "\r" not in text
    assert reply.subject and "\n" not in reply.subject
    assert reply.body.endswith("\n") and not reply.body.endswith("\n\n")
    assert reply.body.startswith("Hello")
    assert reply.body.endswith("Customer Care Centre, City of Pickering\n")


def test_every_kind_has_a_template() -> None:
    for kind in REPLY_KINDS:
        assert (default_templates_dir() / f"{kind}.txt.j2").is_file(), kind


def test_every_kind_has_a_golden_case() -> None:
    assert {kind for kind, _ in CASES.values()} == set(REPLY_KINDS)


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(renderer: ReplyRenderer, case: str) -> None:
    kind, ctx = CASES[case]
    reply = renderer.render(kind, ctx)
    assert reply.kind == kind
    assert ctx["ref"] in reply.subject
    assert_reads_cleanly(reply)
    check_golden(case, as_text(reply))


@pytest.mark.parametrize("kind", REPLY_KINDS)
def test_sparse_context_reads_cleanly(renderer: ReplyRenderer, kind: str) -> None:
    """Everything optional absent: no name, no items, no dates. Nothing may print "None"."""
    reply = renderer.render(kind, context())
    assert_reads_cleanly(reply)
    assert "Hello,\n" in reply.body
    assert "CD-2026-000123" in reply.body


@pytest.mark.parametrize("case", ACK_CASES)
def test_acknowledgement_gives_ref_next_date_and_ombudsman(
    renderer: ReplyRenderer, case: str
) -> None:
    kind, ctx = CASES[case]
    body = renderer.render(kind, ctx).body
    assert ctx["ref"] in body
    assert ctx["next_date"] in body
    assert OMBUDSMAN["phone"] in body
    assert CARE["phone"] in body


def test_ack_copy_carries_nothing_the_resident_typed(renderer: ReplyRenderer) -> None:
    """Anyone can type any address in a chat: the email copy holds only fixed wording."""
    kind, ctx = CASES["ack-copy"]
    text = as_text(renderer.render(kind, ctx))
    assert ctx["resident_name"] not in text
    for value in GARBAGE.values():
        assert value not in text
    for typed in ("12 Elm Street", "garbage", "crew", "jane.doe@example.com", "905-555-0142"):
        assert typed not in text
    # Nothing but the fixed keys can reach it: the template fails loudly if it reads more.
    fixed = {k: ctx[k] for k in COPY_CONTEXT_KEYS}
    assert renderer.render(kind, fixed).body == renderer.render(kind, ctx).body


def test_missing_items_are_listed_one_per_line(renderer: ReplyRenderer) -> None:
    kind, ctx = CASES["missing-info"]
    body = renderer.render(kind, ctx).body
    for label in ctx["missing"]:
        assert f"\n- {label}\n" in body


def test_ack_email_mentions_the_email_subject(renderer: ReplyRenderer) -> None:
    kind, ctx = CASES["ack-email"]
    assert ctx["original_subject"] in renderer.render(kind, ctx).body


@pytest.mark.parametrize("kind", REPLY_KINDS)
def test_missing_context_key_raises(renderer: ReplyRenderer, kind: str) -> None:
    ctx = context()
    del ctx["ref"]
    with pytest.raises(jinja2.UndefinedError):
        renderer.render(kind, ctx)


def test_missing_item_key_raises(renderer: ReplyRenderer) -> None:
    items = dict(GARBAGE)
    del items["when"]
    with pytest.raises(jinja2.UndefinedError):
        renderer.render("ack-complaint", context(items=items))


def test_unknown_kind_names_the_known_kinds(renderer: ReplyRenderer) -> None:
    with pytest.raises(ValueError, match=r"ack-complaint.*closing"):
        renderer.render("ack-everything", context())


@pytest.mark.parametrize("kind", REPLY_KINDS)
def test_subject_stays_one_line_when_a_value_holds_line_breaks(
    renderer: ReplyRenderer, kind: str
) -> None:
    ctx = context(
        ref="CD-2026-000123\r\nBcc: attacker@example.com",
        kind_label="complaint\nX-Injected: yes",
    )
    reply = renderer.render(kind, ctx)
    assert "\r" not in reply.subject and "\n" not in reply.subject
    assert "CD-2026-000123 Bcc: attacker@example.com" in reply.subject
    # The value cannot move the subject/body boundary: the body still starts with the greeting.
    assert reply.body.startswith("Hello,\n")
    assert "\r" not in reply.body


def test_templates_dir_can_be_overridden(tmp_path: Path) -> None:
    (tmp_path / "closing.txt.j2").write_text("Closed [{{ ref }}]\n\n\nBody {{ ref }}\n\n\n")
    reply = ReplyRenderer(tmp_path).render("closing", {"ref": "CD-1"})
    assert reply == RenderedReply(kind="closing", subject="Closed [CD-1]", body="Body CD-1\n")


def test_the_clerk_notice_carries_no_resident_text(renderer: ReplyRenderer) -> None:
    """Even given everything a case holds, the notice says only who wrote, when, and the
    reference (bot/ombudsman.py: the Clerk keeps a register of contacts, not complaints)."""
    ctx = context(resident_name="Jane Doe", items=GARBAGE, original_subject="About Jane Doe")
    text = as_text(renderer.render("dept-clerk-notice", ctx))
    assert "CD-2026-000123" in text and "Ombudsman" in text
    for value in ("Jane Doe", *GARBAGE.values()):
        assert value not in text
    assert "http" not in text and "www." not in text


@pytest.mark.parametrize("channel", ["email", "web"])
def test_the_survey_asks_three_questions_and_says_how_to_stop(
    renderer: ReplyRenderer, channel: str
) -> None:
    body = renderer.render("survey", context(channel=channel)).body
    assert [line[:2] for line in body.splitlines() if line[:2] in ("1.", "2.", "3.")][:3] == [
        "1.",
        "2.",
        "3.",
    ]
    assert '"stop"' in body
    assert ("reply to this email" in body) is (channel == "email")
