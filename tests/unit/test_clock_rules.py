"""The clock rules (bot/clock_rules.py): pure, no store; each case a table row."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.clock import DEFAULT_SLA, BusinessCalendar
from bot.clock_rules import (
    FOLLOW_UP,
    HAZARD_ALERT,
    INTERIM,
    TIMELINE,
    Settings,
    copies,
    plan,
    rung_spacing,
)
from storage.clocks import CaseClocks, Done

TZ = ZoneInfo("America/Toronto")
SETTINGS = Settings(BusinessCalendar(), DEFAULT_SLA, (5, 5), 7)
#: Monday 30 November 2026, 10:00.
RECEIVED = datetime(2026, 11, 30, 10, 0, tzinfo=TZ)


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ)


CASE = CaseClocks(
    id=1,
    ref="CD-2026-000001",
    kind="complaint",
    status="open",
    channel="email",
    department="roads",
    received_at=RECEIVED,
    follow_up_due=at(date(2026, 12, 14), 16, 30),
    expected_at=None,
    hazard_due=None,
    hazard_checked_at=None,
    forwarded_at=RECEIVED,
    updates=(),
    done=(),
)


def request(n: int, sent: datetime) -> Done:
    return Done(FOLLOW_UP, n, sent, sent, {})


def names(case: CaseClocks, now: datetime) -> list[tuple[str, int]]:
    return [(a.action, a.n) for a in plan(case, now, SETTINGS).actions]


def test_nothing_before_the_follow_up_date_and_the_next_look_is_that_date() -> None:
    result = plan(CASE, at(date(2026, 12, 14), 16, 0), SETTINGS)
    assert result.actions == ()
    assert result.next_look == CASE.follow_up_due


def test_the_first_request_when_the_follow_up_date_passes() -> None:
    (action,) = plan(CASE, at(date(2026, 12, 14), 16, 31), SETTINGS).actions
    assert (action.action, action.n, action.detail["cc"]) == (FOLLOW_UP, 1, [])
    assert "no update recorded by the follow-up date" in action.why
    # The next request: 5 business days later, at opening time.
    assert action.detail["next_due"] == at(date(2026, 12, 21), 8, 30).isoformat()


def test_without_a_follow_up_date_it_is_two_weeks_after_forwarding() -> None:
    case = replace(CASE, follow_up_due=None, forwarded_at=at(date(2026, 12, 1), 11))
    assert plan(case, at(date(2026, 12, 15), 16), SETTINGS).next_look == at(
        date(2026, 12, 15), 16, 30
    )
    assert names(case, at(date(2026, 12, 15), 17)) == [(FOLLOW_UP, 1)]


@pytest.mark.parametrize(
    ("n", "spacing", "cc"),
    [
        (1, 5, ()),
        (2, 5, ()),
        (3, 3, ("supervisor",)),
        (4, 1, ("supervisor", "director")),
        (9, 1, ("supervisor", "director")),
    ],
)
def test_the_ladder(n: int, spacing: int, cc: tuple[str, ...]) -> None:
    assert rung_spacing(n, SETTINGS) == spacing
    assert copies(n) == cc


def test_the_spacing_of_requests_1_to_3_is_configurable() -> None:
    settings = replace(SETTINGS, follow_up_spacing=(2, 4))
    assert [rung_spacing(n, settings) for n in (1, 2, 3, 4)] == [2, 4, 3, 1]


def test_a_department_update_after_the_last_request_stops_the_ladder() -> None:
    sent = at(date(2026, 12, 15))
    case = replace(CASE, done=(request(1, sent),), follow_up_due=at(date(2026, 12, 22), 8, 30))
    assert names(case, at(date(2026, 12, 22))) == [(FOLLOW_UP, 2)]
    answered = replace(case, updates=(sent + timedelta(days=2),))
    assert names(answered, at(date(2026, 12, 22))) == []
    assert plan(answered, at(date(2026, 12, 22)), SETTINGS).next_look is None
    # An update before the last request does not count: it was already chased.
    old = replace(case, updates=(sent - timedelta(days=1),))
    assert names(old, at(date(2026, 12, 22))) == [(FOLLOW_UP, 2)]


@pytest.mark.parametrize(
    "change",
    [
        {"status": "closed"},
        {"department": None},
        {"forwarded_at": None},
        {"kind": "feedback"},
    ],
)
def test_no_ladder_for_cases_not_forwarded_or_not_open(change: dict[str, object]) -> None:
    case = replace(CASE, **change)  # type: ignore[arg-type]
    assert names(case, at(date(2027, 1, 4))) == []


def test_interim_acknowledgement_only_when_completion_is_beyond_the_standard() -> None:
    # 15 business days after Monday 30 November: Monday 21 December.
    within = replace(CASE, expected_at=at(date(2026, 12, 21), 16, 0), follow_up_due=None)
    beyond = replace(within, expected_at=at(date(2027, 1, 29), 17))
    day_1, day_2 = at(date(2026, 12, 1)), at(date(2026, 12, 2))
    assert names(within, day_2) == []
    assert names(beyond, day_1) == []
    assert plan(beyond, day_1, SETTINGS).next_look == at(date(2026, 12, 2), 8, 30)
    assert names(beyond, day_2) == [(INTERIM, 1)]
    assert names(replace(beyond, channel="web"), day_2) == []
    assert names(replace(beyond, done=(Done(INTERIM, 1, day_2, day_2, {}),)), day_2) == []


def test_a_letter_has_five_business_days_for_its_interim_acknowledgement() -> None:
    letter = replace(
        CASE, channel="letter", expected_at=at(date(2027, 1, 29), 17), follow_up_due=None
    )
    assert plan(letter, at(date(2026, 12, 1)), SETTINGS).next_look == at(date(2026, 12, 7), 8, 30)


def test_hazard_alert_once_when_the_inspection_deadline_passes() -> None:
    due = at(date(2026, 12, 1), 16, 30)
    hazard = replace(CASE, kind="hazard", hazard_due=due, follow_up_due=None, forwarded_at=None)
    assert names(hazard, due - timedelta(minutes=1)) == []
    assert plan(hazard, due - timedelta(minutes=1), SETTINGS).next_look == due
    assert names(hazard, due) == [(HAZARD_ALERT, 1)]
    assert names(replace(hazard, hazard_checked_at=due), due + timedelta(days=1)) == []
    alerted = replace(hazard, done=(Done(HAZARD_ALERT, 1, due, due, {}),))
    assert names(alerted, due + timedelta(days=1)) == []


def test_timeline_notice_a_week_before_each_anticipated_date() -> None:
    expected = at(date(2027, 1, 29), 17)
    case = replace(CASE, channel="web", expected_at=expected, follow_up_due=None, forwarded_at=None)
    week_before = expected - timedelta(days=7)
    assert names(case, week_before - timedelta(minutes=1)) == []
    assert plan(case, at(date(2027, 1, 20)), SETTINGS).next_look == week_before
    assert names(case, week_before) == [(TIMELINE, 1)]
    noticed = replace(
        case,
        done=(Done(TIMELINE, 1, week_before, week_before, {"expected_at": expected.isoformat()}),),
    )
    assert names(noticed, expected) == []
    moved = replace(noticed, expected_at=expected + timedelta(days=28))
    assert names(moved, expected + timedelta(days=21)) == [(TIMELINE, 2)]


def test_a_cleared_follow_up_date_mid_ladder_keeps_the_rung_the_last_request_set() -> None:
    sent = at(date(2026, 12, 15))
    done = Done(FOLLOW_UP, 1, sent, sent, {"next_due": at(date(2026, 12, 22), 8, 30).isoformat()})
    case = replace(CASE, done=(done,), follow_up_due=None)
    assert names(case, at(date(2026, 12, 21))) == []
    assert names(case, at(date(2026, 12, 22))) == [(FOLLOW_UP, 2)]


def test_after_an_update_a_follow_up_date_set_by_staff_starts_a_new_round() -> None:
    """The department answered after request 4 (Director copied); staff set a new follow-up
    date: the next request is number 5 on the case but the first rung of a new round, so it
    copies nobody, and the round climbs the ladder again."""
    sent = [request(n, at(date(2027, 1, 5 + n))) for n in range(1, 5)]
    answered = at(date(2027, 1, 11), 14)
    case = replace(
        CASE,
        done=tuple(sent),
        updates=(answered,),
        follow_up_due=at(date(2027, 2, 1), 16, 30),
    )
    assert names(case, at(date(2027, 2, 2))) == []  # stopped: staff set nothing since
    restarted = replace(case, follow_up_set_at=answered + timedelta(days=1))
    (action,) = plan(restarted, at(date(2027, 2, 2)), SETTINGS).actions
    assert (action.n, action.detail["level"], action.detail["cc"]) == (5, 1, [])
    assert "follow-up date staff set" in action.why
    assert action.detail["next_due"] == at(date(2027, 2, 9), 8, 30).isoformat()
    third = replace(
        restarted,
        done=(*sent, request(5, at(date(2027, 2, 2))), request(6, at(date(2027, 2, 9)))),
        follow_up_due=at(date(2027, 2, 16), 8, 30),
    )
    (action,) = plan(third, at(date(2027, 2, 16)), SETTINGS).actions
    assert (action.n, action.detail["level"], action.detail["cc"]) == (7, 3, ["supervisor"])


def test_a_tracked_department_is_chased_only_after_its_tracker_took_the_case() -> None:
    tracked = replace(SETTINGS, tracked=frozenset({"roads"}))
    waiting = replace(CASE, forwarded_at=None, assigned_at=RECEIVED)
    assert plan(waiting, at(date(2026, 12, 15)), tracked).actions == ()
    # Without a tracker staff forward by hand: the department's assignment is the forward.
    assert names(waiting, at(date(2026, 12, 15))) == [(FOLLOW_UP, 1)]
    # Taken late, on 4 December: the follow-up moves to two weeks after that.
    late = replace(waiting, forwarded_at=at(date(2026, 12, 4), 11))
    assert plan(late, at(date(2026, 12, 15)), tracked).next_look == at(date(2026, 12, 18), 16, 30)
    # A date staff set wins, even an earlier one.
    staff = replace(late, follow_up_set_at=at(date(2026, 12, 7)))
    assert [a.n for a in plan(staff, at(date(2026, 12, 15)), tracked).actions] == [1]
