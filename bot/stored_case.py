"""A filed case read back as the `Submission` and `Decision` replies are rendered from.

Replies drafted after filing (the closing reply, written when staff close a case) go through
the same `compose()` as the replies drafted at intake (bot/intake.py), so their wording,
subject and threading are the same. What the resident said is the case's current text, with
staff's corrections; the deadlines are those recorded when the case was decided. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.model import Decision, Kind, Person, Status, Submission


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _thread(case: Mapping[str, Any]) -> tuple[str, ...]:
    """The Message-IDs of the resident's emails (message keys start with one), oldest first."""
    ids = []
    for m in case.get("messages", []):
        key = m.get("message_key") or ""
        if m.get("direction") == "in" and key.startswith("<"):
            ids.append(key.split()[0])
    return tuple(ids)


def submission_of(case: Mapping[str, Any]) -> Submission:
    """`case`: storage.cases.get_case's dict."""
    person = case.get("person") or {}
    first_in = next((m for m in case.get("messages", []) if m["direction"] == "in"), None)
    received = _at(case["received_at"])
    assert received is not None
    return Submission(
        channel=case["channel"],
        received_at=received,
        text=first_in["body"] if first_in else (case.get("what") or ""),
        what=case.get("what"),
        when_text=case.get("when_text"),
        when=_at(case.get("occurred_at")),
        when_end=_at(case.get("occurred_until")),
        when_precision=case.get("when_precision"),
        who=case.get("who"),
        outcome=case.get("outcome"),
        person=Person(person.get("name"), person.get("email"), person.get("phone")),
        on_behalf_of=case.get("on_behalf_of"),
        subject=case.get("subject"),
        conversation=case.get("conversation"),
        thread_ids=_thread(case),
    )


def decision_of(case: Mapping[str, Any]) -> Decision:
    decided: Mapping[str, Any] = next(
        (e["data"] for e in case.get("events", []) if e["type"] == "decided"), {}
    )
    deadlines = {
        k: datetime.fromisoformat(v) for k, v in (decided.get("deadlines") or {}).items() if v
    }
    return Decision(
        kind=Kind(case["kind"]),
        status=Status(case["status"]),
        missing=tuple(case.get("missing") or ()),
        deadlines=deadlines,
        replies=(),
        hits=(),
        sensitive=bool(case.get("sensitive")),
        out_of_scope=case.get("out_of_scope"),
    )
