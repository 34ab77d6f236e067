"""The case pages (/staff/cases): search, the case page, and every action on it, through
aiohttp's test client against the whole app on a real SQLite file, with a frozen clock.
Cases are filed by the real intake (the policy decides them), as a channel would."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from bot.model import Kind, Person
from bot.sla_bounds import board_bounds
from bot.staff.accounts import create_account
from storage.outbox import mark_sent
from storage.sla import clock_figures
from storage.staff import audit_rows

from ..unit.test_storage import submission
from .test_staff_web import (
    AGENT,
    PASSWORD,
    SCRIPT,
    START,
    Site,
    csrf_of,
    login,
    start_site,
)

SUPERVISOR = "sue@city.example.org"
ROW_REF = re.compile(r'<th scope="row"><a href="/staff/cases/([A-Z0-9-]+)">')


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    s = await start_site(tmp_path)
    create_account(s.db, SUPERVISOR, "Sue Pervisor", "supervisor", PASSWORD, START, "test")
    yield s
    await s.client.close()


def file(site: Site, **overrides: Any) -> str:
    """File a case through the real intake at the site's current time; its reference."""
    now = site.clock.now()
    values: dict[str, Any] = {"received_at": now, "when": now - timedelta(days=1)}
    values.update(overrides)
    return site.services.intake.file(submission(**values), now).ref


def case_id(site: Site, ref: str) -> int:
    return int(site.db.execute("SELECT id FROM cases WHERE ref = ?", [ref]).fetchone()[0])


def events(site: Site, ref: str, kind: str) -> list[dict[str, Any]]:
    rows = site.db.execute(
        "SELECT actor, data FROM events WHERE case_id = ? AND type = ? ORDER BY id",
        [case_id(site, ref), kind],
    ).fetchall()
    return [{"actor": a, "data": d} for a, d in rows]


def send_everything(site: Site, ref: str) -> None:
    """What the outbox workers do: every pending reply of the case sent."""
    cid = case_id(site, ref)
    ids = site.db.execute(
        "SELECT id FROM outbox WHERE case_id = ? AND status = 'pending'", [cid]
    ).fetchall()
    for (item,) in ids:
        mark_sent(site.db, item, site.clock.now())


def settle_drafts(site: Site, ref: str) -> None:
    """What a reviewer in the queue does (issue 11, item 2): the held drafts approved."""
    site.db.execute(
        "UPDATE drafts SET status = 'approved', reviewed_by = 'staff:reviewer', reviewed_at = ? "
        "WHERE case_id = ? AND status = 'pending'",
        [START.isoformat(), case_id(site, ref)],
    )


async def refs_of(site: Site, query: str) -> list[str]:
    response = await site.client.get("/staff/cases" + query)
    assert response.status == 200, await response.text()
    assert response.url.path == "/staff/cases", "signed out: sign in again after moving time"
    return ROW_REF.findall(await response.text())


async def csrf(site: Site, ref: str) -> str:
    page = await site.client.get(f"/staff/cases/{ref}")
    assert page.status == 200
    return csrf_of(await page.text())


async def act(site: Site, ref: str, action: str, form: dict[str, str]) -> Any:
    data = {"csrf": await csrf(site, ref), **form}
    return await site.client.post(f"/staff/cases/{ref}/{action}", data=data, allow_redirects=False)


def audit_of(site: Site, action: str) -> list[dict[str, Any]]:
    return audit_rows(site.db, action)


# -- search and filters -----------------------------------------------------------------------


@pytest.fixture
async def filed(site: Site) -> dict[str, str]:
    """Four cases of different channels and kinds, filed one minute apart."""
    refs = {}
    refs["email"] = file(
        site,
        channel="email",
        text="I am unhappy: the basement flooding after the storm was never looked at",
        what="basement flooding after the storm",
        conversation=None,
    )
    site.clock.advance(timedelta(minutes=1))
    refs["web"] = file(site, kind_hint=Kind.REQUEST, text="Please fix the pothole on Elm St")
    site.clock.advance(timedelta(minutes=1))
    refs["telegram"] = file(
        site, channel="telegram", text="The snow plough blocked my driveway, unacceptable"
    )
    site.clock.advance(timedelta(minutes=1))
    refs["feedback"] = file(
        site, kind_hint=Kind.FEEDBACK, text="Thanks, the new library hours are great"
    )
    site.db.execute("UPDATE cases SET department = 'Roads' WHERE ref = ?", [refs["web"]])
    await login(site.client, AGENT)
    return refs


