"""The Open311 client (tracker/open311.py) against the loopback Open311 server of the tests
(tests/open311.py): both answers of the standard, token polling, error arrays, failures
classified, and no second ticket after a timeout that hid a created request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from bot.clock import FrozenClock
from tracker.open311 import (
    Contact,
    Created,
    NewRequest,
    Open311Client,
    Open311Error,
    Open311Target,
    Pending,
    check_service_codes,
)

from ..open311 import FakeOpen311

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
REF = "CD-2026-000001"

MakeServer = Callable[..., Awaitable[FakeOpen311]]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
async def make_server(no_proxy: None, clock: FrozenClock) -> AsyncIterator[MakeServer]:
    """Factory: `await make_server(answer="token", ...)` starts a loopback Open311 server on
    the test's clock; all are stopped at the end."""
    made: list[FakeOpen311] = []

    async def make(**options: Any) -> FakeOpen311:
        server = FakeOpen311(clock=clock, **options)
        await server.start()
        made.append(server)
        return server

    yield make
    for server in made:
        await server.stop()


@pytest.fixture
async def session(no_proxy: None) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def client_for(
    session: aiohttp.ClientSession, server: FakeOpen311, *, timeout: float = 5.0, key: str = ""
) -> Open311Client:
    target = Open311Target(server.base_url, key or server.api_key, timeout=timeout)
    return Open311Client(session, target)


def pothole(ref: str = REF, **changes: Any) -> NewRequest:
    fields: dict[str, Any] = {
        "reference": ref,
        "service_code": "POTHOLE",
        "text": "A deep pothole in the right lane.",
        "address_string": "12 Main St",
    }
    fields.update(changes)
    return NewRequest(**fields)


async def test_services_are_read(make_server: MakeServer, session: aiohttp.ClientSession) -> None:
    server = await make_server()
    services = await client_for(session, server).services()
    assert [s.service_code for s in services] == ["POTHOLE", "STREETLIGHT"]
    assert services[0].service_name == "Pothole"
    assert services[0].group == "Streets"
    mapping = {"roads": "POTHOLE", "lights": "STREETLIGHT", "noise": "NOISE"}
    assert check_service_codes(mapping, services) == [
        "category 'noise': the server has no service code 'NOISE'"
    ]


async def test_services_unavailable_is_retryable(
    make_server: MakeServer, session: aiohttp.ClientSession
) -> None:
    server = await make_server()
    server.fail("status", path="services.json", status=502)
    with pytest.raises(Open311Error) as caught:
        await client_for(session, server).services()
    assert (caught.value.status, caught.value.retryable) == (502, True)
    assert not caught.value.maybe_created  # a GET creates nothing


async def test_post_answered_with_an_id(
    make_server: MakeServer, session: aiohttp.ClientSession
) -> None:
    server = await make_server()
    contact = Contact(email="ann@example.org", first_name="Ann")
    result = await client_for(session, server).post_request(
        pothole(lat=43.65, long=-79.38, contact=contact)
    )
    assert isinstance(result, Created)
    assert result.service_request_id in server.requests
    (post,) = server.posts()
    assert post.form["api_key"] == server.api_key
    assert post.form["service_code"] == "POTHOLE"
    assert "[caredesk CD-2026-000001]" in post.form["description"]
    assert (post.form["lat"], post.form["long"]) == ("43.65", "-79.38")
    # Coordinates win; no address sent beside them. Contact fields are off by default.
    assert "address_string" not in post.form
    assert not {"email", "first_name", "last_name", "phone"} & post.form.keys()


async def test_contact_fields_sent_only_when_allowed(
    make_server: MakeServer, session: aiohttp.ClientSession
) -> None:
    server = await make_server()
    contact = Contact(email="ann@example.org", first_name="Ann", phone="")
    await client_for(session, server).post_request(pothole(contact=contact), share_contact=True)
    (post,) = server.posts()
    assert post.form["email"] == "ann@example.org"
    assert post.form["first_name"] == "Ann"
    assert "phone" not in post.form
    assert post.form["address_string"] == "12 Main St"


async def test_post_answered_with_a_token_then_polled_until_the_id_appears(
    make_server: MakeServer, session: aiohttp.ClientSession
) -> None:
    server = await make_server(answer="token", token_polls=2)
    client = client_for(session, server)
    result = await client.post_request(pothole())
    assert isinstance(result, Pending)
    assert await client.poll_token(result.token) is None
    assert await client.poll_token(result.token) is None
    request_id = await client.poll_token(result.token)
    assert request_id is not None and request_id in server.requests
    assert [r.path for r in server.received].count(f"tokens/{result.token}.json") == 3


async def test_unknown_token_is_permanent(
    make_server: MakeServer, session: aiohttp.ClientSession
) -> None:
    server = await make_server(answer="token")
    with pytest.raises(Open311Error) as caught:
        await client_for(session, server).poll_token("tok-none")
    assert caught.value.status == 404
    assert not caught.value.retryable
    assert "not found" in caught.value.words()


@pytest.mark.parametrize(
    ("key", "code", "status", "words"),
    [
        ("wrong-key", "POTHOLE", 403, "403: Invalid api_key"),
        ("", "NO-SUCH", 400, "400: Service code 'NO-SUCH' is invalid"),
    ],
)
async def test_4xx_is_permanent_with_the_servers_words(
    make_server: MakeServer,
    session: aiohttp.ClientSession,
    key: str,
    code: str,
    status: int,
    words: str,
) -> None:
    server = await make_server()
    with pytest.raises(Open311Error) as caught:
        await client_for(session, server, key=key).post_request(pothole(service_code=code))
    error = caught.value
    assert error.status == status
    assert not error.retryable
    assert not error.maybe_created
    assert len(error.errors) == 1
    assert error.words() == words
    assert server.requests == {}


