"""The staff pages reviewed as an attacker and as a careful staff user: every state-changing
route guarded, no redirect or header injection through `next=`, oversized or hostile input
refused in words (never a 500, never cut short without a word), a staff-typed address that
can only ever be one recipient."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.staff.access import STAFF_CSP, require_role
from mail.smtp import build_message
from storage.outbox import OutboxItem
from storage.staff import audit_rows

from .test_staff_cases import act, file
from .test_staff_queue import (
    SUPERVISOR,
    draft_form,
    draft_row,
    email_allegation,
    open_site,
    outbox_rows,
    signed_in,
    text_of,
)
from .test_staff_queue import file as queue_file
from .test_staff_web import (
    AGENT,
    PASSWORD,
    START,
    Site,
    csrf_of,
    login,
    session_cookie,
    start_site,
)

SAFE = {"GET", "HEAD", "OPTIONS"}


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    s = await start_site(tmp_path)
    yield s
    await s.client.close()


def staff_routes(app: web.Application) -> list[tuple[str, str, object]]:
    out = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if path == "/staff" or path.startswith("/staff/"):
            out.append((route.method, path, route.handler))
    return out


def concrete(path: str) -> str:
    return (
        path.replace("{draft_id}", "1")
        .replace("{staff_id}", "1")
        .replace("{forward_id}", "1")
        .replace("{ref}", "CD-2026-000001")
    )


async def test_every_staff_route_has_a_rule_and_every_post_needs_the_token(site: Site) -> None:
    routes = staff_routes(site.client.app)
    posts = [(m, p) for m, p, _ in routes if m not in SAFE]
    assert len(posts) >= 14, posts  # login, logout, the queue's, the cases', the accounts'
    for method, path, handler in routes:
        assert getattr(handler, "staff_access", None), f"{method} {path} has no access rule"
    await login(site.client, AGENT)
    ref = file(site)
    for method, path in posts:
        url = concrete(path).replace("CD-2026-000001", ref)
        response = await site.client.request(method, url, data={"x": "1"}, allow_redirects=False)
        assert response.status == 403, (method, path, response.status)
        assert "This form has expired" in await response.text()
        assert response.headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "next_page",
    [
        "/staff/\r\nSet-Cookie: x=1",
        "/staff/\nLocation: //evil.example",
        "/staff/\x00",
        "/staff/\t/x",
    ],
)
async def test_next_with_control_characters_goes_home(site: Site, next_page: str) -> None:
    response = await login(site.client, AGENT, next_page=next_page)
    assert response.status == 303
    assert response.headers["Location"] == "/staff/"
    assert "x=1" not in " ".join(response.headers.getall("Set-Cookie", []))


async def test_a_long_note_is_refused_in_words_not_cut_short(site: Site) -> None:
    await login(site.client, AGENT)
    ref = file(site)
    response = await act(site, ref, "note", {"note": "n" * 50_000})
    assert response.status == 400
    html = await response.text()
    assert "too long" in html
    assert not site.db.execute("SELECT count(*) FROM case_notes").fetchone()[0]


async def test_a_long_reply_from_the_case_page_is_refused(site: Site) -> None:
    await login(site.client, AGENT)
    ref = file(site)
    before = site.db.execute("SELECT count(*) FROM drafts").fetchone()[0]
    response = await act(site, ref, "reply", {"reply": "r" * 30_000})
    assert response.status == 400
    assert "too long" in await response.text()
    assert site.db.execute("SELECT count(*) FROM drafts").fetchone()[0] == before


async def test_a_megabyte_post_gets_a_staff_page_that_says_why(site: Site) -> None:
    await login(site.client, AGENT)
    ref = file(site)
    response = await act(site, ref, "note", {"note": "n" * 1_048_576})
    assert response.status == 413
    html = await response.text()
    assert "too long" in html and "<html" in html
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "text",
    [
        '"',
        '"flood',
        "flood*",
        "NEAR(flood storm)",
        "-flood",
        "flood OR",
        "a:b",
        "^x",
        "(",
        "x" * 7_000,
    ],
)
async def test_search_box_takes_any_text(site: Site, text: str) -> None:
    await login(site.client, AGENT)
    file(site)
    response = await site.client.get("/staff/cases", params={"text": text})
    assert response.status == 200, await response.text()


async def test_contact_email_is_one_address(site: Site) -> None:
    await login(site.client, AGENT)
    ref = file(site)
    for bad in ("a@city.example, victim@else.example", "not an address", "a@b\r\nBcc: x@y.z"):
        response = await act(
            site, ref, "correct", {"field": "contact", "contact-email": bad, "contact-name": "R"}
        )
        assert response.status == 400, bad
        assert "email address" in await response.text()
    ok = await act(site, ref, "correct", {"field": "contact", "contact-email": "res@home.example"})
    assert ok.status == 303
    assert audit_rows(site.db, "corrected-item")


async def test_a_staff_page_that_fails_keeps_the_staff_headers(tmp_path: Path) -> None:
    @require_role("agent")
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    s = await start_site(tmp_path, extra=lambda app: app.router.add_get("/staff/broken", broken))
    try:
        await login(s.client, AGENT)
        response = await s.client.get("/staff/broken")
        assert response.status == 500
        assert "something went wrong" in (await response.text()).lower()
        assert response.headers["Content-Security-Policy"] == STAFF_CSP
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Frame-Options"] == "DENY"
    finally:
        await s.client.close()


async def test_redirects_and_errors_carry_every_security_header(site: Site) -> None:
    answers = [
        await site.client.get("/staff/", allow_redirects=False),  # 303 to sign in
        await site.client.get("/staff/nowhere"),  # 404
        await site.client.put("/staff/login"),  # 405
    ]
    await login(site.client, AGENT)
    answers.append(await site.client.get("/staff/accounts"))  # 403
    answers.append(await site.client.get("/staff/cases/CD-2026-999999"))  # 404 of a case
    for response in answers:
        for name in ("X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"):
            assert name in response.headers, (response.status, name)
        assert response.headers["Cache-Control"] == "no-store", response.status
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


# -- the review queue: stale forms, ids that are not what they seem, who saw what -----------


async def test_queue_view_audit_names_the_drafts_it_showed(tmp_path: Path) -> None:
    s = await open_site(tmp_path)
    try:
        _, d1 = queue_file(s, email_allegation("Bins left open on Elm Street", START, 1))
        _, d2 = queue_file(s, email_allegation("Graffiti on the bridge", START, 2))
        await login(s.client, AGENT)
        assert (await s.client.get("/staff/")).status == 200
        [row] = audit_rows(s.db, "viewed-queue")
        detail = row["detail"]
        detail = json.loads(detail) if isinstance(detail, str) else detail
        assert sorted(detail["shown"]) == sorted([d1, d2])
        assert row["actor"] == f"staff:{AGENT}"
    finally:
        await s.client.close()


async def test_approve_after_reject_and_bulk_ids_that_are_not_waiting(tmp_path: Path) -> None:
    s = await open_site(tmp_path)
    try:
        _, rejected = queue_file(s, email_allegation("Bins left open", START, 1))
        _, waiting = queue_file(s, email_allegation("Graffiti on the bridge", START, 2))
        agent = await signed_in(s, AGENT)
        sup = await signed_in(s, SUPERVISOR)
        try:
            _, stale = await draft_form(sup, rejected)  # opened before the reject
            _, form = await draft_form(agent, rejected)
            base = {"csrf": form["csrf"], "revision": form["revision"]}
            await agent.post(f"/staff/drafts/{rejected}/reject", data={**base, "reason": "Dup."})
            late = await sup.post(f"/staff/drafts/{rejected}", data={**stale, "action": "approve"})
            assert late.status == 409
            assert "already rejected" in text_of(await late.text())
            queue = await (await sup.get("/staff/")).text()
            data = [("csrf", csrf_of(queue))]
            data += [("draft", str(i)) for i in (rejected, 999_999, waiting, waiting)]
            data += [("draft", "-1"), ("draft", "x"), ("draft", "1e3")]
            done = await sup.post("/staff/drafts/approve", data=data)
            assert done.status == 200
        finally:
            await agent.close()
            await sup.close()
        assert outbox_rows(s, rejected) == []
        assert len(outbox_rows(s, waiting)) == 1  # once, though it was ticked twice
        assert draft_row(s, rejected)["status"] == "rejected"
    finally:
        await s.client.close()


async def test_sign_in_post_without_the_form_token_is_refused(site: Site) -> None:
    """Login CSRF: another site cannot sign a staff browser into an account of its own."""
    form = {"email": AGENT, "password": PASSWORD, "next": "/staff/"}
    response = await site.client.post("/staff/login", data=form, allow_redirects=False)
    assert response.status == 403
    assert session_cookie(site.client) is None


async def test_a_staff_edited_subject_never_makes_a_header_line(tmp_path: Path) -> None:
    s = await open_site(tmp_path)
    try:
        _, draft_id = queue_file(s, email_allegation("Bins left open", START, 1))
        agent = await signed_in(s, AGENT)
        try:
            _, form = await draft_form(agent, draft_id)
            form["subject"] = "Your complaint\r\nBcc: evil@else.example\u2028X-Evil: 1"
            await agent.post(f"/staff/drafts/{draft_id}", data={**form, "action": "save"})
        finally:
            await agent.close()
        sup = await signed_in(s, SUPERVISOR)  # a sensitive kind: a second person approves
        try:
            _, form = await draft_form(sup, draft_id)
            done = await sup.post(f"/staff/drafts/{draft_id}", data={**form, "action": "approve"})
            assert done.status == 200
        finally:
            await sup.close()
        [row] = outbox_rows(s, draft_id)
        assert "\r" not in row["subject"] and "\n" not in row["subject"]
        item = OutboxItem(
            id=row["id"],
            case_id=row["case_id"],
            channel=row["channel"],
            recipient=row["recipient"],
            reply_kind=row["reply_kind"],
            subject=row["subject"],
            body=row["body"],
            idempotency_key="k",
            attempts=0,
        )
        wire = build_message(item, s.services.config.mail, START).as_bytes()
        lines = wire.split(b"\r\n") if b"\r\n" in wire else wire.split(b"\n")
        assert not any(line.lower().startswith((b"bcc:", b"x-evil:")) for line in lines)
    finally:
        await s.client.close()


async def test_after_each_action_the_next_page_opens_at_its_outcome(tmp_path: Path) -> None:
    """Keyboard flow: the redirect names `#done`, and the page it opens has that element,
    focusable, so focus starts at the outcome and the next draft's forms follow it."""
    s = await open_site(tmp_path)
    try:
        _, d1 = queue_file(s, email_allegation("Bins left open", START, 1))
        _, d2 = queue_file(s, email_allegation("Graffiti on the bridge", START, 2))
        _, d3 = queue_file(s, email_allegation("Noise at night", START, 3))
        sup = await signed_in(s, SUPERVISOR)
        try:
            _, form = await draft_form(sup, d1)
            form["body"] += "\nWith a correction."
            saved = await sup.post(
                f"/staff/drafts/{d1}", data={**form, "action": "save"}, allow_redirects=False
            )
            _, form = await draft_form(sup, d2)
            approved = await sup.post(
                f"/staff/drafts/{d2}", data={**form, "action": "approve"}, allow_redirects=False
            )
            queue = await (await sup.get("/staff/")).text()
            bulk = await sup.post(
                "/staff/drafts/approve",
                data=[("csrf", csrf_of(queue)), ("draft", str(d3))],
                allow_redirects=False,
            )
            for response in (saved, approved, bulk):
                assert response.status == 303
                location = response.headers["Location"]
                assert location.endswith("#done"), location
                page = await (await sup.get(location.removesuffix("#done"))).text()
                assert 'id="done" tabindex="-1"' in page, location
        finally:
            await sup.close()
    finally:
        await s.client.close()


