"""The JSON webhook client (tracker/webhook.py) against a loopback receiver of this test: the
receiver checks each body's signature with `verify_signature`, records the idempotency keys,
and answers as each test asks (an id, no body, 500, 400 with words, too slow)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tracker.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Delivered,
    WebhookError,
    WebhookTarget,
    case_payload,
    idempotency_key,
    post_case,
    verify_signature,
)

SECRET = "s3cret-shared-with-the-department"
SENT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
REF = "CD-2026-000001"


@dataclass
class Receiver:
    """A department's webhook. `answers` is a queue of what to do with the next calls (the last
    one repeats): `("id", "T-1")`, `("empty", 204)`, `("status", 500, "body")`, `("slow", s)`.
    A ticket is made per new idempotency key, as a receiver that honours the key does."""

    answers: list[tuple[Any, ...]]
    keys: list[str] = field(default_factory=list)
    timestamps: list[str] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    tickets: dict[str, str] = field(default_factory=dict)
    url: str = ""
    runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not verify_signature(SECRET, raw, request.headers.get(SIGNATURE_HEADER)):
            self.bad_signatures += 1
            return web.json_response({"error": "bad signature"}, status=401)
        key = request.headers[IDEMPOTENCY_HEADER]
        self.keys.append(key)
        self.timestamps.append(request.headers[TIMESTAMP_HEADER])
        self.bodies.append(json.loads(raw))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        ticket = self.tickets.setdefault(key, f"T-{len(self.tickets) + 1}")
        match answer:
            case ("id",):
                return web.json_response({"id": ticket}, status=201)
            case ("external_id",):
                return web.json_response({"external_id": ticket})
            case ("empty", status):
                return web.Response(status=status)
            case ("status", status, text):
                self.tickets.pop(key, None)
                return web.Response(status=status, text=text, content_type="application/json")
            case ("slow", seconds):
                await asyncio.sleep(seconds)
                return web.json_response({"id": ticket})
        raise AssertionError(f"unknown answer {answer!r}")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def session(no_proxy: None) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def receiving(*answers: tuple[Any, ...]) -> Receiver:
    receiver = Receiver(list(answers))
    await receiver.start()
    return receiver


def payload(ref: str = REF) -> dict[str, Any]:
    return case_payload(
        reference=ref,
        kind="request",
        department="roads",
        what="A deep pothole in the right lane.",
        when="2026-03-01 08:00",
        who=None,
        outcome="Fill it.",
        received_at=SENT,
        deadlines={"resolve": datetime(2026, 3, 16, 21, 0, tzinfo=UTC)},
        place={"address": "12 Main St"},
    )


async def test_2xx_with_an_id_is_delivered_signed(session: aiohttp.ClientSession) -> None:
    receiver = await receiving(("id",))
    try:
        target = WebhookTarget(receiver.url, SECRET, timeout=5)
        got = await post_case(session, target, payload(), idempotency_key(REF, 1), sent_at=SENT)
    finally:
        await receiver.stop()
    assert got == Delivered("T-1", 201)
    assert receiver.bad_signatures == 0
    assert receiver.keys == [idempotency_key(REF, 1)]
    assert receiver.timestamps == [str(int(SENT.timestamp()))]
    assert receiver.bodies == [payload()]


async def test_external_id_field_is_read_too(session: aiohttp.ClientSession) -> None:
    receiver = await receiving(("external_id",))
    try:
        target = WebhookTarget(receiver.url, SECRET, timeout=5)
        got = await post_case(session, target, payload(), idempotency_key(REF, 1), sent_at=SENT)
    finally:
        await receiver.stop()
    assert got == Delivered("T-1", 200)


async def test_2xx_without_a_body_is_delivered_without_id(session: aiohttp.ClientSession) -> None:
    receiver = await receiving(("empty", 204))
    try:
        target = WebhookTarget(receiver.url, SECRET, timeout=5)
        got = await post_case(session, target, payload(), idempotency_key(REF, 1), sent_at=SENT)
    finally:
        await receiver.stop()
    assert got == Delivered(None, 204)


async def test_wrong_secret_is_refused_and_permanent(session: aiohttp.ClientSession) -> None:
    receiver = await receiving(("id",))
    try:
        target = WebhookTarget(receiver.url, "not-the-secret", timeout=5)
        with pytest.raises(WebhookError) as caught:
            await post_case(session, target, payload(), idempotency_key(REF, 1), sent_at=SENT)
    finally:
        await receiver.stop()
    assert receiver.bad_signatures == 1 and receiver.tickets == {}
    assert caught.value.status == 401 and not caught.value.retryable
    assert "not-the-secret" not in repr(caught.value) and "not-the-secret" not in repr(target)


async def test_500_is_retried_with_the_same_key(session: aiohttp.ClientSession) -> None:
    receiver = await receiving(("status", 500, '{"error": "database busy"}'), ("id",))
    key = idempotency_key(REF, 1)
    try:
        target = WebhookTarget(receiver.url, SECRET, timeout=5)
        with pytest.raises(WebhookError) as caught:
            await post_case(session, target, payload(), key, sent_at=SENT)
        assert caught.value.retryable and caught.value.maybe_created
        assert caught.value.status == 500
        assert "database busy" in caught.value.words()
        got = await post_case(session, target, payload(), idempotency_key(REF, 1), sent_at=SENT)
    finally:
        await receiver.stop()
    assert got.external_id == "T-1"
    assert receiver.keys == [key, key]


async def test_400_is_permanent_with_the_receivers_words(session: aiohttp.ClientSession) -> None:
    body = '{"error": "department field unknown: roads"}'
    receiver = await receiving(("status", 400, body))
    try:
        target = WebhookTarget(receiver.url, SECRET, timeout=5)
        with pytest.raises(WebhookError) as caught:
            await post_case(session, target, payload(), idempotency_key(REF, 1), sent_at=SENT)
    finally:
        await receiver.stop()
    error = caught.value
    assert error.status == 400 and not error.retryable and not error.maybe_created
    assert "department field unknown: roads" in error.words()
    assert SECRET not in error.words() and SECRET not in str(error)


async def test_timeout_is_retryable_and_the_retry_makes_no_second_ticket(
    session: aiohttp.ClientSession,
) -> None:
    receiver = await receiving(("slow", 1.0), ("id",))
    key = idempotency_key(REF, 1)
    try:
        slow = WebhookTarget(receiver.url, SECRET, timeout=0.2)
        with pytest.raises(WebhookError) as caught:
            await post_case(session, slow, payload(), key, sent_at=SENT)
        assert caught.value.retryable and caught.value.maybe_created
        assert caught.value.status is None
        assert SECRET not in str(caught.value)
        await asyncio.sleep(1.0)  # let the receiver finish the first call: the ticket exists
        target = WebhookTarget(receiver.url, SECRET, timeout=5)
        got = await post_case(session, target, payload(), idempotency_key(REF, 1), sent_at=SENT)
    finally:
        await receiver.stop()
    assert receiver.keys == [key, key]
    assert receiver.tickets == {key: "T-1"}
    assert got.external_id == "T-1"


async def test_refused_connection_is_retryable_not_created(
    session: aiohttp.ClientSession,
) -> None:
    receiver = await receiving(("id",))
    url = receiver.url
    await receiver.stop()  # nothing listens on the port any more
    with pytest.raises(WebhookError) as caught:
        await post_case(
            session, WebhookTarget(url, SECRET, 5), payload(), idempotency_key(REF, 1), sent_at=SENT
        )
    assert caught.value.retryable and not caught.value.maybe_created
    assert caught.value.status is None
