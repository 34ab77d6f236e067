"""Forwarding on the staff pages (issue 12, items 4-5): the dead-letter list with the tracker's
own words, a CSRF-checked and audited retry, and the case page's "Sent to the department"
section with the external id and its link. The whole app runs, on a real SQLite file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import pytest

from bot.config import parse_config
from storage.cases import get_case
from storage.db import write_transaction
from storage.forwards import Receipt, forwards_of_case, record_forwarded
from storage.outbox import mark_failed

from .test_staff_cases import act, audit_of, case_id, events, file
from .test_staff_web import AGENT, Site, csrf_of, login, start_site

CONFIG = parse_config(
    {
        "departments": [
            {
                "key": "water",
                "name": "Water and Wastewater",
                "tracker": "webhook",
                # Nothing listens here: the worker's own tries fail and are retried later.
                "webhook_url": "http://127.0.0.1:9/hook",
                "link": "https://tickets.city.example/water/{id}",
            }
        ],
        "routing": [{"name": "water", "department": "water", "phrases": ["water main"]}],
        "retention": {"every_hours": 0},
        "tracker": {"retry_base_seconds": 3600},
    }
)
WORDS = "422: the field 'address' is required by this receiver"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    s = await start_site(tmp_path, CONFIG)
    yield s
    await s.client.close()


def dead_forward(site: Site, ref: str) -> int:
    """The case's forward, given up with the receiver's words (as the worker does after a
    4xx: storage/outbox.mark_failed)."""
    [forward] = forwards_of_case(site.db, case_id(site, ref))
    with write_transaction(site.db):
        mark_failed(site.db, forward.outbox_id, WORDS, site.clock.now())
    return forward.id


async def test_the_dead_letter_list_shows_the_trackers_words_and_retries_once(site: Site) -> None:
    ref = file(site, text="The water main burst on Pine Road", what="water main burst")
    forward_id = dead_forward(site, ref)
    await login(site.client, AGENT)
    page = await site.client.get("/staff/forwards")
    assert page.status == 200
    html = unescape(await page.text())
    assert "Forwards that failed (1)" in html
    assert ref in html and WORDS in html and "Water and Wastewater" in html
    token = csrf_of(html)

    refused = await site.client.post(
        f"/staff/forwards/{forward_id}/retry", data={}, allow_redirects=False
    )
    assert refused.status == 403  # no CSRF token: nothing happens
    assert forwards_of_case(site.db, case_id(site, ref))[0].status == "dead"

    done = await site.client.post(
        f"/staff/forwards/{forward_id}/retry", data={"csrf": token}, allow_redirects=False
    )
    assert done.status == 303 and done.headers["Location"].endswith("?done=retried")
    [forward] = forwards_of_case(site.db, case_id(site, ref))
    assert forward.status == "pending"  # back in the queue: the same row and key
    [retried] = events(site, ref, "forward-retried")
    assert retried["actor"].startswith("staff:")
    [row] = audit_of(site, "retried-forward")
    assert row["target"] == ref and row["detail"]["department"] == "water"

    again = await site.client.post(
        f"/staff/forwards/{forward_id}/retry", data={"csrf": token}, allow_redirects=False
    )
    assert again.headers["Location"].endswith("?done=unchanged")
    assert len(events(site, ref, "forward-retried")) == 1
    missing = await site.client.post(
        "/staff/forwards/99999/retry", data={"csrf": token}, allow_redirects=False
    )
    assert missing.status == 404


async def test_the_case_page_shows_the_external_id_link_and_a_retry_for_a_dead_forward(
    site: Site,
) -> None:
    ref = file(site, text="The water main burst on Pine Road", what="water main burst")
    dead_forward(site, ref)
    await login(site.client, AGENT)
    html = unescape(await (await site.client.get(f"/staff/cases/{ref}")).text())
    assert "Sent to the department" in html and "Failed: needs staff" in html
    assert WORDS in html and 'name="back" value="case"' in html
    assert "Forward to water failed" in html  # the timeline, in words

    other = file(site, text="Low water pressure: the water main again", what="water main")
    [forward] = forwards_of_case(site.db, case_id(site, other))
    with write_transaction(site.db):
        url = "https://tickets.city.example/water/W-9"
        record_forwarded(site.db, forward.outbox_id, Receipt("W-9", url), site.clock.now())
    html = unescape(await (await site.client.get(f"/staff/cases/{other}")).text())
    assert 'href="https://tickets.city.example/water/W-9"' in html
    assert 'Forwarded to water: <span class="detail">their id: W-9</span>' in html
    shown = get_case(site.db, other)
    assert shown is not None
    assert (shown["external_id"], shown["external_url"]) == ("W-9", url)
    assert [(f["department"], f["status"], f["external_id"]) for f in shown["forwards"]] == [
        ("water", "sent", "W-9")
    ]
    json.dumps(shown)  # `caredesk cases show --json` prints it as it is


async def test_changing_the_department_on_the_case_page_reforwards_the_case(site: Site) -> None:
    ref = file(site, text="Please look at the snow plough damage", what="plough damage")
    assert forwards_of_case(site.db, case_id(site, ref)) == []  # no rule: waits for staff
    await login(site.client, AGENT)
    assert (await act(site, ref, "department", {"department": "water"})).status == 303
    [first] = forwards_of_case(site.db, case_id(site, ref))
    assert (first.department, first.sequence) == ("water", 1)
    # Back to "no department" before it went: the forward is cancelled, not sent.
    assert (await act(site, ref, "department", {"department": ""})).status == 303
    [cancelled] = forwards_of_case(site.db, case_id(site, ref))
    assert cancelled.status == "superseded"  # (pending, or dead: no secret is set here)
    assert (await act(site, ref, "department", {"department": "water"})).status == 303
    second = forwards_of_case(site.db, case_id(site, ref))[-1]
    assert (second.department, second.sequence) == ("water", 2)
    html = unescape(await (await site.client.get(f"/staff/cases/{ref}")).text())
    assert "Queued for water (webhook)" in html


async def test_staff_correct_where_it_is_on_the_case_page(site: Site) -> None:
    """A forward to Open311 fails without a place; staff add it here, then retry."""
    ref = file(site, text="The water main burst", what="water main burst")
    await login(site.client, AGENT)

    def place() -> dict[str, object] | None:
        shown = get_case(site.db, ref)
        assert shown is not None
        return shown["place"]

    done = await act(site, ref, "correct", {"field": "place", "item-place": "12 Elm Street"})
    assert done.status == 303 and done.headers["Location"].endswith("?done=place#done")
    assert place() == {
        "address": "12 Elm Street",
        "kind": "address",
        "lat": None,
        "long": None,
        "text": "12 Elm Street",
    }
    await act(site, ref, "correct", {"field": "place", "item-place": "43.6532, -79.3832"})
    found = place()
    assert found is not None and (found["lat"], found["long"]) == (43.6532, -79.3832)
    refused = await act(site, ref, "correct", {"field": "place", "item-place": "at 5 pm"})
    assert refused.status == 400
    assert "sounds like when it happened" in unescape(await refused.text())
    assert (await act(site, ref, "correct", {"field": "place", "item-place": "  "})).status == 303
    assert place() is None
    html = unescape(await (await site.client.get(f"/staff/cases/{ref}")).text())
    assert "Corrected: Where it is" in html and "from “12 Elm Street”" in html
    assert [r["detail"]["item"] for r in audit_of(site, "corrected-item")] == ["place"] * 3
