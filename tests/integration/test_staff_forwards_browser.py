"""The forwarding pages in real headless Chromium: axe-core finds no WCAG 2.1 A/AA violation
on the dead-letter list and on a case page with a failed forward, and a person retries a dead
forward with the keyboard alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from playwright.async_api import Browser, expect

from bot.app import Services, build_services
from bot.clock import FrozenClock
from bot.staff.accounts import create_account
from storage.db import write_transaction
from storage.forwards import forwards_of_case
from storage.outbox import mark_failed

from ..browser import axe_violations, describe_violations, serve_app
from ..unit.test_storage import submission
from .test_staff_browser import ADMIN, PASSWORD, START
from .test_staff_cases_browser import sign_in
from .test_staff_forwards import CONFIG, WORDS


@pytest_asyncio.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, Services, str]]:
    services = build_services(CONFIG, tmp_path / "caredesk.db", FrozenClock(START))
    create_account(services.db, ADMIN, "Bo Admin", "admin", PASSWORD, START, "test")
    text = "The water main burst on Pine Road"
    ref = services.intake.file(submission(received_at=START, text=text, what=text), START).ref
    (case_id,) = services.db.execute("SELECT id FROM cases WHERE ref = ?", [ref]).fetchone()
    [forward] = forwards_of_case(services.db, case_id)
    with write_transaction(services.db):
        mark_failed(services.db, forward.outbox_id, WORDS, START)
    async with serve_app(services) as origin:
        yield origin, services, ref


async def test_axe_and_a_keyboard_retry_on_the_forwarding_pages(
    chromium: Browser, served: tuple[str, Services, str]
) -> None:
    origin, services, ref = served
    context = await chromium.new_context(base_url=origin, viewport={"width": 1366, "height": 800})
    page = await context.new_page()
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        await sign_in(page)
        await page.get_by_role("link", name="Forwarding", exact=True).click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Forwarding to departments")
        await expect(page.get_by_text(WORDS)).to_be_visible()
        found["dead-letter list"] = await axe_violations(page)
        await page.goto(f"/staff/cases/{ref}")
        await expect(page.get_by_role("heading", name="Sent to the department")).to_be_visible()
        found["case page with a failed forward"] = await axe_violations(page)
        # Keyboard alone: focus the Retry button of the list and press Enter.
        await page.goto("/staff/forwards")
        button = page.get_by_role("button", name=f"Retry the forward of {ref}")
        await button.focus()
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("status")).to_contain_text("queued again")
        found["after a retry"] = await axe_violations(page)
    finally:
        await context.close()
    report = "\n".join(describe_violations(w, v) for w, v in found.items() if v)
    assert not report, "\n" + report
    (case_id,) = services.db.execute("SELECT id FROM cases WHERE ref = ?", [ref]).fetchone()
    retried = services.db.execute(
        "SELECT count(*) FROM events WHERE case_id = ? AND type = 'forward-retried'", [case_id]
    ).fetchone()[0]
    assert retried == 1  # (the worker then tries it again; without a secret it fails again)
