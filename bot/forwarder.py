"""The tracker's way out: sends a queued forward to its department, one adapter per target.

The outbox worker (bot/outbox_worker.py) drives this like any channel: a forward is an outbox
row on channel `tracker`. At send time the case is read as it is now (a correction staff made
before it went is what the department sees) and turned into the target's request:

- open311: `POST requests.json` (tracker/open311.py). Open311 has no idempotency key, so
  before the call the attempt is committed (`begin_attempt`); a later attempt of the same
  forward (after a timeout, a 5xx, or `serve` killed mid-call) first looks the request up by
  the caredesk reference in its description over the window since the first attempt, and
  posts only if none is there. A `token` answer is polled a few times; if the id is not there
  yet the token is kept and status sync (bot/tracker_sync.py) exchanges it later.
- webhook: signed JSON with the forward's idempotency key, the same on every retry
  (tracker/webhook.py).
- email: the case as a structured email to the department's address (mail/department.py),
  through an SMTP sender of its own (the same class and `[mail.smtp]` as replies).

Failures become DeliveryError: network errors, timeouts and 5xx are retried with backoff; a
4xx (or a configuration gap: no API key, no service code) is permanent and the forward goes on
the dead-letter list with the tracker's own words (storage/forwards.py).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import aiohttp
import sqlite_utils

from bot.config import Config, Department
from bot.place import Place
from bot.proxies import ProxyTable
from bot.tracker_targets import (
    OPEN311_KEY_ENV,
    WEBHOOK_SECRET_ENV,
    external_link,
    open311_client,
    secret_env,
)
from mail.department import ForwardedCase, forward_message
from mail.identity import identity_of
from mail.smtp import SmtpSender
from storage.db import write_transaction
from storage.forwards import (
    CaseForForward,
    Forward,
    Receipt,
    begin_attempt,
    case_for_forward,
    forward_of_outbox,
)
from storage.outbox import TRACKER, DeliveryError, OutboxItem
from tracker.open311 import (
    Contact,
    Created,
    NewRequest,
    Open311Client,
    Open311Error,
    Pending,
)
from tracker.webhook import WebhookError, WebhookTarget, case_payload, post_case

log = logging.getLogger(__name__)

#: A token answer is asked about this many times, this far apart, before the token is kept
#: for status sync to exchange.
TOKEN_POLLS = 3
TOKEN_POLL_SECONDS = 0.5
#: The lookup before a repeated Open311 POST starts this long before the first attempt: the
#: tracker's clock and ours may disagree a little.
CLOCK_MARGIN = timedelta(minutes=10)


def service_code(dept: Department, case: CaseForForward) -> str:
    """The category mapping first (the routing rule that routed the case, then its kind),
    else the department's default code."""
    codes = dept.open311_service_codes
    for key in (case.rule, case.kind):
        if key and key in codes:
            return codes[key]
    return dept.open311_service_code


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _location(place: Place | None) -> tuple[float | None, float | None, str | None]:
    """(lat, long, address_string) for Open311: coordinates when shared, else the address
    (or the resident's words for a landmark)."""
    if place is None:
        return None, None, None
    if place.lat is not None and place.long is not None:
        return place.lat, place.long, None
    return None, None, place.address or place.text


def describe_case(case: CaseForForward) -> str:
    """The text a tracker gets: the items, labelled, with what the resident did not say
    marked as such (the department should not mistake a gap for "nothing")."""
    lines = [
        f"What happened: {case.what or '(not given)'}",
        f"When: {case.when_text or '(not given)'}",
        f"Who was involved: {case.who or '(not given)'}",
        f"Outcome sought: {case.outcome or '(not given)'}",
    ]
    if case.place:
        lines.append(f"Where: {case.place.text}")
    return "\n".join(lines)