async def test_each_filter_finds_exactly_its_cases(site: Site, filed: dict[str, str]) -> None:
    stored = {
        r[0]: r[1:]
        for r in site.db.execute("SELECT ref, kind, status, channel FROM cases").fetchall()
    }
    assert len(stored) == 4
    everything = await refs_of(site, "")
    assert everything == sorted(stored, reverse=True)  # newest first
    assert await refs_of(site, f"?ref={filed['web']}") == [filed["web"]]
    assert await refs_of(site, f"?ref={filed['web'].lower()}") == [filed["web"]]
    assert await refs_of(site, "?channel=telegram") == [filed["telegram"]]
    assert await refs_of(site, "?channel=email") == [filed["email"]]
    assert await refs_of(site, "?department=Roads") == [filed["web"]]
    assert stored[filed["feedback"]][0] == "feedback"
    assert await refs_of(site, "?kind=feedback") == [filed["feedback"]]
    assert stored[filed["web"]][0] == "request"
    assert await refs_of(site, "?kind=request") == [filed["web"]]
    statuses = {s for s, _ in ((v[1], k) for k, v in stored.items())}
    for status in statuses:
        expected = sorted((k for k, v in stored.items() if v[1] == status), reverse=True)
        assert await refs_of(site, f"?status={status}") == expected
    # Filters combine.
    assert await refs_of(site, "?channel=web&kind=request") == [filed["web"]]
    assert await refs_of(site, "?channel=web&kind=complaint") == []


async def test_text_search_is_stemmed_and_escaped(site: Site, filed: dict[str, str]) -> None:
    assert await refs_of(site, "?text=flood") == [filed["email"]]
    assert await refs_of(site, "?text=pothole+elm") == [filed["web"]]
    assert await refs_of(site, "?text=pothole+flooding") == []
    # FTS5 syntax is only words: no error, no match-everything.
    assert await refs_of(site, "?text=%22NEAR(%22+OR+*") == []
    rows = audit_of(site, "searched-cases")  # newest first; the words are not recorded
    assert [r["detail"] for r in rows] == [{"results": n} for n in (0, 0, 1, 1)]
    assert all("flood" not in str(r) for r in rows)


async def test_overdue_and_due_buckets(site: Site, filed: dict[str, str]) -> None:
    # 10:03 on Wednesday: each acknowledgement is due within the next business day.
    assert await refs_of(site, "?due=ack:overdue") == []
    assert await refs_of(site, "?overdue=1") == []
    week = await refs_of(site, "?due=ack:week")
    today = await refs_of(site, "?due=ack:today")
    assert set(week) | set(today) >= {filed["email"], filed["web"], filed["telegram"]}
    assert not set(week) & set(today)
    # The SLA board counts the same cases in the same buckets (it links here).
    bounds = board_bounds(site.services.config.calendar(), site.clock.now())
    ack = next(f for f in clock_figures(site.db, bounds) if f.column == "ack_due")
    assert (ack.due_today, ack.due_soon, ack.overdue) == (len(today), len(week), 0)
    # The web case's acknowledgement reaches the resident; then three business days pass.
    send_everything(site, filed["web"])
    site.clock.advance(timedelta(days=6))  # Tuesday
    await login(site.client, AGENT)  # the session ended while time passed
    overdue = await refs_of(site, "?due=ack:overdue")
    assert filed["web"] not in overdue
    assert filed["email"] in overdue and filed["telegram"] in overdue
    bounds = board_bounds(site.services.config.calendar(), site.clock.now())
    ack = next(f for f in clock_figures(site.db, bounds) if f.column == "ack_due")
    assert ack.overdue == len(overdue)
    assert set(await refs_of(site, "?overdue=1")) >= set(overdue)
    response = await site.client.get("/staff/cases?due=ack:someday")
    assert response.status == 400
    assert "Choose a deadline from the list" in await response.text()


