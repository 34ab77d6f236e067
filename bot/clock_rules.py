"""What the policy's clocks ask for a case at an instant: pure, no I/O, no `now()`.

`plan(case, now, settings)` returns the actions due at `now`, each with the reason staff read
in `caredesk due`, and when the case must be looked at again. The scheduler
(bot/scheduler.py) carries the actions out; storage/clocks.py reads and writes the store.

The clocks (POLICY.md, Appendix 1):

- **Follow-up ladder.** A case forwarded to a department has a follow-up date (cases.
  follow_up_due: 2 weeks after forwarding unless staff set another). When it passes with no
  department update recorded since forwarding (or since the last request), a request goes to
  the department. Each request marks the file for the next one: requests 1 to 3 are
  `follow_up_spacing` business days apart; the 3rd copies the Supervisor and marks the file
  for follow-up in [sla] escalation-recheck (3) business days; the 4th copies the Director;
  after that, every business day (Supervisor and Director copied). Later requests fall due at
  the opening of a business day, so a service ticking every minute and a cron job ticking each
  morning send them on the same days. A department update stops the ladder.
- **Interim acknowledgement.** An email (or letter) case still open whose expected completion
  (cases.expected_at) is beyond its response standard (15 business days from receipt) is told
  the expected time on the 2nd (letters: 5th) business day after receipt, the last day the
  policy allows; by then the department has had a day to give its date. A date that arrives
  later is told at once.
- **Hazard inspection.** A hazard with no inspection recorded by its deadline (1 business day)
  raises an alert to the supervisor (the case's attention flag, the staff pages, the digest).
- **Timeline not met.** `notice_days_before` days before the anticipated completion date of
  an open case, a notice to the resident is drafted for staff: the reason and the new
  timeline are theirs to write. Once per anticipated date (a new date gets its own notice).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from bot.clock import BusinessCalendar, SlaRule
from storage.clocks import CaseClocks

FOLLOW_UP = "follow-up"
INTERIM = "interim-ack"
HAZARD_ALERT = "hazard-alert"
TIMELINE = "timeline-notice"

#: Kinds the city investigates: the ones forwarded to departments and answered in full.
INVESTIGATED = frozenset({"complaint", "request", "hazard"})
#: The interim acknowledgement's clock and the response standard it is measured against.
INTERIM_CLOCKS: Mapping[str, tuple[str, str]] = {
    "email": ("email-interim", "email-response"),
    "letter": ("letter-interim", "letter-response"),
}


@dataclass(frozen=True)
class Settings:
    calendar: BusinessCalendar
    sla: Mapping[str, SlaRule]
    follow_up_spacing: tuple[int, int] = (5, 5)
    notice_days_before: int = 7
    #: Departments whose cases go to a tracker (Open311, webhook, email): a case counts as
    #: forwarded once the tracker took it. Others get theirs from staff, by hand.
    tracked: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Action:
    case_id: int
    ref: str
    action: str
    n: int
    due_at: datetime
    why: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.ref,
            "action": self.action,
            "n": self.n,
            "due": self.due_at.isoformat(),
            "why": self.why,
            **{k: v for k, v in self.detail.items() if k != "next_due"},
        }


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    #: When to look at the case again (None: nothing left that a clock could ask for).
    next_look: datetime | None


def plan(case: CaseClocks, now: datetime, settings: Settings) -> Plan:
    actions: list[Action] = []
    later: list[datetime] = []
    for rule in (_follow_up, _interim, _hazard, _timeline):
        due, action = rule(case, now, settings)
        if action is not None:
            # Staff read times on the city's clock (`caredesk due`, the timeline).
            actions.append(replace(action, due_at=settings.calendar.local(action.due_at)))
        elif due is not None:
            later.append(due)
    # After acting the case is looked at again at once: the next rung is computed from the
    # state the action left (the scheduler does that in the same transaction).
    next_look = now if actions else (min(later) if later else None)
    return Plan(tuple(actions), next_look)


def _local(at: datetime, settings: Settings) -> str:
    return settings.calendar.local(at).isoformat(timespec="minutes")


def _day(at: datetime, settings: Settings) -> date:
    return settings.calendar.local(at).date()


def opening(settings: Settings, day: date) -> datetime:
    cal = settings.calendar
    return datetime.combine(day, cal.opens, tzinfo=cal.tz)


def business_opening_after(settings: Settings, at: datetime, n: int) -> datetime:
    """Opening time of the n-th business day after the local date of `at`."""
    day = _day(at, settings)
    for _ in range(n):
        day = settings.calendar.next_business_day(day)
    return opening(settings, day)


def rung_spacing(n: int, settings: Settings) -> int:
    """Business days from request n to request n+1."""
    if n <= 2:
        return settings.follow_up_spacing[n - 1]
    if n == 3:
        return settings.sla["escalation-recheck"].days
    return 1


def copies(n: int) -> tuple[str, ...]:
    """Who request n copies besides the department: the Supervisor/Division Head from the 3rd,
    the Director from the 4th."""
    if n >= 4:
        return ("supervisor", "director")
    if n == 3:
        return ("supervisor",)
    return ()


def forwarded_at(case: CaseClocks, settings: Settings) -> datetime | None:
    """When the department got the case: its tracker's receipt, or (no tracker: staff
    forward by hand) when the case was given the department."""
    if not case.department:
        return None
    if case.department in settings.tracked:
        return case.forwarded_at
    return case.forwarded_at or case.assigned_at


def follow_up_start(case: CaseClocks, settings: Settings) -> datetime | None:
    """When the next request is due. Staff's date when they set one, and once the ladder has
    started, the date each request set (both in cases.follow_up_due). Before the first
    request: 2 weeks after forwarding ([sla] follow-up), never earlier than the date intake
    wrote (2 weeks after receipt): a forward that went late moves the follow-up with it."""
    if case.follow_up_set_at is not None or case.taken(FOLLOW_UP):
        return case.follow_up_due
    start = forwarded_at(case, settings)
    if start is None:
        return case.follow_up_due
    derived = settings.calendar.due(settings.sla["follow-up"], start)
    return max(derived, case.follow_up_due) if case.follow_up_due else derived


Rule = tuple[datetime | None, Action | None]


def _follow_up(case: CaseClocks, now: datetime, settings: Settings) -> Rule:
    start = forwarded_at(case, settings)
    if case.status != "open" or case.kind not in INVESTIGATED or start is None:
        return None, None
    sent = case.taken(FOLLOW_UP)
    since = sent[-1].at if sent else start
    answered = max(case.updates) if case.updates else None
    # The department answered after the last request: the ladder stops, unless staff set a
    # new follow-up date since (a new round, from the first rung).
    restarted = case.follow_up_set_at is not None and (
        answered is None or case.follow_up_set_at > answered
    )
    if answered is not None and answered > since and not restarted:
        return None, None
    this_round = [d for d in sent if answered is None or d.at > answered]
    due = follow_up_start(case, settings)
    if this_round and case.follow_up_due is None and "next_due" in this_round[-1].detail:
        # Staff cleared the date mid-ladder: the rung the last request set still holds.
        due = datetime.fromisoformat(str(this_round[-1].detail["next_due"]))
    if due is None:
        return None, None
    if due > now:
        return due, None
    n = len(sent) + 1  # the request's number on the case (its unique key)
    level = len(this_round) + 1  # its rung on this round of the ladder
    cc = copies(level)
    if this_round:
        why = (
            f"no update from {case.department} since follow-up request {n - 1} "
            f"({_local(sent[-1].at, settings)}); the file was marked for follow-up on "
            f"{_local(due, settings)}"
        )
    elif sent:
        why = (
            f"no update from {case.department} since its last one, and the follow-up date "
            f"staff set ({_local(due, settings)}) has passed"
        )
    else:
        why = (
            f"forwarded to {case.department} on {_local(start, settings)}, no update "
            f"recorded by the follow-up date {_local(due, settings)}"
        )
    if cc:
        why += "; copies the " + " and the ".join(c.capitalize() for c in cc)
    nxt = business_opening_after(settings, now, rung_spacing(level, settings))
    detail = {
        "department": case.department,
        "cc": list(cc),
        "level": level,
        "next_due": nxt.isoformat(),
    }
    return None, Action(case.id, case.ref, FOLLOW_UP, n, due, why, detail)


def _interim(case: CaseClocks, now: datetime, settings: Settings) -> Rule:
    clocks = INTERIM_CLOCKS.get(case.channel)
    if (
        clocks is None
        or case.status != "open"
        or case.kind not in INVESTIGATED
        or case.expected_at is None
        or case.taken(INTERIM)
    ):
        return None, None
    interim, response = (settings.sla[k] for k in clocks)
    standard = settings.calendar.due(response, case.received_at)
    if case.expected_at <= standard:
        return None, None  # the full response is expected within the standard
    # On the last business day the policy allows (opening time), or at once if later.
    due = business_opening_after(settings, case.received_at, interim.days)
    if due > now:
        return due, None
    why = (
        f"{case.channel} case: completion expected {_local(case.expected_at, settings)}, beyond "
        f"the {response.days}-business-day response standard ({_local(standard, settings)}); "
        f"interim acknowledgement due within {interim.days} business days of receipt"
    )
    detail = {"expected_at": case.expected_at.isoformat()}
    return None, Action(case.id, case.ref, INTERIM, 1, due, why, detail)


def _hazard(case: CaseClocks, now: datetime, settings: Settings) -> Rule:
    if (
        case.status != "open"
        or case.hazard_due is None
        or case.hazard_checked_at is not None
        or case.taken(HAZARD_ALERT)
    ):
        return None, None
    if case.hazard_due > now:
        return case.hazard_due, None
    why = (
        "hazard: no inspection and course of action recorded by "
        f"{_local(case.hazard_due, settings)}; alert to the supervisor"
    )
    return None, Action(case.id, case.ref, HAZARD_ALERT, 1, case.hazard_due, why, {})


def _timeline(case: CaseClocks, now: datetime, settings: Settings) -> Rule:
    if case.status != "open" or case.expected_at is None:
        return None, None
    expected = case.expected_at.isoformat()
    done = case.taken(TIMELINE)
    if any(d.detail.get("expected_at") == expected for d in done):
        return None, None
    due = case.expected_at - timedelta(days=settings.notice_days_before)
    if due > now:
        return due, None
    why = (
        f"anticipated completion {_local(case.expected_at, settings)} is "
        f"{settings.notice_days_before} days away or "
        "past and the case is not resolved: notice with the reason and a new timeline, "
        "drafted for staff (copy it to the other interested parties"
        + (f", such as {case.department}" if case.department else "")
        + ")"
    )
    detail = {"expected_at": expected}
    return None, Action(case.id, case.ref, TIMELINE, len(done) + 1, due, why, detail)
