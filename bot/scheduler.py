"""The scheduler: carries out what the policy's clocks ask (bot/clock_rules.py), one pass at a
time, as of an instant it is given.

A pass reads the cases whose look is due (storage/clocks.py, one index range), and for each
case, all or nothing: plans (pure), claims each action (unique per case, action and n),
writes its timeline event and its outbox row or draft, and stores when to look next. A crash
loses nothing (an uncommitted case is still due) and repeats nothing (a restart, or a second
process, finds the claimed actions).

`due(now)` is the same plan without writing: what `caredesk due` prints. `caredesk tick`
and `caredesk serve` (every `[clocks] tick_seconds`) run `tick(now)`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from bot.clock_rules import (
    FOLLOW_UP,
    HAZARD_ALERT,
    INTERIM,
    INTERIM_CLOCKS,
    TIMELINE,
    Action,
    Plan,
    Settings,
    forwarded_at,
    opening,
    plan,
)
from bot.decide import Policy
from bot.failpoints import failpoint
from bot.intake import compose
from bot.replies import ReplyRenderer
from bot.stored_case import decision_of, submission_of
from bot.wording import human_day
from mail.follow_up import FOLLOW_UP_KIND, FollowUp, follow_up_key, follow_up_message
from mail.identity import identity_of
from storage import clocks as store
from storage.case_work import messages_of
from storage.cases import get_case
from storage.clocks import CaseClocks
from storage.db import write_transaction
from storage.outbox import enqueue, insert_draft, queue_reply

log = logging.getLogger(__name__)

DIGEST = "digest"
#: The attention flags the scheduler sets start with these words (and only those it clears).
HAZARD_FLAG = "hazard alert:"
ESCALATED_FLAG = "escalated:"
#: A pass re-plans a case after acting, at most this often (each round takes the next rung).
MAX_ROUNDS = 4
#: How long one transaction of a pass may hold the write lock (several cases a commit).
HOLD_SECONDS = 0.025


@dataclass(frozen=True)
class Done:
    """What a pass did with one action."""

    action: Action
    result: str  # "queued", "drafted", "flagged", "skipped: ..."


def settings_of(policy: Policy) -> Settings:
    config = policy.config
    return Settings(
        calendar=config.calendar(),
        sla=config.sla,
        follow_up_spacing=config.clocks.follow_up_spacing,
        notice_days_before=config.clocks.notice_days_before,
        tracked=frozenset(d.key for d in config.departments if d.tracker != "none"),
    )


class Scheduler:
    def __init__(self, db: sqlite_utils.Database, policy: Policy, renderer: ReplyRenderer):
        self.db = db
        self.policy = policy
        self.config = policy.config
        self.renderer = renderer
        self.settings = settings_of(policy)

    # -- reading ------------------------------------------------------------------------------

    def due(self, now: datetime) -> list[Action]:
        """Every action a pass at `now` would take first (one per clock and case), and the
        morning digest. Writes nothing."""
        out: list[Action] = []
        for case_id in store.due_case_ids(self.db, now, limit=1_000_000):
            case = store.case_clocks(self.db, case_id)
            if case is not None:
                out.extend(plan(case, now, self.settings).actions)
        digest = self._digest_due(now)
        if digest is not None:
            out.append(digest)
        return out

    # -- acting -------------------------------------------------------------------------------

    def tick(self, now: datetime, batch: int = 500) -> list[Done]:
        """One pass as of `now`: every case whose look is due, read `batch` ids at a time.

        Cases are committed a few at a time: one transaction holds the write lock for at most
        HOLD_SECONDS (chats on other connections wait no longer than that), and each case in
        it is a savepoint of its own, so a case that fails rolls back alone, is logged, and is
        looked at again next pass while the others go on. A crash rolls back at most the
        uncommitted cases, which the next pass takes again (claims are unique)."""
        done: list[Done] = []
        while True:
            ids = store.due_case_ids(self.db, now, limit=batch)
            pending = list(ids)
            while pending:
                with write_transaction(self.db):
                    started = time.perf_counter()
                    while pending and time.perf_counter() - started < HOLD_SECONDS:
                        done.extend(self._run_isolated(pending.pop(0), now))
            if len(ids) < batch:
                break
        digest = self._digest_due(now)
        if digest is not None:
            with write_transaction(self.db):
                done.append(self._digest(digest, now))
        return done

    def _run_isolated(self, case_id: int, now: datetime) -> list[Done]:
        try:
            return self.run_case(case_id, now)
        except Exception:
            log.exception("scheduler: case %d failed; trying again next pass", case_id)
            retry = now + timedelta(seconds=self.config.clocks.tick_seconds)
            store.set_next_look(self.db, case_id, retry)
            return []

    def run_case(self, case_id: int, now: datetime) -> list[Done]:
        """One case: its due actions (each with its event and outbox row or draft) and its
        next look, all or nothing (its own transaction, or a savepoint inside a pass's)."""
        done: list[Done] = []
        with write_transaction(self.db):
            next_look: datetime | None = None
            case = store.case_clocks(self.db, case_id)
            for _ in range(MAX_ROUNDS):
                if case is None:
                    break
                planned: Plan = plan(case, now, self.settings)
                next_look = planned.next_look
                if not planned.actions:
                    break
                for action in planned.actions:
                    if store.record_action(
                        self.db, case_id, action.action, action.n, action.due_at, now, action.detail
                    ):
                        done.append(Done(action, self._act(case, action, now)))
                        failpoint("scheduler-action")  # tests: a crash inside the transaction
                # Plan again on what the actions left (the rules read nothing else they change).
                case = acted(case, planned.actions, now)
            if next_look is not None and next_look <= now:
                # Still something to do after MAX_ROUNDS: come back next pass, not in a loop.
                log.warning("scheduler: case %d still due after a pass", case_id)
                next_look = now + timedelta(seconds=self.config.clocks.tick_seconds)
            store.set_next_look(self.db, case_id, next_look)
        return done

    def _act(self, case: CaseClocks, action: Action, now: datetime) -> str:
        if action.action == FOLLOW_UP:
            return self._follow_up(case, action, now)
        if action.action == INTERIM:
            return self._reply(case, action, now, "interim-ack")
        if action.action == TIMELINE:
            return self._reply(case, action, now, "timeline-notice", always_draft=True)
        if action.action == HAZARD_ALERT:
            return self._hazard_alert(case, action, now)
        raise ValueError(f"unknown clock action {action.action!r}")

    def _follow_up(self, case: CaseClocks, action: Action, now: datetime) -> str:
        tz = self.config.tz
        dept = self.config.department(case.department)
        roles: list[str] = list(action.detail.get("cc", []))
        next_due = datetime.fromisoformat(str(action.detail["next_due"]))
        copied: list[tuple[str, str]] = []
        cc: list[str] = []
        for role in roles:
            name = getattr(dept, f"{role}_name", "") if dept else ""
            email = getattr(dept, f"{role}_email", "") if dept else ""
            copied.append((role, name))
            if email:
                cc.append(email)
        data: dict[str, Any] = {
            "n": action.n,
            "department": case.department,
            "copied": [{"role": r, "name": n} for r, n in copied],
            "marked_for_follow_up": next_due.isoformat(),
        }
        if dept is None or not dept.email:
            data["sent"] = False
            data["why"] = "the department has no email address in the configuration"
            store.event(self.db, case.id, "follow-up-requested", now, data)
            store.set_attention(
                self.db,
                case.id,
                f"{ESCALATED_FLAG} follow-up request {action.n} could not be sent "
                "(the department has no email address): follow up by hand",
                now,
            )
            store.move_follow_up(self.db, case.id, next_due, now)
            return "skipped: the department has no email address"
        missing = [r for r in roles if not getattr(dept, f"{r}_email", "")]
        if missing:
            data["not_copied"] = missing  # configured without an address: said, not hidden
        start = forwarded_at(case, self.settings)
        assert start is not None
        subject, body, headers = follow_up_message(
            identity_of(self.config),
            FollowUp(
                ref=case.ref,
                n=action.n,
                department_name=dept.name,
                forwarded_at=start.astimezone(tz),
                follow_up_date=action.due_at.astimezone(tz),
                external_id=self._external_id(case.id),
                copied=copied,
                forward_sequence=store.latest_forward_sequence(self.db, case.id),
            ),
            cc,
        )
        enqueue(
            self.db,
            case_id=case.id,
            channel="email",
            recipient=dept.email,
            reply_kind=FOLLOW_UP_KIND,
            subject=subject,
            body=body,
            key=follow_up_key(case.ref, action.n),
            now=now,
            headers=headers,
        )
        data["sent"] = True
        store.event(self.db, case.id, "follow-up-requested", now, data)
        store.move_follow_up(self.db, case.id, next_due, now)
        if roles:
            who = " and the ".join(r.capitalize() for r in roles)
            store.set_attention(
                self.db,
                case.id,
                f"{ESCALATED_FLAG} follow-up request {action.n} to {dept.name} copied the {who}",
                now,
            )
        return "queued"

    def _external_id(self, case_id: int) -> str | None:
        row = self.db.execute("SELECT external_id FROM cases WHERE id = ?", [case_id]).fetchone()
        return None if row is None or not row[0] else str(row[0])

    def _reply(
        self,
        case: CaseClocks,
        action: Action,
        now: datetime,
        kind: str,
        *,
        always_draft: bool = False,
    ) -> str:
        """A reply to the resident through the same compose() as intake's: sent when the
        configuration lets this kind go automatically, else drafted for staff."""
        stored = get_case(self.db, case.ref)
        assert stored is not None
        stored["messages"] = messages_of(self.db, case.id)
        sub, decision = submission_of(stored), decision_of(stored)
        expected = case.expected_at
        assert expected is not None  # both replies are planned from the expected completion
        extra = {"expected_date": human_day(expected.astimezone(self.config.tz))}
        channel = "email" if sub.person.email else sub.channel
        recipient = sub.person.email.lower() if sub.person.email else sub.conversation
        out = compose(self.policy, self.renderer, case.ref, sub, decision, kind, channel, extra)
        automatic = not (
            always_draft
            or self.config.needs_review(kind)
            or stored["sensitive"]
            or not recipient
            or channel not in ("email", "web", "telegram")
        )
        if automatic:
            queue_reply(
                self.db,
                case_id=case.id,
                ref=case.ref,
                channel=channel,
                recipient=recipient,
                reply_kind=kind,
                subject=out.subject,
                body=out.body,
                now=now,
                why=action.why,
                actor="scheduler",
                headers=out.headers,
            )
            return "queued"
        deadline = self._reply_deadline(case, kind, now)
        draft_id = insert_draft(
            self.db,
            case_id=case.id,
            reply_kind=kind,
            channel=channel,
            recipient=recipient,
            subject=out.subject,
            body=out.body,
            why=action.why,
            now=now,
            due_at=deadline,
        )
        store.event(
            self.db,
            case.id,
            "draft-created",
            now,
            {"reply": kind, "channel": channel, "why": action.why, "draft": draft_id},
        )
        return "drafted"

    def _reply_deadline(self, case: CaseClocks, kind: str, now: datetime) -> datetime:
        """When a held reply must go: the interim acknowledgement by the end of its window
        (or the next business day if that passed), a timeline notice before the date."""
        cal = self.settings.calendar
        if kind == "interim-ack":
            interim = self.settings.sla[INTERIM_CLOCKS.get(case.channel, ("email-interim",))[0]]
            deadline = cal.due(interim, case.received_at)
        else:
            assert case.expected_at is not None
            deadline = case.expected_at
        return deadline if deadline > now else cal.business_days_after(now, 1)

    def _hazard_alert(self, case: CaseClocks, action: Action, now: datetime) -> str:
        assert case.hazard_due is not None
        due = case.hazard_due.astimezone(self.config.tz)
        store.set_attention(
            self.db,
            case.id,
            f"{HAZARD_FLAG} no inspection and course of action recorded by "
            f"{due:%Y-%m-%d %H:%M}; supervisor alerted",
            now,
        )
        store.event(
            self.db,
            case.id,
            HAZARD_ALERT,
            now,
            {"to": "supervisor", "due": case.hazard_due.isoformat()},
        )
        return "flagged"

    # -- the morning digest -------------------------------------------------------------------

    def _digest_due(self, now: datetime) -> Action | None:
        """The digest of cases past a standard: once a business day, from opening time."""
        to = self.config.clocks.digest_to
        if not to:
            return None
        cal = self.settings.calendar
        today = cal.local(now).date()
        if not cal.is_business_day(today) or now < opening(self.settings, today):
            return None
        if store.outbox_key_exists(self.db, digest_key(today.isoformat())):
            return None
        return Action(
            0,
            "-",
            DIGEST,
            today.toordinal(),
            opening(self.settings, today),
            f"the morning digest of cases past a standard, to {to}",
            {"day": today.isoformat()},
        )

    def _digest(self, action: Action, now: datetime) -> Done:
        day = str(action.detail["day"])
        overdue = store.overdue_cases(self.db, now)
        cases = len({o.ref for o in overdue})
        tz = self.config.tz
        lines = [
            f"Cases past a standard on {human_day(now.astimezone(tz))}: {cases}"
            + (" (the first 500 deadlines)" if len(overdue) >= 500 else ""),
            "",
        ]
        lines += [
            f"{o.ref}  {o.standard}: due {o.due.astimezone(tz):%Y-%m-%d %H:%M}" for o in overdue
        ]
        if not overdue:
            lines.append("None. Every case is within its standards.")
        lines += ["", "Open the staff pages for each case: /staff/cases?overdue=1", ""]
        enqueue(
            self.db,
            case_id=None,
            channel="email",
            recipient=self.config.clocks.digest_to,
            reply_kind="dept-digest",
            subject=f"Customer Care: {cases} case{'' if cases == 1 else 's'} "
            f"past a standard ({day})",
            body="\n".join(lines),
            key=digest_key(day),
            now=now,
        )
        return Done(action, "queued")


def acted(case: CaseClocks, actions: tuple[Action, ...], now: datetime) -> CaseClocks:
    """The case as the store holds it after `actions`: each one claimed, and a follow-up
    request's next date on the case (what _follow_up writes)."""
    claimed = tuple(store.Done(a.action, a.n, a.due_at, now, dict(a.detail)) for a in actions)
    follow_up = next(
        (
            datetime.fromisoformat(str(a.detail["next_due"]))
            for a in actions
            if a.action == FOLLOW_UP
        ),
        case.follow_up_due,
    )
    return replace(case, done=case.done + claimed, follow_up_due=follow_up)


def digest_key(day: str) -> str:
    return f"digest:{day}"


def describe(action: Action) -> str:
    """One line of `caredesk due`: case, action, why."""
    n = f" {action.n}" if action.action == FOLLOW_UP or action.n > 1 else ""
    if action.action == DIGEST:
        n = ""
    return f"{action.ref}  {action.action}{n}  (due {action.due_at.isoformat()})  {action.why}"