class ForwardSender:
    """The Sender of channel `tracker` (storage/outbox.py Sender)."""

    channel = TRACKER

    def __init__(self, db: sqlite_utils.Database, config: Config) -> None:
        self.db = db
        self.config = config
        self.timeout = float(config.tracker.timeout_seconds)
        self._sessions: dict[str | None, aiohttp.ClientSession] = {}  # by proxy
        self._proxy_table = ProxyTable()
        self._smtp: SmtpSender | None = None
        self.token_poll_seconds = TOKEN_POLL_SECONDS

    def session(self, url: str) -> aiohttp.ClientSession:
        """The shared session for calls to `url`: one per proxy (usually just the direct one).
        Not aiohttp's trust_env: that looks the proxy up and reads ~/.netrc in a thread on
        every request, which cost as much as the forward's own request (bench/forward_bench.py);
        the environment's proxy is read once per tracker host instead (`_proxy`)."""
        proxy = self._proxy(url)
        session = self._sessions.get(proxy)
        if session is None or session.closed:
            session = aiohttp.ClientSession(proxy=proxy, trust_env=False)
            self._sessions[proxy] = session
        return session

    def _proxy(self, url: str) -> str | None:
        return self._proxy_table.for_url(url)

    async def send(self, item: OutboxItem, now: datetime) -> Receipt | None:
        forward = forward_of_outbox(self.db, item.id)
        if forward is None or item.case_id is None:
            raise DeliveryError("not a forward of a case", permanent=True)
        dept = self.config.department(forward.department)
        if dept is None:
            raise DeliveryError(
                f"department {forward.department!r} is no longer configured", permanent=True
            )
        case = case_for_forward(self.db, item.case_id)
        if case is None:
            raise DeliveryError("the case is gone", permanent=True)
        if forward.target == "open311":
            return await self._open311(item, dept, case, now)
        if forward.target == "webhook":
            return await self._webhook(item, dept, case, now)
        if forward.target == "email":
            await self._email(forward, dept, case, now)
            return Receipt()
        raise DeliveryError(f"unknown target {forward.target!r}", permanent=True)

    # -- open311 ---------------------------------------------------------------------------

    async def _open311(
        self, item: OutboxItem, dept: Department, case: CaseForForward, now: datetime
    ) -> Receipt:
        _secret(OPEN311_KEY_ENV, dept, "Open311 API key")
        code = service_code(dept, case)
        if not code:
            raise DeliveryError("no service_code is configured for this case's category", True)
        lat, long, address = _location(case.place)
        if address is None and lat is None:
            # GeoReport v2 requires a location; a made-up one would send a crew to the wrong
            # street. Staff add the place on the case page, then retry.
            raise DeliveryError(
                "the case has no place: Open311 needs an address or coordinates "
                "(add the place to the case, then retry)",
                permanent=True,
            )
        contact = None
        if dept.share_contact:
            first, _, last = (case.name or "").partition(" ")
            contact = Contact(case.email, first or None, last or None, case.phone)
        new = NewRequest(
            reference=case.ref,
            service_code=code,
            text=describe_case(case),
            lat=lat,
            long=long,
            address_string=address,
            contact=contact,
        )
        with write_transaction(self.db):
            earlier = begin_attempt(self.db, item.id, now)
        tried_since = _instant(earlier) - CLOCK_MARGIN if earlier else None
        client = open311_client(self.session(dept.open311_url), dept, self.timeout)
        try:
            result = await client.submit(
                new, tried_since=tried_since, share_contact=dept.share_contact
            )
            if isinstance(result, Pending):
                found = await self._poll_token(client, result.token)
                if found is None:
                    return Receipt(token=result.token)
                result = Created(found)
        except Open311Error as exc:
            raise DeliveryError(exc.words(), permanent=not exc.retryable, code=exc.status) from exc
        return Receipt(result.service_request_id, external_link(dept, result.service_request_id))

    async def _poll_token(self, client: Open311Client, token: str) -> str | None:
        for n in range(TOKEN_POLLS):
            if n:
                await asyncio.sleep(self.token_poll_seconds)
            found = await client.poll_token(token)
            if found:
                return found
        return None

    # -- webhook ---------------------------------------------------------------------------

    async def _webhook(
        self, item: OutboxItem, dept: Department, case: CaseForForward, now: datetime
    ) -> Receipt:
        secret = _secret(WEBHOOK_SECRET_ENV, dept, "webhook signing secret")
        payload = case_payload(
            reference=case.ref,
            kind=case.kind,
            department=dept.key,
            what=case.what,
            when=case.when_text,
            who=case.who,
            outcome=case.outcome,
            received_at=_instant(case.received_at),
            deadlines={k: _instant(v) for k, v in case.deadlines.items()},
            place=case.place.as_dict() if case.place else None,
            contact={"name": case.name or "", "email": case.email or "", "phone": case.phone or ""},
            share_contact=dept.share_contact,
        )
        target = WebhookTarget(dept.webhook_url, secret, self.timeout)
        try:
            delivered = await post_case(
                self.session(dept.webhook_url), target, payload, item.idempotency_key, sent_at=now
            )
        except WebhookError as exc:
            raise DeliveryError(exc.words(), permanent=not exc.retryable, code=exc.status) from exc
        external = delivered.external_id
        return Receipt(external, external_link(dept, external) if external else None)

    # -- email -----------------------------------------------------------------------------

    async def _email(
        self, forward: Forward, dept: Department, case: CaseForForward, now: datetime
    ) -> None:
        smtp = self.config.mail.smtp
        if smtp is None:
            raise DeliveryError("[mail.smtp] is not configured: the forward cannot be sent", False)
        if self._smtp is None:
            self._smtp = SmtpSender(self.config.mail, smtp)
        contact = ", ".join(v for v in (case.name, case.email, case.phone) if v) or None
        forwarded = ForwardedCase(
            ref=case.ref,
            kind=case.kind,
            received=_instant(case.received_at),
            what=case.what,
            when=case.when_text,
            who=case.who,
            outcome=case.outcome,
            contact=contact,
            place=case.place.text if case.place else None,
            deadlines={k: _instant(v) for k, v in case.deadlines.items()},
        )
        subject, body, headers = forward_message(
            identity_of(self.config),
            dept.name,
            dept.email,
            forwarded,
            forward.sequence,
            include_contact=dept.share_contact,
        )
        mail = OutboxItem(
            id=forward.outbox_id,
            case_id=forward.case_id,
            channel="email",
            recipient=dept.email,
            reply_kind="dept-forward",
            subject=subject,
            body=body,
            idempotency_key=f"caredesk-{case.ref}-{forward.sequence}",
            attempts=forward.attempts,
            headers=headers,
        )
        await self._smtp.send(mail, now)

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()
        if self._smtp is not None:
            await self._smtp.close()
            self._smtp = None


def _secret(prefix: str, dept: Department, what: str) -> str:
    """A department's secret from the environment; a permanent failure naming the variable
    to set when there is none (a retry cannot help until someone sets it)."""
    env, value = secret_env(prefix, dept.key)
    if not value:
        raise DeliveryError(f"no {what}: set {env} in the environment", permanent=True)
    return value


def tracked_departments(config: Config) -> list[Department]:
    return [d for d in config.departments if d.tracker != "none"]
