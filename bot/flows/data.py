"""What the complaint dialogue has collected, and what follows from it: the conditions the
table, the prompts and the parsers all ask of the data (a hazard? an investigated complaint?),
and the confirmed conversation as the Submission decide() reads. One owner for each, below
the table, the wording and the parsers, so none of them imports another for a rule.
"""

from __future__ import annotations

from datetime import datetime

from bot.flows.base import Data, State
from bot.model import Attachment, Kind, Person, Submission
from bot.place import place_of
from bot.when import When, when_of

STATE_VERSION = 1

#: What `edit ITEM` at the summary clears, so the item is asked again (and what depends on it).
EDIT_CLEARS: dict[str, tuple[str, ...]] = {
    "what": ("what", "scope_found", "scope", "safety_phrase"),
    "when": (
        "when_text",
        "when_at",
        "when_end",
        "when_precision",
        "when_time",
        "when_tries",
        "when_ask_time",
    ),
    "who": ("who",),
    "outcome": ("outcome",),
    "name": ("name", "anon_warned", "on_behalf", "third_party"),
    "contact": ("contact",),
    "kind": ("kind", "safety", "scope_found", "scope"),
    "where": ("place",),
}


def hazard(d: Data) -> bool:
    """Yes to the danger question; or "not sure" and the description names a hazard (then the
    policy's phrases decide, as decide() will: see `safety_found`)."""
    return d.get("safety") is True or (
        "safety" in d and d["safety"] is None and bool(d.get("safety_found"))
    )


def investigated(d: Data) -> bool:
    """Complaints (not hazards, not redirects) need the full five items."""
    return d.get("kind") == "complaint" and not hazard(d) and not d.get("scope")


def asks_where(d: Data) -> bool:
    """Where it is (issue 12): asked of a request for service, a hazard and a complaint (which
    may say it is about no place), never of a compliment, a question or a redirect."""
    if d.get("scope"):
        return False
    return hazard(d) or d.get("kind") in ("request", "complaint")


def name_optional(d: Data) -> bool:
    """Only allegations need a name (02.01); hazards, requests, compliments and questions do
    not, but a redirect does (decide() declines an anonymous out-of-scope message too)."""
    return hazard(d) or (d.get("kind") in ("feedback", "request", "other") and not d.get("scope"))


def when_updates(when: When) -> dict[str, object]:
    """What the state keeps of an answer to "when": the words, the range, the precision."""
    return {
        "when_text": when.said,
        "when_at": when.start.isoformat() if when.start else None,
        "when_end": when.end.isoformat() if when.end else None,
        "when_precision": when.precision.value,
    }


def when_of_data(d: Data) -> When | None:
    def at(key: str) -> datetime | None:
        return datetime.fromisoformat(d[key]) if d.get(key) else None

    return when_of(d.get("when_text"), at("when_at"), at("when_end"), d.get("when_precision"))


def copy_state(state: State) -> State:
    """States are values: never change the caller's copy."""
    out = dict(state)
    out["data"] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in state["data"].items()}
    out["history"] = list(state["history"])
    out["tries"] = dict(state.get("tries") or {})
    return out


def submission_from_state(
    state: State, channel: str, received_at: datetime, conversation: str | None
) -> Submission:
    """A confirmed conversation as the Submission decide() reads."""
    d = state["data"]
    contact = d.get("contact") or {}
    person = Person(
        name=d.get("name") or None,
        email=(contact.get("emails") or [None])[0],
        phone=(contact.get("phones") or [None])[0],
    )
    kind_hint = {
        "complaint": Kind.COMPLAINT,
        "request": Kind.REQUEST,
        "feedback": Kind.FEEDBACK,
    }.get(d.get("kind", ""))
    on_behalf = d.get("third_party", "") if d.get("on_behalf") == "other" else None
    text = "\n".join(str(d[k]) for k in ("what", "who", "outcome") if d.get(k))
    return Submission(
        channel=channel,
        received_at=received_at,
        text=text,
        what=d.get("what"),
        when_text=d.get("when_text") or None,
        when=datetime.fromisoformat(d["when_at"]) if d.get("when_at") else None,
        when_end=datetime.fromisoformat(d["when_end"]) if d.get("when_end") else None,
        when_precision=d.get("when_precision") or None,
        who=d.get("who"),
        outcome=d.get("outcome"),
        person=person,
        kind_hint=kind_hint,
        # The resident's answer (None: "not sure"); a compliment was never a danger report.
        safety=d["safety"] if "safety" in d else (False if d.get("kind") == "feedback" else None),
        on_behalf_of=on_behalf,
        scope_hint=d.get("scope") or "",
        conversation=conversation,
        place=place_of(d.get("place")),
        attachments=tuple(
            Attachment(
                e.get("name"),
                e.get("type", "application/octet-stream"),
                int(e.get("size") or 0),
                e.get("ref"),
            )
            for e in d.get("evidence", [])
        ),
    )