async def test_pages_next_and_previous(site: Site) -> None:
    refs = []
    for i in range(30):
        refs.append(file(site, text=f"Broken streetlight number {i}"))
        site.clock.advance(timedelta(seconds=30))
    await login(site.client, AGENT)
    first = await site.client.get("/staff/cases")
    html = await first.text()
    page1 = ROW_REF.findall(html)
    assert page1 == sorted(refs, reverse=True)[:25]
    assert "Previous page" not in html
    assert "newest first: page 1, 25 cases (more on the next page)" in html
    next_url = unescape(re.search(r'<a href="([^"]+)" rel="next">', html).group(1))
    second = await site.client.get(next_url)
    html2 = await second.text()
    assert ROW_REF.findall(html2) == sorted(refs, reverse=True)[25:]
    assert "newest first: page 2, 5 cases" in html2
    assert 'rel="next"' not in html2
    prev_url = unescape(re.search(r'<a href="([^"]+)" rel="prev">', html2).group(1))
    back = await site.client.get(prev_url)
    assert ROW_REF.findall(await back.text()) == page1
    # Filters survive paging.
    filtered = await site.client.get("/staff/cases?text=streetlight&channel=web")
    html3 = await filtered.text()
    assert "text=streetlight" in unescape(html3) and "channel=web" in unescape(html3)


# -- the case page ----------------------------------------------------------------------------


async def test_case_page_shows_items_trace_timeline_and_is_audited(site: Site) -> None:
    ref = file(
        site,
        channel="email",
        text="I am unhappy, the garbage truck missed our street again",
        what="The garbage truck missed our street",
        conversation=None,
    )
    await login(site.client, AGENT)
    site.clock.advance(timedelta(minutes=5))
    response = await site.client.get(f"/staff/cases/{ref}")
    assert response.status == 200
    html = unescape(await response.text())
    # The resident and the five items.
    assert "Zoë Tremblay" in html and "zoe@example.org" in html
    for label, value in (
        ("What happened", "The garbage truck missed our street"),
        ("When", "yesterday morning"),
        ("Who was involved", "the plough driver"),
        ("Outcome sought", "clear the driveway"),
    ):
        assert re.search(rf"{label}</th>\s*<td><span class=\"resident-text\">{value}", html)
    # The rules that fired, in words, and the whole trace.
    assert "Rules that fired" in html
    assert "expresses dissatisfaction" in html
    assert "Every rule tried, in order" in html and "[x]" in html and "[ ]" in html
    # The timeline: the message in, the decision, the queued reply, the deadlines.
    for words in (
        "Message from the resident (email)",
        "Received by email",
        "Decided: complaint, open",
        "Reply queued: ack-email by email",
        "Acknowledgement due",
    ):
        assert words in html
    [row] = audit_of(site, "viewed-case")
    assert (row["actor"], row["target_kind"], row["target"]) == (f"staff:{AGENT}", "case", ref)
    assert row["at"] == (START + timedelta(minutes=5)).isoformat()


async def test_deadline_met_and_missed_on_the_timeline(site: Site) -> None:
    met = file(site, channel="email", text="I am unhappy about the pothole", conversation=None)
    missed = file(site, channel="email", text="I am unhappy about the hydrant", conversation=None)
    send_everything(site, met)
    site.clock.advance(timedelta(days=6))
    await login(site.client, AGENT)
    html = await (await site.client.get(f"/staff/cases/{met}")).text()
    assert "Acknowledgement deadline met" in html
    html = await (await site.client.get(f"/staff/cases/{missed}")).text()
    assert "Acknowledgement deadline missed" in html and "not done yet" in html


async def test_resident_script_is_shown_as_text(site: Site) -> None:
    ref = file(site, text=f"I am unhappy {SCRIPT}", what=SCRIPT, who=SCRIPT)
    await login(site.client, AGENT)
    html = await (await site.client.get(f"/staff/cases/{ref}")).text()
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    listing = await (await site.client.get("/staff/cases?text=alert")).text()
    assert SCRIPT not in listing and ref in listing