HOSTILE_QUERY = {
    "before": "9" * 30,
    "trail": "1,x," + "9" * 30,
    "after_due": "x' OR 1=1 --",
    "after_id": "9" * 11,
    "due": "ack:nonsense",
    "done": "bulk",
    "approved": "1,x," + "9" * 30,
    "edited": "9" * 30,
    "disabled": "9" * 30,
    "ref": '"<script>',
    "text": 'NEAR("a" b) * -',
    "status": "<b>",
    "overdue": "2",
    "next": "//evil.example",
}


async def test_no_staff_page_fails_on_hostile_query_parameters(site: Site) -> None:
    await login(site.client, "boss@city.example.org")
    ref = file(site)
    gets = [p for m, p, _ in staff_routes(site.client.app) if m == "GET"]
    assert len(gets) >= 6, gets
    for path in gets:
        url = concrete(path).replace("CD-2026-000001", ref)
        response = await site.client.get(url, params=HOSTILE_QUERY)
        assert response.status < 500, (path, response.status, await response.text())
        assert "<script>" not in await response.text(), path
        digits = await site.client.get(
            url, params={**HOSTILE_QUERY, "before": "²", "disabled": "٣"}
        )
        assert digits.status < 500, (path, digits.status)
    for path in ("/staff/drafts/²", "/staff/drafts/" + "9" * 30, "/staff/drafts/٣"):
        assert (await site.client.get(path)).status == 404, path
    html = await (await site.client.get(f"/staff/cases/{ref}")).text()
    for value in ("9" * 30, "²"):
        data = {"csrf": csrf_of(html), "staff": value}
        response = await site.client.post(f"/staff/cases/{ref}/assign", data=data)
        assert response.status == 400, value
        posted = await site.client.post(
            "/staff/accounts/" + value + "/disable", data={"csrf": csrf_of(html)}
        )
        assert posted.status == 404, value


