"""The SLA board's chart and cells (bot/staff/sla.py), pure: axis steps, bar heights in
proportion, week labels in the city's time, and the case list links of each cell."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from bot.staff.sla import HEIGHT, TOP, board_rows, nice_ceiling, week_chart
from storage.sla import ClockFigures, WeekFigures

TORONTO = ZoneInfo("America/Toronto")


@pytest.mark.parametrize(
    ("value", "top", "step"),
    [
        (0, 4, 1),
        (3, 4, 1),
        (5, 6, 2),
        (9, 10, 5),
        (17, 20, 5),
        (40, 40, 10),
        (19_234, 20_000, 5000),
    ],
)
def test_axis_top_and_step(value: int, top: int, step: int) -> None:
    assert nice_ceiling(value) == (top, step)


def test_bars_are_in_proportion_and_weeks_in_local_time() -> None:
    weeks = [
        # Monday 00:00 in Toronto is 05:00 UTC in November.
        WeekFigures("2026-11-16T05:00:00+00:00", 40, 30, 10),
        WeekFigures("2026-11-23T05:00:00+00:00", 20, 20, 0),
    ]
    chart = week_chart(weeks, TORONTO)
    assert [w.label for w in chart.weeks] == ["16 Nov", "23 Nov"]
    received, in_time, overdue = chart.weeks[0].bars
    assert received.height == pytest.approx(chart.bottom - TOP)  # 40 is the axis top
    assert in_time.height == pytest.approx(received.height * 30 / 40)
    assert overdue.height == pytest.approx(received.height / 4)
    assert all(b.y + b.height == pytest.approx(chart.bottom) for b in chart.weeks[0].bars)
    assert chart.bottom < HEIGHT
    assert [t.value for t in chart.ticks] == [0, 10, 20, 30, 40]
    assert "60 cases received, 50 acknowledged within the standard, 10 overdue" in chart.summary
    # Each series is told apart by its pattern, not only its colour.
    assert len({b.fill for b in chart.weeks[0].bars}) == 3


def test_each_cell_links_to_its_list() -> None:
    rows = board_rows([ClockFigures("follow-up", "follow_up_due", 1, 2, 3)])
    assert [(c.bucket, c.count, c.href) for c in rows[0].cells] == [
        ("today", 1, "/staff/cases?due=follow_up:today"),
        ("week", 2, "/staff/cases?due=follow_up:week"),
        ("overdue", 3, "/staff/cases?due=follow_up:overdue"),
    ]
