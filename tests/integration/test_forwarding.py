"""Forwarding a case to its department's tracker, through the outbox (issue 12, items 3-5).

Against real loopback servers: the Open311 server of the tests (tests/open311.py), a webhook
receiver that checks the signature, and aiosmtpd. The tracker worker is the outbox worker
every channel uses, driven pass by pass (`drain`) on a frozen clock.
"""

from __future__ import annotations

import email
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from email.message import Message
from typing import Any

import pytest
import sqlite_utils
from aiohttp import web

from bot.app import Services
from bot.clock import FrozenClock
from bot.config import Config, parse_config
from bot.forwarding import forward_if_due
from bot.outbox_worker import OutboxWorker
from bot.staff.cases import staff_place
from bot.tracker_service import check_service_mapping, forward_worker
from storage.case_work import case_state, correct_place
from storage.db import write_transaction
from storage.departments import change_department
from storage.forwards import dead_letters, forwards_of_case, retry, supersede_pending
from tracker.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify_signature

from ..conftest import NOW, MakeServices
from ..open311 import FakeOpen311
from ..servers import LOOPBACK, SmtpSink, free_port
from ..unit.test_storage import submission

KEY = "test-key"
SECRET = "webhook-secret-for-tests"
POTHOLE = "There is a deep pothole on Elm Street that broke my tire"


def config(
    open311_url: str = "http://127.0.0.1:9/open311/v2",
    webhook_url: str = "http://127.0.0.1:9/hook",
    smtp_port: int = 9,
    **tracker: Any,
) -> Config:
    return parse_config(
        {
            "tracker": {"timeout_seconds": 1, "retry_base_seconds": 1, **tracker},
            "mail": {
                "address": "feedback@city.example",
                "smtp": {"host": LOOPBACK, "port": smtp_port, "security": "none"},
            },
            "departments": [
                {
                    "key": "roads",
                    "name": "Transportation Services",
                    "tracker": "open311",
                    "open311_url": open311_url,
                    "open311_service_code": "POTHOLE",
                    "open311_service_codes": {"lights": "STREETLIGHT"},
                    "link": "https://311.city.example/requests/{id}",
                },
                {
                    "key": "water",
                    "name": "Water",
                    "tracker": "webhook",
                    "webhook_url": webhook_url,
                },
                {
                    "key": "waste",
                    "name": "Solid Waste",
                    "tracker": "email",
                    "email": "waste@city.example",
                },
                {"key": "parks", "name": "Parks", "tracker": "none"},
            ],
            "routing": [
                {"name": "lights", "department": "roads", "phrases": ["street light"]},
                {"name": "potholes", "department": "roads", "phrases": ["pothole"]},
                {"name": "water", "department": "water", "phrases": ["water main"]},
                {"name": "garbage", "department": "waste", "phrases": ["garbage"]},
                {"name": "parks", "department": "parks", "phrases": ["playground"]},
            ],
        }
    )


ELM = {"text": "Elm Street and 5th Ave", "kind": "intersection", "address": "Elm St & 5th Ave"}


def file_case(
    s: Services, text: str = POTHOLE, place: dict[str, Any] | None = ELM
) -> tuple[str, int]:
    """File a case through intake; the place is set on the stored case (as the dialogue's
    "where" step stores it)."""
    filed = s.intake.file(submission(received_at=NOW, text=text, what=text), NOW)
    (case_id,) = s.db.execute("SELECT id FROM cases WHERE ref = ?", [filed.ref]).fetchone()
    with write_transaction(s.db):
        stored = json.dumps(place) if place else None
        s.db.execute("UPDATE cases SET place = ? WHERE id = ?", [stored, case_id])
    return filed.ref, int(case_id)


def case_columns(db: sqlite_utils.Database, case_id: int) -> dict[str, Any]:
    row = db.execute(
        "SELECT external_id, external_url, acked_at, attention FROM cases WHERE id = ?", [case_id]
    ).fetchone()
    return dict(zip(("external_id", "external_url", "acked_at", "attention"), row, strict=True))


def event_types(db: sqlite_utils.Database, case_id: int) -> list[str]:
    rows = db.execute("SELECT type FROM events WHERE case_id = ? ORDER BY id", [case_id])
    return [r[0] for r in rows.fetchall()]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def open311(no_proxy: None, clock: FrozenClock) -> AsyncIterator[FakeOpen311]:
    server = FakeOpen311(api_key=KEY, clock=clock)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def with_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREDESK_OPEN311_KEY", KEY)
    monkeypatch.setenv("CAREDESK_WEBHOOK_SECRET", SECRET)


def worker_for(s: Services) -> OutboxWorker:
    worker = forward_worker(s.db, s.config, s.clock)
    worker.sender.token_poll_seconds = 0  # type: ignore[attr-defined]
    return worker


