"""The review queue in real headless Chromium (Debian's), driven with the keyboard only.

An email complaint made for an unnamed neighbour (filed through the real Intake) is declined
and held; an agent edits the drafted reply, a supervisor approves it (the editor cannot:
maker-checker), and aiosmtpd receives it. A resident who stays anonymous in the web chat is
declined the same way; once a reviewer approves the reply, the resident sees it on coming
back to the chat. axe-core scans the queue and draft pages (WCAG 2.1 A/AA); screenshots of
both are saved in test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from bot.app import Services, build_services
from bot.clock import FrozenClock
from bot.config import Config, SmtpConfig
from bot.model import Kind, Person, Submission
from bot.staff.accounts import create_account

from ..browser import (
    axe_violations,
    choose,
    describe_violations,
    focus_indicator,
    indicator_visible,
    say,
    serve_app,
    tab_to,
)
from ..servers import SmtpSink
from .test_webchat_browser import SCRIPT

START = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Toronto
PASSWORD = "correct horse battery staple"
AGENT = "agent@city.example.org"
SUPERVISOR = "sup@city.example.org"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ADDED = "You can also call us at 311 and ask for the Customer Care Centre."


@dataclass
class Desk:
    services: Services
    origin: str
    sink: SmtpSink


@pytest_asyncio.fixture
async def desk(tmp_path: Path, smtp_sink: SmtpSink, quick_hashes: None) -> AsyncIterator[Desk]:
    config = Config(retention_every_hours=0)
    smtp = SmtpConfig(
        host=smtp_sink.host, port=smtp_sink.port, security="none", retry_base_seconds=0.2
    )
    config = replace(config, mail=replace(config.mail, smtp=smtp))
    services = build_services(config, tmp_path / "caredesk.db", FrozenClock(START))
    create_account(services.db, AGENT, "Ada Agent", "agent", PASSWORD, START, "test")
    create_account(services.db, SUPERVISOR, "Sue Pervisor", "supervisor", PASSWORD, START, "test")
    async with serve_app(services, handler_cancellation=True) as origin:
        yield Desk(services, origin, smtp_sink)


def file_email_allegation(services: Services) -> str:
    sub = Submission(
        channel="email",
        received_at=START,
        text="My neighbour asked me to complain: the inspector was rude to her at 12 Oak Ave.",
        what="the inspector was rude to her at 12 Oak Ave",
        person=Person(email="resident@example.org"),
        on_behalf_of="",
        subject="Complaint for my neighbour",
        message_key="<n1@mail.example.org> sha256:" + "0" * 64,
        thread_ids=("<n1@mail.example.org>",),
        kind_hint=Kind.COMPLAINT,
    )
    return services.intake.file(sub, START).ref


async def sign_in(page: Page, who: str) -> None:
    """With the keyboard only: Tab to each field, type, Enter."""
    await page.goto("/staff/login")
    await tab_to(page, "e.id === 'email'")
    await page.keyboard.type(who)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/staff/")


async def open_draft(page: Page, ref: str) -> None:
    """From the queue, Tab to the case's link and follow it."""
    await tab_to(page, f"e.tagName === 'A' && e.textContent.trim() === {ref!r}", max_presses=80)
    assert indicator_visible(await focus_indicator(page.locator(":focus")))
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Draft reply for {ref}")


async def press_button(page: Page, label: str) -> None:
    await tab_to(page, f"e.tagName === 'BUTTON' && e.textContent.trim() === {label!r}")
    assert indicator_visible(await focus_indicator(page.locator(":focus")))
    async with page.expect_navigation():
        await page.keyboard.press("Enter")


def shoot_path(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / name)


