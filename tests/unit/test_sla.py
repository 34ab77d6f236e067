"""SLA board figures (storage/sla.py) with the business calendar's bounds (bot/sla_bounds.py):
buckets at day, weekend and holiday boundaries, the weekly series and the alert count.

Real SQLite stores on temporary files; `now` is a fixed instant.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlite_utils

from bot.clock import BusinessCalendar
from bot.model import Kind, Status
from bot.sla_bounds import board_bounds, week_starts
from storage.alerts_schema import ANY_RUNNING, NEXT_DUE
from storage.sla import (
    alerts_count,
    clock_figures,
    overdue_ids_sql,
    record_hazard_inspected,
    weekly_series,
)

from .staff_store import NOW, db, file_case, set_case

__all__ = ["db"]

CAL = BusinessCalendar()


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=CAL.tz)  # type: ignore[misc]


def figures(db: sqlite_utils.Database, now: datetime) -> dict[str, tuple[int, int, int]]:
    return {
        f.clock: (f.due_today, f.due_soon, f.overdue)
        for f in clock_figures(db, board_bounds(CAL, now))
    }


@pytest.mark.parametrize(
    ("now", "today_end", "horizon_end"),
    [
        # Monday: today ends at midnight; five business days on is next Monday.
        (local(2026, 3, 2, 10), local(2026, 3, 3), local(2026, 3, 10)),
        # Friday: the weekend does not count.
        (local(2026, 3, 6, 10), local(2026, 3, 7), local(2026, 3, 14)),
        # Saturday: "today" is Saturday; the five business days start Monday.
        (local(2026, 3, 7, 10), local(2026, 3, 8), local(2026, 3, 14)),
        # Thursday before Family Day (Monday 16 February 2026): the holiday does not count.
        (local(2026, 2, 12, 10), local(2026, 2, 13), local(2026, 2, 21)),
        # 23:30 on the evening clocks go forward: the local day still ends at midnight.
        (local(2026, 3, 7, 23, 30), local(2026, 3, 8), local(2026, 3, 14)),
    ],
)
def test_board_bounds_follow_the_business_calendar(
    now: datetime, today_end: datetime, horizon_end: datetime
) -> None:
    b = board_bounds(CAL, now)
    assert (b.today_end, b.horizon_end) == (today_end.astimezone(UTC), horizon_end.astimezone(UTC))


def test_buckets_per_clock(db: sqlite_utils.Database) -> None:
    friday = local(2026, 3, 6, 10)
    cob = 16, 30

    def complaint(ack: datetime, **more: datetime) -> int:
        return file_case(db, received=friday, deadlines={"complaint-ack": ack, **more})

    complaint(local(2026, 3, 6, *cob))  # due today (Friday)
    complaint(local(2026, 3, 6, 9))  # passed this morning: overdue
    complaint(local(2026, 3, 9, *cob))  # Monday: in the next five business days
    complaint(local(2026, 3, 13, *cob))  # the fifth business day: still in
    complaint(local(2026, 3, 16, *cob))  # the sixth: not counted
    met = complaint(local(2026, 3, 5, *cob))  # passed, but acknowledged: not overdue
    set_case(db, met, acked_at=local(2026, 3, 5, 12).astimezone(UTC).isoformat())
    file_case(
        db,
        received=friday,
        kind=Kind.HAZARD,
        deadlines={"hazard-inspection": local(2026, 3, 6, 9)},
    )
    inspected = file_case(
        db,
        received=friday,
        kind=Kind.HAZARD,
        deadlines={"hazard-inspection": local(2026, 3, 6, 9)},
    )
    with db.atomic():
        assert record_hazard_inspected(db, inspected, "staff@city.example", friday)
        assert not record_hazard_inspected(db, inspected, "staff@city.example", friday)
    closed = file_case(db, received=friday, deadlines={"follow-up": local(2026, 3, 6, 9)})
    set_case(db, closed, status="closed")
    file_case(db, received=friday, deadlines={"follow-up": local(2026, 3, 20, *cob)})
    file_case(db, received=friday, deadlines={"email-response": local(2026, 3, 10, *cob)})
    assert figures(db, friday) == {
        "acknowledgement": (1, 2, 1),
        "response": (0, 1, 0),
        "follow-up": (0, 0, 0),
        "hazard inspection": (0, 0, 1),
    }
    # One acknowledgement and one hazard inspection overdue: two cases past a standard.
    assert alerts_count(db, friday) == 2
    # After close of business Friday the "due today" one has passed too.
    assert figures(db, local(2026, 3, 6, 17))["acknowledgement"] == (0, 2, 2)
    assert alerts_count(db, local(2026, 3, 6, 17)) == 3


def test_a_case_past_two_standards_is_one_alert(db: sqlite_utils.Database) -> None:
    case_id = file_case(
        db,
        deadlines={
            "complaint-ack": NOW - timedelta(hours=2),
            "hazard-inspection": NOW - timedelta(hours=1),
        },
    )
    assert alerts_count(db, NOW) == 1
    set_case(db, case_id, status=Status.CLOSED.value)  # closing stops every clock
    assert alerts_count(db, NOW) == 0


def test_weekly_series(db: sqlite_utils.Database) -> None:
    now = local(2026, 3, 4, 12)  # Wednesday
    weeks = week_starts(CAL, now)
    assert len(weeks) == 13
    assert weeks[-2] == local(2026, 3, 2).astimezone(UTC)  # this week's Monday
    assert weeks[-1] == local(2026, 3, 9).astimezone(UTC)
    assert weeks[0] == local(2025, 12, 15).astimezone(UTC)
    # Last week: one on time, one late, one never acknowledged (overdue now).
    last = local(2026, 2, 24, 10)
    due = local(2026, 2, 25, 16, 30)
    on_time = file_case(db, received=last, deadlines={"complaint-ack": due})
    late = file_case(db, received=last, deadlines={"complaint-ack": due})
    file_case(db, received=last, deadlines={"complaint-ack": due})
    set_case(db, on_time, acked_at=local(2026, 2, 24, 11).astimezone(UTC).isoformat())
    set_case(db, late, acked_at=local(2026, 2, 26, 9).astimezone(UTC).isoformat())
    # This week: one received, not yet due.
    file_case(db, received=local(2026, 3, 2, 9), deadlines={"complaint-ack": local(2026, 3, 5)})
    # Sunday 23:59 local belongs to last week, not this one (UTC says Monday already).
    file_case(db, received=local(2026, 3, 1, 23, 59))
    series = weekly_series(db, weeks, now)
    assert len(series) == 12
    assert [(w.received, w.acknowledged_in_time, w.overdue) for w in series[-2:]] == [
        (4, 1, 2),
        (1, 0, 0),
    ]
    assert all(w.received == 0 for w in series[:-2])


def kept_weeks(db: sqlite_utils.Database) -> list[str]:
    return [r[0] for r in db.execute("SELECT week_start FROM sla_weeks ORDER BY week_start")]


def test_weeks_are_kept_once_they_can_no_longer_change(db: sqlite_utils.Database) -> None:
    monday = local(2026, 3, 2, 9)  # last week has ended; its Friday case is due today
    friday = local(2026, 2, 27, 14)
    case_id = file_case(db, received=friday, deadlines={"complaint-ack": local(2026, 3, 2, 16, 30)})
    weeks = week_starts(CAL, monday)
    first = weekly_series(db, weeks, monday)
    assert [(w.received, w.acknowledged_in_time, w.overdue) for w in first[-2:]] == [
        (1, 0, 0),
        (0, 0, 0),
    ]
    # The ten empty weeks before are final; last week is not (a deadline is still ahead).
    last_week = local(2026, 2, 23).astimezone(UTC).isoformat()
    assert len(kept_weeks(db)) == 10 and last_week not in kept_weeks(db)
    assert weekly_series(db, weeks, monday) == first
    # Acknowledged late, on Tuesday: from then on last week is final, and kept.
    tuesday = local(2026, 3, 3, 10)
    set_case(db, case_id, acked_at=tuesday.astimezone(UTC).isoformat())
    later = weekly_series(db, week_starts(CAL, tuesday), tuesday)
    assert (later[-2].received, later[-2].acknowledged_in_time, later[-2].overdue) == (1, 0, 1)
    assert last_week in kept_weeks(db)
    assert weekly_series(db, week_starts(CAL, tuesday), tuesday) == later


def test_the_alert_index_counts_the_same_cases_as_the_overdue_list(
    db: sqlite_utils.Database,
) -> None:
    """alerts_count reads one index of each case's earliest running deadline
    (storage/alerts_schema.py); it must count exactly the cases `overdue_ids_sql` lists, for
    every status, acknowledgement, inspection and deadline past, ahead or absent."""
    rng = random.Random(11)
    past, ahead = NOW - timedelta(hours=3), NOW + timedelta(hours=3)
    keys = ("complaint-ack", "email-response", "follow-up", "hazard-inspection")
    statuses = [s.value for s in Status]
    for _ in range(300):
        deadlines = {k: rng.choice((past, ahead)) for k in keys if rng.random() < 0.6}
        case_id = file_case(db, received=NOW - timedelta(days=1), deadlines=deadlines)
        changes: dict[str, object] = {"status": rng.choice(statuses)}
        if rng.random() < 0.4:
            changes["acked_at"] = (NOW - timedelta(days=1)).isoformat()
        if rng.random() < 0.3:
            changes["hazard_checked_at"] = (NOW - timedelta(hours=5)).isoformat()
        set_case(db, case_id, **changes)
    sql, params = overdue_ids_sql(NOW)
    listed = db.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]
    assert 0 < listed < 300
    assert alerts_count(db, NOW) == listed
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT count(*) FROM cases INDEXED BY cases_next_due "
        f"WHERE {ANY_RUNNING} AND {NEXT_DUE} < ?",
        [NOW.isoformat()],
    ).fetchall()
    assert "SEARCH cases USING INDEX cases_next_due (<expr><?)" in str(plan)
