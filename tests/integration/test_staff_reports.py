"""The trend report page (`/staff/reports`) through the whole app: aiohttp's test client, a real
SQLite file, generated months of cases (tests/unit/report_data.py), the frozen clock."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ..unit.report_data import AS_OF, CONFIG, RESIDENT, fill_months, in_month
from .test_staff_web import AGENT, Site, login, start_site


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    s = await start_site(tmp_path, CONFIG)
    s.clock.set(AS_OF)
    yield s
    await s.client.close()


async def signed_in(site: Site) -> None:
    assert (await login(site.client, AGENT)).status == 303


def audit_rows(site: Site, action: str) -> list[tuple]:
    return site.db.execute(
        "SELECT actor, target_kind, target, detail, staff_id FROM audit WHERE action = ? "
        "ORDER BY id",
        [action],
    ).fetchall()


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def test_signed_out_staff_are_sent_to_sign_in(site: Site) -> None:
    for path in ("/staff/reports?month=2026-11", "/staff/reports/export?month=2026-11"):
        page = await site.client.get(path, allow_redirects=False)
        assert page.status == 303
        assert page.headers["Location"].startswith("/staff/login?next=")
    assert audit_rows(site, "viewed-report") == []


async def test_the_report_page_shows_the_months_figures(site: Site) -> None:
    made = fill_months(site.db)
    nov = in_month(made, 2026, 11)
    await signed_in(site)
    page = await site.client.get("/staff/reports?month=2026-11")
    assert page.status == 200
    html = await page.text()
    words = text_of(html)
    assert f"{len(nov):,} cases received in November 2026." in words
    # The staff navigation links here, marked as the current page.
    assert '<a href="/staff/reports" aria-current="page">Reports</a>' in html
    # By kind, as the test counts them.
    table = html.split("<caption>Cases by kind</caption>", 1)[1].split("</table>", 1)[0]
    rows = dict(re.findall(r'<th scope="row">([^<]+)</th><td class="num">([\d,]+)</td>', table))
    kinds = Counter(m.kind for m in nov)
    assert int(rows["Complaint"]) == kinds["complaint"]
    assert int(rows["Potential hazard"]) == kinds["hazard"]
    # The chart: one picture with a name and a description, one bar for each day with cases,
    # and the same figures as a table.
    assert 'role="img" aria-labelledby="chart-title chart-desc"' in html
    per_day = Counter(m.received.astimezone(AS_OF.tzinfo).date() for m in nov)
    bars = re.findall(r"<rect [^>]*class=\"series-1\"><title>([^<]+)</title>", html)
    assert len(bars) == sum(1 for n in per_day.values() if n)
    day_rows = re.findall(
        r'<time datetime="(2026-11-\d\d)">[^<]*</time></th><td class="num">(\d+)', html
    )
    assert len(day_rows) == 30
    assert {d: int(n) for d, n in day_rows} == {
        f"2026-11-{day:02d}": sum(c for k, c in per_day.items() if k.day == day)
        for day in range(1, 31)
    }
    assert RESIDENT not in html and "Elm Street" not in html
    # Who read which month's report is on the audit log.
    [(actor, kind, target, _detail, staff_id)] = audit_rows(site, "viewed-report")
    assert (actor, kind, target) == (f"staff:{AGENT}", "report", "2026-11")
    assert staff_id is not None


async def test_without_a_month_the_page_shows_this_month(site: Site) -> None:
    await signed_in(site)
    page = await site.client.get("/staff/reports")
    assert page.status == 200
    html = await page.text()
    assert 'value="2026-12"' in html
    assert "No cases were received in December 2026." in text_of(html)


async def test_an_empty_month_says_so(site: Site) -> None:
    fill_months(site.db)
    await signed_in(site)
    page = await site.client.get("/staff/reports?month=2027-03")
    assert page.status == 200
    html = await page.text()
    assert 'id="report-note">No cases were received in March 2027.</p>' in html
    assert "<svg" not in html  # nothing to draw
    assert [r[2] for r in audit_rows(site, "viewed-report")] == ["2027-03"]


@pytest.mark.parametrize("month", ["2026-13", "November", "2026-1", "<script>alert(1)</script>"])
async def test_a_month_that_is_not_one_gives_the_form_again(site: Site, month: str) -> None:
    await signed_in(site)
    page = await site.client.get("/staff/reports", params={"month": month})
    assert page.status == 400
    html = await page.text()
    assert "There is a problem" in html
    assert '<a href="#month">Enter a month as YYYY-MM' in html
    assert 'aria-invalid="true"' in html and 'aria-describedby="month-hint month-error"' in html
    assert '<form method="get" action="/staff/reports"' in html
    assert "<script>alert(1)" not in html
    assert audit_rows(site, "viewed-report") == []


async def test_downloads_are_the_commands_files(site: Site) -> None:
    made = fill_months(site.db)
    await signed_in(site)
    page = await site.client.get("/staff/reports/export?month=2026-11&format=csv")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/csv")
    assert 'filename="caredesk-report-2026-11.csv"' in page.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(await page.text())))
    assert rows[0] == ["section", "name", "value"]
    assert ["cases", "received", str(len(in_month(made, 2026, 11)))] in rows
    page = await site.client.get("/staff/reports/export?month=2026-11&format=json")
    assert json.loads(await page.text())["month"] == "2026-11"
    bad = await site.client.get("/staff/reports/export?month=2026-11&format=xls")
    assert bad.status == 400
    assert [(r[2], json.loads(r[3])) for r in audit_rows(site, "downloaded-report")] == [
        ("2026-11", {"format": "csv"}),
        ("2026-11", {"format": "json"}),
    ]
