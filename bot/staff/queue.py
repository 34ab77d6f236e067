"""The review queue (`/staff/`, the page after sign-in) and one draft's page.

The queue lists every pending draft, the one whose deadline comes first on top; a draft near
its deadline is marked in words as well as colour, and drafts past it raise an alert at the
top of the page. A draft's page shows the draft beside the resident's message and the case;
its forms edit, approve and send, send back or reject (bot/staff/review.py does each in one
transaction). After any action on a draft the next one in the queue opens, so a reviewer
can work the queue from the keyboard: the outcome is said at the top of the next page.

Forms carry the draft's revision: approving a text that changed, or a draft someone else
already handled, gives a message and never a second send.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.sla_bounds import near_deadline_bound
from bot.staff import review
from bot.staff.access import (
    ID,
    PREFIX,
    STAFF,
    StaffSite,
    audit_action,
    audit_view,
    current_staff,
    render,
    require_role,
    small_int,
)
from storage.draft_review import (
    DraftRecord,
    approved_by,
    did_outcome,
    edited_drafts,
    get_draft,
    inbound_messages,
    makers,
    next_pending,
    outbox_of_draft,
    refs_of,
    returned_to_staff,
)
from storage.review import review_queue
from storage.staff import StaffAccount, get_staff_by_id

#: Outcome codes a redirect carries to the next page, and how that page says them.
DONE = {
    "approved": "Approved and sent: the reply for {ref} is in the outbox.",
    "saved": "Your changes to the draft for {ref} are saved.",
    "sent-back": "The draft for {ref} was sent back to its author with your comment.",
    "rejected": "The draft for {ref} was rejected. Nothing was sent.",
    "resubmitted": "Your revised draft for {ref} is back in the queue for review.",
}
CHANNELS = {"email": "Email", "web": "Web chat", "telegram": "Telegram", "console": "Terminal"}
SKIPPED = {
    "edited": "was edited: open it to read the changes, then approve it on its own",
    "handled": "was already handled by someone else",
    "refused": "needs a second person",
    "unknown": "is not a draft waiting for review",
}


def install_queue(app: web.Application) -> None:
    """The queue's routes (install_staff calls this once)."""
    app.router.add_get(f"{PREFIX}/", queue_page)
    app.router.add_post(f"{PREFIX}/drafts/approve", bulk_approve)
    app.router.add_get(f"{PREFIX}/drafts/{{draft_id:{ID}}}", draft_page)
    app.router.add_post(f"{PREFIX}/drafts/{{draft_id:{ID}}}", draft_post)
    app.router.add_post(f"{PREFIX}/drafts/{{draft_id:{ID}}}/send-back", send_back_post)
    app.router.add_post(f"{PREFIX}/drafts/{{draft_id:{ID}}}/reject", reject_post)


# -- showing times -----------------------------------------------------------------------------


def _local(site: StaffSite, stored: str | None) -> datetime | None:
    return datetime.fromisoformat(stored).astimezone(site.config.tz) if stored else None


def when(site: StaffSite, stored: str | None) -> dict[str, str] | None:
    """A stored instant as the page shows it: machine-readable and in the city's time."""
    at = _local(site, stored)
    if at is None:
        return None
    return {"iso": at.isoformat(), "text": at.strftime("%a %d %b, %H:%M")}


