"""Open311 status sync (bot/tracker_sync.py) against the loopback Open311 server of the tests
(tests/open311.py) and a real store: tokens polled until the id appears, the department's
changes on the case timeline and columns (and nothing when nothing changed), one closing
draft in the review queue when the department closes, a server that is down changing nothing
until the next pass catches up, servers that refuse a list of ids, and 250 cases in a few
calls. Cases are filed by intake; their forwards are written as the forwarder writes them
(FORWARD_CONTRACT: an outbox row and its forwards row)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Services, build_app
from bot.clock import FrozenClock
from bot.config import Config, Department
from bot.health import DEGRADED, OK, Health
from bot.tracker_sync import (
    HEALTH_CHANNEL,
    OVERLAP,
    DepartmentSync,
    TrackerSync,
    run_tracker_sync,
    sync_pass,
)
from storage.cases import utc
from storage.review import review_queue
from tracker.open311 import Created, NewRequest, Open311Client, Open311Target, Pending

from ..conftest import MakeServices
from ..open311 import FakeOpen311
from ..scripts import COMPLAINT
from ..servers import run_cli

START = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
KEY = "test-key"


@dataclass
class Desk:
    """The store, the department's server and a syncer, on one frozen clock."""

    services: Services
    server: FakeOpen311
    clock: FrozenClock
    syncer: TrackerSync
    client: Open311Client

    @property
    def db(self) -> Any:
        return self.services.db

    async def run(self) -> DepartmentSync:
        [report] = await self.syncer.run_once(self.clock.now())
        return report

    def events(self, case_id: int, kind: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT data FROM events WHERE case_id = ? AND type = ? ORDER BY id", [case_id, kind]
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def case(self, case_id: int) -> dict[str, Any]:
        cursor = self.db.execute("SELECT * FROM cases WHERE id = ?", [case_id])
        names = [c[0] for c in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))

    def status_calls(self) -> list[dict[str, str]]:
        return [
            r.query for r in self.server.received if r.method == "GET" and r.path == "requests.json"
        ]

    def file(self, what: str = "A deep pothole outside number 12 broke my tyre") -> tuple[int, str]:
        """A complaint filed by intake, routed to the roads department."""
        sub = replace(COMPLAINT, received_at=self.clock.now(), text=what, what=what)
        filed = self.services.intake.file(sub, self.clock.now())
        self.db.execute("UPDATE cases SET department = 'roads' WHERE id = ?", [filed.case_id])
        return filed.case_id, filed.ref

    async def forward(self, case_id: int, ref: str) -> str:
        """Post the case to the server and record the forward as the forwarder does (sent,
        with the id, or with the token and no id yet); returns the id or the token."""
        new = NewRequest(ref, "POTHOLE", "A deep pothole", address_string="12 Main St")
        answer = await self.client.post_request(new)
        now = utc(self.clock.now())
        outbox_id = self.db.execute(
            """INSERT INTO outbox (case_id, channel, recipient, reply_kind, subject, body,
                   idempotency_key, status, next_attempt_at, created_at, sent_at)
               VALUES (?, 'tracker', 'roads', 'dept-forward', ?, '', ?, 'sent', ?, ?, ?)""",
            [case_id, ref, f"caredesk-{ref}-1", now, now, now],
        ).lastrowid
        external_id = answer.service_request_id if isinstance(answer, Created) else None
        token = answer.token if isinstance(answer, Pending) else None
        self.db.execute(
            """INSERT INTO forwards (case_id, sequence, department, target, outbox_id, status,
                   first_tried_at, token, external_id, created_at, updated_at)
               VALUES (?, 1, 'roads', 'open311', ?, 'sent', ?, ?, ?, ?, ?)""",
            [case_id, outbox_id, now, token, external_id, now, now],
        )
        if external_id is not None:
            self.db.execute("UPDATE cases SET external_id = ? WHERE id = ?", [external_id, case_id])
        return external_id or str(token)


MakeDesk = Callable[..., Awaitable[Desk]]


