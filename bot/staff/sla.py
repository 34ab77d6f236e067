"""The SLA board (`/staff/sla`, issue 11 item 4): what each clock of the policy has due today,
in the next five business days and overdue, and a chart of the last twelve weeks.

Every count links to the case list with the contract `/staff/cases?due=<clock>:<bucket>`
(clock `ack|response|follow_up|hazard`, bucket `today|week|overdue`), which the case list
pages answer. The figures come from storage/sla.py; "today" and "five business days" are the
city's own (bot/sla_bounds.py), so a weekend or a holiday never counts as a business day.

The chart is SVG drawn here, on the server: no chart library, no script, no asset from
elsewhere. It is one picture (`role="img"` with a title and a description) and the page
carries the same figures as a table, so a screen reader reads numbers, not bars. The three
series differ by fill pattern as well as colour (solid, stripes, cross-hatch), each named in
the legend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.sla_bounds import board_bounds, week_starts
from bot.staff.access import PREFIX, STAFF, render, require_role
from storage.sla import ClockFigures, WeekFigures, clock_figures, weekly_series

#: The case list's name for each clock (the deadline column it filters on).
CLOCK_KEYS = {
    "ack_due": "ack",
    "response_due": "response",
    "follow_up_due": "follow_up",
    "hazard_due": "hazard",
}
#: The board's columns: the case list's bucket name and the words staff read.
BUCKETS = (
    ("today", "Due today"),
    ("week", "Due in the next 5 business days"),
    ("overdue", "Overdue"),
)
WEEKS = 12


def due_link(clock_key: str, bucket: str) -> str:
    """The case list of one board cell: `/staff/cases?due=ack:today`."""
    return f"{PREFIX}/cases?" + urlencode({"due": f"{clock_key}:{bucket}"}, safe=":")


@dataclass(frozen=True)
class Cell:
    bucket: str
    heading: str
    count: int
    href: str


@dataclass(frozen=True)
class BoardRow:
    clock: str  # the words staff read: "acknowledgement"
    key: str  # the case list's name: "ack"
    cells: tuple[Cell, ...]


def board_rows(figures: list[ClockFigures]) -> list[BoardRow]:
    rows = []
    for f in figures:
        key = CLOCK_KEYS[f.column]
        counts = {"today": f.due_today, "week": f.due_soon, "overdue": f.overdue}
        cells = tuple(
            Cell(bucket, heading, counts[bucket], due_link(key, bucket))
            for bucket, heading in BUCKETS
        )
        rows.append(BoardRow(f.clock, key, cells))
    return rows


# -- the chart --------------------------------------------------------------------------------

#: The SVG's own coordinates (it scales to the page's width).
WIDTH, HEIGHT = 760, 330
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 44, 50
#: (key, legend words, the fill: a pattern defined in the template)
SERIES = (
    ("received", "Received", "url(#fill-received)"),
    ("in_time", "Acknowledged within standard", "url(#fill-in-time)"),
    ("overdue", "Overdue", "url(#fill-overdue)"),
)


@dataclass(frozen=True)
class Bar:
    series: str
    label: str
    fill: str
    x: float
    y: float
    width: float
    height: float
    value: int


@dataclass(frozen=True)
class WeekColumn:
    start: date  # the week's local Monday
    label: str  # "14 Sep"
    label_x: float
    received: int
    in_time: int
    overdue: int
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Tick:
    value: int
    y: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: float  # x of the plot's right edge
    top: int
    bottom: float  # y of the axis
    ticks: tuple[Tick, ...]
    weeks: tuple[WeekColumn, ...]
    legend: tuple[tuple[str, str, float], ...]  # (words, fill, x)
    summary: str


def nice_ceiling(value: int) -> tuple[int, int]:
    """An axis top at or above `value` and its step, on 1, 2, 5 x 10^n: 4 or 5 gridlines."""
    if value <= 4:
        return 4, 1
    raw = value / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return int(math.ceil(value / step) * step), int(step)


def week_chart(weeks: list[WeekFigures], tz: ZoneInfo) -> Chart:
    """Grouped bars, one group a week (oldest on the left), three bars a group."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    axis_y = TOP + plot_h
    top_value, step = nice_ceiling(max([w.received for w in weeks] + [1]))
    scale = plot_h / top_value
    ticks = tuple(Tick(v, axis_y - v * scale) for v in range(0, top_value + 1, step))
    group = plot_w / max(1, len(weeks))
    bar_w = group * 0.26
    columns = []
    for i, w in enumerate(weeks):
        start = datetime.fromisoformat(w.week_start).astimezone(tz).date()
        x0 = LEFT + i * group + (group - 3 * bar_w) / 2
        values = (w.received, w.acknowledged_in_time, w.overdue)
        bars = tuple(
            Bar(key, words, fill, x0 + j * bar_w, axis_y - v * scale, bar_w - 1, v * scale, v)
            for j, ((key, words, fill), v) in enumerate(zip(SERIES, values, strict=True))
        )
        columns.append(
            WeekColumn(
                start=start,
                label=f"{start.day} {start:%b}",
                label_x=LEFT + i * group + group / 2,
                received=w.received,
                in_time=w.acknowledged_in_time,
                overdue=w.overdue,
                bars=bars,
            )
        )
    legend = tuple((words, fill, LEFT + k * 230.0) for k, (_key, words, fill) in enumerate(SERIES))
    received = sum(c.received for c in columns)
    in_time = sum(c.in_time for c in columns)
    overdue = sum(c.overdue for c in columns)
    first = columns[0].start if columns else None
    summary = (
        f"Bar chart of the {len(columns)} weeks from the week of {first:%-d %B %Y}: "
        f"{received:,} cases received, {in_time:,} acknowledged within the standard, "
        f"{overdue:,} overdue. The table below gives the figures for each week."
        if first
        else "No weeks to show."
    )
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        bottom=axis_y,
        ticks=ticks,
        weeks=tuple(columns),
        legend=legend,
        summary=summary,
    )


# -- the page ---------------------------------------------------------------------------------


def install_sla(app: web.Application) -> None:
    """Called once by `install_staff`."""
    app.router.add_get(f"{PREFIX}/sla", sla_board)


@require_role("agent")
async def sla_board(request: web.Request) -> web.StreamResponse:
    site = request.app[STAFF]
    now = site.clock.now()
    calendar = site.config.calendar()
    bounds = board_bounds(calendar, now)
    rows = board_rows(clock_figures(site.db, bounds))
    weeks = weekly_series(site.db, week_starts(calendar, now, WEEKS), now)
    tz = calendar.tz
    return render(
        request,
        "sla.html.j2",
        title="Service standards",
        rows=rows,
        buckets=BUCKETS,
        chart=week_chart(weeks, tz),
        at=now.astimezone(tz),
        horizon_last=(bounds.horizon_end.astimezone(tz) - timedelta(days=1)).date(),
        tz_name=tz.key,
    )
