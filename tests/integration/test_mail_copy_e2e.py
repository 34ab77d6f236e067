"""Email copies of web chat acknowledgements, through the real web app and a real aiosmtpd.

Anyone can type any address in the chat, so what reaches the SMTP server is fixed wording
only, and nothing at all for an address the shared limits hold back (here: a recent bounce).
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace

from bot.config import Config, SmtpConfig
from storage.cases import get_case, list_cases
from storage.mail import record_bounce

from ..scripts import FULL
from .test_webchat_http import Site, Tab, browser


def config_for(sink) -> Config:
    config = Config()
    smtp = SmtpConfig(host=sink.host, port=sink.port, security="none", retry_base_seconds=0.2)
    return replace(config, mail=replace(config.mail, smtp=smtp))


async def complain(site: Site) -> str:
    async with browser() as client:
        tab = Tab(client, site)
        await tab.load()
        async with tab.ws() as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "session"
            for line in [*FULL, "confirm"]:
                await ws.send_json({"type": "say", "text": line})
                reply = await ws.receive_json(timeout=10)
    text = reply["replies"][0]["text"]
    assert "We received your complaint" in text  # the chat acknowledgement itself
    return text


async def test_the_copy_reaching_smtp_is_fixed_wording_and_a_bounced_address_gets_none(
    tmp_path, smtp_sink
):
    site = await Site(tmp_path / "caredesk.db", config_for(smtp_sink)).start()
    try:
        await complain(site)
        [raw] = await smtp_sink.await_count(1, timeout=20)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        [case] = list_cases(site.services.db)
        ref = case["ref"]
        assert msg["To"] == "jane@example.com"
        assert msg["Subject"] == f"We received your complaint [{ref}]"
        assert msg["Auto-Submitted"] == "auto-replied"
        body = msg.get_content()
        assert ref in body and "311" in body  # the reference and how to reach the Centre
        for typed in [*FULL[2:7], "905-555-0100"]:
            assert typed not in body

        # The address bounced: the next chat complaint is acknowledged in the chat only.
        record_bounce(site.services.db, "jane@example.com", None, site.services.clock.now())
        await complain(site)
        second = get_case(site.services.db, list_cases(site.services.db)[0]["ref"])
        assert second["ref"] != ref
        [event] = [e for e in second["events"] if e["type"] == "email-copy-suppressed"]
        assert "bounced" in event["data"]["why"]
        # Decided when the case was filed: no email row in the outbox, so nothing the worker
        # could send later (no need to sleep through its polls to see that).
        assert [o["channel"] for o in second["outbox"]] == ["web"]
        assert len(smtp_sink.messages) == 1
    finally:
        await site.stop()
