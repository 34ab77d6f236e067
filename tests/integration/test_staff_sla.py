"""The SLA board (`/staff/sla`) and the header's alert count, through the whole app: aiohttp's
test client, a real SQLite file, the frozen clock set to the moments that matter (a Friday
before a weekend, the day before Christmas), cases filed the way intake files them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.model import Kind
from bot.staff.sla import due_link

from ..unit.staff_store import file_case, set_case
from .test_staff_web import ADMIN, AGENT, Site, login, start_site

TORONTO = ZoneInfo("America/Toronto")
COB = (16, 30)
#: The case list's contract: every clock and every bucket.
CLOCKS = ("ack", "response", "follow_up", "hazard")
BUCKETS = ("today", "week", "overdue")
COUNT_LINK = re.compile(r'<a href="/staff/cases\?due=(\w+):(\w+)"[^>]*>([\d,]+)<')
ALERT = re.compile(r'id="alert-count"><a href="([^"]+)">.*?<strong>([\d,]+)</strong>', re.S)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TORONTO)  # type: ignore[misc]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    s = await start_site(tmp_path)
    yield s
    await s.client.close()


async def board_at(site: Site, now: datetime, email: str = AGENT) -> str:
    """Sign in at `now` (sessions expire, so the clock moves first) and read the board."""
    site.clock.set(now)
    assert (await login(site.client, email)).status == 303
    page = await site.client.get("/staff/sla")
    assert page.status == 200
    return await page.text()


def counts(html: str) -> dict[str, tuple[int, int, int]]:
    found: dict[str, dict[str, int]] = {}
    for clock, bucket, n in COUNT_LINK.findall(html):
        found.setdefault(clock, {})[bucket] = int(n.replace(",", ""))
    return {c: (b["today"], b["week"], b["overdue"]) for c, b in found.items()}


def alert(html: str) -> tuple[str, int]:
    match = ALERT.search(html)
    assert match, "no alert count in the page header"
    return match.group(1), int(match.group(2).replace(",", ""))


def alert_words(html: str) -> str:
    """What the header's alert says, as a screen reader reads it."""
    header = html.split("</header>", 1)[0].split('id="alert-count">', 1)[1].split("</p>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", "", header).split())


def ack(site: Site, received: datetime, due: datetime) -> int:
    return file_case(site.db, received=received, deadlines={"complaint-ack": due})


async def test_buckets_skip_the_weekend(site: Site) -> None:
    friday = local(2026, 11, 27, 10)
    received = local(2026, 11, 26, 10)
    ack(site, received, local(2026, 11, 27, *COB))  # later today
    ack(site, received, local(2026, 11, 27, 9))  # this morning: overdue
    ack(site, received, local(2026, 11, 30, *COB))  # Monday
    ack(site, received, local(2026, 12, 4, *COB))  # Friday next: the fifth business day
    ack(site, received, local(2026, 12, 7, 9))  # the sixth business day: not yet
    met = ack(site, received, local(2026, 11, 26, *COB))  # passed, but met
    set_case(site.db, met, acked_at=local(2026, 11, 26, 11).astimezone(UTC).isoformat())
    # Follow-up dates count calendar days: one falls on Sunday, inside the next business days.
    file_case(site.db, received=received, deadlines={"follow-up": local(2026, 11, 29, 12)})
    file_case(
        site.db,
        received=received,
        kind=Kind.HAZARD,
        deadlines={"hazard-inspection": local(2026, 11, 26, 15)},
    )
    html = await board_at(site, friday)
    assert counts(html) == {
        "ack": (1, 2, 1),
        "response": (0, 0, 0),
        "follow_up": (0, 1, 0),
        "hazard": (0, 0, 1),
    }
    assert "to the end of Friday 4 December" in html
    assert alert(html)[1] == 2
    # Saturday: nothing is due "today" at the weekend; Friday's 16:30 one is overdue now, and
    # the window still ends on Friday 4 December (Monday to Friday are the five days).
    html = await board_at(site, local(2026, 11, 28, 10))
    assert counts(html)["ack"] == (0, 2, 2)
    assert "to the end of Friday 4 December" in html


async def test_buckets_skip_the_holidays(site: Site) -> None:
    """Thursday 24 December 2026: Christmas (Friday), Boxing Day observed (Monday 28) and New
    Year's Day (Friday 1 January) are not business days, so the five run to Tuesday 5 January."""
    thursday = local(2026, 12, 24, 10)
    received = local(2026, 12, 23, 10)
    ack(site, received, local(2026, 12, 24, *COB))  # today
    ack(site, received, local(2026, 12, 29, *COB))  # the first business day after
    ack(site, received, local(2027, 1, 5, *COB))  # the fifth
    ack(site, received, local(2027, 1, 6, *COB))  # the sixth: not counted
    file_case(site.db, received=received, deadlines={"email-response": local(2027, 1, 5, 9)})
    file_case(site.db, received=received, deadlines={"email-response": local(2027, 1, 6, 9)})
    html = await board_at(site, thursday)
    assert counts(html)["ack"] == (1, 2, 0)
    assert counts(html)["response"] == (0, 1, 0)
    assert "to the end of Tuesday 5 January" in html
    assert alert(html)[1] == 0


