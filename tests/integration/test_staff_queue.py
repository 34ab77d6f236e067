"""The review queue and a draft's page: aiohttp's test client against the whole app, cases
filed through the real Intake on a real SQLite file, a frozen clock the tests move."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import Config
from bot.model import Kind, Person, Submission
from bot.staff.accounts import create_account
from storage.outbox import reply_key
from storage.staff import audit_rows

from .test_staff_web import AGENT, PASSWORD, SCRIPT, START, Site, csrf_of, login, start_site

SUPERVISOR = "sup@city.example.org"
SECOND = "second@city.example.org"
ANON = "anonymous-declined"


async def open_site(tmp_path: Path, config: Config | None = None) -> Site:
    site = await start_site(tmp_path, config)
    create_account(site.db, SUPERVISOR, "Sue Pervisor", "supervisor", PASSWORD, START, "test")
    create_account(site.db, SECOND, "Sam Second", "agent", PASSWORD, START, "test")
    return site


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    s = await open_site(tmp_path)
    yield s
    await s.client.close()


# -- filing cases the way intake does --------------------------------------------------------


def email_allegation(text: str, at: datetime, n: int = 1) -> Submission:
    """An email complaint made for a neighbour who is not named: declined (02.01), held."""
    return Submission(
        channel="email",
        received_at=at,
        text=text,
        what=text,
        person=Person(email=f"resident{n}@example.org"),
        on_behalf_of="",
        subject="My neighbour's complaint",
        message_key=f"<m{n}@mail.example.org> sha256:{n:064x}",
        thread_ids=(f"<m{n}@mail.example.org>",),
        kind_hint=Kind.COMPLAINT,
    )


def web_allegation(text: str, at: datetime, conversation: str) -> Submission:
    """A web chat complaint from someone who gave no name: declined and held for staff."""
    return Submission(
        channel="web",
        received_at=at,
        text=text,
        what=text,
        when_text="yesterday",
        who="a crew",
        outcome="an apology",
        person=Person(),
        conversation=conversation,
        kind_hint=Kind.COMPLAINT,
    )


def file(site: Site, sub: Submission) -> tuple[str, int]:
    """File through the real Intake; return (reference, the held draft's id)."""
    filed = site.services.intake.file(sub, sub.received_at)
    row = site.db.execute(
        "SELECT d.id FROM drafts d JOIN cases c ON c.id = d.case_id WHERE c.ref = ? "
        "AND d.status = 'pending'",
        [filed.ref],
    ).fetchone()
    assert row is not None, f"{filed.ref}: nothing held for staff"
    return filed.ref, int(row[0])


def draft_row(site: Site, draft_id: int) -> dict[str, Any]:
    cursor = site.db.execute("SELECT * FROM drafts WHERE id = ?", [draft_id])
    names = [c[0] for c in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


def outbox_rows(site: Site, draft_id: int | None = None) -> list[dict[str, Any]]:
    where, params = ("WHERE draft_id = ?", [draft_id]) if draft_id else ("", [])
    cursor = site.db.execute(f"SELECT * FROM outbox {where} ORDER BY id", params)
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def events(site: Site, ref: str, type_: str) -> list[dict[str, Any]]:
    rows = site.db.execute(
        "SELECT e.actor, e.data FROM events e JOIN cases c ON c.id = e.case_id "
        "WHERE c.ref = ? AND e.type = ? ORDER BY e.id",
        [ref, type_],
    ).fetchall()
    return [{"actor": a, **json.loads(d)} for a, d in rows]


async def signed_in(site: Site, email: str) -> aiohttp.ClientSession:
    """A browser of its own (cookies and all), signed in as `email`."""
    client = await site.new_client()
    response = await login(client, email)  # type: ignore[arg-type]
    assert response.status == 303
    return client


async def post_action(
    client: aiohttp.ClientSession, draft_id: int, form: dict[str, str], action: str
) -> aiohttp.ClientResponse:
    """Press one of a draft page's buttons with the form as the page gave it (or changed)."""
    return await client.post(
        f"/staff/drafts/{draft_id}", data={**form, "action": action}, allow_redirects=False
    )


async def draft_form(client: aiohttp.ClientSession, draft_id: int) -> tuple[str, dict[str, str]]:
    page = await client.get(f"/staff/drafts/{draft_id}")
    assert page.status == 200
    html = await page.text()
    revision = re.search(r'name="revision" value="(\d+)"', html)
    subject = re.search(r'id="subject" name="subject" value="([^"]*)"', html)
    body = re.search(r'<textarea id="body" name="body"[^>]*>(.*?)</textarea>', html, re.S)
    assert revision and subject and body, html
    return html, {
        "csrf": csrf_of(html),
        "revision": revision.group(1),
        "subject": unescape(subject.group(1)),
        "body": unescape(body.group(1)),
    }


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


# -- the queue ------------------------------------------------------------------------------


async def test_queue_orders_by_deadline_and_flags_near_and_overdue(site: Site) -> None:
    late_ref, late = file(site, email_allegation("Bins left open on Elm Street", START, 1))
    soon_ref, soon = file(
        site, email_allegation("Crew blocked the lane", START + timedelta(days=1), 2)
    )
    later_ref, _ = file(
        site, email_allegation("Noise at night from works", START + timedelta(days=6), 3)
    )
    due = {d: datetime.fromisoformat(draft_row(site, d)["due_at"]) for d in (late, soon)}
    assert due[late] < due[soon]
    # An hour before the second deadline: the first has passed, the second is near.
    site.clock.set(due[soon] - timedelta(hours=1))
    client = await signed_in(site, AGENT)
    try:
        html = await (await client.get("/staff/")).text()
    finally:
        await client.close()
    body = text_of(html)
    assert body.index(late_ref) < body.index(soon_ref) < body.index(later_ref)
    rows = {ref: text_of(row) for ref, row in _rows(html).items()}
    assert "Overdue" in rows[late_ref] and "Due soon" not in rows[late_ref]
    assert "Due soon" in rows[soon_ref] and "Overdue" not in rows[soon_ref]
    assert "Overdue" not in rows[later_ref] and "Due soon" not in rows[later_ref]
    # What a row says: kind of reply, channel, why in words, the message, how long it waited.
    assert ANON in rows[soon_ref] and "Email" in rows[soon_ref]
    assert "anonymous allegations are not investigated" in rows[soon_ref]
    assert "Crew blocked the lane" in rows[soon_ref]
    assert re.search(r"\d+ (hours|min|days)", rows[soon_ref])
    alert = re.search(r'<div class="alert" role="alert".*?</div>', html, re.S)
    assert alert and "1 draft past the deadline" in text_of(alert.group(0))
    assert late_ref in text_of(alert.group(0))


def _rows(html: str) -> dict[str, str]:
    found = {}
    for row in re.findall(r"<tr class=[^>]*>.*?</tr>", html, re.S):
        ref = re.search(r"CD-\d{4}-\d{6}", row)
        if ref:
            found[ref.group(0)] = row
    return found


async def test_resident_script_is_shown_as_text_on_queue_and_draft(site: Site) -> None:
    _, draft_id = file(site, email_allegation(f"They said {SCRIPT} to me", START))
    client = await signed_in(site, AGENT)
    try:
        for path in ("/staff/", f"/staff/drafts/{draft_id}"):
            html = await (await client.get(path)).text()
            assert SCRIPT not in html, path
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    finally:
        await client.close()


# -- approving ------------------------------------------------------------------------------


async def test_agent_edits_and_a_second_person_approves_a_sensitive_draft(site: Site) -> None:
    ref, draft_id = file(site, email_allegation("Rude inspector at 12 Oak Ave", START))
    _, other = file(site, email_allegation("Another matter", START + timedelta(days=2), 2))
    agent = await signed_in(site, AGENT)
    sup = await signed_in(site, SUPERVISOR)
    try:
        html, form = await draft_form(agent, draft_id)
        assert "Rude inspector at 12 Oak Ave" in text_of(html)  # the resident's message
        original = form["body"]
        assert "name" in original.lower()  # the template's text is the start
        form["body"] = original + "\n\nYou can also call us at 311."
        # The editor of an anonymous-declined reply cannot approve it (maker-checker).
        refused = await post_action(agent, draft_id, form, "approve")
        assert refused.status == 400
        assert "needs a second person" in text_of(await refused.text())
        assert outbox_rows(site, draft_id) == []
        row = draft_row(site, draft_id)
        assert row["status"] == "pending" and row["revision"] == 1  # the edit is kept
        assert row["body"].endswith("You can also call us at 311.")
        edited = events(site, ref, "draft-edited")
        assert [e["actor"] for e in edited] == [f"staff:{AGENT}"]
        assert edited[0]["revision"] == 1 and len(edited[0]["text"]) == 16
        # The page no longer offers the editor an approve button.
        html, form = await draft_form(agent, draft_id)
        assert "Approve and send</button>" not in html
        # Another reviewer approves the text as edited.
        _, form = await draft_form(sup, draft_id)
        done = await post_action(sup, draft_id, form, "approve")
        assert done.status == 303
        assert done.headers["Location"].startswith(f"/staff/drafts/{other}?")  # the next one
    finally:
        await agent.close()
        await sup.close()
    [item] = outbox_rows(site, draft_id)
    assert item["channel"] == "email" and item["recipient"] == "resident1@example.org"
    assert item["idempotency_key"] == reply_key(ref, ANON, "email")
    assert item["body"].endswith("You can also call us at 311.")
    headers = json.loads(item["headers"])
    assert headers["Message-ID"] == f"<{ref}.{ANON}@caredesk.city.example>" or headers[
        "Message-ID"
    ].startswith(f"<{ref}.{ANON}@")
    assert headers["In-Reply-To"] == "<m1@mail.example.org>"
    row = draft_row(site, draft_id)
    assert row["status"] == "approved" and row["reviewed_by"] == f"staff:{SUPERVISOR}"
    [approved] = events(site, ref, "draft-approved")
    assert approved["actor"] == f"staff:{SUPERVISOR}"
    assert approved["revision"] == 1 and approved["text"] == edited[0]["text"]
    assert approved["outbox_id"] == item["id"] and approved["channel"] == "email"
    audits = [r for r in audit_rows(site.db) if r["action"] == "approved-draft"]
    assert len(audits) == 1 and audits[0]["target"] == str(draft_id)


async def test_an_editor_approves_a_kind_that_needs_one_person(tmp_path: Path) -> None:
    site = await open_site(tmp_path, Config(retention_every_hours=0, two_person=frozenset()))
    try:
        ref, draft_id = file(site, email_allegation("Bins left open", START))
        agent = await signed_in(site, AGENT)
        try:
            _, form = await draft_form(agent, draft_id)
            form["body"] = "Edited by the agent.\n\n" + form["body"]
            done = await agent.post(
                f"/staff/drafts/{draft_id}",
                data={**form, "action": "approve"},
                allow_redirects=False,
            )
            assert done.status == 303
            assert done.headers["Location"].startswith("/staff/?done=approved")  # queue empty
        finally:
            await agent.close()
        [item] = outbox_rows(site, draft_id)
        assert item["body"].startswith("Edited by the agent.")
        assert [e["actor"] for e in events(site, ref, "draft-approved")] == [f"staff:{AGENT}"]
    finally:
        await site.client.close()


async def test_double_approve_sends_once_and_says_who_did_it(site: Site) -> None:
    ref, draft_id = file(site, email_allegation("Bins left open", START))
    agent = await signed_in(site, AGENT)
    second = await signed_in(site, SECOND)
    try:
        _, form = await draft_form(agent, draft_id)
        _, form2 = await draft_form(second, draft_id)
        url = f"/staff/drafts/{draft_id}"
        first = await agent.post(url, data={**form, "action": "approve"}, allow_redirects=False)
        assert first.status == 303
        again = await agent.post(url, data={**form, "action": "approve"}, allow_redirects=False)
        stale = await second.post(url, data={**form2, "action": "approve"}, allow_redirects=False)
        for response in (again, stale):
            assert response.status == 409
            said = text_of(await response.text())
            assert f"already approved and sent by {AGENT}" in said
            assert "Nothing was sent again" in said
    finally:
        await agent.close()
        await second.close()
    assert len(outbox_rows(site, draft_id)) == 1
    assert len(events(site, ref, "draft-approved")) == 1


async def test_simultaneous_approvals_send_once(site: Site) -> None:
    _, draft_id = file(site, email_allegation("Bins left open", START))
    agent = await signed_in(site, AGENT)
    second = await signed_in(site, SECOND)
    try:
        _, form = await draft_form(agent, draft_id)
        _, form2 = await draft_form(second, draft_id)
        url = f"/staff/drafts/{draft_id}"
        responses = await asyncio.gather(
            agent.post(url, data={**form, "action": "approve"}, allow_redirects=False),
            second.post(url, data={**form2, "action": "approve"}, allow_redirects=False),
        )
    finally:
        await agent.close()
        await second.close()
    assert sorted(r.status for r in responses) == [303, 409]
    assert len(outbox_rows(site, draft_id)) == 1


async def test_approving_a_text_changed_meanwhile_is_refused(site: Site) -> None:
    _, draft_id = file(site, email_allegation("Bins left open", START))
    agent = await signed_in(site, AGENT)
    sup = await signed_in(site, SUPERVISOR)
    try:
        _, old = await draft_form(sup, draft_id)
        _, form = await draft_form(agent, draft_id)
        form["body"] += "\nA change."
        saved = await post_action(agent, draft_id, form, "save")
        assert saved.status == 303
        stale = await post_action(sup, draft_id, old, "approve")
        assert stale.status == 409
        assert "changed by someone else" in text_of(await stale.text())
    finally:
        await agent.close()
        await sup.close()
    assert outbox_rows(site, draft_id) == []


async def test_web_chat_reply_waits_in_the_chat_until_the_resident_comes_back(
    site: Site,
) -> None:
    key = "web:conversation-1"
    chat = site.services.chat
    chat.open("web", key)  # the resident's conversation exists
    ref, draft_id = file(site, web_allegation("The crew shouted at me", START, key))
    assert draft_row(site, draft_id)["channel"] == "web"
    agent = await signed_in(site, AGENT)
    try:
        _, form = await draft_form(agent, draft_id)
        done = await post_action(agent, draft_id, form, "approve")
        assert done.status == 303
    finally:
        await agent.close()
    [item] = outbox_rows(site, draft_id)
    assert (item["channel"], item["recipient"]) == ("web", key)
    assert item["idempotency_key"] == reply_key(ref, ANON, "web")
    turn = chat.visit("web", key)  # the page is opened again
    assert [item["id"]] == turn.outbox_ids
    assert form["body"].splitlines()[0] in turn.replies[0].text


# -- sending back, rejecting, bulk ----------------------------------------------------------


async def test_send_back_to_the_editor_who_revises_it(site: Site) -> None:
    ref, draft_id = file(site, email_allegation("Bins left open", START))
    agent = await signed_in(site, AGENT)
    sup = await signed_in(site, SUPERVISOR)
    try:
        # A draft nobody edited has no author to go back to.
        _, form = await draft_form(sup, draft_id)
        nobody = await sup.post(
            f"/staff/drafts/{draft_id}/send-back",
            data={"csrf": form["csrf"], "revision": form["revision"], "comment": "Softer?"},
        )
        assert nobody.status == 400
        assert "no author to send it back to" in text_of(await nobody.text())
        _, form = await draft_form(agent, draft_id)
        form["body"] += "\nWe are sorry."
        await agent.post(f"/staff/drafts/{draft_id}", data={**form, "action": "save"})
        _, form = await draft_form(sup, draft_id)
        back = await sup.post(
            f"/staff/drafts/{draft_id}/send-back",
            data={
                "csrf": form["csrf"],
                "revision": form["revision"],
                "comment": "Please add the phone number.",
            },
            allow_redirects=False,
        )
        assert back.status == 303
        row = draft_row(site, draft_id)
        assert row["status"] == "returned" and row["review_note"] == "Please add the phone number."
        assert [e["actor"] for e in events(site, ref, "draft-sent-back")] == [f"staff:{SUPERVISOR}"]
        queue = text_of(await (await agent.get("/staff/")).text())
        assert "Sent back to you" in queue and "Please add the phone number." in queue
        _, form = await draft_form(agent, draft_id)
        form["body"] += "\nCall 311."
        revised = await post_action(agent, draft_id, form, "save")
        assert revised.status == 303
        assert draft_row(site, draft_id)["status"] == "pending"
    finally:
        await agent.close()
        await sup.close()


async def test_reject_needs_a_reason_and_sends_nothing(site: Site) -> None:
    ref, draft_id = file(site, email_allegation("Bins left open", START))
    agent = await signed_in(site, AGENT)
    try:
        _, form = await draft_form(agent, draft_id)
        base = {"csrf": form["csrf"], "revision": form["revision"]}
        empty = await agent.post(f"/staff/drafts/{draft_id}/reject", data={**base, "reason": ""})
        assert empty.status == 400
        assert "Write the reason for rejecting" in text_of(await empty.text())
        done = await agent.post(
            f"/staff/drafts/{draft_id}/reject",
            data={**base, "reason": "Duplicate of an earlier case."},
            allow_redirects=False,
        )
        assert done.status == 303 and "done=rejected" in done.headers["Location"]
    finally:
        await agent.close()
    row = draft_row(site, draft_id)
    assert row["status"] == "rejected" and row["review_note"] == "Duplicate of an earlier case."
    assert outbox_rows(site, draft_id) == []
    assert [e["actor"] for e in events(site, ref, "draft-rejected")] == [f"staff:{AGENT}"]
    assert any(r["action"] == "rejected-draft" for r in audit_rows(site.db))


async def test_bulk_approve_skips_edited_drafts_with_a_message(site: Site) -> None:
    drafts = [
        file(site, email_allegation(f"Matter {n}", START + timedelta(hours=n), n))
        for n in (1, 2, 3)
    ]
    (ref1, d1), (ref2, d2), (ref3, d3) = drafts
    agent = await signed_in(site, AGENT)
    sup = await signed_in(site, SUPERVISOR)
    try:
        _, form = await draft_form(agent, d2)
        form["body"] += "\nEdited."
        await agent.post(f"/staff/drafts/{d2}", data={**form, "action": "save"})
        queue = await (await sup.get("/staff/")).text()
        assert f'value="{d1}"' in queue and f'value="{d2}"' not in queue  # no box for edited
        data = [("csrf", csrf_of(queue)), ("draft", str(d1)), ("draft", str(d2))]
        data.append(("draft", str(d3)))
        done = await sup.post("/staff/drafts/approve", data=data)
        assert done.status == 200
        said = text_of(await done.text())
    finally:
        await agent.close()
        await sup.close()
    assert f"Approved and sent: 2 drafts ({ref1}, {ref3})" in said
    assert f"{ref2} was edited" in said
    assert [len(outbox_rows(site, d)) for d in (d1, d2, d3)] == [1, 0, 1]
    assert draft_row(site, d2)["status"] == "pending"


async def test_a_post_without_the_csrf_token_is_refused(site: Site) -> None:
    _, draft_id = file(site, email_allegation("Bins left open", START))
    agent = await signed_in(site, AGENT)
    try:
        _, form = await draft_form(agent, draft_id)
        del form["csrf"]
        for path, data in (
            (f"/staff/drafts/{draft_id}", {**form, "action": "approve"}),
            ("/staff/drafts/approve", {"draft": str(draft_id)}),
            (f"/staff/drafts/{draft_id}/reject", {**form, "reason": "x"}),
        ):
            refused = await agent.post(path, data=data, allow_redirects=False)
            assert refused.status == 403, path
    finally:
        await agent.close()
    assert draft_row(site, draft_id)["status"] == "pending"
    assert outbox_rows(site) == [] or all(r["draft_id"] is None for r in outbox_rows(site))


async def test_signed_out_visitors_are_sent_to_sign_in(site: Site) -> None:
    _, draft_id = file(site, email_allegation("Bins left open", START))
    page = await site.client.get(f"/staff/drafts/{draft_id}", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"].startswith("/staff/login")


async def test_a_telegram_case_is_answered_on_telegram(site: Site) -> None:
    sub = replace(web_allegation("The crew shouted", START, "telegram:4242"), channel="telegram")
    ref, draft_id = file(site, sub)
    agent = await signed_in(site, AGENT)
    try:
        _, form = await draft_form(agent, draft_id)
        done = await post_action(agent, draft_id, form, "approve")
        assert done.status == 303
    finally:
        await agent.close()
    [item] = outbox_rows(site, draft_id)
    # The Telegram worker sends rows of its channel to the chat in the recipient.
    assert (item["channel"], item["recipient"], item["status"]) == (
        "telegram",
        "telegram:4242",
        "pending",
    )
    assert item["idempotency_key"] == reply_key(ref, ANON, "telegram")