async def test_case_page_shows_where_it_is(site: Site) -> None:
    """Issue 12, item 2: the place, its kind, the tracker's address and shared coordinates;
    the resident's words escaped; "No place was given" when there is none."""
    from bot.place import read_place, shared_location

    at = file(site, place=read_place("corner of Main St & 2nd Ave <b>now</b>"))
    shared = file(site, place=shared_location(43.653226, -79.3831843))
    nowhere = file(site)
    await login(site.client, AGENT)
    html = await (await site.client.get(f"/staff/cases/{at}")).text()
    assert "Where it is" in html and "<b>now</b>" not in html
    assert "corner of Main St &amp; 2nd Ave &lt;b&gt;now&lt;/b&gt;" in html
    assert "(intersection)" in html and "Address for the tracker" in html
    html = await (await site.client.get(f"/staff/cases/{shared}")).text()
    assert "latitude 43.65323, longitude -79.38318" in html and "(coordinates)" in html
    html = await (await site.client.get(f"/staff/cases/{nowhere}")).text()
    assert "No place was given." in html


async def test_attachments_are_listed_with_names_and_sizes(site: Site) -> None:
    from bot.model import Attachment

    ref = file(
        site,
        text="I am unhappy, see the photo",
        attachments=(Attachment("pothole <1>.jpg", "image/jpeg", 123456),),
    )
    await login(site.client, AGENT)
    html = await (await site.client.get(f"/staff/cases/{ref}")).text()
    assert "pothole &lt;1&gt;.jpg" in html
    assert "image/jpeg" in html and "123,456 bytes" in html


# -- actions ----------------------------------------------------------------------------------


async def test_add_a_note(site: Site) -> None:
    ref = file(site, text="I am unhappy about the bins")
    await login(site.client, AGENT)
    response = await act(site, ref, "note", {"note": f"Called back. {SCRIPT}"})
    assert response.status == 303
    assert response.headers["Location"] == f"/staff/cases/{ref}?done=note#done"
    [event] = events(site, ref, "note-added")
    assert event["actor"] == f"staff:{AGENT}"
    assert SCRIPT not in event["data"]  # the note's words are not on the append-only timeline
    [row] = audit_of(site, "added-note")
    assert row["target"] == ref
    html = await (await site.client.get(f"/staff/cases/{ref}?done=note")).text()
    assert "The note is added." in html
    assert "Called back. &lt;script&gt;" in html
    empty = await act(site, ref, "note", {"note": "  "})
    assert empty.status == 400
    assert 'href="#note">Write the note' in await empty.text()


async def test_assign_and_unassign(site: Site) -> None:
    ref = file(site, text="I am unhappy about the bins")
    await login(site.client, AGENT)
    sue = site.db.execute("SELECT id FROM staff WHERE email = ?", [SUPERVISOR]).fetchone()[0]
    assert (await act(site, ref, "assign", {"staff": str(sue)})).status == 303
    assert (
        site.db.execute("SELECT assigned_to FROM cases WHERE ref = ?", [ref]).fetchone()[0] == sue
    )
    html = await (await site.client.get(f"/staff/cases/{ref}")).text()
    assert "Assigned to Sue Pervisor" in html
    assert (await act(site, ref, "assign", {"staff": ""})).status == 303
    assert [e["data"] for e in events(site, ref, "assigned")] == [
        f'{{"from": null, "to": {sue}}}',
        f'{{"from": {sue}, "to": null}}',
    ]
    assert len(audit_of(site, "assigned-case")) == 2
    assert (await act(site, ref, "assign", {"staff": "999"})).status == 400


async def test_mark_sensitive_and_not(site: Site) -> None:
    ref = file(site, text="I am unhappy about the bins")
    await login(site.client, AGENT)
    assert (await act(site, ref, "sensitive", {"sensitive": "yes"})).status == 303
    assert site.db.execute("SELECT sensitive FROM cases WHERE ref = ?", [ref]).fetchone()[0] == 1
    assert (await act(site, ref, "sensitive", {"sensitive": "no"})).status == 303
    assert site.db.execute("SELECT sensitive FROM cases WHERE ref = ?", [ref]).fetchone()[0] == 0
    assert len(events(site, ref, "marked-sensitive")) == 1
    assert len(events(site, ref, "marked-not-sensitive")) == 1
    assert len(audit_of(site, "marked-sensitive")) == 1
    assert len(audit_of(site, "marked-not-sensitive")) == 1