async def test_every_count_links_to_the_case_list(site: Site) -> None:
    html = await board_at(site, local(2026, 11, 25, 10))
    links = {(c, b) for c, b, _n in COUNT_LINK.findall(html)}
    assert links == {(c, b) for c in CLOCKS for b in BUCKETS}
    assert due_link("follow_up", "week") == "/staff/cases?due=follow_up:week"
    # A screen reader hears which count a link is, not a bare number.
    assert re.search(
        r'due=hazard:overdue"[^>]*>0<span class="visually-hidden"> hazard inspection: overdue',
        html,
    )


async def test_the_chart_and_its_table_cover_twelve_weeks(site: Site) -> None:
    now = local(2026, 11, 25, 10)  # Wednesday
    last_week = local(2026, 11, 17, 10)  # Tuesday of last week
    due = local(2026, 11, 18, *COB)
    on_time = ack(site, last_week, due)
    late = ack(site, last_week, due)
    ack(site, last_week, due)  # never acknowledged: overdue
    set_case(site.db, on_time, acked_at=local(2026, 11, 17, 11).astimezone(UTC).isoformat())
    set_case(site.db, late, acked_at=local(2026, 11, 19, 9).astimezone(UTC).isoformat())
    ack(site, local(2026, 9, 1, 10), local(2026, 9, 2, *COB))  # too old for the chart
    html = await board_at(site, now)
    table = html.split('<table class="sla-weeks">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(
        r'<time datetime="([\d-]+)">[^<]*</time></th>\s*<td class="num">([\d,]+)</td>\s*'
        r'<td class="num">([\d,]+)</td>\s*<td class="num">([\d,]+)</td>',
        table,
    )
    mondays = [date.fromisoformat(r[0]) for r in rows]
    assert len(rows) == 12
    assert mondays[-1] == date(2026, 11, 23)  # this week
    assert mondays == [date(2026, 9, 7) + timedelta(weeks=i) for i in range(12)]
    figures = {date.fromisoformat(r[0]): tuple(int(x) for x in r[1:]) for r in rows}
    assert figures[date(2026, 11, 16)] == (3, 1, 2)
    assert sum(sum(f) for f in figures.values()) == 6  # nothing else, the old case left out
    # The chart: one picture with a title and a description, drawn with no script.
    svg = html.split('<div class="sla-chart">', 1)[1].split("</svg>", 1)[0]
    assert 'role="img" aria-labelledby="chart-title chart-desc"' in svg
    assert '<title id="chart-title">' in svg
    assert "3 cases received, 1 acknowledged within the standard, 2 overdue" in svg
    assert len(re.findall(r'class="week"', svg)) == 12
    assert "<script" not in html
    assert "Week of 16 Nov: 3 received" in svg


async def test_the_alert_count_is_on_every_staff_page(site: Site) -> None:
    now = local(2026, 11, 25, 10)
    site.clock.set(now)
    assert (await login(site.client, ADMIN)).status == 303
    pages = ["/staff/", "/staff/sla", "/staff/accounts"]
    for path in pages:
        html = await (await site.client.get(path)).text()
        assert alert(html) == ("/staff/cases?overdue=1", 0), path
        assert alert_words(html) == "0 cases past a standard"
    # Past two standards, one case: one alert. Another case due later: not an alert.
    file_case(
        site.db,
        received=local(2026, 11, 24, 9),
        deadlines={
            "complaint-ack": local(2026, 11, 24, *COB),
            "hazard-inspection": local(2026, 11, 24, *COB),
        },
    )
    ack(site, now, local(2026, 11, 26, *COB))
    for path in pages:
        html = await (await site.client.get(path)).text()
        assert alert(html) == ("/staff/cases?overdue=1", 1), path
        assert alert_words(html) == "Alert: 1 case past a standard"
    # The sign-in page has no alert: nobody is signed in there.
    anonymous = await site.new_client()
    try:
        page = await anonymous.get("/staff/login")
        assert 'id="alert-count"' not in await page.text()
    finally:
        await anonymous.close()


async def test_an_agent_sees_the_board_and_a_stranger_signs_in_first(site: Site) -> None:
    page = await site.client.get("/staff/sla", allow_redirects=False)
    assert page.status == 303
    assert page.headers["Location"] == "/staff/login?next=/staff/sla"
    html = await board_at(site, local(2026, 11, 25, 10), AGENT)
    assert "<h1>Service standards</h1>" in html
    assert 'href="/staff/sla" aria-current="page"' in html
    page = await site.client.get("/staff/sla")
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