def waited(since: datetime, now: datetime) -> str:
    """How long something has waited, in words a glance can read: 3 days, 5 hours, 12 min."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes >= 2 * 24 * 60:
        return f"{minutes // (24 * 60)} days"
    if minutes >= 120:
        return f"{minutes // 60} hours"
    return f"{minutes} min"


def _reviewer(request: web.Request) -> review.Reviewer:
    return review.Reviewer(current_staff(request))


def _int(value: Any) -> int | None:
    return small_int(value)


# -- the queue ---------------------------------------------------------------------------------


@require_role("agent")
async def queue_page(request: web.Request) -> web.StreamResponse:
    site = request.app[STAFF]
    now = site.clock.now()
    near = near_deadline_bound(site.config.calendar(), now)
    after = None
    due, after_id = request.query.get("after_due", ""), _int(request.query.get("after_id"))
    if due and after_id is not None:
        after = (due[:40], after_id)
    page = review_queue(site.db, now, near, after=after)
    edited = edited_drafts(site.db, [i.draft_id for i in page.items])
    rows = [
        {
            "item": item,
            "due": when(site, item.due_at),
            "since": when(site, item.created_at),
            "waited": waited(now - timedelta(seconds=item.waited_seconds), now),
            "channel_label": CHANNELS.get(item.channel, item.channel),
            "case_channel_label": CHANNELS.get(item.case_channel, item.case_channel),
            "unchanged": item.draft_id not in edited,
        }
        for item in page.items
    ]
    first_overdue = next((i for i in page.items if i.overdue), None)
    me = current_staff(request)
    returned = [
        {**r, "due": when(site, r["due_at"]), "by": (r["reviewed_by"] or "").removeprefix("staff:")}
        for r in returned_to_staff(site.db, me.id)
    ]
    # The queue shows each resident's message: say whose (by draft id), not only how many.
    shown = [i.draft_id for i in page.items]
    audit_action(request, "viewed-queue", detail={"drafts": len(rows), "shown": shown})
    next_link = None
    if page.next_after is not None:
        next_link = "?" + urlencode(
            {"after_due": page.next_after[0], "after_id": page.next_after[1]}
        )
    return render(
        request,
        "queue.html.j2",
        title="Drafts waiting for review",
        page=page,
        rows=rows,
        first_overdue=first_overdue,
        returned=returned,
        notices=_notices(request),
        bulk=_bulk_summary(request),
        none_selected="none_selected" in request.query,
        next_link=next_link,
        two_person=site.config.two_person,
    )


def _notices(request: web.Request) -> list[str]:
    """The outcome of the action that led here (`?done=approved&ref=CD-...`)."""
    done = request.query.get("done", "")
    ref = request.query.get("ref", "")[:40]
    me = current_staff(request)
    if done in DONE and ref and did_outcome(request.app[STAFF].db, ref, done, me.id, _actor(me)):
        return [DONE[done].format(ref=ref)]
    return []


def _actor(me: StaffAccount) -> str:
    return review.Reviewer(me).actor


def _bulk_summary(request: web.Request) -> dict[str, Any] | None:
    if request.query.get("done") != "bulk":
        return None
    site = request.app[STAFF]

    def ids(name: str) -> list[int]:
        found = [_int(v) for v in request.query.get(name, "").split(",")[:200]]
        return [i for i in found if i is not None]

    # Only what this reviewer really approved: the address is anyone's to write.
    approved = approved_by(site.db, ids("approved"), _actor(current_staff(request)))
    skipped = [(k, ids(k)) for k in SKIPPED]
    refs = refs_of(site.db, approved + [i for _, group in skipped for i in group])
    return {
        "approved": [refs.get(i, f"draft {i}") for i in approved],
        "skipped": [
            (refs.get(i, f"draft {i}"), SKIPPED[reason], i)
            for reason, group in skipped
            for i in group
        ],
    }


@require_role("agent")
async def bulk_approve(request: web.Request) -> web.StreamResponse:
    """Approve the selected drafts that nobody changed; every other one is named and left."""
    site = request.app[STAFF]
    form = await request.post()
    chosen = [i for i in (_int(v) for v in form.getall("draft", [])[:200]) if i is not None]
    who = _reviewer(request)
    approved: list[int] = []
    skipped: dict[str, list[int]] = {k: [] for k in SKIPPED}
    for draft_id in dict.fromkeys(chosen):
        draft = get_draft(site.db, draft_id)
        if draft is None:
            skipped["unknown"].append(draft_id)
            continue
        if draft.status == "pending" and (draft.revision > 0 or draft.author_id is not None):
            skipped["edited"].append(draft_id)
            continue
        try:
            review.approve(site.db, site.config, draft_id, 0, who, site.clock.now())
        except review.Stale:
            skipped["handled"].append(draft_id)
        except review.ReviewError:
            skipped["refused"].append(draft_id)
        else:
            approved.append(draft_id)
    if not chosen:
        raise web.HTTPSeeOther(f"{PREFIX}/?none_selected=1")
    query = {"done": "bulk", "approved": ",".join(map(str, approved))}
    query.update({k: ",".join(map(str, v)) for k, v in skipped.items() if v})
    raise web.HTTPSeeOther(f"{PREFIX}/?{urlencode(query)}#done")


# -- one draft ---------------------------------------------------------------------------------


def _draft_or_404(request: web.Request) -> DraftRecord:
    site = request.app[STAFF]
    draft = get_draft(site.db, int(request.match_info["draft_id"]))
    if draft is None:
        raise web.HTTPNotFound(text="There is no such draft.")
    return draft


@require_role("agent")
async def draft_page(request: web.Request) -> web.StreamResponse:
    return _draft_view(request, _draft_or_404(request))


def _draft_view(
    request: web.Request,
    draft: DraftRecord,
    *,
    status: int = 200,
    errors: list[tuple[str, str]] | None = None,
    form: dict[str, str] | None = None,
    problem: str | None = None,
) -> web.Response:
    site = request.app[STAFF]
    me = current_staff(request)
    now = site.clock.now()
    near = near_deadline_bound(site.config.calendar(), now)
    due_at = draft.due_at
    overdue = due_at is not None and datetime.fromisoformat(due_at) <= now
    near_flag = due_at is not None and not overdue and datetime.fromisoformat(due_at) < near
    draft_makers = makers(site.db, draft)
    second = review.needs_second_person(site.config, draft)
    returned_by = None
    if draft.returned_to is not None:
        account = get_staff_by_id(site.db, draft.returned_to)
        returned_by = account.name if account else None
    sent = outbox_of_draft(site.db, draft.id) if draft.status == "approved" else None
    audit_view(request, "draft", str(draft.id), {"ref": draft.ref})
    return render(
        request,
        "draft.html.j2",
        status=status,
        errors=errors or [],
        title=f"Draft reply for {draft.ref}",
        draft=draft,
        form=form or {"subject": draft.subject, "body": draft.body},
        messages=[
            {**m, "when": when(site, m["at"]), "label": CHANNELS.get(m["channel"], m["channel"])}
            for m in inbound_messages(site.db, draft.case_id)
        ],
        due=when(site, due_at),
        created=when(site, draft.created_at),
        received=when(site, draft.received_at),
        overdue=overdue,
        near=near_flag,
        waited=waited(datetime.fromisoformat(draft.created_at), now),
        second_person=second,
        i_edited=me.id in draft_makers,
        may_approve=not (second and me.id in draft_makers),
        returned_to_name=returned_by,
        mine_to_revise=draft.status == "returned" and draft.returned_to == me.id,
        sent=sent,
        channel_label=CHANNELS.get(draft.channel, draft.channel),
        case_channel_label=CHANNELS.get(draft.case_channel, draft.case_channel),
        notices=_notices(request),
        problem=problem,
    )


def _next(after: int, done: str, ref: str) -> web.HTTPSeeOther:
    """The next draft in the queue (or the queue itself when it is empty), saying what was
    done to the last one."""
    # `#done`: the next page opens at the outcome (focus starts there for a keyboard or
    # screen reader user), and the draft's forms follow it.
    site_query = urlencode({"done": done, "ref": ref})
    return (
        web.HTTPSeeOther(f"{PREFIX}/?{site_query}#done")
        if after < 0
        else web.HTTPSeeOther(f"{PREFIX}/drafts/{after}?{site_query}#done")
    )


def _go_next(request: web.Request, handled: int, done: str, ref: str) -> web.HTTPSeeOther:
    following = next_pending(request.app[STAFF].db, skip=handled)
    return _next(following if following is not None else -1, done, ref)


async def _revision(request: web.Request) -> tuple[Any, int]:
    form = await request.post()
    revision = _int(form.get("revision"))
    if revision is None:
        raise web.HTTPBadRequest(text="The form is missing the draft's revision.")
    return form, revision


def _refused(
    request: web.Request,
    draft_id: int,
    exc: review.ReviewError,
    field: str,
    form: dict[str, str] | None = None,
) -> web.Response:
    """The draft page again, with what went wrong at the top (409 when someone else acted)."""
    draft = get_draft(request.app[STAFF].db, draft_id)
    if draft is None:
        raise web.HTTPNotFound(text="There is no such draft.")
    status = 409 if isinstance(exc, review.Stale) else 400
    if isinstance(exc, review.Stale):
        return _draft_view(request, draft, status=status, problem=str(exc))
    return _draft_view(request, draft, status=status, errors=[(field, str(exc))], form=form)


@require_role("agent")
async def draft_post(request: web.Request) -> web.StreamResponse:
    """The draft's own form: "Approve and send" (with the text as shown) or "Save changes".
    Sending cannot be undone, so only an explicit `action=approve` sends; anything else
    (Enter pressed in the subject, a form without the button's value) saves."""
    site = request.app[STAFF]
    draft_id = int(request.match_info["draft_id"])
    form, revision = await _revision(request)
    subject, body = str(form.get("subject", "")), str(form.get("body", ""))
    who = _reviewer(request)
    typed = {"subject": subject, "body": body}
    if form.get("action") != "approve":
        try:
            before = get_draft(site.db, draft_id)
            review.edit(site.db, draft_id, revision, who, subject, body, site.clock.now())
        except review.ReviewError as exc:
            return _refused(request, draft_id, exc, "body", typed)
        ref = before.ref if before else ""
        if before is not None and before.status == "returned":
            raise _go_next(request, draft_id, "resubmitted", ref)
        raise web.HTTPSeeOther(
            f"{PREFIX}/drafts/{draft_id}?{urlencode({'done': 'saved', 'ref': ref})}#done"
        )
    try:
        done = review.approve(
            site.db,
            site.config,
            draft_id,
            revision,
            who,
            site.clock.now(),
            subject=subject,
            body=body,
        )
    except review.ReviewError as exc:
        return _refused(request, draft_id, exc, "approve", typed)
    raise _go_next(request, draft_id, "approved", done.ref)


@require_role("agent")
async def send_back_post(request: web.Request) -> web.StreamResponse:
    return await _close_draft(request, review.send_back, "comment", "sent-back")


@require_role("agent")
async def reject_post(request: web.Request) -> web.StreamResponse:
    return await _close_draft(request, review.reject, "reason", "rejected")


async def _close_draft(
    request: web.Request, act: Callable[..., str], field: str, outcome: str
) -> web.StreamResponse:
    """Send back (with a comment) or reject (with a reason): the draft leaves the queue
    unsent, and the next one opens."""
    site = request.app[STAFF]
    draft_id = int(request.match_info["draft_id"])
    form, revision = await _revision(request)
    try:
        ref = act(
            site.db,
            draft_id,
            revision,
            _reviewer(request),
            str(form.get(field, "")),
            site.clock.now(),
        )
    except review.ReviewError as exc:
        return _refused(request, draft_id, exc, field)
    raise _go_next(request, draft_id, outcome, ref)