async def test_5xx_is_retryable_and_the_retry_works(
    make_server: MakeServer, session: aiohttp.ClientSession
) -> None:
    server = await make_server()
    server.fail(
        "status",
        method="POST",
        status=503,
        errors=[{"code": "503", "description": "Back end unavailable"}],
    )
    client = client_for(session, server)
    with pytest.raises(Open311Error) as caught:
        await client.post_request(pothole())
    assert caught.value.status == 503
    assert caught.value.retryable
    assert caught.value.words() == "503: Back end unavailable"
    assert server.requests == {}
    # The caller retries through submit(): the lookup finds nothing, so it posts once.
    result = await client.submit(pothole(), tried_since=START - timedelta(minutes=1))
    assert isinstance(result, Created)
    assert len(server.requests) == 1


async def test_timeout_after_the_server_created_the_request_never_makes_a_second(
    make_server: MakeServer, session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    server = await make_server()
    server.fail("slow", method="POST", delay=10.0)
    client = client_for(session, server, timeout=0.3)
    tried_since = clock.now() - timedelta(minutes=1)
    with pytest.raises(Open311Error) as caught:
        await client.post_request(pothole())
    assert caught.value.status is None
    assert caught.value.retryable
    assert caught.value.maybe_created
    (created,) = server.requests  # the server did create it
    clock.advance(timedelta(minutes=5))
    found = await client.find_by_reference(REF, tried_since)
    assert found is not None and found.service_request_id == created
    result = await client.submit(pothole(), tried_since=tried_since)
    assert result == Created(created)
    assert len(server.posts()) == 1
    assert len(server.requests) == 1


async def test_find_by_reference_is_exact_and_keeps_to_the_window(
    make_server: MakeServer, session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    server = await make_server()
    client = client_for(session, server)
    await client.post_request(pothole("CD-2026-000012"))
    assert await client.find_by_reference(REF, START - timedelta(hours=1)) is None
    hit = await client.find_by_reference("CD-2026-000012", START - timedelta(hours=1))
    assert hit is not None
    # A window that starts after the request was made does not see it.
    assert await client.find_by_reference("CD-2026-000012", START + timedelta(seconds=1)) is None


async def test_dropped_connection_after_the_post_is_retryable_and_maybe_created(
    make_server: MakeServer, session: aiohttp.ClientSession
) -> None:
    server = await make_server()
    server.fail("drop", method="POST")
    with pytest.raises(Open311Error) as caught:
        await client_for(session, server).post_request(pothole())
    assert caught.value.status is None
    assert caught.value.retryable
    assert caught.value.maybe_created
    assert len(server.requests) == 1


async def test_refused_connection_is_retryable_and_created_nothing(
    make_server: MakeServer, session: aiohttp.ClientSession
) -> None:
    server = await make_server()
    await server.stop()
    with pytest.raises(Open311Error) as caught:
        await client_for(session, server).post_request(pothole())
    assert caught.value.retryable
    assert not caught.value.maybe_created
    assert "api_key" not in str(caught.value)


async def test_statuses_of_several_ids_in_one_call(
    make_server: MakeServer, session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    server = await make_server()
    client = client_for(session, server)
    ids = []
    for n in range(1, 4):
        result = await client.post_request(pothole(f"CD-2026-00000{n}"))
        assert isinstance(result, Created)
        ids.append(result.service_request_id)
    clock.advance(timedelta(hours=2))
    server.update(
        ids[1],
        status="closed",
        status_notes="Filled on 2 March.",
        agency_responsible="Roads",
        expected_datetime="2026-03-03T12:00:00Z",
    )
    before = len(server.received)
    found = await client.statuses(ids[:2])
    assert len(server.received) == before + 1
    (call,) = server.received[before:]
    assert call.query["service_request_id"] == ",".join(ids[:2])
    by_id = {s.service_request_id: s for s in found}
    assert set(by_id) == set(ids[:2])
    assert by_id[ids[0]].status == "open"
    closed = by_id[ids[1]]
    assert (closed.status, closed.status_notes, closed.agency_responsible) == (
        "closed",
        "Filled on 2 March.",
        "Roads",
    )
    assert closed.expected_datetime == "2026-03-03T12:00:00Z"
    assert closed.updated_datetime == "2026-03-02T17:00:00Z"


async def test_statuses_fall_back_to_updated_after(
    make_server: MakeServer, session: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    server = await make_server(multi_id=False)
    client = client_for(session, server)
    ids = []
    for n in range(1, 4):
        result = await client.post_request(pothole(f"CD-2026-00000{n}"))
        assert isinstance(result, Created)
        ids.append(result.service_request_id)
    clock.advance(timedelta(hours=1))
    last_sync = clock.now()
    clock.advance(timedelta(hours=1))
    server.update(ids[0], status="closed")
    server.update(ids[2], status="closed")
    found = await client.statuses(ids[:2], updated_after=last_sync)
    # Refused as a list, then asked by time: only ids[0] is both wanted and updated.
    assert [(s.service_request_id, s.status) for s in found] == [(ids[0], "closed")]
    assert server.received[-1].query == {"updated_after": "2026-03-02T16:00:00Z"}
    with pytest.raises(Open311Error) as caught:
        await client.statuses(ids[:2])
    assert caught.value.status == 400
