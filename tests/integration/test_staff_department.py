"""Changing a case's department on the case page (issue 12, item 1): a CSRF-checked,
role-checked POST; one transaction with the change, a timeline event holding the old and the
new department, and an audit row. Cases are filed by the real intake, routed by the real
router, on a real SQLite file through the whole app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from bot.config import parse_config

from .test_staff_cases import act, audit_of, events, file
from .test_staff_web import (
    AGENT,
    Site,
    login,
    start_site,
)

CONFIG = parse_config(
    {
        "departments": [
            {"key": "roads", "name": "Transportation Services"},
            {"key": "parks", "name": "Parks and Forestry"},
        ],
        "routing": [{"name": "potholes", "department": "roads", "phrases": ["pothole"]}],
        "retention": {"every_hours": 0},
    }
)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    s = await start_site(tmp_path, CONFIG)
    yield s
    await s.client.close()


def department(site: Site, ref: str) -> str | None:
    row = site.db.execute("SELECT department FROM cases WHERE ref = ?", [ref]).fetchone()
    return None if row is None else row[0]


def data_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(r["data"]) for r in rows]


async def test_the_case_page_shows_the_routing_and_changes_the_department(site: Site) -> None:
    ref = file(site, text="There is a pothole in front of the park")
    assert department(site, ref) == "roads"
    await login(site.client, AGENT)
    page = unescape(await (await site.client.get(f"/staff/cases/{ref}")).text())
    assert "Routed to roads" in page and "potholes: " in page
    assert '<option value="roads" selected>Transportation Services</option>' in page
    assert "<dt>Department</dt><dd>Transportation Services</dd>" in page

    moved = await act(site, ref, "department", {"department": "parks"})
    assert moved.status == 303 and moved.headers["Location"].endswith("?done=department#done")
    assert department(site, ref) == "parks"
    [changed] = events(site, ref, "department-changed")
    assert changed["actor"].startswith("staff:")
    assert json.loads(changed["data"]) == {"old": "roads", "new": "parks"}
    [row] = audit_of(site, "changed-department")
    assert row["target"] == ref and row["detail"] == {"old": "roads", "new": "parks"}
    page = unescape(await (await site.client.get(f"/staff/cases/{ref}")).text())
    assert "Department changed from roads to parks" in page

    # Back to "waiting for staff"; the same choice again changes nothing and records nothing.
    assert (await act(site, ref, "department", {"department": ""})).status == 303
    assert department(site, ref) is None
    same = await act(site, ref, "department", {"department": ""})
    assert same.headers["Location"].endswith("?done=unchanged#done")
    assert data_of(events(site, ref, "department-changed")) == [
        {"old": "roads", "new": "parks"},
        {"old": "parks", "new": None},
    ]
    assert len(audit_of(site, "changed-department")) == 2


async def test_an_unknown_department_is_refused_with_the_field_named(site: Site) -> None:
    ref = file(site, text="There is a pothole on Elm St")
    await login(site.client, AGENT)
    refused = await act(site, ref, "department", {"department": "finance"})
    assert refused.status == 400
    page = await refused.text()
    assert "Choose a department from the list" in page and 'href="#department"' in page
    assert department(site, ref) == "roads"
    assert events(site, ref, "department-changed") == []
    assert audit_of(site, "changed-department") == []


async def test_without_csrf_or_signed_out_nothing_changes(site: Site) -> None:
    ref = file(site, text="There is a pothole on Elm St")
    signed_out = await site.client.post(
        f"/staff/cases/{ref}/department", data={"department": "parks"}, allow_redirects=False
    )
    assert signed_out.status in (303, 403)
    await login(site.client, AGENT)
    forged = await site.client.post(
        f"/staff/cases/{ref}/department", data={"csrf": "forged", "department": "parks"}
    )
    assert forged.status == 403
    assert department(site, ref) == "roads"
    assert events(site, ref, "department-changed") == []
