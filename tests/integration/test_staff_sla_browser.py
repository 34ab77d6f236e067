"""The SLA board in real headless Chromium (Debian's): axe-core finds no WCAG 2.1 A/AA
violation, the chart is drawn, and a screenshot is saved for a person to look at
(test-artifacts/, not committed; CAREDESK_ARTIFACTS moves it)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest_asyncio
import sqlite_utils
from playwright.async_api import Browser, expect

from bot.app import build_services
from bot.clock import FrozenClock
from bot.config import Config
from bot.model import Kind
from bot.staff.accounts import create_account

from ..browser import axe_violations, describe_violations, serve_app, tab_to
from ..unit.staff_store import file_case, set_case

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # Wednesday, 10:00 in Toronto
AGENT = "agent@city.example.org"
PASSWORD = "correct horse battery staple"
ARTIFACTS = Path(os.environ.get("CAREDESK_ARTIFACTS", "test-artifacts"))


def fill_twelve_weeks(db: sqlite_utils.Database, now: datetime) -> None:
    """A few cases a weekday for twelve weeks: most acknowledged in an hour, every seventh
    late, every eleventh never; some due in the days ahead, one hazard past its inspection."""
    n = 0
    for day in range(84, 0, -1):
        received = now - timedelta(days=day)
        if received.weekday() >= 5:
            continue
        for k in range(2 + day % 4):
            n += 1
            at = received + timedelta(hours=k)
            case_id = file_case(
                db,
                received=at,
                deadlines={"complaint-ack": at + timedelta(days=1)},
            )
            if n % 11 == 0:
                continue
            delay = timedelta(days=2) if n % 7 == 0 else timedelta(hours=1)
            set_case(db, case_id, acked_at=(at + delay).isoformat(), status="closed")
    for hours in (3, 30, 75):
        file_case(db, received=now, deadlines={"complaint-ack": now + timedelta(hours=hours)})
    file_case(
        db,
        received=now - timedelta(days=1),
        kind=Kind.HAZARD,
        deadlines={"hazard-inspection": now - timedelta(hours=2)},
    )


@pytest_asyncio.fixture
async def origin(tmp_path: Path, quick_hashes: None) -> AsyncIterator[str]:
    services = build_services(
        Config(retention_every_hours=0), tmp_path / "caredesk.db", FrozenClock(NOW)
    )
    create_account(services.db, AGENT, "Ada Agent", "agent", PASSWORD, NOW, "test")
    fill_twelve_weeks(services.db, NOW)
    async with serve_app(services) as origin:
        yield origin


async def test_the_sla_board_in_chromium(chromium: Browser, origin: str) -> None:
    context = await chromium.new_context(base_url=origin, viewport={"width": 1366, "height": 768})
    page = await context.new_page()
    try:
        await page.goto("/staff/login?next=/staff/sla")
        await page.get_by_label("Email address").fill(AGENT)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Service standards")
        chart = page.get_by_role("img", name="Cases by week of receipt, the last 12 weeks")
        await expect(chart).to_be_visible()
        box = await chart.bounding_box()
        assert box is not None and box["width"] > 400 and box["height"] > 150
        await expect(page.locator("#alert-count")).to_contain_text("cases past a standard")
        violations = await axe_violations(page)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "staff-sla-board.png"), full_page=True)
        assert not violations, "\n" + describe_violations("SLA board", violations)
        # The counts are links a keyboard reaches, with a visible name for each.
        await tab_to(
            page, "e.getAttribute('href') === '/staff/cases?due=hazard:overdue'", max_presses=60
        )
    finally:
        await context.close()