async def test_email_allegation_edited_approved_and_delivered_by_smtp(
    chromium: Browser, desk: Desk
) -> None:
    ref = file_email_allegation(desk.services)
    found: dict[str, list[dict[str, Any]]] = {}
    agent = await chromium.new_context(
        base_url=desk.origin, viewport={"width": 1366, "height": 900}
    )
    sup = await chromium.new_context(base_url=desk.origin, viewport={"width": 1366, "height": 900})
    try:
        page = await agent.new_page()
        await sign_in(page, AGENT)
        await expect(page.get_by_role("table")).to_contain_text(ref)
        await expect(page.get_by_role("table")).to_contain_text("anonymous-declined")
        found["queue"] = await axe_violations(page)
        await page.screenshot(path=shoot_path("staff-queue.png"), full_page=True)

        await open_draft(page, ref)
        await expect(page.get_by_role("region", name="What the resident wrote")).to_contain_text(
            "the inspector was rude to her"
        )
        found["draft"] = await axe_violations(page)
        await page.screenshot(path=shoot_path("staff-draft.png"), full_page=True)
        # Edit: Tab into the reply's text, go to its end, add a sentence, save.
        await tab_to(page, "e.id === 'body'")
        await page.keyboard.press("Control+End")
        await page.keyboard.type("\n\n" + ADDED)
        await press_button(page, "Save changes")
        await expect(page.get_by_role("status")).to_contain_text("Your changes to the draft")
        # The editor of an anonymous-declined reply is not offered "Approve and send".
        await expect(page.get_by_text("another reviewer must approve it")).to_be_visible()
        assert await page.get_by_role("button", name="Approve and send").count() == 0
        found["draft after an edit"] = await axe_violations(page)

        # A second person approves it.
        second = await sup.new_page()
        await sign_in(second, SUPERVISOR)
        await open_draft(second, ref)
        await expect(second.locator("#body")).to_have_value(re.compile(re.escape(ADDED)))
        await press_button(second, "Approve and send")
        await expect(second.get_by_role("status")).to_contain_text(
            f"Approved and sent: the reply for {ref}"
        )
        found["queue after approval"] = await axe_violations(second)
    finally:
        await agent.close()
        await sup.close()
    [raw] = await desk.sink.await_count(1, timeout=20)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["To"] == "resident@example.org"
    assert f"[{ref}]" in msg["Subject"]
    assert msg["In-Reply-To"] == "<n1@mail.example.org>"
    body = msg.get_content()
    assert ADDED in body and "name" in body.lower()
    report = "\n".join(describe_violations(w, v) for w, v in found.items() if v)
    assert not report, "\n" + report
    sent = desk.services.db.execute(
        "SELECT status FROM outbox WHERE reply_kind = 'anonymous-declined'"
    ).fetchall()
    assert sent == [("sent",)]


async def test_web_chat_reply_appears_when_the_resident_comes_back(
    chromium: Browser, desk: Desk
) -> None:
    resident = await chromium.new_context(base_url=desk.origin)
    reviewer = await chromium.new_context(base_url=desk.origin)
    try:
        chat = await resident.new_page()
        await chat.goto("/")
        for answer, expected in SCRIPT[:6]:
            if answer in ("Complaint", "No"):
                await choose(chat, answer, expected)
            else:
                await say(chat, answer, expected)
        await say(chat, "no", "02.01")  # no name: the policy is explained
        await say(chat, "no", "recorded but not investigated")
        ack = await choose(chat, "Confirm")
        ref = re.search(r"CD-\d{4}-\d{6}", ack)
        assert ref, ack
        page = await reviewer.new_page()
        await sign_in(page, AGENT)
        await open_draft(page, ref.group(0))
        await expect(page.get_by_text("Web chat").first).to_be_visible()
        reply = await page.locator("#body").input_value()
        await press_button(page, "Approve and send")
        await expect(page.get_by_role("status")).to_contain_text("Approved and sent")
        # The resident comes back to the chat: the approved reply is there.
        await chat.reload()
        first_line = reply.strip().splitlines()[0]
        await expect(chat.locator("#log")).to_contain_text(first_line)
        found = await axe_violations(page)
        assert not found, describe_violations("queue after approving", found)
    finally:
        await resident.close()
        await reviewer.close()
    rows = desk.services.db.execute(
        "SELECT channel, status FROM outbox WHERE reply_kind = 'anonymous-declined'"
    ).fetchall()
    assert rows == [("web", "sent")]
