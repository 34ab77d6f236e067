"""Mail from the Ombudsman's office (policy 04.06, bot/ombudsman.py): the rule, and what mail
intake leaves in the store, on a real SQLite file without servers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.config import Config, OmbudsmanOfficeConfig
from bot.ombudsman import FOR_SUPERVISOR, NOTICE_KIND, office_domain, ombudsman_facts
from mail.parse import parse_message
from storage.cases import get_case

from .test_mail_intake import NOW, RECEIVED, mail

OFFICE = "ombudsman.example.org"
CLERK = "clerk@city.example"
PASS = f"Authentication-Results: mx.city.example; dmarc=pass header.from={OFFICE}\r\n{RECEIVED}"
FAIL = f"Authentication-Results: mx.city.example; dmarc=fail header.from={OFFICE}\r\n{RECEIVED}"
DKIM = f"Authentication-Results: mx.city.example; dkim=pass header.d={OFFICE}\r\n{RECEIVED}"
#: What an investigator writes: it names a resident and what happened to them.
LETTER = (
    "Our office has received a complaint from Mrs Alice Moreau of 14 Birch Lane about the "
    "removal of her fence on 3 November. Please send us the file."
)


def config(authserv: str = "mx.city.example", clerk: str = CLERK) -> Config:
    base = Config()
    return replace(
        base,
        mail=replace(base.mail, authserv_id=authserv),
        ombudsman_office=OmbudsmanOfficeConfig(domains=(OFFICE,), clerk_email=clerk),
    )


def office_mail(headers: str = PASS, sender: str = f"investigator@{OFFICE}", **kw: str) -> bytes:
    return mail(
        body=LETTER,
        subject="Complaint of Mrs Alice Moreau",
        sender=f'"Office of the Ombudsman" <{sender}>',
        extra=headers,
        **kw,
    )


@pytest.mark.parametrize(
    ("address", "found"),
    [
        (f"a@{OFFICE}", OFFICE),
        (f"a@mail.{OFFICE}", OFFICE),
        (f"a@{OFFICE.upper()}", OFFICE),
        ("a@notombudsman.example.org", None),
        (f"a@{OFFICE}.evil.example", None),
        (None, None),
    ],
)
def test_office_domain_is_the_domain_or_a_subdomain(address: str | None, found: str | None):
    assert office_domain(address, (OFFICE,)) == found


@pytest.mark.parametrize(
    ("headers", "authserv", "office", "claimed"),
    [
        pytest.param(PASS, "mx.city.example", True, False, id="dmarc-pass"),
        pytest.param(DKIM, "mx.city.example", True, False, id="aligned-dkim-pass"),
        pytest.param(FAIL, "mx.city.example", False, True, id="dmarc-fail-forged"),
        pytest.param(RECEIVED, "mx.city.example", False, True, id="nothing-recorded"),
        pytest.param(PASS, "", False, True, id="no-authserv-id-configured"),
        pytest.param(
            f"{RECEIVED}\r\nAuthentication-Results: mx.city.example; dmarc=pass",
            "mx.city.example",
            False,
            True,
            id="pass-written-by-the-sender-below-our-received",
        ),
    ],
)
def test_only_a_positive_check_makes_it_the_ombudsman(headers, authserv, office, claimed):
    inbound = parse_message(office_mail(headers))
    found_office, found_claim = ombudsman_facts(inbound, config(authserv))
    assert (found_office is not None, found_claim is not None) == (office, claimed)


def test_anyone_elses_mail_is_neither():
    assert ombudsman_facts(parse_message(mail(extra=PASS)), config()) == (None, None)


def test_verified_office_mail_is_held_marked_for_a_supervisor_and_the_clerk_told(make_mail_desk):
    services, intake = make_mail_desk(config(), now=NOW)
    result = intake.process(office_mail(), NOW, NOW)
    assert result.action == "cased"
    case = get_case(services.db, result.ref)
    assert "ombudsman-office" in [r["rule"] for r in case["rules"]]
    # Never acknowledged automatically: every reply is a draft for a person.
    assert case["drafts"] and all(d["status"] == "pending" for d in case["drafts"])
    assert [o["reply_kind"] for o in case["outbox"]] == [NOTICE_KIND]
    # A supervisor's: sensitive (only a supervisor closes it), and the attention line says so.
    assert case["sensitive"] is True
    assert case["attention"].startswith(FOR_SUPERVISOR)
    [notice] = case["outbox"]
    assert notice["recipient"] == CLERK and notice["channel"] == "email"
    assert result.ref in notice["subject"] and result.ref in notice["body"]
    for private in ("Alice", "Moreau", "Birch", "fence", "investigator@"):
        assert private not in notice["subject"] + notice["body"]
    headers = services.db.execute(
        "SELECT headers FROM outbox WHERE reply_kind = ?", [NOTICE_KIND]
    ).fetchone()[0]
    assert f"<{result.ref}.dept-clerk-notice@" in headers
    assert "ombudsman-contact" in [e["type"] for e in case["events"]]


def test_a_second_contact_on_the_case_is_a_second_notice(make_mail_desk):
    services, intake = make_mail_desk(config(), now=NOW)
    first = intake.process(office_mail(), NOW, NOW)
    again = office_mail(message_id="<m2@ombudsman.example.org>")
    again = again.replace(b"Subject: Complaint of", f"Subject: Re: [{first.ref}]".encode())
    second = intake.process(again, NOW, NOW)
    assert (second.action, second.ref) == ("threaded", first.ref)
    case = get_case(services.db, first.ref)
    assert [o["reply_kind"] for o in case["outbox"]] == [NOTICE_KIND, NOTICE_KIND]
    keys = [
        k
        for (k,) in services.db.execute("SELECT idempotency_key FROM outbox ORDER BY id").fetchall()
    ]
    assert keys == [
        f"{first.ref}:dept-clerk-notice:email",
        f"{first.ref}:dept-clerk-notice-2:email",
    ]


def test_without_a_clerk_address_staff_are_asked_to_tell_the_clerk(make_mail_desk):
    services, intake = make_mail_desk(config(clerk=""), now=NOW)
    case = get_case(services.db, intake.process(office_mail(), NOW, NOW).ref)
    assert case["outbox"] == [] and "tell the Clerk" in case["attention"]


@pytest.mark.parametrize("headers", [FAIL, RECEIVED], ids=["dmarc-fail", "nothing-recorded"])
def test_a_forged_ombudsman_is_a_resident_flagged_for_staff(make_mail_desk, headers):
    """Not the Ombudsman: no Clerk notice, no supervisor mark; but nothing goes automatically
    to the Ombudsman's domain on a stranger's word: the acknowledgement waits for staff."""
    services, intake = make_mail_desk(config(), now=NOW)
    case = get_case(services.db, intake.process(office_mail(headers), NOW, NOW).ref)
    rules = [r["rule"] for r in case["rules"]]
    assert "ombudsman-office" not in rules and "ombudsman-not-verified" in rules
    assert case["outbox"] == []
    assert [d["reply_kind"] for d in case["drafts"]] == ["ack-email"]
    assert "not verified" in case["attention"]
    assert "ombudsman-not-verified" in [e["type"] for e in case["events"]]
    assert "ombudsman-contact" not in [e["type"] for e in case["events"]]


def test_mail_inspect_shows_the_ombudsman_rule_and_why():
    from bot.decide import Policy
    from bot.mail_cli import inspect_result
    from bot.mail_intake import assess, mail_identity

    policy = Policy.from_config(config())
    for headers, key, rule in (
        (PASS, "ombudsman_office", "ombudsman-office"),
        (FAIL, "ombudsman_not_verified", "ombudsman-not-verified"),
    ):
        found = assess(parse_message(office_mail(headers)), NOW, policy, mail_identity(policy))
        result = inspect_result("x.eml", found)
        assert result[key] and rule in result["rules"]
        assert result["replies"] and all(r["review"] for r in result["replies"])
        fired = [t for t in found.trace if t.fired and t.rule == rule]
        assert fired and fired[0].reason
