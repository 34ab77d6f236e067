"""The staff sign-in and landing pages in real headless Chromium (Debian's): axe-core finds no
WCAG 2.1 A/AA violation, and a person signs in with the keyboard alone, scripts off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest_asyncio
from playwright.async_api import Browser, expect

from bot.app import build_services
from bot.clock import FrozenClock
from bot.config import Config
from bot.staff.accounts import create_account

from ..browser import (
    axe_violations,
    describe_violations,
    focus_indicator,
    indicator_visible,
    serve_app,
    tab_to,
)

START = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
ADMIN = "boss@city.example.org"
PASSWORD = "correct horse battery staple"


@pytest_asyncio.fixture
async def origin(tmp_path: Path, quick_hashes: None) -> AsyncIterator[str]:
    services = build_services(
        Config(retention_every_hours=0), tmp_path / "caredesk.db", FrozenClock(START)
    )
    create_account(services.db, ADMIN, "Bo Admin", "admin", PASSWORD, START, "test")
    async with serve_app(services) as origin:
        yield origin


async def test_axe_finds_no_violations_on_the_staff_pages(chromium: Browser, origin: str) -> None:
    context = await chromium.new_context(base_url=origin)
    page = await context.new_page()
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        await page.goto("/staff/login")
        found["sign-in page"] = await axe_violations(page)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_contain_text("Enter your email address")
        found["sign-in page with errors"] = await axe_violations(page)
        await page.get_by_label("Email address").fill(ADMIN)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Drafts waiting for review")
        found["landing page"] = await axe_violations(page)
        await page.get_by_role("link", name="Staff accounts").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Staff accounts")
        found["staff accounts"] = await axe_violations(page)
        await page.get_by_role("link", name="Reports").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Trend report")
        found["trend report, a month with no cases"] = await axe_violations(page)
    finally:
        await context.close()
    report = "\n".join(describe_violations(w, v) for w, v in found.items() if v)
    assert not report, "\n" + report


async def test_sign_in_with_the_keyboard_and_no_scripts(chromium: Browser, origin: str) -> None:
    context = await chromium.new_context(base_url=origin, java_script_enabled=False)
    page = await context.new_page()
    try:
        await page.goto("/staff/login")
        # Empty form: the error summary links to the field.
        await page.get_by_role("button", name="Sign in").press("Enter")
        await expect(page).to_have_title(
            "Error: Sign in – Customer Care Centre staff – City of Example"
        )
        await page.get_by_role("link", name="Enter your email address").press("Enter")
        await page.keyboard.type(ADMIN)  # the link moved the focus to the field
        await page.keyboard.press("Tab")
        await page.keyboard.type(PASSWORD)
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/staff/")
        await expect(page.get_by_text("Signed in as")).to_contain_text("Bo Admin")
        # Sign out from the keyboard; its focus is visible.
        await tab_to(page, "e.textContent.trim() === 'Sign out'")
        assert indicator_visible(await focus_indicator(page.locator(":focus")))
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/staff/login?signed_out=1")
        await expect(page.get_by_role("status")).to_have_text("You have signed out.")
    finally:
        await context.close()