async def test_correct_kind_and_items_keeps_old_and_new(site: Site) -> None:
    ref = file(site, text="I am unhappy about the bins", who=None)
    await login(site.client, AGENT)
    missing = site.db.execute("SELECT missing FROM cases WHERE ref = ?", [ref]).fetchone()[0]
    assert "who" in missing
    assert (await act(site, ref, "correct", {"field": "kind", "kind": "request"})).status == 303
    assert (
        await act(site, ref, "correct", {"field": "what", "item-what": "Bins left on the road"})
    ).status == 303
    assert (
        await act(site, ref, "correct", {"field": "who", "item-who": "the Tuesday crew"})
    ).status == 303
    assert (
        await act(
            site,
            ref,
            "correct",
            {
                "field": "contact",
                "contact-name": "Zoë T.",
                "contact-email": "zoe@example.org",
                "contact-phone": "+14165550100",
            },
        )
    ).status == 303
    kind, what, who, missing = site.db.execute(
        "SELECT kind, what, who, missing FROM cases WHERE ref = ?", [ref]
    ).fetchone()
    assert (kind, what, who) == ("request", "Bins left on the road", "the Tuesday crew")
    assert "who" not in missing
    assert [e["data"] for e in events(site, ref, "kind-corrected")] == [
        '{"new": "request", "old": "complaint"}'
    ]
    assert len(events(site, ref, "item-corrected")) == 3
    assert len(audit_of(site, "corrected-kind")) == 1
    assert len(audit_of(site, "corrected-item")) == 3
    html = unescape(await (await site.client.get(f"/staff/cases/{ref}")).text())
    assert "Kind corrected from complaint to request" in html
    assert "what: from “The snow plough blocked my driveway” to “Bins left on the road”" in html
    assert "who: from “(empty)” to “the Tuesday crew”" in html
    assert "contact name: from “Zoë Tremblay” to “Zoë T.”" in html


async def test_write_a_reply_becomes_a_draft_for_review(site: Site) -> None:
    ref = file(site, channel="email", text="I am unhappy about the bins", conversation=None)
    await login(site.client, AGENT)
    text = "Hello Zoë,\n\nThe crew will come back on Friday."
    assert (await act(site, ref, "reply", {"reply": text})).status == 303
    [draft] = site.db.execute(
        "SELECT reply_kind, channel, recipient, subject, body, status, due_at FROM drafts "
        "WHERE case_id = ? AND reply_kind = 'staff-reply'",
        [case_id(site, ref)],
    ).fetchall()
    assert draft[:3] == ("staff-reply", "email", "zoe@example.org")
    assert ref in draft[3]
    assert draft[4] == text and draft[5] == "pending"
    assert draft[6] > START.isoformat()  # due one business day later, not already late
    [event] = events(site, ref, "draft-created")[-1:]
    assert event["actor"] == f"staff:{AGENT}"
    assert len(audit_of(site, "drafted-reply")) == 1
    # It waits in the review queue with the others.
    home = await (await site.client.get("/staff/")).text()
    assert "staff-reply" in home


async def test_close_refused_while_unresolved_then_closed_with_a_closing_draft(
    site: Site,
) -> None:
    ref = file(
        site, channel="email", text="I am unhappy about the bins", conversation=None, who=None
    )
    await login(site.client, AGENT)
    refused = await act(site, ref, "status", {"status": "closed"})
    assert refused.status == 400
    html = unescape(await refused.text())
    assert "The case cannot be closed yet" in html
    assert "Items are missing: who was involved" in html
    assert "not been sent yet" in html
    assert site.db.execute("SELECT status FROM cases WHERE ref = ?", [ref]).fetchone()[0] == "open"
    [row] = audit_of(site, "close-refused")
    assert row["detail"]["why"] == "unresolved"
    # Attend to everything: the item, the replies.
    await act(site, ref, "correct", {"field": "who", "item-who": "the Tuesday crew"})
    send_everything(site, ref)
    settle_drafts(site, ref)
    site.clock.advance(timedelta(hours=2))
    await login(site.client, AGENT)
    closed = await act(
        site, ref, "status", {"status": "closed", "resolution": "The crew collected the bins."}
    )
    assert closed.status == 303
    status, closed_at = site.db.execute(
        "SELECT status, closed_at FROM cases WHERE ref = ?", [ref]
    ).fetchone()
    assert status == "closed" and closed_at == (START + timedelta(hours=2)).isoformat()
    [change] = events(site, ref, "status-changed")
    assert change["data"] == '{"new": "closed", "old": "open"}'
    [draft] = site.db.execute(
        "SELECT channel, recipient, subject, body, status FROM drafts "
        "WHERE case_id = ? AND reply_kind = 'closing'",
        [case_id(site, ref)],
    ).fetchall()
    channel, recipient, subject, body, state = draft
    assert (channel, recipient, state) == ("email", "zoe@example.org", "pending")
    assert ref in subject and ref in body
    assert "The crew collected the bins." in body
    assert "Ontario Ombudsman" in body and "1-800-263-1830" in body
    assert len(audit_of(site, "closed-case")) == 1


