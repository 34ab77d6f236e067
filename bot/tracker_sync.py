"""Status sync: what each department's Open311 tracker says about the cases caredesk forwarded.

The policy (04.02, Appendix 1) has the department update the case: inspection done, action and
timeline, resident told. Open311 has no push, so every `[tracker] sync_seconds` a pass asks
each department with `tracker = "open311"`:

1. for the ids of requests its server answered with a token (`tokens/{token}.json`); an id
   that appears goes on the forward and the case (`forwarded-id` on the timeline);
2. for the requests of the open cases that have an id, many ids a call (the client falls back
   to `updated_after` for servers that refuse a list). A change of `status`, `status_notes`,
   `agency_responsible` or `expected_datetime` against what the case last recorded becomes a
   `department-update` event and the case's tracker columns; nothing else is written;
3. a request the department closed drafts the closing reply for staff (once a case; see
   bot/department_closing.py). The case is not closed: staff close it.

A request is born "open" with nothing else said, so a first answer saying just that is not
news: a `department-update` stops the follow-up ladder (issue 13), and must mean the
department did something. A pass that fails for a department (server down, refused) changes
nothing for it and does not move its `updated_after` mark: the next pass catches up. /healthz
shows the state as "tracker-sync". Logs carry department keys, references and counts only:
the department's notes can name people, so they stay on the timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import sqlite_utils

from bot.clock import Clock
from bot.config import Department
from bot.department_closing import draft_closing
from bot.health import DEGRADED, OK, STARTING, Health
from bot.policy import Policy
from bot.replies import ReplyRenderer
from bot.tracker_targets import external_link, open311_client
from storage import tracker_sync as store
from storage.db import write_transaction
from tracker.open311 import DEFAULT_TIMEOUT, Open311Client, Open311Error, RequestStatus

log = logging.getLogger(__name__)

#: The fields whose change is a department update (the issue's list).
TRACKED_FIELDS: tuple[str, ...] = (
    "status",
    "status_notes",
    "agency_responsible",
    "expected_datetime",
)
#: What a request says when it is made: the baseline before the department's first word.
BORN: Mapping[str, str | None] = {"status": "open"}
#: `updated_after` reaches back this far before the last good pass: the server's clock may lag
#: ours, and a change seen twice is recognised (it equals what the case holds).
OVERLAP = timedelta(minutes=5)
#: The /healthz channel.
HEALTH_CHANNEL = "tracker-sync"
SOURCE = "open311"


# -- pure parts ------------------------------------------------------------------------------


def _norm(name: str, value: str | None) -> str:
    text = " ".join((value or "").split())
    return text.lower() if name == "status" else text


def held_state(last: Mapping[str, Any]) -> dict[str, str | None]:
    """What the case holds from the department: its last Open311 update, else a new request."""
    source = last or BORN
    return {name: source.get(name) for name in TRACKED_FIELDS}


def changed_fields(held: Mapping[str, str | None], seen: RequestStatus) -> list[str]:
    """The tracked fields the department changed (status compared without regard to case,
    text without regard to runs of spaces)."""
    return [
        name
        for name in TRACKED_FIELDS
        if _norm(name, getattr(seen, name)) != _norm(name, held.get(name))
    ]


def is_closed(status: str | None) -> bool:
    return _norm("status", status) == "closed"


def parse_instant(text: str | None, tz: ZoneInfo) -> datetime | None:
    """A W3C datetime from the tracker; one without an offset is read in the city's zone.
    None when absent or unreadable (the event keeps the text as the server sent it)."""
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=tz)


def update_data(dept: Department, seen: RequestStatus, changed: list[str]) -> dict[str, Any]:
    """The `department-update` event's data: everything the department said, and what changed."""
    return {
        "source": SOURCE,
        "department": dept.key,
        "external_id": seen.service_request_id,
        "status": seen.status,
        "status_notes": seen.status_notes,
        "agency_responsible": seen.agency_responsible,
        "expected_datetime": seen.expected_datetime,
        "updated_datetime": seen.updated_datetime,
        "changed": changed,
    }


