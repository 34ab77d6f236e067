"""Render the templated replies that the Customer Care Centre sends to residents.

Each reply kind has one plain-text Jinja2 template, ``templates/replies/<kind>.txt.j2``.
The first line the template renders is the subject; the rest is the body.

Every template receives the same context (see ``tests/unit/test_replies.py`` for a full
example): ``city_name``, ``care``, ``ombudsman``, ``ref``, ``kind_label``, ``resident_name``,
``received``, ``channel``, ``items``, ``missing``, ``next_date``, ``original_subject``,
``redirect_process``, ``expected_date`` and ``resolution``. Values that do not apply are
``None``; a key that is absent altogether is a programming error and raises
``jinja2.UndefinedError``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2

REPLY_KINDS: tuple[str, ...] = (
    "ack-complaint",
    "ack-request",
    "ack-email",
    "ack-hazard",
    "ack-copy",
    "feedback-thanks",
    "enquiry-answer",
    "anonymous-declined",
    "out-of-scope",
    "missing-info",
    "interim-ack",
    "closing",
    # Issue 13: the City Clerk told of mail from the Ombudsman's office (bot/ombudsman.py),
    # and the satisfaction survey after closing (bot/survey.py).
    "dept-clerk-notice",
    "survey",
    # issue 13: drafted by the scheduler or a staff action (bot/scheduler.py, bot/staff/cases.py)
    "hazard-update",
    "timeline-notice",
)

TEMPLATE_SUFFIX = ".txt.j2"

# While a template renders, every line break inside an inserted value is swapped for this
# private-use character. The subject/body split therefore only ever happens at a line break
# written in the template itself: a value such as a reference or an email subject carrying
# "\r\n" cannot push text into the body or start a new header line. Afterwards the marker
# becomes a space in the subject and a line break in the body.
_VALUE_BREAK = "\ue000"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")


@dataclass(frozen=True)
class RenderedReply:
    kind: str
    subject: str
    body: str


def default_templates_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "templates" / "replies"


def _finalize(value: object) -> object:
    """Applied to the result of every ``{{ ... }}`` expression before it is written out."""
    if isinstance(value, jinja2.Undefined):
        return value  # StrictUndefined raises when it is written out
    text = value if isinstance(value, str) else str(value)
    return _LINE_BREAK.sub(_VALUE_BREAK, text.replace(_VALUE_BREAK, ""))


class ReplyRenderer:
    """Renders one reply kind with a context into a subject and a plain-text body."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        self.templates_dir = templates_dir if templates_dir is not None else default_templates_dir()
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.templates_dir),
            auto_reload=False,  # compiled once: no stat() of the template file per reply
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=_finalize,
        )

    def render(self, kind: str, context: Mapping[str, object]) -> RenderedReply:
        if kind not in REPLY_KINDS:
            raise ValueError(f"unknown reply kind {kind!r}; known kinds: {', '.join(REPLY_KINDS)}")
        template = self._env.get_template(f"{kind}{TEMPLATE_SUFFIX}")
        text = template.render(dict(context))
        first_line, _, rest = text.partition("\n")
        # One line, whatever the values held: CR/LF (and any other whitespace run) -> one space.
        subject = " ".join(first_line.replace(_VALUE_BREAK, " ").split())
        body = _LEADING_BLANK_LINES.sub("", rest.replace(_VALUE_BREAK, "\n"))
        return RenderedReply(kind=kind, subject=subject, body=body.rstrip() + "\n")