async def test_a_megabyte_sign_in_or_draft_post_is_refused_in_words(tmp_path: Path) -> None:
    s = await open_site(tmp_path)
    try:
        big = await s.client.post("/staff/login", data={"email": "a", "password": "p" * 2**20})
        assert big.status == 413 and "too long" in await big.text()
        assert big.headers["Content-Security-Policy"] == STAFF_CSP
        _, draft_id = queue_file(s, email_allegation("Bins left open", START, 1))
        agent = await signed_in(s, AGENT)
        try:
            _, form = await draft_form(agent, draft_id)
            for size, status in ((30_000, 400), (2**20, 413)):
                body = {**form, "body": "b" * size, "action": "save"}
                response = await agent.post(f"/staff/drafts/{draft_id}", data=body)
                assert response.status == status, size
                assert "too long" in await response.text()
        finally:
            await agent.close()
        assert draft_row(s, draft_id)["revision"] == 0
    finally:
        await s.client.close()


async def test_an_outcome_written_into_a_link_is_not_said(tmp_path: Path) -> None:
    """A link `?done=approved&ref=...` (a resident can email one to staff) must not say a
    reply was sent when it was not; the real outcome of a real action still is."""
    s = await open_site(tmp_path)
    try:
        ref, draft_id = queue_file(s, email_allegation("Bins left open", START, 1))
        sup = await signed_in(s, SUPERVISOR)
        try:
            for url in (
                f"/staff/drafts/{draft_id}?done=approved&ref={ref}",
                f"/staff/?done=approved&ref={ref}",
                f"/staff/?done=bulk&approved={draft_id}",
            ):
                page = text_of(await (await sup.get(url)).text())
                assert "Approved and sent:" not in page, url
            _, form = await draft_form(sup, draft_id)
            done = await sup.post(f"/staff/drafts/{draft_id}", data={**form, "action": "approve"})
            assert f"Approved and sent: the reply for {ref}" in text_of(await done.text())
        finally:
            await sup.close()
        other = await signed_in(s, AGENT)  # someone else's outcome is not theirs to be told
        try:
            page = text_of(await (await other.get(f"/staff/?done=approved&ref={ref}")).text())
            assert "Approved and sent:" not in page
        finally:
            await other.close()
    finally:
        await s.client.close()