async def test_a_routed_case_is_forwarded_once_with_its_id_and_link_on_the_case(
    make_services: MakeServices, open311: FakeOpen311, clock: FrozenClock, with_key: None
) -> None:
    s = make_services(config(open311.base_url), clock=clock)
    ref, case_id = file_case(s)
    [queued] = forwards_of_case(s.db, case_id)
    assert (queued.status, queued.department, queued.target, queued.sequence) == (
        "pending",
        "roads",
        "open311",
        1,
    )
    worker = worker_for(s)
    assert await worker.drain() == 1
    assert await worker.drain() == 0  # nothing left: sent once
    [post] = open311.posts()
    assert post.form["service_code"] == "POTHOLE"
    assert post.form["api_key"] == KEY
    assert f"[caredesk {ref}]" in post.form["description"]
    assert "broke my tire" in post.form["description"]
    assert post.form["address_string"] == "Elm St & 5th Ave"
    assert "email" not in post.form and "phone" not in post.form  # contact not shared
    [sent] = forwards_of_case(s.db, case_id)
    assert sent.status == "sent" and sent.external_id == "1001"
    columns = case_columns(s.db, case_id)
    assert columns["external_id"] == "1001"
    assert columns["external_url"] == "https://311.city.example/requests/1001"
    # Forwarding tells the department, not the resident: the acknowledgement clock runs on.
    assert columns["acked_at"] is None
    assert "forwarded" in event_types(s.db, case_id)
    await worker.sender.close()


async def test_the_category_mapping_chooses_the_service_code(
    make_services: MakeServices, open311: FakeOpen311, clock: FrozenClock, with_key: None
) -> None:
    s = make_services(config(open311.base_url), clock=clock)
    file_case(s, "The street light on Oak Avenue is out since Monday")
    worker = worker_for(s)
    await worker.drain()
    [post] = open311.posts()
    assert post.form["service_code"] == "STREETLIGHT"
    assert await check_service_mapping(s.config) == []
    await worker.sender.close()


async def test_an_unknown_service_code_is_reported_at_start(
    make_services: MakeServices, open311: FakeOpen311, with_key: None
) -> None:
    cfg = config(open311.base_url)
    roads = cfg.departments[0]
    broken = parse_config(
        {
            "departments": [
                {
                    "key": roads.key,
                    "name": roads.name,
                    "tracker": "open311",
                    "open311_url": open311.base_url,
                    "open311_service_code": "NO-SUCH-CODE",
                }
            ]
        }
    )
    problems = await check_service_mapping(broken)
    assert len(problems) == 1 and "NO-SUCH-CODE" in problems[0]


async def test_a_token_answer_is_exchanged_for_the_id(
    make_services: MakeServices, open311: FakeOpen311, clock: FrozenClock, with_key: None
) -> None:
    open311.answer, open311.token_polls = "token", 1
    s = make_services(config(open311.base_url), clock=clock)
    _, case_id = file_case(s)
    worker = worker_for(s)
    await worker.drain()
    [sent] = forwards_of_case(s.db, case_id)
    assert sent.status == "sent" and sent.external_id == "1001" and sent.token is None
    await worker.sender.close()


async def test_a_token_still_waiting_is_kept_for_status_sync(
    make_services: MakeServices, open311: FakeOpen311, clock: FrozenClock, with_key: None
) -> None:
    open311.answer, open311.token_polls = "token", 50
    s = make_services(config(open311.base_url), clock=clock)
    _, case_id = file_case(s)
    worker = worker_for(s)
    await worker.drain()
    [sent] = forwards_of_case(s.db, case_id)
    assert sent.status == "sent" and sent.external_id is None and sent.token
    assert case_columns(s.db, case_id)["external_id"] is None
    await worker.sender.close()


async def test_a_timeout_after_the_server_created_the_request_makes_no_second_one(
    make_services: MakeServices, open311: FakeOpen311, clock: FrozenClock, with_key: None
) -> None:
    s = make_services(config(open311.base_url), clock=clock)
    _, case_id = file_case(s)
    open311.fail("slow", method="POST", path="requests.json", delay=5.0)
    worker = worker_for(s)
    assert await worker.drain() == 0  # timed out: retried later
    assert len(open311.requests) == 1  # ...but the server made it
    clock.advance(timedelta(minutes=5))
    assert await worker.drain() == 1
    assert len(open311.requests) == 1 and len(open311.posts()) == 1  # looked up, not posted
    [sent] = forwards_of_case(s.db, case_id)
    assert sent.external_id == next(iter(open311.requests))
    await worker.sender.close()


