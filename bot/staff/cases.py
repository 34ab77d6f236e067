"""The case pages: `/staff/cases` (search and filters, a GET form) and `/staff/cases/{ref}`
(the resident's details, the five items, the rules that fired, the timeline) with its actions.

Every action is a POST (CSRF-checked by the middleware), role-checked, and one write
transaction holding the change, its timeline event and its audit row. Closing follows the
policy ("Closing a Call"): never while something is unresolved (bot/staff/case_view.py:
`unresolved`), and a case with Council or CAO involvement only by a supervisor or an admin;
closing drafts the closing reply for review. A reply written on the case page becomes a
draft in the review queue, like every reply the policy holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.clock import BusinessCalendar
from bot.decide import Policy
from bot.explain import decided_trace, format_trace
from bot.forwarding import forward_if_due
from bot.intake import compose
from bot.model import KIND_LABELS, Kind, Status
from bot.place import Place, PlaceError, read_place, shared_location
from bot.replies import ReplyRenderer
from bot.scheduler import HAZARD_FLAG
from bot.sla_bounds import board_bounds
from bot.staff.access import (
    PREFIX,
    ROLE_RANK,
    STAFF,
    actor_of,
    audit_action,
    audit_view,
    current_staff,
    render,
    require_role,
    small_int,
)
from bot.staff.case_view import (
    attachments,
    council_involved,
    items_of,
    past_standards,
    timeline,
    unresolved,
)
from bot.stored_case import decision_of, submission_of
from bot.survey import offer_survey
from bot.wording import human_day
from mail.identity import identity_of
from storage import case_work
from storage.case_work import CONTACT_FIELDS, ITEM_COLUMNS, CaseState, case_state
from storage.cases import add_event, get_case
from storage.clocks import clear_attention, set_expected, set_follow_up
from storage.db import write_transaction
from storage.departments import change_department, department_of
from storage.forwards import forwards_of_case, supersede_pending
from storage.outbox import insert_draft
from storage.search import CaseFilter, DueWindow, search_cases
from storage.sla import record_hazard_inspected
from storage.staff import get_staff_by_id, list_staff
from storage.surveys import survey_answers
from storage.tracker_sync import has_closing_reply

PAGE_SIZE = 25
#: How many earlier pages "Previous page" can walk back through (keyset pages keep a trail).
TRAIL_MAX = 40
CHANNELS = ("email", "web", "telegram", "console")
#: `due=<clock>:<bucket>`, the SLA board's links.
DUE_CLOCKS = {
    "ack": "ack_due",
    "response": "response_due",
    "follow_up": "follow_up_due",
    "hazard": "hazard_due",
}
DUE_BUCKETS = ("today", "week", "overdue")
#: A reply staff write on the case page: reviewed like every held reply (config `[review]`;
#: a kind not listed there is always reviewed).
STAFF_REPLY = "staff-reply"
CLOSING = "closing"
MAX_TEXT = 10_000


@dataclass(frozen=True)
class CaseTools:
    """What the case actions need beyond StaffSite: the policy's config and the templates,
    for the closing reply, and the business calendar for bounds and deadlines."""

    policy: Policy
    renderer: ReplyRenderer
    calendar: BusinessCalendar


TOOLS = web.AppKey("case_tools", CaseTools)


def install_cases(app: web.Application) -> None:
    """Routes of the case pages; `install_staff` calls this once."""
    config = app[STAFF].config
    app[TOOLS] = CaseTools(Policy.from_config(config), ReplyRenderer(), config.calendar())
    app.router.add_get(f"{PREFIX}/cases", cases_page)
    app.router.add_get(f"{PREFIX}/cases/{{ref}}", case_page)
    for action, handler in (
        ("reply", reply_post),
        ("note", note_post),
        ("assign", assign_post),
        ("sensitive", sensitive_post),
        ("correct", correct_post),
        ("status", status_post),
        ("inspected", inspected_post),
        ("department", department_post),
        ("expected", expected_post),
        ("follow-up", follow_up_post),
    ):
        app.router.add_post(f"{PREFIX}/cases/{{ref}}/{action}", handler)


# -- the list -----------------------------------------------------------------------------------


def _due_window(
    request: web.Request, value: str, errors: list[tuple[str, str]]
) -> DueWindow | None:
    if not value:
        return None
    clock, _, bucket = value.partition(":")
    if clock not in DUE_CLOCKS or bucket not in DUE_BUCKETS:
        errors.append(("due", "Choose a deadline from the list"))
        return None
    now = request.app[STAFF].clock.now()
    bounds = board_bounds(request.app[TOOLS].calendar, now)
    column = DUE_CLOCKS[clock]
    if bucket == "today":
        return DueWindow(column, bounds.now, bounds.today_end)
    if bucket == "week":
        return DueWindow(column, bounds.today_end, bounds.horizon_end)
    return DueWindow(column, None, bounds.now)


def _int_list(value: str) -> list[int]:
    found = (small_int(v) for v in value.split(","))
    return [v for v in found if v is not None][-TRAIL_MAX:]


@require_role("agent")
async def cases_page(request: web.Request) -> web.StreamResponse:
    site = request.app[STAFF]
    q = request.query
    form = {
        k: q.get(k, "").strip()[:200]
        for k in ("ref", "status", "kind", "channel", "department", "text", "due", "overdue")
    }
    errors: list[tuple[str, str]] = []
    for field, allowed in (
        ("status", [s.value for s in Status]),
        ("kind", [k.value for k in Kind]),
        ("channel", CHANNELS),
    ):
        if form[field] and form[field] not in allowed:
            errors.append((field, f"Choose a {field} from the list"))
            form[field] = ""
    due = _due_window(request, form["due"], errors)
    before = small_int(q.get("before"))
    trail = _int_list(q.get("trail", ""))
    f = CaseFilter(
        ref=form["ref"] or None,
        status=form["status"] or None,
        kind=form["kind"] or None,
        channel=form["channel"] or None,
        department=form["department"] or None,
        overdue=form["overdue"] == "1",
        text=form["text"] or None,
        due=due,
    )
    now = site.clock.now()
    page = search_cases(site.db, f, now, limit=PAGE_SIZE, before=before)
    if f.text:  # what was searched for is not recorded, only that a search happened
        audit_action(request, "searched-cases", detail={"results": len(page.rows)})
    kept = {k: v for k, v in form.items() if v}
    next_url = prev_url = None
    if page.next_before is not None:
        next_trail = [*trail, before or 0][-TRAIL_MAX:]
        next_url = _list_url({**kept, "before": str(page.next_before), "trail": _join(next_trail)})
    if before is not None:
        back = trail[-1] if trail else 0
        prev_url = _list_url(
            {**kept, **({"before": str(back)} if back else {}), "trail": _join(trail[:-1])}
        )
    tz = site.config.tz
    rows = [
        {
            **r.__dict__,
            "received": datetime.fromisoformat(r.received_at).astimezone(tz),
            "past": past_standards(r.__dict__, now),
        }
        for r in page.rows
    ]
    return render(
        request,
        "cases.html.j2",
        status=400 if errors else 200,
        errors=errors,
        form=form,
        rows=rows,
        next_url=next_url,
        prev_url=prev_url,
        page_number=len(trail) + 1,
        statuses=[s.value for s in Status],
        kinds=[k.value for k in Kind],
        channels=CHANNELS,
        due_clocks=list(DUE_CLOCKS),
        due_buckets=DUE_BUCKETS,
        title="Cases",
    )


def _join(values: list[int]) -> str:
    return ",".join(str(v) for v in values)


def _list_url(params: dict[str, str]) -> str:
    return f"{PREFIX}/cases?" + urlencode({k: v for k, v in params.items() if v})


# -- one case -----------------------------------------------------------------------------------


def _state_or_404(request: web.Request) -> CaseState:
    state = case_state(request.app[STAFF].db, request.match_info["ref"])
    if state is None:
        raise web.HTTPNotFound(text="No such case.")
    return state


def _case_view(
    request: web.Request,
    errors: list[tuple[str, str]] | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> web.Response:
    site = request.app[STAFF]
    state = _state_or_404(request)
    case = get_case(site.db, state.ref)
    assert case is not None
    events = case_work.events_of(site.db, state.id)
    messages = case_work.messages_of(site.db, state.id)
    notes = case_work.notes_of(site.db, state.id)
    corrections = case_work.corrections_of(site.db, state.id)
    staff = list_staff(site.db)
    names = {s.email: s.name for s in staff}
    by_id = {s.id: s.name for s in staff}
    now = site.clock.now()
    tz = site.config.tz
    trace = decided_trace(events)
    work = case_work.open_work(site.db, state.id)
    audit_view(request, "case", state.ref)
    me = current_staff(request)
    return render(
        request,
        "case.html.j2",
        status=status,
        errors=errors or [],
        form=form or {},
        case=case,
        state=state,
        person={"name": None, "email": None, "phone": None, **(case["person"] or {})},
        items=items_of(case),
        fired=[t for t in trace if t.get("fired")],
        trace_text="\n".join(format_trace(trace)),
        hits=case["rules"],
        entries=timeline(case, events, messages, notes, corrections, names, by_id, now, tz),
        notes=list(notes.values()),
        files=attachments(events, messages),
        drafts=case_work.drafts_of(site.db, state.id),
        survey=survey_answers(site.db, state.id),
        outbox=case_work.outbox_of(site.db, state.id),
        staff_list=[s for s in staff if not s.disabled],
        assigned=by_id.get(state.assigned_to) if state.assigned_to else None,
        council=council_involved(state),
        past=past_standards(case, now),
        unresolved=unresolved(state, work),
        may_close=ROLE_RANK[me.role] >= ROLE_RANK["supervisor"] or not council_involved(state),
        statuses=[s.value for s in Status],
        kinds=[k.value for k in Kind],
        departments=site.config.departments,
        department=site.config.department(case["department"]),
        forwards=forwards_of_case(site.db, state.id),
        item_columns=list(ITEM_COLUMNS),
        done=request.query.get("done", ""),
        local=lambda value: datetime.fromisoformat(value).astimezone(tz) if value else None,
        title=f"Case {state.ref}",
    )


@require_role("agent")
async def case_page(request: web.Request) -> web.StreamResponse:
    return _case_view(request)


async def _form(request: web.Request) -> dict[str, str]:
    """The posted fields; a field over MAX_TEXT is refused in words, never cut short (a
    note or reply silently missing its end is worse than being asked to shorten it)."""
    data = await request.post()
    form = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    long = [k for k, v in form.items() if len(v) > MAX_TEXT]
    if long:
        errors = [
            (k, f"This is too long: at most {MAX_TEXT:,} characters. Shorten it and try again.")
            for k in long
        ]
        page = _case_view(request, errors, 400, form)
        raise web.HTTPBadRequest(text=page.text, content_type="text/html")
    return form


#: One address, nothing that could make a second recipient or a second header line.
_ONE_ADDRESS = re.compile(r"[^\s@,;<>\"()\[\]]+@[^\s@,;<>\"()\[\]]+\.[^\s@,;<>\"()\[\]]+")


def _done(state: CaseState, what: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{PREFIX}/cases/{state.ref}?done={what}#done")


def _audit(
    request: web.Request,
    action: str,
    state: CaseState,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    audit_action(request, action, target_kind="case", target=state.ref, detail=detail, now=now)


def _draft(
    request: web.Request,
    state: CaseState,
    kind: str,
    why: str,
    now: datetime,
    body: str | None = None,
    extra: dict[str, Any] | None = None,
) -> int:
    """A reply held for review on the channel the case came from (email when the resident
    gave an address, as intake does), due one business day from now."""
    site, tools = request.app[STAFF], request.app[TOOLS]
    case = get_case(site.db, state.ref)
    assert case is not None
    case["messages"] = case_work.messages_of(site.db, state.id)
    sub, decision = submission_of(case), decision_of(case)
    channel = "email" if sub.person.email else sub.channel
    recipient = sub.person.email or sub.conversation
    label = KIND_LABELS[decision.kind]
    if body is None:
        out = compose(tools.policy, tools.renderer, state.ref, sub, decision, kind, channel, extra)
        subject, text = out.subject, out.body
    else:
        fallback = f"About your {label} [{state.ref}]"
        subject = (
            identity_of(site.config).reply_subject(state.ref, sub.subject, fallback)
            if channel == "email"
            else fallback
        )
        text = body
    actor, staff_id = actor_of(request)
    draft_id = insert_draft(
        site.db,
        case_id=state.id,
        reply_kind=kind,
        channel=channel,
        recipient=recipient,
        subject=subject,
        body=text,
        why=why,
        now=now,
        due_at=tools.calendar.business_days_after(now, 1),
        author_id=staff_id,
    )
    add_event(
        site.db,
        state.id,
        "draft-created",
        actor,
        now,
        {"reply": kind, "channel": channel, "why": why, "draft": draft_id},
    )
    return draft_id


@require_role("agent")
async def reply_post(request: web.Request) -> web.StreamResponse:
    state = _state_or_404(request)
    form = await _form(request)
    text = form.get("reply", "").strip()
    if not text:
        return _case_view(request, [("reply", "Write the reply")], 400, form)
    site = request.app[STAFF]
    now = site.clock.now()
    me = current_staff(request)
    with write_transaction(site.db):
        draft_id = _draft(
            request, state, STAFF_REPLY, f"written by {me.name} on the case page", now, body=text
        )
        _audit(request, "drafted-reply", state, now, {"draft": draft_id})
    raise _done(state, "reply")


@require_role("agent")
async def note_post(request: web.Request) -> web.StreamResponse:
    state = _state_or_404(request)
    form = await _form(request)
    text = form.get("note", "").strip()
    if not text:
        return _case_view(request, [("note", "Write the note")], 400, form)
    site = request.app[STAFF]
    now = site.clock.now()
    actor, staff_id = actor_of(request)
    with write_transaction(site.db):
        note_id = case_work.add_note(site.db, state.id, actor, staff_id, text, now)
        _audit(request, "added-note", state, now, {"note": note_id})
    raise _done(state, "note")


@require_role("agent")
async def assign_post(request: web.Request) -> web.StreamResponse:
    state = _state_or_404(request)
    form = await _form(request)
    site = request.app[STAFF]
    value = form.get("staff", "")
    target_id = small_int(value)
    target = get_staff_by_id(site.db, target_id) if target_id is not None else None
    if value and (target is None or target.disabled):
        return _case_view(request, [("staff", "Choose a staff member from the list")], 400, form)
    staff_id = target.id if target else None
    now = site.clock.now()
    actor, _ = actor_of(request)
    with write_transaction(site.db):
        case_work.assign(site.db, state, actor, staff_id, now)
        _audit(request, "assigned-case", state, now, {"to": staff_id})
    raise _done(state, "assign")


@require_role("agent")
async def sensitive_post(request: web.Request) -> web.StreamResponse:
    state = _state_or_404(request)
    form = await _form(request)
    value = form.get("sensitive", "")
    if value not in ("yes", "no"):
        return _case_view(request, [("sensitive", "Choose sensitive or not sensitive")], 400)
    site = request.app[STAFF]
    now = site.clock.now()
    actor, _ = actor_of(request)
    with write_transaction(site.db):
        case_work.set_sensitive(site.db, state, actor, value == "yes", now)
        _audit(
            request, "marked-sensitive" if value == "yes" else "marked-not-sensitive", state, now
        )
    raise _done(state, "sensitive")


_COORDINATES = re.compile(r"\s*(-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*")


def staff_place(said: str) -> Place:
    """The place staff typed: "43.6532, -79.3832" as coordinates, else as a resident's
    answer is read (an address, two streets, or a landmark). Raises PlaceError in words."""
    found = _COORDINATES.fullmatch(said)
    if found:
        return shared_location(float(found.group(1)), float(found.group(2)))
    return read_place(said)


@require_role("agent")
async def correct_post(request: web.Request) -> web.StreamResponse:
    """Correct the kind, or one item: what, when, who, outcome, the contact details, or where
    it is."""
    state = _state_or_404(request)
    form = await _form(request)
    site = request.app[STAFF]
    field = form.get("field", "")
    now = site.clock.now()
    actor, staff_id = actor_of(request)
    if field == "kind":
        kind = form.get("kind", "")
        if kind not in {k.value for k in Kind}:
            return _case_view(request, [("kind", "Choose a kind from the list")], 400, form)
        if kind == state.kind:
            raise _done(state, "unchanged")
        with write_transaction(site.db):
            case_work.correct_kind(site.db, state, actor, kind, now)
            _audit(request, "corrected-kind", state, now, {"old": state.kind, "new": kind})
        raise _done(state, "kind")
    if field == "contact":
        contact = {f: (form.get(f"contact-{f}", "").strip() or None) for f in CONTACT_FIELDS}
        email = contact.get("email")
        if email is not None and not _ONE_ADDRESS.fullmatch(email):
            message = "Enter one email address, like name@example.org, or leave it empty"
            return _case_view(request, [("contact-email", message)], 400, form)
        with write_transaction(site.db):
            ids = case_work.correct_contact(site.db, state, actor, staff_id, contact, now)
            if ids:
                _audit(
                    request, "corrected-item", state, now, {"item": "contact", "corrections": ids}
                )
        raise _done(state, "contact" if ids else "unchanged")
    if field == "place":
        said = form.get("item-place", "").strip()
        try:
            place = staff_place(said) if said else None
        except PlaceError as exc:
            return _case_view(request, [("item-place", str(exc))], 400, form)
        with write_transaction(site.db):
            correction = case_work.correct_place(
                site.db,
                state,
                actor,
                staff_id,
                place.to_json() if place else None,
                place.text if place else None,
                now,
            )
            _audit(
                request, "corrected-item", state, now, {"item": "place", "correction": correction}
            )
        raise _done(state, "place")
    if field not in ITEM_COLUMNS:
        return _case_view(request, [("field", "Choose what to correct")], 400, form)
    value = form.get(f"item-{field}", "").strip() or None
    with write_transaction(site.db):
        correction = case_work.correct_item(site.db, state, actor, staff_id, field, value, now)
        _audit(request, "corrected-item", state, now, {"item": field, "correction": correction})
    raise _done(state, field)


@require_role("agent")
async def status_post(request: web.Request) -> web.StreamResponse:
    state = _state_or_404(request)
    form = await _form(request)
    site = request.app[STAFF]
    status = form.get("status", "")
    if status not in {s.value for s in Status}:
        return _case_view(request, [("status", "Choose a status from the list")], 400, form)
    if status == state.status:
        raise _done(state, "unchanged")
    now = site.clock.now()
    actor, _ = actor_of(request)
    if status == Status.CLOSED:
        me = current_staff(request)
        if council_involved(state) and ROLE_RANK[me.role] < ROLE_RANK["supervisor"]:
            audit_action(
                request,
                "close-refused",
                target_kind="case",
                target=state.ref,
                detail={"why": "council"},
            )
            message = (
                "Only a supervisor can close a case that involves Council or the CAO. "
                "Ask a supervisor to close it."
            )
            return _case_view(request, [("status", message)], 403, form)
        with write_transaction(site.db):
            # Read again under the write lock: nothing can change between the check and the close.
            state = case_state(site.db, state.ref) or state
            reasons = unresolved(state, case_work.open_work(site.db, state.id))
            if not reasons:
                case_work.set_status(site.db, state, actor, status, now)
                resolution = form.get("resolution", "").strip() or None
                # One closing reply: status sync may have drafted it when the department
                # closed its request (bot/tracker_sync.py).
                draft_id = (
                    None
                    if has_closing_reply(site.db, state.id)
                    else _draft(
                        request,
                        state,
                        CLOSING,
                        "the closing reply, drafted when the case was closed",
                        now,
                        extra={"resolution": resolution},
                    )
                )
                # Seed 000: the satisfaction survey, in the same transaction (bot/survey.py).
                tools = request.app[TOOLS]
                why = offer_survey(
                    site.db, tools.policy, tools.renderer, state.ref, state.status, now
                )
                detail = {"draft": draft_id, "survey": why or "queued"}
                _audit(request, "closed-case", state, now, detail)
        if reasons:
            audit_action(
                request,
                "close-refused",
                target_kind="case",
                target=state.ref,
                detail={"why": "unresolved", "count": len(reasons)},
            )
            errors = [("status", f"The case cannot be closed yet. {r}") for r in reasons]
            return _case_view(request, errors, 400, form)
        raise _done(state, "closed")
    with write_transaction(site.db):
        case_work.set_status(site.db, state, actor, status, now)
        _audit(request, "changed-status", state, now, {"old": state.status, "new": status})
    raise _done(state, "status")


#: The reply that tells the resident what will be done about a hazard, and by when.
HAZARD_UPDATE = "hazard-update"


@require_role("agent")
async def inspected_post(request: web.Request) -> web.StreamResponse:
    """The hazard was inspected and the course of action identified (POLICY.md: inspected,
    course of action identified, resident updated, within 1 business day). Stops the hazard
    clock (storage/sla.py) and drafts the reply that tells the resident what will be done and
    by when. The course of action is kept as a note (it may name people, and notes are erased
    with the case's personal data); the timeline event names the note and the date."""
    state = _state_or_404(request)
    if not state.hazard_due:
        return _case_view(request, [("inspected", "This case has no hazard to inspect.")], 400)
    if state.hazard_checked_at:
        raise _done(state, "unchanged")
    form = await _form(request)
    site = request.app[STAFF]
    now = site.clock.now()
    tz = site.config.tz
    action = form.get("action", "").strip()
    by_text = form.get("by", "").strip()
    errors: list[tuple[str, str]] = []
    if not action:
        errors.append(("action", "Write what will be done about the hazard"))
    by: date | None = None
    try:
        by = date.fromisoformat(by_text) if by_text else None
    except ValueError:
        by = None
    if by is None:
        errors.append(("by", "Enter the date it will be done by, like 2026-12-04"))
    elif by < now.astimezone(tz).date():
        errors.append(("by", "The date it will be done by cannot be in the past"))
    if errors or by is None:
        return _case_view(request, errors, 400, form)
    actor, staff_id = actor_of(request)
    with write_transaction(site.db):
        if record_hazard_inspected(site.db, state.id, actor, now):
            note_id = case_work.add_note(
                site.db, state.id, actor, staff_id, f"Course of action: {action}", now
            )
            add_event(
                site.db,
                state.id,
                "hazard-action",
                actor,
                now,
                {"note": note_id, "by": by.isoformat()},
            )
            clear_attention(site.db, state.id, HAZARD_FLAG)
            draft_id = _draft(
                request,
                state,
                HAZARD_UPDATE,
                "the resident is told what will be done about the hazard and by when",
                now,
                extra={"resolution": action, "expected_date": human_day(by_day(by, tz))},
            )
            _audit(request, "recorded-inspection", state, now, {"draft": draft_id})
    raise _done(state, "inspected")


@require_role("agent")
async def expected_post(request: web.Request) -> web.StreamResponse:
    """Staff set the anticipated completion date (issue 13: "the department's expected
    date, or staff's"): close of business that day. The scheduler reads it for the interim
    acknowledgement and the one-week notice (bot/clock_rules.py)."""
    state = _state_or_404(request)
    form = await _form(request)
    site = request.app[STAFF]
    now = site.clock.now()
    day = _future_day(request, form, "expected", "anticipated completion date")
    if isinstance(day, web.Response):
        return day
    at = request.app[TOOLS].calendar.close_of_business(day)
    actor, _ = actor_of(request)
    with write_transaction(site.db):
        old = set_expected(site.db, state.id, at, now)
        if old != at:
            add_event(
                site.db,
                state.id,
                "expected-date-set",
                actor,
                now,
                {"old": old.isoformat() if old else None, "new": at.isoformat()},
            )
            _audit(request, "set-expected-date", state, now, {"new": at.isoformat()})
    raise _done(state, "expected" if old != at else "unchanged")


def _future_day(
    request: web.Request, form: dict[str, str], field: str, what: str
) -> date | web.Response:
    """The date in `field`, today or later in the city; else the page with the error."""
    tz = request.app[STAFF].config.tz
    try:
        day = date.fromisoformat(form.get(field, "").strip())
    except ValueError:
        return _case_view(request, [(field, f"Enter the {what}, like 2027-01-29")], 400, form)
    if day < request.app[STAFF].clock.now().astimezone(tz).date():
        return _case_view(request, [(field, f"The {what} cannot be in the past")], 400, form)
    return day


@require_role("agent")
async def follow_up_post(request: web.Request) -> web.StreamResponse:
    """Staff set the follow-up date ("2 weeks after forwarding unless staff set another"):
    close of business that day. After a department's update it starts a new round of the
    follow-up ladder (bot/clock_rules.py)."""
    state = _state_or_404(request)
    form = await _form(request)
    day = _future_day(request, form, "follow-up", "follow-up date")
    if isinstance(day, web.Response):
        return day
    site = request.app[STAFF]
    now = site.clock.now()
    at = request.app[TOOLS].calendar.close_of_business(day)
    actor, _ = actor_of(request)
    with write_transaction(site.db):
        set_follow_up(site.db, state.id, at, actor, now)
        _audit(request, "set-follow-up-date", state, now, {"new": at.isoformat()})
    raise _done(state, "follow-up")


def by_day(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(12, 0), tzinfo=tz)


@require_role("agent")
async def department_post(request: web.Request) -> web.StreamResponse:
    """Staff choose the department responsible (or none). The timeline event records the old
    and the new department, and the case is forwarded to the new department's tracker."""
    state = _state_or_404(request)
    form = await _form(request)
    site = request.app[STAFF]
    value = form.get("department", "")
    if value and site.config.department(value) is None:
        return _case_view(request, [("department", "Choose a department from the list")], 400, form)
    new = value or None
    now = site.clock.now()
    actor, _ = actor_of(request)
    with write_transaction(site.db):
        old = department_of(site.db, state.id)
        if old != new:
            change_department(site.db, state.id, actor, new, now)
            # A change re-forwards (issue 12): a forward not yet sent is superseded, and the
            # case goes to the new department's tracker, if it has one.
            supersede_pending(site.db, state.id, now)
            forward_if_due(site.db, site.config, state.id, now)
            _audit(request, "changed-department", state, now, {"old": old, "new": new})
    raise _done(state, "department" if old != new else "unchanged")