@pytest.fixture
async def make_desk(
    make_services: MakeServices, no_proxy: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[MakeDesk]:
    """Factory: `await make_desk(answer="token", token_polls=2, multi_id=False)` starts a
    loopback Open311 server with those options and a store whose roads department uses it."""
    monkeypatch.setenv("CAREDESK_OPEN311_KEY_ROADS", KEY)
    servers: list[FakeOpen311] = []
    async with aiohttp.ClientSession() as session:

        async def make(**options: Any) -> Desk:
            clock = FrozenClock(START)
            server = FakeOpen311(api_key=KEY, clock=clock, **options)
            await server.start()
            servers.append(server)
            roads = Department(
                key="roads",
                name="Transportation Services",
                tracker="open311",
                open311_url=server.base_url,
                open311_service_code="POTHOLE",
            )
            services = make_services(Config(departments=(roads,)), clock=clock)
            syncer = TrackerSync(
                services.db, services.policy, services.renderer, session, timeout=5.0
            )
            client = Open311Client(session, Open311Target(server.base_url, KEY, timeout=5.0))
            return Desk(services, server, clock, syncer, client)

        yield make
        for server in servers:
            await server.stop()


async def test_a_token_is_polled_until_its_id_appears(make_desk: MakeDesk) -> None:
    desk = await make_desk(answer="token", token_polls=2)
    case_id, ref = desk.file()
    token = await desk.forward(case_id, ref)

    for _ in range(2):
        report = await desk.run()
        assert (report.ids_resolved, report.tokens_waiting, report.checked) == (0, 1, 0)
        assert desk.case(case_id)["external_id"] is None
    report = await desk.run()
    assert report.ok
    assert (report.ids_resolved, report.tokens_waiting) == (1, 0)
    [request_id] = desk.server.requests
    assert desk.case(case_id)["external_id"] == request_id
    forward = desk.db.execute("SELECT token, external_id FROM forwards").fetchone()
    assert forward == (token, request_id)
    assert desk.events(case_id, "forwarded-id") == [
        {"department": "roads", "external_id": request_id}
    ]
    # The id is tracked from the same pass on, and the token is not asked again.
    assert report.checked == 1
    polls = [r for r in desk.server.received if r.path.startswith("tokens/")]
    assert len(polls) == 3
    await desk.run()
    assert len([r for r in desk.server.received if r.path.startswith("tokens/")]) == 3
    assert len(desk.events(case_id, "forwarded-id")) == 1


async def test_department_changes_go_on_the_timeline_and_the_case(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    case_id, ref = desk.file()
    request_id = await desk.forward(case_id, ref)

    # A request just made says "open" and nothing else: no news, nothing written.
    report = await desk.run()
    assert (report.checked, report.updates) == (1, 0)
    assert desk.events(case_id, "department-update") == []
    assert desk.case(case_id)["tracker_status"] is None

    desk.clock.advance(timedelta(hours=3))
    desk.server.update(
        request_id,
        status_notes="Crew booked for Monday",
        agency_responsible="Roads crew B",
        expected_datetime="2026-12-01T12:00:00-05:00",
    )
    desk.clock.advance(timedelta(minutes=10))
    report = await desk.run()
    assert report.updates == 1
    [event] = desk.events(case_id, "department-update")
    assert event == {
        "source": "open311",
        "department": "roads",
        "external_id": request_id,
        "status": "open",
        "status_notes": "Crew booked for Monday",
        "agency_responsible": "Roads crew B",
        "expected_datetime": "2026-12-01T12:00:00-05:00",
        "updated_datetime": "2026-11-25T19:00:00Z",
        "changed": ["status_notes", "agency_responsible", "expected_datetime"],
    }
    case = desk.case(case_id)
    assert case["tracker_status"] == "open"
    assert case["tracker_updated_at"] == "2026-11-25T19:00:00+00:00"
    assert case["expected_at"] == "2026-12-01T17:00:00+00:00"
    assert case["status"] == "open"

    desk.clock.advance(timedelta(days=1))
    desk.server.update(request_id, status="in_progress")
    await desk.run()
    later = desk.events(case_id, "department-update")
    assert len(later) == 2
    assert later[-1]["changed"] == ["status"]
    assert later[-1]["status_notes"] == "Crew booked for Monday"
    assert desk.case(case_id)["tracker_status"] == "in_progress"


async def test_no_event_when_nothing_changed(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    case_id, ref = desk.file()
    request_id = await desk.forward(case_id, ref)
    desk.server.update(request_id, status_notes="Inspected")
    await desk.run()
    assert len(desk.events(case_id, "department-update")) == 1
    before = desk.case(case_id)

    for _ in range(3):
        desk.clock.advance(timedelta(minutes=5))
        # The server stamps a new updated_datetime, but says the same things.
        desk.server.update(request_id, status_notes="Inspected")
        report = await desk.run()
        assert (report.checked, report.updates) == (1, 0)
    assert len(desk.events(case_id, "department-update")) == 1
    assert desk.case(case_id) == before


async def test_closed_by_the_department_drafts_one_closing_reply(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    case_id, ref = desk.file()
    request_id = await desk.forward(case_id, ref)
    desk.server.update(request_id, status="closed", status_notes="Pothole filled with asphalt")

    report = await desk.run()
    assert (report.updates, report.closing_drafts) == (1, 1)
    now = desk.clock.now()
    queue = review_queue(desk.db, now, now + timedelta(hours=4))
    [item] = [i for i in queue.items if i.reply_kind == "closing"]
    assert item.ref == ref
    assert "Transportation Services closed its service request" in item.why
    subject, body = desk.db.execute(
        "SELECT subject, body FROM drafts WHERE id = ?", [item.draft_id]
    ).fetchone()
    assert ref in subject
    assert (
        "Transportation Services told us the work is finished. Their note says: "
        "\u201cPothole filled with asphalt\u201d" in body
    )
    assert desk.case(case_id)["status"] == "open"  # staff close it
    assert desk.case(case_id)["tracker_status"] == "closed"
    [created] = desk.events(case_id, "draft-created")[-1:]
    assert created["reply"] == "closing"

    # More words from the department, a reopening and a second closing: recorded, but the
    # resident's closing reply is drafted once.
    desk.clock.advance(timedelta(hours=1))
    desk.server.update(request_id, status_notes="Pothole filled; lane repainted")
    desk.clock.advance(timedelta(hours=1))
    await desk.run()
    desk.server.update(request_id, status="open")
    await desk.run()
    desk.clock.advance(timedelta(hours=1))
    desk.server.update(request_id, status="closed")
    report = await desk.run()
    assert report.closing_drafts == 0
    assert len(desk.events(case_id, "department-update")) == 4
    drafts = desk.db.execute(
        "SELECT count(*) FROM drafts WHERE case_id = ? AND reply_kind = 'closing'", [case_id]
    ).fetchone()[0]
    assert drafts == 1


async def test_closing_reply_not_drafted_again_after_it_was_sent(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    case_id, ref = desk.file()
    request_id = await desk.forward(case_id, ref)
    desk.server.update(request_id, status="closed")
    await desk.run()
    # Staff approved it and it went out; then the department reopens and closes again.
    desk.db.execute("UPDATE drafts SET status = 'approved' WHERE reply_kind = 'closing'")
    desk.db.execute(
        """INSERT INTO outbox (case_id, channel, recipient, reply_kind, subject, body,
               idempotency_key, status, next_attempt_at, created_at)
           VALUES (?, 'email', 'jane@example.com', 'closing', 's', 'b', ?, 'sent', ?, ?)""",
        [case_id, f"{ref}:closing:email", utc(START), utc(START)],
    )
    desk.db.execute("UPDATE drafts SET status = 'rejected' WHERE reply_kind = 'closing'")
    for status in ("open", "closed"):
        desk.clock.advance(timedelta(hours=1))
        desk.server.update(request_id, status=status)
        await desk.run()
    drafts = desk.db.execute(
        "SELECT count(*) FROM drafts WHERE case_id = ? AND reply_kind = 'closing'", [case_id]
    ).fetchone()[0]
    assert drafts == 1


async def test_server_down_changes_nothing_and_the_next_pass_catches_up(
    make_desk: MakeDesk,
) -> None:
    desk = await make_desk()
    health = Health()
    case_id, ref = desk.file()
    request_id = await desk.forward(case_id, ref)
    await sync_pass(desk.syncer, desk.clock, health)
    assert health.get(HEALTH_CHANNEL).state == OK
    marked = desk.db.execute("SELECT last_synced_at FROM tracker_sync").fetchone()[0]

    desk.clock.advance(timedelta(hours=1))
    desk.server.update(request_id, status="closed", status_notes="Filled")
    await desk.server.stop()
    desk.clock.advance(timedelta(minutes=5))
    [report] = await sync_pass(desk.syncer, desk.clock, health)
    assert not report.ok
    assert report.problems[0].startswith("requests.json: network error")
    state = health.get(HEALTH_CHANNEL)
    assert state is not None and state.state == DEGRADED
    assert state.reason.startswith("roads: requests.json")
    assert desk.events(case_id, "department-update") == []
    assert desk.case(case_id)["tracker_status"] is None
    assert desk.db.execute("SELECT last_synced_at FROM tracker_sync").fetchone()[0] == marked

    # A 5xx is no better than silence.
    await desk.server.start()
    desk.server.fail("status", method="GET", path="requests.json", status=503)
    [report] = await sync_pass(desk.syncer, desk.clock, health)
    assert report.problems[0].startswith("requests.json: HTTP 503")
    assert desk.events(case_id, "department-update") == []

    desk.clock.advance(timedelta(minutes=5))
    [report] = await sync_pass(desk.syncer, desk.clock, health)
    assert report.ok and (report.updates, report.closing_drafts) == (1, 1)
    assert health.get(HEALTH_CHANNEL).state == OK
    assert [e["status"] for e in desk.events(case_id, "department-update")] == ["closed"]
    assert desk.db.execute("SELECT last_synced_at FROM tracker_sync").fetchone()[0] == utc(
        desk.clock.now()
    )


async def test_a_server_refusing_a_list_of_ids_is_asked_what_changed_since_the_last_pass(
    make_desk: MakeDesk,
) -> None:
    desk = await make_desk(multi_id=False)
    cases = [desk.file() for _ in range(3)]
    ids = [await desk.forward(case_id, ref) for case_id, ref in cases]

    first = START  # no pass yet: from the first forward on
    await desk.run()
    assert desk.status_calls()[-1] == {"updated_after": utc(first - OVERLAP).replace("+00:00", "Z")}

    desk.clock.advance(timedelta(hours=2))
    last_pass = desk.clock.now()
    await desk.run()
    desk.clock.advance(timedelta(hours=1))
    desk.server.update(ids[0], status_notes="Inspected")
    desk.server.update(ids[2], status="closed")
    desk.clock.advance(timedelta(minutes=1))
    report = await desk.run()
    assert report.ok and report.updates == 2
    calls = desk.status_calls()[-2:]
    assert "service_request_id" in calls[0]  # refused with 400
    assert calls[1] == {"updated_after": utc(last_pass - OVERLAP).replace("+00:00", "Z")}
    assert len(desk.events(cases[0][0], "department-update")) == 1
    assert desk.events(cases[1][0], "department-update") == []
    assert desk.events(cases[2][0], "department-update")[0]["status"] == "closed"


async def test_250_cases_are_synced_in_a_few_calls(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    cases = [desk.file(f"Pothole number {n} on Main Street") for n in range(250)]
    ids = [await desk.forward(case_id, ref) for case_id, ref in cases]
    for n, request_id in enumerate(ids):
        desk.server.update(request_id, status_notes=f"Inspected, crew {n % 7}")
    before = len(desk.status_calls())

    report = await desk.run()
    assert report.ok and (report.checked, report.updates) == (250, 250)
    calls = desk.status_calls()[before:]
    assert len(calls) == 5  # 50 ids a call (tracker/open311.py IDS_PER_QUERY)
    asked = [i for q in calls for i in q["service_request_id"].split(",")]
    assert sorted(asked) == sorted(ids)
    total = desk.db.execute(
        "SELECT count(*) FROM events WHERE type = 'department-update'"
    ).fetchone()[0]
    assert total == 250


async def test_closed_cases_and_other_departments_are_not_asked(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    open_id, open_ref = desk.file()
    closed_id, closed_ref = desk.file()
    await desk.forward(open_id, open_ref)
    closed_request = await desk.forward(closed_id, closed_ref)
    desk.db.execute("UPDATE cases SET status = 'closed' WHERE id = ?", [closed_id])
    report = await desk.run()
    assert report.checked == 1
    assert closed_request not in desk.status_calls()[-1]["service_request_id"].split(",")


async def test_serve_loop_reports_tracker_sync_in_health(make_desk: MakeDesk) -> None:
    desk = await make_desk()
    case_id, ref = desk.file()
    request_id = await desk.forward(case_id, ref)
    desk.server.update(request_id, status_notes="Inspected")
    health, stop = Health(), asyncio.Event()
    services = desk.services
    task = asyncio.create_task(
        run_tracker_sync(
            services.db,
            services.policy,
            services.renderer,
            desk.clock,
            health,
            every=3600,
            stop=stop,
            timeout=5.0,
        )
    )
    try:
        for _ in range(500):
            state = health.get(HEALTH_CHANNEL)
            if state is not None and state.state == OK:
                break
            await asyncio.sleep(0.01)
        assert health.report()["channels"][HEALTH_CHANNEL]["state"] == OK
        assert len(desk.events(case_id, "department-update")) == 1
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


async def sync_command(desk: Desk, tmp_path: Path, *args: str) -> tuple[int, str]:
    """Run `caredesk tracker sync` as a person would, on the desk's store and server, without
    blocking the loop the server runs in."""
    config = tmp_path / "caredesk.toml"
    config.write_text(
        '[[departments]]\nkey = "roads"\nname = "Transportation Services"\n'
        f'tracker = "open311"\nopen311_url = "{desk.server.base_url}"\n'
        'open311_service_code = "POTHOLE"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREDESK_")}
    env["CAREDESK_OPEN311_KEY_ROADS"] = KEY
    db = str(desk.services.db_path)
    return await run_cli(
        "--config", str(config), "--db", db, "tracker", "sync", "--timeout", "3", *args, env=env
    )


async def test_tracker_sync_command_runs_one_pass(make_desk: MakeDesk, tmp_path: Path) -> None:
    desk = await make_desk()
    case_id, ref = desk.file()
    request_id = await desk.forward(case_id, ref)
    desk.server.update(request_id, status="closed", status_notes="Filled")
    at = (START + timedelta(hours=1)).isoformat()

    code, out = await sync_command(desk, tmp_path, "--at", at)
    assert code == 0, out
    assert out.strip() == (
        "roads: OK, 0 id(s) resolved, 0 token(s) still waiting, 1 open case(s) checked, "
        "1 update(s) recorded, 1 closing reply(ies) drafted"
    )
    [event_at] = desk.db.execute(
        "SELECT at FROM events WHERE case_id = ? AND type = 'department-update'", [case_id]
    ).fetchone()
    assert event_at == utc(START + timedelta(hours=1))
    assert "Filled" not in out  # the department's words stay on the timeline

    await desk.server.stop()
    code, out = await sync_command(desk, tmp_path, "--json")
    assert code == 1
    [line] = out.splitlines()
    report = json.loads(line)
    assert report["department"] == "roads"
    assert report["problems"][0].startswith("requests.json: network error")


async def test_tracker_sync_command_with_a_bad_moment(make_desk: MakeDesk, tmp_path: Path) -> None:
    desk = await make_desk()
    code, out = await sync_command(desk, tmp_path, "--at", "last tuesday")
    assert code == 2
    assert "--at" in out


async def test_serve_syncs_and_healthz_says_when_the_tracker_is_down(make_desk: MakeDesk) -> None:
    """The composition root starts the loop when a department uses Open311; /healthz shows
    "tracker-sync" degraded with the reason while the server is down."""
    desk = await make_desk()
    case_id, ref = desk.file()
    await desk.forward(case_id, ref)
    await desk.server.stop()
    client = TestClient(TestServer(build_app(desk.services)))
    await client.start_server()
    try:
        channel: dict[str, Any] = {}
        for _ in range(500):
            async with client.get("/healthz") as response:
                body = await response.json()
            channel = body["channels"].get(HEALTH_CHANNEL, {})
            if channel.get("state") == DEGRADED:
                break
            await asyncio.sleep(0.01)
        assert body["status"] == DEGRADED
        assert channel["state"] == DEGRADED
        assert channel["reason"].startswith("roads: requests.json: network error")
        assert ref not in json.dumps(body)
    finally:
        await client.close()


async def test_an_id_that_appears_late_is_read_back_to_its_first_forward(
    make_desk: MakeDesk,
) -> None:
    """A server that refuses a list of ids and answered a token: the department changed the
    request before its id appeared, and before the last pass; that change is still read."""
    desk = await make_desk(answer="id", multi_id=False, token_polls=2)
    b_id, b_ref = desk.file()
    await desk.forward(b_id, b_ref)
    desk.server.answer = "token"
    a_id, a_ref = desk.file()
    await desk.forward(a_id, a_ref)
    [a_request] = [k for k, r in desk.server.requests.items() if a_ref in r["description"]]

    await desk.run()  # token waiting; B alone, one id
    desk.clock.advance(timedelta(hours=1))
    desk.server.update(a_request, status_notes="Crew sent")
    desk.clock.advance(timedelta(hours=1))
    await desk.run()  # token waiting still; the mark moves past the change
    desk.clock.advance(timedelta(hours=1))
    report = await desk.run()
    assert report.ok and report.ids_resolved == 1 and report.checked == 2
    assert desk.status_calls()[-1] == {"updated_after": "2026-11-25T15:55:00Z"}
    [event] = desk.events(a_id, "department-update")
    assert event["status_notes"] == "Crew sent"