async def test_a_5xx_is_retried_with_backoff(
    make_services: MakeServices, open311: FakeOpen311, clock: FrozenClock, with_key: None
) -> None:
    s = make_services(config(open311.base_url), clock=clock)
    _, case_id = file_case(s)
    open311.fail("status", method="POST", path="requests.json", status=503)
    worker = worker_for(s)
    assert await worker.drain() == 0
    [waiting] = forwards_of_case(s.db, case_id)
    assert waiting.status == "pending" and waiting.attempts == 1
    assert "503" in (waiting.last_error or "")
    assert await worker.drain() == 0  # not due yet: backoff
    clock.advance(timedelta(seconds=5))
    assert await worker.drain() == 1
    assert len(open311.requests) == 1
    await worker.sender.close()


async def test_a_4xx_goes_to_the_dead_letter_list_with_the_trackers_words_and_can_be_retried(
    make_services: MakeServices, open311: FakeOpen311, clock: FrozenClock, with_key: None
) -> None:
    s = make_services(config(open311.base_url), clock=clock)
    ref, case_id = file_case(s)
    errors = [{"code": "400", "description": "address_string is outside the city"}]
    open311.fail("status", method="POST", path="requests.json", status=400, errors=errors)
    worker = worker_for(s)
    assert await worker.drain() == 0
    [dead] = dead_letters(s.db)
    assert dead.ref == ref and dead.status == "dead"
    assert "address_string is outside the city" in dead.errors[0]
    assert "forward-failed" in event_types(s.db, case_id)
    assert "failed" in (case_columns(s.db, case_id)["attention"] or "")
    clock.advance(timedelta(hours=1))
    assert await worker.drain() == 0  # dead stays dead until staff act
    with write_transaction(s.db):
        assert retry(s.db, dead.id, "staff:1", clock.now())
        assert not retry(s.db, dead.id, "staff:1", clock.now())  # a double click: once
    assert await worker.drain() == 1
    assert dead_letters(s.db) == [] and len(open311.requests) == 1
    await worker.sender.close()


async def test_too_many_failures_go_to_the_dead_letter_list(
    make_services: MakeServices, open311: FakeOpen311, clock: FrozenClock, with_key: None
) -> None:
    s = make_services(config(open311.base_url, max_attempts=2), clock=clock)
    file_case(s)
    open311.fail("status", method="POST", path="requests.json", status=502, times=2)
    worker = worker_for(s)
    await worker.drain()
    clock.advance(timedelta(minutes=1))
    await worker.drain()
    [dead] = dead_letters(s.db)
    assert dead.attempts == 2 and "502" in dead.errors[0]
    await worker.sender.close()


async def test_a_missing_api_key_is_a_dead_letter_that_says_what_to_set(
    make_services: MakeServices, open311: FakeOpen311, clock: FrozenClock
) -> None:
    s = make_services(config(open311.base_url), clock=clock)
    file_case(s)
    worker = worker_for(s)
    await worker.drain()
    [dead] = dead_letters(s.db)
    assert "CAREDESK_OPEN311_KEY" in dead.errors[0]
    assert open311.posts() == []
    await worker.sender.close()


async def test_coordinates_go_as_lat_and_long_and_no_place_is_a_dead_letter(
    make_services: MakeServices, open311: FakeOpen311, clock: FrozenClock, with_key: None
) -> None:
    s = make_services(config(open311.base_url), clock=clock)
    file_case(
        s,
        place={"text": "43.6532,-79.3832", "kind": "coordinates", "lat": 43.6532, "long": -79.3832},
    )
    _, nowhere = file_case(s, place=None)
    worker = worker_for(s)
    assert await worker.drain() == 1
    [post] = open311.posts()
    assert (post.form["lat"], post.form["long"]) == ("43.6532", "-79.3832")
    assert "address_string" not in post.form
    [dead] = dead_letters(s.db)
    assert dead.case_id == nowhere and "no place" in dead.errors[0]
    # Staff add the place on the case page (the same storage call), then retry.
    state = case_state(s.db, dead.ref)
    assert state is not None
    with write_transaction(s.db):
        place = staff_place("corner of Queen St and Spadina Ave")
        correct_place(s.db, state, "staff:1", None, place.to_json(), place.text, clock.now())
        assert retry(s.db, dead.id, "staff:1", clock.now())
    assert await worker.drain() == 1
    assert "Queen St and Spadina Ave" in open311.posts()[-1].form["address_string"]
    await worker.sender.close()


async def test_declined_and_unrouted_cases_are_not_forwarded(
    make_services: MakeServices, clock: FrozenClock
) -> None:
    s = make_services(config(), clock=clock)
    _, parks = file_case(s, "The playground swing is broken")  # tracker = "none"
    _, nobody = file_case(s, "The snow plough blocked my driveway")  # no rule
    assert forwards_of_case(s.db, parks) == [] and forwards_of_case(s.db, nobody) == []


