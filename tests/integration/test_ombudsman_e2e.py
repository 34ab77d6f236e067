"""Mail from the Ombudsman's office through the real intake path (issue 13, item 7, policy
04.06): `caredesk serve` as a process, a real Dovecot, aiosmtpd. The office's verified mail is
cased and held for a supervisor, the City Clerk's notice is the only mail that leaves, and
the resident-style acknowledgement never goes; a forged one is a resident's mail, flagged."""

from __future__ import annotations

import signal
import time

import pytest

from .test_mail_e2e import Desk, parsed, wait_until

CLERK = "clerk@city.example"
OURS = "Received: from relay.example by mx.city.example; Wed, 25 Nov 2026 09:00:01 -0500\r\n"


def office_mail(n: int, dmarc: str) -> bytes:
    return (
        f"Authentication-Results: mx.city.example; dmarc={dmarc} header.from=ombudsman.on.ca\r\n"
        f"{OURS}"
        'From: "Office of the Ombudsman" <investigator@ombudsman.on.ca>\r\n'
        "To: feedback@city.example\r\n"
        f"Subject: File 2026-{n}: complaint of Mrs Alice Moreau\r\n"
        f"Message-ID: <o{n}.{time.monotonic_ns()}@ombudsman.on.ca>\r\n"
        "Date: Wed, 25 Nov 2026 09:00:00 -0500\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Our office received a complaint from Mrs Alice Moreau of 14 Birch Lane about the "
        "removal of her fence. Please send us your file.\r\n"
    ).encode()


@pytest.fixture
def desk(tmp_path, dovecot, smtp_sink):
    made = Desk(tmp_path, dovecot, smtp_sink)
    made.config.write_text(
        made.config.read_text().replace(
            'address = "feedback@city.example"',
            'address = "feedback@city.example"\nauthserv_id = "mx.city.example"',
        )
        + f'[ombudsman]\ndomains = ["ombudsman.on.ca"]\nclerk_email = "{CLERK}"\n'
    )
    yield made
    if made.proc is not None and made.proc.poll() is None:
        made.stop(signal.SIGKILL)


def test_ombudsman_mail_notifies_the_clerk_and_is_never_acknowledged(desk, dovecot, smtp_sink):
    desk.start()
    try:
        dovecot.append(office_mail(1, "pass"))
        [notice] = smtp_sink.wait_for(1, timeout=30)
        desk.wait_settled(inbound=1)
        [case] = desk.cases()
        ref = case["ref"]
        message = parsed(notice)
        assert message["To"] == CLERK
        assert message["Subject"] == f"Contact from the Ontario Ombudsman's office [{ref}]"
        assert message["Message-ID"] == f"<{ref}.dept-clerk-notice@caredesk.city.example>"
        body = message.get_content()
        assert ref in body
        for private in ("Alice", "Moreau", "Birch", "fence", "investigator"):
            assert private not in body + message["Subject"]
        # The case: held for a person, a supervisor's, the notice sent and nothing else.
        rules = [r["rule"] for r in case["rules"]]
        assert "ombudsman-office" in rules
        assert case["sensitive"] and "for a supervisor" in case["attention"]
        wait_until(
            lambda: [o["status"] for o in desk.cases()[0]["outbox"]] == ["sent"], what="sent"
        )
        [sent] = desk.cases()[0]["outbox"]
        assert sent["reply_kind"] == "dept-clerk-notice"
        assert [d["reply_kind"] for d in case["drafts"]] == ["ack-email"]
        assert all(d["status"] == "pending" for d in case["drafts"])
        assert len(smtp_sink.messages) == 1
    finally:
        assert desk.stop() == 0


def test_a_forged_ombudsman_mail_is_flagged_and_the_clerk_is_not_told(desk, dovecot, smtp_sink):
    desk.start()
    try:
        dovecot.append(office_mail(2, "fail"))
        desk.wait_cases(1)
        desk.wait_settled(inbound=1)
        [case] = desk.cases()
        rules = [r["rule"] for r in case["rules"]]
        assert "ombudsman-office" not in rules and "ombudsman-not-verified" in rules
        assert case["outbox"] == [] and not case["sensitive"]
        assert "not verified" in case["attention"]
        assert smtp_sink.messages == []
    finally:
        assert desk.stop() == 0