async def test_council_case_is_closed_only_by_a_supervisor(site: Site) -> None:
    ref = file(
        site,
        channel="email",
        text="My councillor promised the park would be cleaned and it was not. I am unhappy.",
        conversation=None,
    )
    rules = site.db.execute("SELECT rules FROM cases WHERE ref = ?", [ref]).fetchone()[0]
    assert "council-cao-ombudsman" in rules
    send_everything(site, ref)
    settle_drafts(site, ref)
    await login(site.client, AGENT)
    page = await (await site.client.get(f"/staff/cases/{ref}")).text()
    assert "only a supervisor can close this case" in page
    refused = await act(site, ref, "status", {"status": "closed"})
    assert refused.status == 403
    assert (
        "Only a supervisor can close a case that involves Council or the CAO"
        in await refused.text()
    )
    assert site.db.execute("SELECT status FROM cases WHERE ref = ?", [ref]).fetchone()[0] == "open"
    assert audit_of(site, "close-refused")[0]["detail"]["why"] == "council"
    # Marking it not sensitive does not let an agent close it: the rule fired.
    await act(site, ref, "sensitive", {"sensitive": "no"})
    assert (await act(site, ref, "status", {"status": "closed"})).status == 403

    supervisor = await site.new_client()
    try:
        page = await supervisor.get("/staff/login")
        form = {"csrf": csrf_of(await page.text()), "email": SUPERVISOR, "password": PASSWORD}
        assert (await supervisor.post("/staff/login", data=form)).status == 200
        token = csrf_of(await (await supervisor.get(f"/staff/cases/{ref}")).text())
        closed = await supervisor.post(
            f"/staff/cases/{ref}/status",
            data={"csrf": token, "status": "closed"},
            allow_redirects=False,
        )
        assert closed.status == 303
    finally:
        await supervisor.close()
    assert site.db.execute("SELECT status FROM cases WHERE ref = ?", [ref]).fetchone()[0] == (
        "closed"
    )
    [row] = audit_of(site, "closed-case")
    assert row["actor"] == f"staff:{SUPERVISOR}"


async def test_reopen_changes_status_with_event_and_audit(site: Site) -> None:
    ref = file(site, kind_hint=Kind.FEEDBACK, text="Thanks, lovely park", person=Person())
    await login(site.client, AGENT)
    status = site.db.execute("SELECT status FROM cases WHERE ref = ?", [ref]).fetchone()[0]
    assert (await act(site, ref, "status", {"status": "open"})).status == 303
    assert site.db.execute("SELECT status FROM cases WHERE ref = ?", [ref]).fetchone()[0] == "open"
    [row] = audit_of(site, "changed-status")
    assert row["detail"] == {"old": status, "new": "open"}


async def test_post_without_csrf_is_refused(site: Site) -> None:
    ref = file(site, text="I am unhappy about the bins")
    await login(site.client, AGENT)
    response = await site.client.post(f"/staff/cases/{ref}/note", data={"note": "sneaky"})
    assert response.status == 403
    assert "This form has expired" in await response.text()
    assert events(site, ref, "note-added") == []
    wrong = await site.client.post(
        f"/staff/cases/{ref}/status", data={"csrf": "not-the-token", "status": "closed"}
    )
    assert wrong.status == 403


async def test_unknown_case_is_not_found(site: Site) -> None:
    await login(site.client, AGENT)
    assert (await site.client.get("/staff/cases/CD-2026-999999")).status == 404


