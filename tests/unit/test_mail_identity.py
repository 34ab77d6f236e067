"""Our Message-IDs, reply subjects and threading headers: written and read back in one place
(mail/identity.py), so a bounce or a reply that quotes them leads back to the case."""

from __future__ import annotations

import pytest

from bot.config import Config
from mail.identity import REFERENCES_KEPT, MailIdentity, identity_of

ME = MailIdentity(frozenset({"feedback@city.example"}), "caredesk.city.example", "CD")


@pytest.mark.parametrize("kind", ["ack-email", "ack-copy", "missing-info", "enquiry-answer"])
def test_a_message_id_reads_back_as_the_case_and_reply_it_was_made_of(kind):
    written = ME.message_id("CD-2026-000123", kind)
    assert written == f"<CD-2026-000123.{kind}@caredesk.city.example>"
    assert ME.reply_in_message_id(written) == ("CD-2026-000123", kind)
    assert ME.reply_in_message_id(f"  {written.lower()} ") == ("CD-2026-000123", kind)
    assert ME.ref_in_message_id(written) == "CD-2026-000123"


@pytest.mark.parametrize(
    "other",
    [
        "<CD-2026-000123.ack-email@elsewhere.example>",  # not our domain
        "<XX-2026-000123.ack-email@caredesk.city.example>",  # not our prefix
        "<CD-2026-000123@caredesk.city.example>",  # no reply kind
        "<m1@example.com>",
    ],
)
def test_other_message_ids_are_not_ours(other):
    assert ME.reply_in_message_id(other) is None


@pytest.mark.parametrize(
    ("theirs", "subject"),
    [
        ("Garbage not collected", "Re: Garbage not collected [CD-2026-000123]"),
        ("RE: Fwd: aw: Garbage", "Re: Garbage [CD-2026-000123]"),
        ("Re: Garbage [CD-2026-000123]", "Re: Garbage [CD-2026-000123]"),
        ("Re: Garbage [CD-2025-000007]", "Re: Garbage [CD-2026-000123]"),  # another case's
        ("", "We received your complaint"),
        (None, "We received your complaint"),
        ("Garbage\r\nBcc: x@example.com", "Re: Garbage Bcc: x@example.com [CD-2026-000123]"),
    ],
)
def test_reply_subject(theirs, subject):
    assert ME.reply_subject("CD-2026-000123", theirs, "We received your complaint") == subject


def test_reply_headers_continue_the_thread():
    assert ME.reply_headers("CD-2026-000123", "ack-email", ()) == {
        "Message-ID": "<CD-2026-000123.ack-email@caredesk.city.example>"
    }
    thread = [f"<m{i}@example.com>" for i in range(REFERENCES_KEPT + 5)]
    headers = ME.reply_headers("CD-2026-000123", "ack-email", thread)
    assert headers["In-Reply-To"] == thread[-1]
    assert headers["References"].split() == thread[-REFERENCES_KEPT:]


def test_the_identity_of_a_config_is_its_mail_settings():
    config = Config()
    me = identity_of(config)
    assert me.message_id_domain == config.mail.message_id_domain
    assert me.reference_prefix == config.reference_prefix
    assert me.own_mailboxes == frozenset(config.mail.own_addresses)
    assert identity_of(config) is me  # built once, not for every reply
