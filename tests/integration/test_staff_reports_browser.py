"""The trend report page in real headless Chromium (Debian's): axe-core finds no WCAG 2.1 A/AA
violation on a month with cases, an empty month and a wrong month; the chart is drawn and has
a name; a person picks a month and opens the chart's table with the keyboard alone. A
screenshot is saved for a person to look at (test-artifacts/, not committed)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from playwright.async_api import Browser, expect

from bot.app import build_services
from bot.clock import FrozenClock
from bot.staff.accounts import create_account

from ..browser import axe_violations, describe_violations, focused, serve_app, tab_to
from ..unit.report_data import AS_OF, CONFIG, fill_months

AGENT = "agent@city.example.org"
PASSWORD = "correct horse battery staple"
ARTIFACTS = Path(os.environ.get("CAREDESK_ARTIFACTS", "test-artifacts"))


@pytest_asyncio.fixture
async def origin(tmp_path: Path, quick_hashes: None) -> AsyncIterator[str]:
    services = build_services(CONFIG, tmp_path / "caredesk.db", FrozenClock(AS_OF))
    create_account(services.db, AGENT, "Ada Agent", "agent", PASSWORD, AS_OF, "test")
    fill_months(services.db)
    async with serve_app(services) as origin:
        yield origin


async def test_the_report_page_in_chromium(chromium: Browser, origin: str) -> None:
    context = await chromium.new_context(base_url=origin, viewport={"width": 1366, "height": 768})
    page = await context.new_page()
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        await page.goto("/staff/login?next=/staff/reports?month=2026-11")
        await page.get_by_label("Email address").fill(AGENT)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Trend report")
        await expect(page.get_by_role("heading", level=2).first).to_have_text("November 2026")
        chart = page.get_by_role("img", name="Cases received each day, November 2026")
        await expect(chart).to_be_visible()
        box = await chart.bounding_box()
        assert box is not None and box["width"] > 400 and box["height"] > 150
        found["November 2026"] = await axe_violations(page)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "staff-report.png"), full_page=True)

        # The chart's table opens from the keyboard (a <details>: Enter on its summary).
        await tab_to(page, "e.tagName === 'SUMMARY'", max_presses=40)
        await page.keyboard.press("Enter")
        await expect(
            page.get_by_role("table", name="Cases received each day of November 2026")
        ).to_be_visible()
        found["November 2026, the chart's table open"] = await axe_violations(page)

        # The month picker: reached with Tab from the top, a month, Enter shows it.
        await page.goto("/staff/reports?month=2026-11")
        await tab_to(page, "e.id === 'month'", max_presses=20)
        assert (await focused(page))["name"] == "month"
        await page.locator("#month").fill("2027-03")
        await page.keyboard.press("Enter")
        await expect(page).to_have_url(origin + "/staff/reports?month=2027-03")
        await expect(page.locator("#report-note")).to_have_text(
            "No cases were received in March 2027."
        )
        found["an empty month"] = await axe_violations(page)

        # A wrong month: the error summary, linked to the field, and the form again.
        response = await page.goto("/staff/reports?month=2026-13")
        assert response is not None and response.status == 400
        await expect(page.get_by_role("alert")).to_contain_text("Enter a month as YYYY-MM")
        await page.get_by_role("link", name="Enter a month as YYYY-MM", exact=False).click()
        assert (await focused(page))["id"] == "month"
        found["a wrong month"] = await axe_violations(page)

        # The staff navigation leads here.
        await page.goto("/staff/sla")
        await (
            page.get_by_role("navigation", name="Staff pages")
            .get_by_role("link", name="Reports")
            .click()
        )
        await expect(page.get_by_role("heading", level=2).first).to_have_text("December 2026")
    finally:
        await context.close()
    report = "\n".join(describe_violations(w, v) for w, v in found.items() if v)
    assert not report, "\n" + report