async def test_a_department_change_supersedes_the_pending_forward_and_reforwards(
    make_services: MakeServices, open311: FakeOpen311, clock: FrozenClock, with_key: None
) -> None:
    s = make_services(config(open311.base_url), clock=clock)
    _, case_id = file_case(s)
    with write_transaction(s.db):
        change_department(s.db, case_id, "staff:1", "waste", clock.now())
        supersede_pending(s.db, case_id, clock.now())
        forward_if_due(s.db, s.config, case_id, clock.now())
    first, second = forwards_of_case(s.db, case_id)
    assert (first.status, first.department) == ("superseded", "roads")
    assert (second.status, second.department, second.sequence) == ("pending", "waste", 2)
    worker = worker_for(s)
    await worker.drain()  # the Open311 forward is not sent: it was superseded
    assert open311.posts() == []
    await worker.sender.close()


# -- webhook ---------------------------------------------------------------------------------


class Receiver:
    """A department's webhook endpoint: checks the signature, answers as told."""

    def __init__(self) -> None:
        self.port = free_port()
        self.seen: list[tuple[str, bool, dict[str, Any]]] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        valid = verify_signature(SECRET, body, request.headers.get(SIGNATURE_HEADER))
        self.seen.append((request.headers.get(IDEMPOTENCY_HEADER, ""), valid, json.loads(body)))
        status, answer = self.answers.pop(0) if self.answers else (201, {"id": "W-77"})
        return web.json_response(answer, status=status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, LOOPBACK, self.port).start()


@pytest.fixture
async def receiver(no_proxy: None) -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    assert r.runner is not None
    await r.runner.cleanup()


async def test_a_webhook_forward_is_signed_and_keeps_its_idempotency_key_on_retry(
    make_services: MakeServices, receiver: Receiver, clock: FrozenClock, with_key: None
) -> None:
    s = make_services(config(webhook_url=receiver.url), clock=clock)
    ref, case_id = file_case(s, "The water main on Pine Road burst this morning")
    receiver.answers.append((503, {"error": "busy"}))
    worker = worker_for(s)
    assert await worker.drain() == 0
    clock.advance(timedelta(seconds=5))
    assert await worker.drain() == 1
    (key1, valid1, _), (key2, valid2, body2) = receiver.seen
    assert valid1 and valid2
    assert key1 == key2 == f"caredesk-{ref}-1"
    assert body2["reference"] == ref and body2["department"] == "water"
    assert "contact" not in body2  # share_contact is off
    [sent] = forwards_of_case(s.db, case_id)
    assert sent.external_id == "W-77"
    await worker.sender.close()


# -- email -----------------------------------------------------------------------------------


def _only(messages: list[bytes]) -> Message:
    [raw] = messages
    return email.message_from_bytes(raw)


async def test_an_email_forward_goes_to_the_department_as_automatic_mail(
    make_services: MakeServices, smtp_sink: SmtpSink, clock: FrozenClock
) -> None:
    s = make_services(config(smtp_port=smtp_sink.port), clock=clock)
    ref, case_id = file_case(s, "The garbage truck skipped Birch Lane two weeks in a row")
    worker = worker_for(s)
    assert await worker.drain() == 1
    msg = _only(smtp_sink.messages)
    assert msg["To"] == "waste@city.example"
    assert f"[{ref}]" in msg["Subject"]
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"].startswith(f"<{ref}.forward-1@")
    body = msg.get_payload(decode=True)
    assert isinstance(body, bytes) and b"garbage" in body
    assert b"zoe@example.org" not in body  # contact not shared
    assert case_columns(s.db, case_id)["acked_at"] is None
    [sent] = forwards_of_case(s.db, case_id)
    assert sent.status == "sent"
    await worker.sender.close()


async def test_a_chat_complaint_reaches_open311_with_the_place_the_resident_gave(
    make_services: MakeServices, open311: FakeOpen311, clock: FrozenClock, with_key: None
) -> None:
    """The whole path: the dialogue asks where, intake routes and queues the forward, the
    tracker worker posts it with the address the resident typed."""
    from ..unit.test_chat_service import converse

    s = make_services(config(open311.base_url), clock=clock)
    script = [
        "1",
        "no",
        "There is a deep pothole that broke my tire",
        "corner of King Street and Bathurst Street",
        "yesterday at 3pm",
        "nobody",
        "fill the pothole",
        "Jane Doe",
        "me",
        "jane@example.com",
        "confirm",
    ]
    filed = converse(s.chat, script, key="web:pothole")
    assert filed.ref is not None
    worker = worker_for(s)
    assert await worker.drain() == 1
    [post] = open311.posts()
    assert "King Street and Bathurst Street" in post.form["address_string"]
    assert f"[caredesk {filed.ref}]" in post.form["description"]
    await worker.sender.close()