async def test_signed_out_is_sent_to_sign_in(site: Site) -> None:
    response = await site.client.get("/staff/cases?text=x", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"].startswith("/staff/login?next=")


async def test_record_the_hazard_inspection(site: Site) -> None:
    ref = file(
        site,
        channel="email",
        text="I am unhappy: the basement flooding after the storm was never looked at",
        conversation=None,
    )
    hazard_due, kind = site.db.execute(
        "SELECT hazard_due, kind FROM cases WHERE ref = ?", [ref]
    ).fetchone()
    assert hazard_due and kind == "hazard"
    send_everything(site, ref)
    await login(site.client, AGENT)
    refused = await act(site, ref, "status", {"status": "closed"})
    assert "The hazard inspection has not been recorded." in await refused.text()
    # Issue 13: the inspection comes with the course of action and the date it will be done.
    empty = await act(site, ref, "inspected", {})
    assert empty.status == 400
    page = unescape(await empty.text())
    assert "Write what will be done about the hazard" in page
    assert "Enter the date it will be done by" in page
    past = await act(site, ref, "inspected", {"action": "Pump it out", "by": "2020-01-01"})
    assert "cannot be in the past" in unescape(await past.text())
    by = (START + timedelta(days=3)).astimezone(site.services.config.tz).date()
    action = "A crew will pump out the storm drain on your street and clear the grate."
    posted = await act(site, ref, "inspected", {"action": action, "by": by.isoformat()})
    assert posted.status == 303
    assert (
        site.db.execute("SELECT hazard_checked_at FROM cases WHERE ref = ?", [ref]).fetchone()[0]
        == START.isoformat()
    )
    assert len(events(site, ref, "hazard-inspected")) == 1
    assert '"by": "' + by.isoformat() + '"' in events(site, ref, "hazard-action")[0]["data"]
    assert len(audit_of(site, "recorded-inspection")) == 1
    # The resident is told what will be done and by when: a draft for review.
    body = site.db.execute(
        "SELECT d.body FROM drafts d JOIN cases c ON c.id = d.case_id "
        "WHERE c.ref = ? AND d.reply_kind = 'hazard-update'",
        [ref],
    ).fetchone()[0]
    assert action in body and f"{by:%B} {by.day}, {by.year}" in body
    html = await (await site.client.get(f"/staff/cases/{ref}")).text()
    assert "Hazard inspection deadline met" in html
    settle_drafts(site, ref)
    send_everything(site, ref)
    assert (await act(site, ref, "status", {"status": "closed"})).status == 303


async def test_a_scheduler_alert_shows_on_the_case_page_and_list_until_inspected(
    site: Site,
) -> None:
    """Issue 13, items 4 and 6: a hazard past its inspection deadline is flagged by the
    scheduler; the case page and the case list say which standard is past and why; recording
    the inspection and the course of action clears the scheduler's flag."""
    from bot.scheduler import Scheduler

    ref = file(
        site,
        channel="email",
        text="I am unhappy: the basement flooding after the storm was never looked at",
        conversation=None,
    )
    due = site.db.execute("SELECT hazard_due FROM cases WHERE ref = ?", [ref]).fetchone()[0]
    site.clock.set(datetime.fromisoformat(due) + timedelta(minutes=1))
    scheduler = Scheduler(site.db, site.services.policy, site.services.renderer)
    assert [d.action.action for d in scheduler.tick(site.clock.now())] == ["hazard-alert"]
    await login(site.client, AGENT)
    page = unescape(await (await site.client.get(f"/staff/cases/{ref}")).text())
    assert "This case is past a standard" in page
    assert "Past the standard for: " in page and "hazard inspection" in page
    assert "hazard alert: no inspection and course of action recorded by" in page
    listing = unescape(await (await site.client.get("/staff/cases?overdue=1")).text())
    assert ref in listing and "Past: " in listing and "Needs attention" in listing
    today = site.clock.now().astimezone(site.services.config.tz).date()
    posted = await act(site, ref, "inspected", {"action": "Drain cleared", "by": today.isoformat()})
    assert posted.status == 303
    assert site.db.execute("SELECT attention FROM cases WHERE ref = ?", [ref]).fetchone()[0] is None
    page = unescape(await (await site.client.get(f"/staff/cases/{ref}")).text())
    alert = page.split('id="case-alert"', 1)[-1].split("</div>", 1)[0]
    assert "hazard alert:" not in page and "hazard inspection" not in alert


async def test_staff_set_the_anticipated_completion_date_the_scheduler_reads(
    site: Site,
) -> None:
    """Issue 13, item 3: "the department's expected date, or staff's"."""
    from bot.scheduler import Scheduler

    ref = file(site, channel="email", text="I am unhappy about the bins", conversation=None)
    await login(site.client, AGENT)
    bad = await act(site, ref, "expected", {"expected": "soon"})
    assert bad.status == 400
    assert "Enter the anticipated completion date" in unescape(await bad.text())
    tz = site.services.config.tz
    day = (START + timedelta(days=60)).astimezone(tz).date()
    assert (await act(site, ref, "expected", {"expected": day.isoformat()})).status == 303
    saved = site.db.execute("SELECT expected_at FROM cases WHERE ref = ?", [ref]).fetchone()[0]
    assert datetime.fromisoformat(saved).astimezone(tz).date() == day
    assert len(events(site, ref, "expected-date-set")) == 1
    assert len(audit_of(site, "set-expected-date")) == 1
    # The follow-up date, the same way.
    past = await act(site, ref, "follow-up", {"follow-up": "2020-02-02"})
    assert "The follow-up date cannot be in the past" in unescape(await past.text())
    assert (await act(site, ref, "follow-up", {"follow-up": day.isoformat()})).status == 303
    due = site.db.execute("SELECT follow_up_due FROM cases WHERE ref = ?", [ref]).fetchone()[0]
    assert datetime.fromisoformat(due).astimezone(tz).date() == day
    assert len(events(site, ref, "follow-up-date-set")) == 1
    assert len(audit_of(site, "set-follow-up-date")) == 1
    # Beyond the 15 business days of an email's response: the interim acknowledgement is due
    # by the 2nd business day after receipt.
    scheduler = Scheduler(site.db, site.services.policy, site.services.renderer)
    later = START + timedelta(days=7)
    assert "interim-ack" in [a.action for a in scheduler.due(later)]


async def test_retention_empties_notes_and_corrections(site: Site) -> None:
    from storage.retention import case_counts, erase_case

    ref = file(site, text="I am unhappy about the bins")
    await login(site.client, AGENT)
    await act(site, ref, "note", {"note": "Zoë said her neighbour Ana saw it"})
    await act(site, ref, "correct", {"field": "who", "item-who": "Ana Silva"})
    counts = case_counts(site.db, case_id(site, ref))
    assert (counts["notes"], counts["corrections"]) == (1, 1)
    with site.db.atomic():
        erase_case(site.db, case_id(site, ref), site.clock.now())
    counts = case_counts(site.db, case_id(site, ref))
    assert (counts["notes"], counts["corrections"]) == (0, 0)
    assert site.db.execute("SELECT body FROM case_notes").fetchall() == [("",)]
    rows = site.db.execute("SELECT field, old, new FROM case_corrections").fetchall()
    assert rows == [("who", None, None)]


async def test_case_page_reads_by_index_not_by_scanning(site: Site) -> None:
    """Every by-case read of the case page uses an index (a scan would read a million rows)."""
    statements = [
        "SELECT * FROM drafts WHERE case_id = ? ORDER BY id",
        "SELECT * FROM outbox WHERE case_id = ? ORDER BY id",
        "SELECT * FROM events WHERE case_id = ? ORDER BY id",
        "SELECT * FROM messages WHERE case_id = ? ORDER BY id",
        "SELECT * FROM case_notes WHERE case_id = ? ORDER BY id",
        "SELECT * FROM case_corrections WHERE case_id = ? ORDER BY id",
        "SELECT count(*) FROM drafts WHERE case_id = ? AND status = 'pending'",
        "SELECT count(*) FROM outbox WHERE case_id = ? AND status != 'sent'",
    ]
    for sql in statements:
        plan = " ".join(str(r[-1]) for r in site.db.execute(f"EXPLAIN QUERY PLAN {sql}", [1]))
        assert "USING" in plan and "INDEX" in plan, f"{sql}: {plan}"
