"""The closing reply drafted when a department closes its service request.

Why a draft and not a reply: the department's note is written for the city, not for the
resident, and the policy (Appendix 1) has staff tell the resident what was done. So the reply
is rendered like every other closing reply (the same `compose()` as intake and the case page,
so its wording, subject and threading match) with the department's note quoted and named as
theirs, and it waits in the review queue. The case stays open: staff close it.
"""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from bot.config import Department
from bot.intake import compose
from bot.policy import Policy
from bot.replies import ReplyRenderer
from bot.stored_case import decision_of, submission_of
from storage import case_work
from storage.cases import add_event, get_case
from storage.outbox import insert_draft
from storage.tracker_sync import ACTOR, CLOSING


def resolution(dept: Department, notes: str | None) -> str:
    """What was done, in the department's own words and clearly theirs."""
    said = " ".join((notes or "").split())
    if not said:
        return f"{dept.name} told us the work is finished."
    return f"{dept.name} told us the work is finished. Their note says: \u201c{said}\u201d"


def why_drafted(dept: Department) -> str:
    return (
        f"{dept.name} closed its service request; check the department's note in the reply, "
        "then close the case"
    )


def draft_closing(
    db: sqlite_utils.Database,
    *,
    ref: str,
    case_id: int,
    dept: Department,
    notes: str | None,
    policy: Policy,
    renderer: ReplyRenderer,
    now: datetime,
) -> int:
    """Draft the closing reply on the channel the case came from (email when the resident
    gave an address, as the case page does), due one business day from now. Runs inside the
    caller's write transaction; returns the draft's id."""
    case = get_case(db, ref)
    if case is None:
        raise LookupError(f"no case {ref}")
    case["messages"] = case_work.messages_of(db, case_id)
    sub, decision = submission_of(case), decision_of(case)
    channel = "email" if sub.person.email else sub.channel
    recipient = sub.person.email or sub.conversation
    out = compose(
        policy,
        renderer,
        ref,
        sub,
        decision,
        CLOSING,
        channel,
        {"resolution": resolution(dept, notes)},
    )
    why = why_drafted(dept)
    draft_id = insert_draft(
        db,
        case_id=case_id,
        reply_kind=CLOSING,
        channel=channel,
        recipient=recipient,
        subject=out.subject,
        body=out.body,
        why=why,
        now=now,
        due_at=policy.calendar.business_days_after(now, 1),
    )
    add_event(
        db,
        case_id,
        "draft-created",
        ACTOR,
        now,
        {"reply": CLOSING, "channel": channel, "why": why, "draft": draft_id},
    )
    return draft_id
