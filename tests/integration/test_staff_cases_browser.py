"""The case pages in real headless Chromium (Debian's): axe-core finds no WCAG 2.1 A/AA
violation on the case list and a case page; a person searches and adds a note with the
keyboard alone, scripts off; screenshots of a case page are saved for a person to look at
(test-artifacts/, not committed)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from bot.app import Services, build_services
from bot.clock import FrozenClock
from bot.config import Config
from bot.model import Attachment
from bot.staff.accounts import create_account

from ..browser import (
    axe_violations,
    describe_violations,
    focus_indicator,
    indicator_visible,
    serve_app,
)
from ..unit.test_storage import submission
from .test_staff_browser import ADMIN, PASSWORD, START

#: Where screenshots go: $CAREDESK_TEST_ARTIFACTS, else test-artifacts/ in the project.
ARTIFACTS = Path(
    os.environ.get(
        "CAREDESK_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"
    )
)


class CaseSite:
    def __init__(self, origin: str, services: Services, refs: dict[str, str]) -> None:
        self.origin = origin
        self.services = services
        self.refs = refs


@pytest_asyncio.fixture
async def case_site(tmp_path: Path) -> AsyncIterator[CaseSite]:
    clock = FrozenClock(START)
    services = build_services(Config(retention_every_hours=0), tmp_path / "caredesk.db", clock)
    create_account(services.db, ADMIN, "Bo Admin", "admin", PASSWORD, START, "test")
    refs = {}
    refs["flood"] = services.intake.file(
        submission(
            channel="email",
            received_at=START,
            when=START - timedelta(days=1),
            conversation=None,
            text="I am unhappy: the basement flooding after the storm was never looked at. "
            "<script>alert(1)</script>",
            what="Basement flooding after the storm <script>alert(1)</script>",
            attachments=(Attachment("basement.jpg", "image/jpeg", 48213),),
        ),
        START,
    ).ref
    clock.advance(timedelta(minutes=1))
    refs["pothole"] = services.intake.file(
        submission(received_at=clock.now(), when=START, text="Please fix the pothole on Elm St"),
        clock.now(),
    ).ref
    async with serve_app(services) as origin:
        yield CaseSite(origin, services, refs)


async def sign_in(page: Page) -> None:
    await page.goto("/staff/login")
    await page.get_by_label("Email address").fill(ADMIN)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/staff/")


async def test_axe_finds_no_violations_on_the_case_pages(
    chromium: Browser, case_site: CaseSite
) -> None:
    context = await chromium.new_context(
        base_url=case_site.origin, viewport={"width": 1366, "height": 800}
    )
    page = await context.new_page()
    found: dict[str, list[dict[str, Any]]] = {}
    ref = case_site.refs["flood"]
    try:
        await sign_in(page)
        await page.get_by_role("link", name="Cases", exact=True).click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Cases")
        found["case list"] = await axe_violations(page)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "staff-case-list.png"), full_page=True)
        await page.goto("/staff/cases?status=nonsense")
        found["case list with an error"] = await axe_violations(page)
        await page.goto(f"/staff/cases/{ref}")
        await expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {ref}")
        await page.get_by_text("Every rule tried, in order").click()  # open the trace
        found["case page"] = await axe_violations(page)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "staff-case-page.png"), full_page=True)
        await page.get_by_label("Status", exact=True).select_option("closed")
        await page.get_by_role("button", name="Change the status").click()
        await expect(page.get_by_role("alert")).to_contain_text("cannot be closed yet")
        found["case page with errors"] = await axe_violations(page)
        await page.screenshot(path=str(ARTIFACTS / "staff-case-close-refused.png"), full_page=True)
    finally:
        await context.close()
    report = "\n".join(describe_violations(w, v) for w, v in found.items() if v)
    assert not report, "\n" + report
    assert (ARTIFACTS / "staff-case-page.png").stat().st_size > 10_000


async def test_axe_on_a_case_past_a_standard_and_the_inspection_form(
    chromium: Browser, case_site: CaseSite
) -> None:
    """Issue 13: the alert of a case past its hazard inspection deadline, and the inspection
    form (what will be done, by when) with its errors, in the browser."""
    from bot.scheduler import Scheduler

    services = case_site.services
    clock = services.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(timedelta(days=2))
    Scheduler(services.db, services.policy, services.renderer).tick(clock.now())
    context = await chromium.new_context(
        base_url=case_site.origin, viewport={"width": 1366, "height": 800}
    )
    page = await context.new_page()
    found: dict[str, list[dict[str, Any]]] = {}
    ref = case_site.refs["flood"]
    try:
        await sign_in(page)
        await page.goto(f"/staff/cases/{ref}")
        await expect(page.locator("#case-alert")).to_contain_text("hazard inspection")
        await expect(page.locator("#attention")).to_contain_text("hazard alert")
        found["case page past a standard"] = await axe_violations(page)
        await page.get_by_role(
            "button", name="Record the inspection and the course of action"
        ).click()
        await expect(page.locator(".error-summary")).to_contain_text("Write what will be done")
        found["inspection form with errors"] = await axe_violations(page)
        await page.get_by_label("What will be done").fill("Staff will pump out the basement drain.")
        await page.get_by_label("Done by (date)").fill(
            (clock.now() + timedelta(days=2)).astimezone(services.config.tz).date().isoformat()
        )
        await page.get_by_role(
            "button", name="Record the inspection and the course of action"
        ).click()
        await expect(page.locator("#done")).to_contain_text("The reply to the resident waits")
        await page.get_by_label("Anticipated completion date").fill("2027-02-26")
        await page.get_by_role("button", name="Save the completion date").click()
        await expect(page.locator("#done")).to_contain_text("completion date is saved")
        found["case page after the inspection"] = await axe_violations(page)
    finally:
        await context.close()
    report = "\n".join(describe_violations(w, v) for w, v in found.items() if v)
    assert not report, "\n" + report


async def test_search_and_add_a_note_with_the_keyboard_alone(
    chromium: Browser, case_site: CaseSite
) -> None:
    context = await chromium.new_context(base_url=case_site.origin, java_script_enabled=False)
    page = await context.new_page()
    ref = case_site.refs["flood"]
    try:
        await sign_in(page)
        await page.goto("/staff/cases")
        # Tab from the top of the page to the search box; type; Enter submits the GET form.
        for _ in range(30):
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement.id") == "text":
                break
        assert await page.evaluate("document.activeElement.id") == "text"
        assert indicator_visible(await focus_indicator(page.locator(":focus")))
        await page.keyboard.type("flooding")
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/staff/cases?*text=flooding*")
        rows = page.locator("table.cases tbody tr")
        await expect(rows).to_have_count(1)
        # Tab to the case's link and open it.
        for _ in range(40):
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement.textContent.trim()") == ref:
                break
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"**/staff/cases/{ref}")
        for _ in range(80):
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement.id") == "note":
                break
        assert await page.evaluate("document.activeElement.id") == "note"
        await page.keyboard.type("Called the resident back.")
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement.textContent.trim()")
        assert focused == "Add the note"
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"**/staff/cases/{ref}?done=note*")
        await expect(page.get_by_role("status")).to_have_text("The note is added.")
        await expect(page.locator("ul.notes")).to_contain_text("Called the resident back.")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "staff-case-note-added.png"), full_page=True)
    finally:
        await context.close()
    [(body,)] = case_site.services.db.execute("SELECT body FROM case_notes").fetchall()
    assert body == "Called the resident back."
