"""The trend report page (`/staff/reports?month=YYYY-MM`, policy 03.04, issue 13 item 9): the
same figures as `caredesk report` (both call bot/report_source.py), a month picker, and a
chart of the cases received each day, with downloads of the CSV and JSON.

The month picker is a GET form, so a report is a link staff can bookmark or send; a month that
is not one is a 400 with the form again and an error summary linking to the field (GOV.UK's
pattern). The chart is SVG drawn here like the SLA board's (bot/staff/sla.py): no script, one
picture (`role="img"`, a title and a description that gives the busiest day and the total),
and the page carries the same figures as a table, so a screen reader reads numbers, not bars.
Every view and download is written to the audit log (who read which month's report); the
report holds no personal data, so there is nothing to audit beyond that.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from aiohttp import web

from bot.report import Day, Month, MonthError, MonthReport, parse_month
from bot.report_format import as_csv, as_json, standard_words
from bot.report_source import load_report, load_report_apart
from bot.staff.access import PREFIX, STAFF, audit_action, render, require_role
from bot.staff.sla import nice_ceiling
from storage.report import store_file

#: The chart's own coordinates (it scales to the page's width).
WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 20, 56
DOWNLOADS = {"csv": ("text/csv", as_csv), "json": ("application/json", as_json)}


@dataclass(frozen=True)
class DayBar:
    day: Day
    x: float
    y: float
    width: float
    height: float
    label_x: float
    weekend: bool


@dataclass(frozen=True)
class Tick:
    value: int
    y: float


@dataclass(frozen=True)
class DayChart:
    width: int
    height: int
    left: int
    right: float
    bottom: float
    ticks: tuple[Tick, ...]
    bars: tuple[DayBar, ...]
    summary: str


def day_chart(report: MonthReport) -> DayChart:
    """One bar a day of the month; weekend bars are striped (told apart by more than colour)."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    axis_y = TOP + plot_h
    days = report.days
    top_value, step = nice_ceiling(max([d.count for d in days] + [1]))
    scale = plot_h / top_value
    ticks = tuple(Tick(v, axis_y - v * scale) for v in range(0, top_value + 1, step))
    group = plot_w / max(1, len(days))
    bar_w = group * 0.7
    bars = tuple(
        DayBar(
            day=d,
            x=LEFT + i * group + (group - bar_w) / 2,
            y=axis_y - d.count * scale,
            width=bar_w,
            height=d.count * scale,
            label_x=LEFT + i * group + group / 2,
            weekend=d.day.weekday() >= 5,
        )
        for i, d in enumerate(days)
    )
    busiest = max(days, key=lambda d: d.count) if days else None
    summary = (
        f"Bar chart of the cases received each day of {report.month.words}: "
        f"{report.cases:,} in all; the busiest day was {busiest.day:%A %-d %B} with "
        f"{busiest.count:,}. Weekend days are striped. The table below gives every day."
        if busiest and busiest.count
        else f"No cases were received in {report.month.words}."
    )
    return DayChart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        bottom=axis_y,
        ticks=ticks,
        bars=bars,
        summary=summary,
    )


def download_link(month: Month, fmt: str) -> str:
    return f"{PREFIX}/reports/export?" + urlencode({"month": month.key, "format": fmt})


async def month_report_of(request: web.Request, month: Month, now: datetime) -> MonthReport:
    """The month's report, computed in a worker thread (bot/report_source.py says why)."""
    site = request.app[STAFF]
    path = store_file(site.db)
    if not path:  # an in-memory store has no second connection
        return load_report(site.db, site.config, month, now)
    return await asyncio.to_thread(load_report_apart, path, site.config, month, now)


def install_reports(app: web.Application) -> None:
    """Called once by `install_staff`."""
    app.router.add_get(f"{PREFIX}/reports", reports_page)
    app.router.add_get(f"{PREFIX}/reports/export", reports_export)


def _month_of(request: web.Request) -> tuple[Month | None, str, str | None]:
    """(the month, what was typed, the error): no `month` in the address means this month."""
    site = request.app[STAFF]
    typed = request.query.get("month")
    if typed is None or not typed.strip():
        month = Month.of(site.clock.now(), site.config.tz)
        return month, month.key, None
    try:
        return parse_month(typed), typed.strip(), None
    except MonthError as exc:
        return None, typed, f"Enter a month as YYYY-MM, for example 2026-11 ({exc})"


@require_role("agent")
async def reports_page(request: web.Request) -> web.StreamResponse:
    site = request.app[STAFF]
    month, typed, error = _month_of(request)
    if month is None or error:
        audit_action(request, "report-refused", target_kind="report", detail={"reason": "month"})
        return render(
            request,
            "reports.html.j2",
            status=400,
            title="Trend report",
            typed=typed[:40],
            errors=[("month", error or "Enter a month")],
            report=None,
        )
    now = site.clock.now()
    report = await month_report_of(request, month, now)
    audit_action(request, "viewed-report", target_kind="report", target=month.key, now=now)
    return render(
        request,
        "reports.html.j2",
        title=f"Trend report: {month.words}",
        typed=typed,
        report=report,
        chart=day_chart(report),
        standard_words=standard_words,
        downloads={fmt: download_link(month, fmt) for fmt in DOWNLOADS},
        previous=Month(month.year - (month.month == 1), (month.month - 2) % 12 + 1),
        following=month.next(),
    )


@require_role("agent")
async def reports_export(request: web.Request) -> web.StreamResponse:
    """The month's report as a file: the same text as `caredesk report --format csv|json`."""
    site = request.app[STAFF]
    month, _typed, error = _month_of(request)
    fmt = request.query.get("format", "csv")
    if month is None or error or fmt not in DOWNLOADS:
        return render(
            request,
            "error.html.j2",
            status=400,
            title="This download does not exist",
            text="Open the trend report page, choose a month and use one of its download links.",
        )
    now = site.clock.now()
    report = await month_report_of(request, month, now)
    audit_action(
        request,
        "downloaded-report",
        target_kind="report",
        target=month.key,
        detail={"format": fmt},
        now=now,
    )
    content_type, render_as = DOWNLOADS[fmt]
    return web.Response(
        text=render_as(report),
        content_type=content_type,
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="caredesk-report-{month.key}.{fmt}"'
        },
    )
