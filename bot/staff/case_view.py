"""What the case page shows, in words: the timeline, the deadlines met or missed, the rules
that fired, the attachments, and what still stops the case from being closed. Pure: the
handler (bot/staff/cases.py) reads the store and passes the rows and `now` in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from bot.model import ITEMS
from storage.case_work import CaseState

#: Rules whose firing means Council or the CAO is involved (bot/policy.py): such a case is
#: closed only by a supervisor (POLICY.md, "Closing a Call").
COUNCIL_RULES = frozenset({"council-decision", "council-cao-ombudsman"})

#: The five items (policy 04.01), as staff read them.
ITEM_NAMES = {
    "what": "What happened",
    "when": "When",
    "who": "Who was involved",
    "outcome": "Outcome sought",
    "contact": "Contact details",
    "place": "Where it is",
}

#: The deadline columns, as the SLA board names the clocks.
CLOCK_NAMES = {
    "ack_due": "Acknowledgement",
    "response_due": "Response",
    "follow_up_due": "Follow-up",
    "hazard_due": "Hazard inspection",
}


#: Statuses whose response, follow-up and hazard clocks still run (storage/staff_schema.py).
_OPEN = ("open", "unreadable")


def past_standards(case: Mapping[str, Any], now: datetime) -> list[str]:
    """The standards a case is past at `now`: each clock that still runs (storage/sla.py's
    definition, the one the header's alert count uses) with its deadline behind it."""
    status = case.get("status")
    running = {
        "ack_due": not case.get("acked_at") and status != "closed",
        "response_due": status in _OPEN,
        "follow_up_due": status in _OPEN,
        "hazard_due": status in _OPEN and not case.get("hazard_checked_at"),
    }
    past = []
    for column, name in CLOCK_NAMES.items():
        due = case.get(column)
        if running[column] and due and datetime.fromisoformat(due) < now:
            past.append(name.lower())
    return past


def council_involved(case: CaseState) -> bool:
    """Council or the CAO (or the Ombudsman) is involved: the case is out of scope as a
    Council decision, a rule naming them fired when it was decided (a record staff cannot
    change), or staff marked it sensitive."""
    return case.out_of_scope == "council" or case.sensitive or bool(COUNCIL_RULES & set(case.rules))


def unresolved(case: CaseState, work: Mapping[str, int]) -> list[str]:
    """Why the case cannot be closed yet, from the data that exists; empty when it can."""
    reasons = []
    if case.missing:
        names = ", ".join(ITEM_NAMES.get(m, m).lower() for m in case.missing)
        reasons.append(f"Items are missing: {names}. Correct them on this page first.")
    if work.get("drafts"):
        reasons.append(
            f"{work['drafts']} drafted repl{'y is' if work['drafts'] == 1 else 'ies are'} "
            "waiting for review."
        )
    if work.get("outbox"):
        reasons.append(
            f"{work['outbox']} repl{'y has' if work['outbox'] == 1 else 'ies have'} not been "
            "sent yet."
        )
    if case.hazard_due and not case.hazard_checked_at:
        reasons.append("The hazard inspection has not been recorded.")
    return reasons


@dataclass(frozen=True)
class Entry:
    """One line of the timeline."""

    at: datetime
    title: str
    actor: str
    detail: str | None = None
    body: str | None = None
    style: str = "event"  # event | in | out | deadline-met | deadline-missed | deadline-due


def _local(value: str, tz: tzinfo) -> datetime:
    return datetime.fromisoformat(value).astimezone(tz)


def _who(actor: str, names: Mapping[str, str]) -> str:
    if actor.startswith("staff:"):
        return names.get(actor[len("staff:") :], actor[len("staff:") :])
    return {"policy": "caredesk (policy)"}.get(actor, actor)


#: The forwarding events (storage/forwards.py), in words.
FORWARD_EVENTS = frozenset(
    {
        "forward-queued",
        "forwarded",
        "forward-failed",
        "forward-retried",
        "forward-superseded",
        "department-mail-sent",
    }
)


def _forward_words(kind: str, data: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    dept = data.get("department") or "the department"
    if kind == "forward-queued":
        return f"Queued for {dept} ({data.get('target')})", None, None
    if kind == "forwarded":
        if data.get("external_id"):
            return f"Forwarded to {dept}", f"their id: {data['external_id']}", None
        if data.get("token"):
            return f"Forwarded to {dept}", "their id is not known yet (token)", None
        return f"Forwarded to {dept}", None, None
    if kind == "forward-failed":
        return f"Forward to {dept} failed", str(data.get("error", "")) or None, None
    if kind == "forward-retried":
        return f"Forward to {dept} retried", None, None
    if kind == "forward-superseded":
        return f"Forward to {dept} cancelled: the department changed", None, None
    return "Mail sent to the department", str(data.get("mail", "")) or None, None


def _event_words(
    event: Mapping[str, Any],
    notes: Mapping[int, Mapping[str, Any]],
    corrections: Mapping[int, Mapping[str, Any]],
    staff_by_id: Mapping[int, str],
) -> tuple[str, str | None, str | None]:
    """(title, detail, body) for one timeline event."""
    kind, data = event["type"], event["data"]
    if kind == "received":
        return f"Received by {data.get('channel', '?')}", None, None
    if kind == "decided":
        missing = ", ".join(data.get("missing") or []) or "nothing"
        return (
            f"Decided: {data.get('kind')}, {data.get('status')}",
            f"Missing items: {missing}",
            None,
        )
    if kind == "flagged":
        return "Flagged for staff", str(data.get("reason", "")), None
    if kind == "attachments":
        n = len(data.get("files") or [])
        return f"{n} file{'' if n == 1 else 's'} attached", None, None
    if kind == "draft-created":
        return f"Reply drafted for review: {data.get('reply')}", data.get("why"), None
    if kind == "reply-queued":
        return f"Reply queued: {data.get('reply')} by {data.get('channel')}", data.get("why"), None
    if kind == "note-added":
        note = notes.get(int(data.get("note", 0)), {})
        return "Note added", None, note.get("body")
    if kind == "assigned":
        to = data.get("to")
        return (f"Assigned to {staff_by_id.get(int(to), '?')}" if to else "Unassigned"), None, None
    if kind == "marked-sensitive":
        return "Marked sensitive", None, None
    if kind == "marked-not-sensitive":
        return "Marked not sensitive", None, None
    if kind == "kind-corrected":
        return f"Kind corrected from {data.get('old')} to {data.get('new')}", None, None
    if kind == "item-corrected":
        ids = data.get("corrections") or [data.get("correction")]
        lines = []
        for cid in ids:
            c = corrections.get(int(cid or 0))
            if c:
                lines.append(
                    f"{c['field']}: from “{c['old'] or '(empty)'}” to “{c['new'] or '(empty)'}”"
                )
        item = ITEM_NAMES.get(str(data.get("item")), str(data.get("item")))
        return f"Corrected: {item}", None, "\n".join(lines) or None
    if kind == "routed":
        where = data.get("department") or "no department (waiting for staff)"
        return f"Routed to {where}", f"{data.get('rule') or 'no rule'}: {data.get('reason')}", None
    if kind == "department-changed":
        old, new = data.get("old") or "none", data.get("new") or "none"
        return f"Department changed from {old} to {new}", None, None
    if kind in FORWARD_EVENTS:
        return _forward_words(kind, data)
    if kind == "status-changed":
        return f"Status changed from {data.get('old')} to {data.get('new')}", None, None
    if kind == "follow-up-requested":
        return _follow_up_words(data)
    if kind == "department-update" and data.get("source") == "email":
        return _department_email_words(data)
    if kind == "department-update" and data.get("source") == "open311":
        return _department_status_words(data)
    plain = ", ".join(
        f"{k}: {v}" for k, v in sorted(data.items()) if isinstance(v, str | int | float)
    )
    return kind.replace("-", " ").capitalize(), plain or None, None


def _follow_up_words(data: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """A follow-up request of the escalation ladder (bot/scheduler.py): its number, who was
    copied, and when the file is next followed up."""
    copied = [
        f"the {c.get('role')}" + (f" ({c['name']})" if c.get("name") else "")
        for c in data.get("copied") or []
        if isinstance(c, dict)
    ]
    title = f"Follow-up request {data.get('n')} to {data.get('department')}"
    if not data.get("sent", True):
        title += " (not sent: " + str(data.get("why") or "no address") + ")"
    detail = ("Copied: " + " and ".join(copied) + ". ") if copied else "Nobody copied. "
    if data.get("marked_for_follow_up"):
        detail += f"Next follow-up: {str(data['marked_for_follow_up'])[:16].replace('T', ' ')}."
    return title, detail.strip(), None


def _department_email_words(data: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """A department's email reply (bot/department_replies.py): who answered; its words are
    the message beside this event on the timeline."""
    who = {"supervisor": "its supervisor", "director": "its director"}.get(str(data.get("role")))
    detail = f"Answered by {who}. " if who else ""
    if data.get("case_status") == "closed":
        detail += "The case was closed; it stays closed unless you reopen it. "
    detail += "Nothing was sent automatically: read the reply and decide what to do."
    return f"The department replied by email ({data.get('department')})", detail, None


def _department_status_words(data: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """A change the department made to its service request (bot/tracker_sync.py): the new
    status and, as the body, their note and expected date (their words, not ours)."""
    said = [
        f"{label}: {data[key]}"
        for key, label in (
            ("status_notes", "Their note"),
            ("agency_responsible", "Handled by"),
            ("expected_datetime", "Expected by"),
        )
        if data.get(key)
    ]
    title = f"The department updated its request ({data.get('department')})"
    return title, f"status {data.get('status') or 'not given'}", "\n".join(said) or None


def _deadline(case: Mapping[str, Any], column: str, now: datetime, tz: tzinfo) -> Entry | None:
    due_text = case.get(column)
    if not due_text:
        return None
    due = _local(due_text, tz)
    name = CLOCK_NAMES[column]
    if column == "ack_due":
        met_text = case.get("acked_at")
    elif column == "hazard_due":
        met_text = case.get("hazard_checked_at")
    else:
        met_text = case.get("closed_at")
    if met_text:
        met = _local(met_text, tz)
        if met <= due:
            return Entry(
                due, f"{name} deadline met", "", f"done {met:%Y-%m-%d %H:%M}", None, "deadline-met"
            )
        return Entry(
            due,
            f"{name} deadline missed",
            "",
            f"done late, {met:%Y-%m-%d %H:%M}",
            None,
            "deadline-missed",
        )
    if case.get("status") == "closed":
        return Entry(due, f"{name} deadline", "", "the case was closed", None, "deadline-met")
    if due <= now:
        return Entry(due, f"{name} deadline missed", "", "not done yet", None, "deadline-missed")
    return Entry(due, f"{name} due", "", None, None, "deadline-due")


def timeline(
    case: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    messages: Sequence[Mapping[str, Any]],
    notes: Mapping[int, Mapping[str, Any]],
    corrections: Mapping[int, Mapping[str, Any]],
    staff_names: Mapping[str, str],
    staff_by_id: Mapping[int, str],
    now: datetime,
    tz: tzinfo,
) -> list[Entry]:
    """Messages in and out, every event (drafts, staff actions) and each deadline, by time."""
    entries = []
    for m in messages:
        meta = m.get("meta") or {}
        if m["direction"] == "in" and meta.get("department"):
            title = f"Message from the department {meta['department']} ({m['channel']})"
            entries.append(
                Entry(_local(m["at"], tz), title, "department", m.get("subject"), m["body"], "in")
            )
        elif m["direction"] == "in":
            title = f"Message from the resident ({m['channel']})"
            entries.append(
                Entry(_local(m["at"], tz), title, "resident", m.get("subject"), m["body"], "in")
            )
        else:
            title = f"Reply sent ({m['channel']})"
            entries.append(
                Entry(_local(m["at"], tz), title, "caredesk", m.get("subject"), m["body"], "out")
            )
    for e in events:
        title, detail, body = _event_words(e, notes, corrections, staff_by_id)
        entries.append(
            Entry(_local(e["at"], tz), title, _who(e["actor"], staff_names), detail, body)
        )
    here = now.astimezone(tz)
    for column in CLOCK_NAMES:
        entry = _deadline(case, column, here, tz)
        if entry:
            entries.append(entry)
    return sorted(entries, key=lambda x: x.at)


def attachments(
    events: Sequence[Mapping[str, Any]], messages: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Files the resident sent: type and size from the timeline, names (when the resident's
    message still holds them) from the message stored at the same moment."""
    names_at: dict[str, list[str]] = {}
    for m in messages:
        if m["direction"] == "in" and m["meta"].get("attachments"):
            names_at.setdefault(m["at"], []).extend(m["meta"]["attachments"])
    out = []
    for e in events:
        if e["type"] != "attachments":
            continue
        names = names_at.get(e["at"], [])
        for i, f in enumerate(e["data"].get("files") or []):
            out.append(
                {
                    "name": (names[i] if i < len(names) else None) or "(no name)",
                    "type": f.get("type") or "?",
                    "size": int(f.get("size") or 0),
                    "at": e["at"],
                }
            )
    return out


def items_of(case: Mapping[str, Any]) -> list[tuple[str, str, str | None]]:
    """(item, label, value) for the five items, in the policy's order."""
    person = case.get("person") or {}
    contact = ", ".join(p for p in (person.get("email"), person.get("phone")) if p) or None
    values = {
        "what": case.get("what"),
        "when": case.get("when_text"),
        "who": case.get("who"),
        "outcome": case.get("outcome"),
        "contact": contact,
    }
    return [(item, ITEM_NAMES[item], values[item]) for item in ITEMS]