async def test_an_agent_is_refused_every_route_above_the_agent_role(site: Site) -> None:
    await login(site.client, AGENT)
    token = csrf_of(await (await site.client.get("/staff/")).text())
    above = [
        (m, p)
        for m, p, h in staff_routes(site.client.app)
        if getattr(h, "staff_access", None) in ("supervisor", "admin")
    ]
    assert ("GET", "/staff/accounts") in above
    for method, path in above:
        data = {"csrf": token} if method not in SAFE else None
        response = await site.client.request(method, concrete(path), data=data)
        assert response.status == 403, (method, path)
        if method != "HEAD":
            assert "You cannot use this page" in await response.text()
    refused = audit_rows(site.db, "access-refused")
    assert len(refused) == len(above)
    assert all(r["actor"] == f"staff:{AGENT}" for r in refused)


async def test_a_long_subject_is_named_as_the_problem(tmp_path: Path) -> None:
    """A careful reviewer told "the reply is too long" would shorten the wrong field."""
    s = await open_site(tmp_path)
    try:
        _, draft_id = queue_file(s, email_allegation("Bins left open", START, 1))
        agent = await signed_in(s, AGENT)
        try:
            _, form = await draft_form(agent, draft_id)
            data = {**form, "subject": "s" * 400, "action": "save"}
            response = await agent.post(f"/staff/drafts/{draft_id}", data=data)
            assert response.status == 400
            said = text_of(await response.text())
            assert "The subject is too long (at most 300 characters)" in said
            assert "The reply is too long" not in said
        finally:
            await agent.close()
    finally:
        await s.client.close()


async def test_enter_in_the_subject_never_sends(tmp_path: Path) -> None:
    """Implicit submission (Enter in a text field) uses the form's first submit button, and
    a post without the button's value must not send either: sending cannot be undone."""
    s = await open_site(tmp_path)
    try:
        _, draft_id = queue_file(s, email_allegation("Bins left open", START, 1))
        sup = await signed_in(s, SUPERVISOR)
        try:
            html, form = await draft_form(sup, draft_id)
            main_form = html[html.index(f'action="/staff/drafts/{draft_id}"') :]
            first_button = re.search(r"<button[^>]*>", main_form)
            assert first_button and 'value="save"' in first_button.group(0)
            response = await sup.post(f"/staff/drafts/{draft_id}", data=form)
            assert response.status == 200
        finally:
            await sup.close()
        assert outbox_rows(s, draft_id) == []
        assert draft_row(s, draft_id)["status"] == "pending"
    finally:
        await s.client.close()