@dataclass
class DepartmentSync:
    """One department's pass: what it found, and what went wrong (empty: all good)."""

    department: str
    ids_resolved: int = 0
    tokens_waiting: int = 0
    checked: int = 0
    updates: int = 0
    closing_drafts: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        done = (
            f"{self.ids_resolved} id(s) resolved, {self.tokens_waiting} token(s) still waiting, "
            f"{self.checked} open case(s) checked, {self.updates} update(s) recorded, "
            f"{self.closing_drafts} closing reply(ies) drafted"
        )
        if self.ok:
            return f"{self.department}: OK, {done}"
        return f"{self.department}: " + "; ".join(self.problems) + f" ({done})"


def _failure(what: str, exc: Open311Error) -> str:
    said = f"HTTP {exc.status}: {exc.words()}" if exc.status is not None else str(exc)
    return f"{what}: {said}"[:300]


# -- the pass ----------------------------------------------------------------------------------


class TrackerSync:
    """One pass over every Open311 department, on the caller's store and HTTP session."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        policy: Policy,
        renderer: ReplyRenderer,
        session: aiohttp.ClientSession,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.db = db
        self.policy = policy
        self.renderer = renderer
        self.session = session
        self.timeout = timeout

    @property
    def departments(self) -> list[Department]:
        return [d for d in self.policy.config.departments if d.tracker == "open311"]

    async def run_once(self, now: datetime) -> list[DepartmentSync]:
        return [await self.sync_department(dept, now) for dept in self.departments]

    async def sync_department(self, dept: Department, now: datetime) -> DepartmentSync:
        out = DepartmentSync(dept.key)
        client = open311_client(self.session, dept, self.timeout)
        resolved = await self._resolve_tokens(client, dept, now, out)
        await self._sync_statuses(client, dept, now, out, resolved)
        return out

    async def _resolve_tokens(
        self, client: Open311Client, dept: Department, now: datetime, out: DepartmentSync
    ) -> set[int]:
        """Ask for the id of each token; returns the cases whose id appeared."""
        resolved: set[int] = set()
        for token in store.pending_tokens(self.db, dept.key):
            try:
                found = await client.poll_token(token.token)
            except Open311Error as exc:
                out.problems.append(_failure(f"token of {token.ref}", exc))
                if exc.retryable:  # the server is down or slow: the next pass tries them all
                    break
                continue
            if found is None:
                out.tokens_waiting += 1
                continue
            with write_transaction(self.db):
                link = external_link(dept, found)
                if store.resolve_token(self.db, token, dept.key, found, link, now):
                    out.ids_resolved += 1
                    resolved.add(token.case_id)
        return resolved

    async def _sync_statuses(
        self,
        client: Open311Client,
        dept: Department,
        now: datetime,
        out: DepartmentSync,
        resolved: set[int],
    ) -> None:
        """Read the statuses and record the changes. The `updated_after` mark moves to `now`
        only when every change was read and recorded."""
        problems = len(out.problems)
        tracked = store.tracked_cases(self.db, dept.key)
        out.checked = len(tracked)
        if tracked:
            seen = await self._statuses(client, dept, tracked, resolved, out)
            by_id = {s.service_request_id: s for s in seen or ()}
            for case in tracked:
                status = by_id.get(case.external_id)
                if status is not None:
                    self._record(dept, case, status, now, out)
        if len(out.problems) == problems:
            with write_transaction(self.db):
                store.mark_synced(self.db, dept.key, now, now)

    async def _statuses(
        self,
        client: Open311Client,
        dept: Department,
        tracked: list[store.Tracked],
        resolved: set[int],
        out: DepartmentSync,
    ) -> list[RequestStatus] | None:
        """The statuses of the tracked requests, many ids a call. For a server that refuses
        a list, `updated_after` reaches back to the last good pass, and further for a request
        whose id only appeared now (the department may have changed it any time since it was
        made), or to the first forward before any pass. None (and a problem) on failure."""
        last = store.last_synced(self.db, dept.key)
        starts = [
            datetime.fromisoformat(t.since)
            for t in tracked
            if last is None or t.case_id in resolved
        ]
        since = min([*starts, *([last] if last is not None else [])])
        try:
            return await client.statuses(
                [t.external_id for t in tracked], updated_after=since - OVERLAP
            )
        except Open311Error as exc:
            out.problems.append(_failure("requests.json", exc))
            return None

    def _record(
        self,
        dept: Department,
        case: store.Tracked,
        seen: RequestStatus,
        now: datetime,
        out: DepartmentSync,
    ) -> None:
        held = held_state(case.last)
        changed = changed_fields(held, seen)
        if not changed:
            return
        tz = self.policy.config.tz
        closed_now = "status" in changed and is_closed(seen.status)
        drafted = False
        try:
            with write_transaction(self.db):
                store.record_update(
                    self.db,
                    case.case_id,
                    update_data(dept, seen, changed),
                    tracker_status=seen.status,
                    tracker_updated_at=parse_instant(seen.updated_datetime, tz) or now,
                    expected_at=parse_instant(seen.expected_datetime, tz),
                    now=now,
                )
                if closed_now and not store.has_closing_reply(self.db, case.case_id):
                    draft_closing(
                        self.db,
                        ref=case.ref,
                        case_id=case.case_id,
                        dept=dept,
                        notes=seen.status_notes,
                        policy=self.policy,
                        renderer=self.renderer,
                        now=now,
                    )
                    drafted = True
        except Exception as exc:
            # Rolled back whole: the next pass sees the change again and tries again.
            log.exception("tracker sync: cannot record an update", extra={"ref": case.ref})
            out.problems.append(f"{case.ref}: update not recorded ({type(exc).__name__})")
            return
        out.updates += 1
        out.closing_drafts += int(drafted)


# -- serve's loop ------------------------------------------------------------------------------


async def sync_pass(syncer: TrackerSync, clock: Clock, health: Health) -> list[DepartmentSync]:
    """One pass, its outcome in /healthz: ok, or degraded naming each department's problem.
    Never raises (an unexpected error is logged and reported as degraded)."""
    try:
        reports = await syncer.run_once(clock.now())
    except Exception as exc:
        log.exception("tracker sync pass failed; trying again next time")
        health.set(HEALTH_CHANNEL, DEGRADED, f"sync failed: {type(exc).__name__}")
        return []
    failing = [r for r in reports if not r.ok]
    if failing:
        health.set(
            HEALTH_CHANNEL,
            DEGRADED,
            "; ".join(f"{r.department}: {r.problems[0]}" for r in failing)[:300],
        )
    else:
        health.set(HEALTH_CHANNEL, OK)
    for r in reports:
        if r.ids_resolved or r.updates or r.closing_drafts:
            log.info(
                "tracker sync",
                extra={
                    "department": r.department,
                    "ids_resolved": r.ids_resolved,
                    "updates": r.updates,
                    "closing_drafts": r.closing_drafts,
                },
            )
    return reports


async def run_tracker_sync(
    db: sqlite_utils.Database,
    policy: Policy,
    renderer: ReplyRenderer,
    clock: Clock,
    health: Health,
    *,
    every: float,
    stop: asyncio.Event,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """`serve`'s task: a pass at once, then one every `every` seconds until `stop` is set."""
    health.set(HEALTH_CHANNEL, STARTING)
    async with aiohttp.ClientSession(trust_env=True) as session:
        syncer = TrackerSync(db, policy, renderer, session, timeout=timeout)
        while not stop.is_set():
            await sync_pass(syncer, clock, health)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)


async def sync_now(
    db: sqlite_utils.Database,
    policy: Policy,
    renderer: ReplyRenderer,
    now: datetime,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[DepartmentSync]:
    """`caredesk tracker sync`: one pass as of `now`."""
    async with aiohttp.ClientSession(trust_env=True) as session:
        return await TrackerSync(db, policy, renderer, session, timeout=timeout).run_once(now)
