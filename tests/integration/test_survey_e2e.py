"""The satisfaction survey end to end (issue 13, item 8): staff close a case on the real staff
pages, the survey goes out on the channel the case came from, and the answer comes back by
that channel: an email through a real aiosmtpd and mail intake, or the web chat over HTTP.
The case page then shows the answers."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import Config, SmtpConfig, SurveyConfig
from bot.mail_intake import MailIntake
from storage.cases import count_cases, get_case

from ..scripts import FULL
from .test_staff_cases import act, case_id, send_everything, settle_drafts
from .test_staff_web import AGENT, Site, login, start_site


def survey_row(site: Site, ref: str) -> dict[str, Any]:
    cursor = site.db.execute(
        "SELECT status, handled, score, timely, comment FROM surveys WHERE case_id = ?",
        [case_id(site, ref)],
    )
    names = [c[0] for c in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


async def close_on_the_staff_page(site: Site, ref: str) -> None:
    send_everything(site, ref)
    settle_drafts(site, ref)
    await login(site.client, AGENT)
    closed = await act(site, ref, "status", {"status": "closed", "resolution": "Collected."})
    assert closed.status == 303, unescape(await closed.text())


async def case_page(site: Site, ref: str) -> str:
    page = await site.client.get(f"/staff/cases/{ref}")
    assert page.status == 200
    return unescape(await page.text())


class ChatTab:
    """A resident's browser on the web chat's form fallback (no JavaScript)."""

    def __init__(self, client: aiohttp.ClientSession) -> None:
        self.client = client
        self.html = ""

    async def load(self) -> str:
        async with self.client.get("/") as response:
            assert response.status == 200
            self.html = unescape(await response.text())
        return self.html

    async def say(self, *lines: str) -> None:
        for line in lines:
            token = re.search(r'name="csrf" value="([0-9a-f]+)"', self.html)
            assert token is not None
            async with self.client.post(
                "/", data={"csrf": token.group(1), "text": line}, allow_redirects=False
            ) as response:
                assert response.status == 303, await response.text()
            await self.load()


async def test_survey_through_the_web_chat(tmp_path: Path) -> None:
    site = await start_site(tmp_path)
    resident = await site.new_client()
    try:
        tab = ChatTab(resident)
        await tab.load()
        # A phone number only: the survey waits in the chat (with an address it is emailed).
        await tab.say(*FULL[:-1], "905-555-0100", "confirm")
        [(ref,)] = site.db.execute("SELECT ref FROM cases").fetchall()
        await close_on_the_staff_page(site, ref)
        assert "How did we do?" not in await tab.load()  # not before its delay
        site.clock.advance(timedelta(hours=24))
        html = await tab.load()  # the resident comes back to the chat
        assert f"How did we do? Your complaint [{ref}]" in html
        await tab.say("4/5, it was fine but slow")
        assert f"Thank you for answering our survey about {ref}" in tab.html
        assert survey_row(site, ref) == {
            "status": "answered",
            "handled": 1,
            "score": 4,
            "timely": 0,
            "comment": "4/5, it was fine but slow",
        }
        assert count_cases(site.db) == 1
        await login(site.client, AGENT)  # a day later: the staff session has ended
        page = await case_page(site, ref)
        assert "Satisfaction survey" in page
        assert "score 4 out of 5" in page and "it was fine but slow" in page
        assert "Survey answered" in page  # the timeline event
    finally:
        await resident.close()
        await site.client.close()


RESIDENT_MAIL = (
    b'From: "Zoe Park" <zoe@example.org>\r\n'
    b"To: feedback@city.example\r\n"
    b"Subject: Rude driver\r\n"
    b"Message-ID: <zoe-1@example.org>\r\n"
    b"Date: Wed, 25 Nov 2026 09:00:00 -0500\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"On Monday 23 November at 7am the driver of truck 12 was rude to me on Elm Road. "
    b"I would like an apology.\r\n"
)


async def test_survey_through_email(tmp_path: Path, smtp_sink) -> None:
    base = Config(retention_every_hours=0)
    smtp = SmtpConfig(host=smtp_sink.host, port=smtp_sink.port, security="none")
    config = replace(
        base,
        mail=replace(base.mail, smtp=smtp),
        survey=SurveyConfig(delay_hours=0),
    )
    site = await start_site(tmp_path, config)
    try:
        services = site.services
        intake = MailIntake(services.db, services.policy, services.intake)
        now = site.clock.now()
        ref = intake.process(RESIDENT_MAIL, now, now).ref
        assert ref is not None
        [_ack] = await smtp_sink.await_count(1, timeout=20)  # the acknowledgement
        await close_on_the_staff_page(site, ref)

        [_, raw] = await smtp_sink.await_count(2, timeout=20)
        survey = email.message_from_bytes(raw, policy=email.policy.default)
        assert survey["To"] == "zoe@example.org"
        assert survey["Subject"] == f"How did we do? Your complaint [{ref}]"
        assert survey["Message-ID"] == f"<{ref}.survey@caredesk.city.example>"
        assert "1. Did we handle your complaint well?" in survey.get_content()

        answer = (
            "From: Zoe Park <zoe@example.org>\r\nTo: feedback@city.example\r\n"
            f"Subject: Re: {survey['Subject']}\r\nMessage-ID: <zoe-2@example.org>\r\n"
            f"In-Reply-To: {survey['Message-ID']}\r\nReferences: {survey['Message-ID']}\r\n"
            "Date: Fri, 27 Nov 2026 09:00:00 -0500\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "1. yes\r\n2. no\r\n3. The crew was kind but it took two weeks.\r\n\r\n"
            f"On Thu, the Customer Care Centre wrote:\r\n> {survey['Subject']}\r\n"
            "> 1. Did we handle your complaint well? Answer yes or no\r\n"
        ).encode()
        result = intake.process(answer, site.clock.now(), site.clock.now())
        assert (result.action, result.ref, result.rule) == ("threaded", ref, "survey-reply")
        assert survey_row(site, ref) == {
            "status": "answered",
            "handled": 1,
            "score": None,
            "timely": 0,
            "comment": "The crew was kind but it took two weeks.",
        }
        case = get_case(site.db, ref)
        assert case["status"] == "closed" and count_cases(site.db) == 1
        # No acknowledgement of the answer: nothing more in the outbox, nothing more sent.
        assert [o["reply_kind"] for o in case["outbox"]] == ["ack-email", "survey"]
        assert len(smtp_sink.messages) == 2
        page = await case_page(site, ref)
        assert "The crew was kind but it took two weeks." in page
    finally:
        await site.client.close()
