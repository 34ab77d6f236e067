"""An async client that forwards a case to a department's JSON webhook.

Why this shape: like `tracker/open311.py`, the outbox worker that will drive it needs three
answers from every call: it worked (with the department's id when it gave one), it failed and
trying again may help (network, timeout, 5xx), or it failed and only a person can fix it (4xx,
with the receiver's own words for staff). `WebhookError.retryable` carries that, and
`maybe_created` says whether the POST may have reached the receiver before it failed.

Unlike Open311, a webhook carries an `Idempotency-Key`: derived from the case reference and the
forward's sequence number (`idempotency_key`), it is the same on every retry of one forward, so
a receiver that honours it never makes a second ticket after a timeout or a crash.

The body is signed (`X-Caredesk-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>`)
so the receiver can tell it came from caredesk; `verify_signature` is the check a receiver (or a
test) runs. The secret is never logged nor put in an exception message, and the resident's
contact details go into the payload only when the department's configuration allows it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from tracker.transport import exchange

#: Default time a single call may take, end to end.
DEFAULT_TIMEOUT = 10.0
#: Most characters of a receiver's error answer kept for staff.
MAX_WORDS = 2000

SIGNATURE_HEADER = "X-Caredesk-Signature"
TIMESTAMP_HEADER = "X-Caredesk-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_PREFIX = "sha256="


@dataclass(frozen=True)
class WebhookTarget:
    """Where one department's webhook listens and the secret shared with it. The secret is
    left out of `repr`, so a logged target never shows it."""

    url: str
    secret: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Delivered:
    """The receiver took the case. `external_id` is its id for it, when the answer gave one."""

    external_id: str | None
    status: int


class WebhookError(Exception):
    """A forward that did not succeed.

    `status` is the HTTP status (None when no answer came: network error or timeout).
    `words` is what the receiver said (its error text, shortened), to show staff as it is.
    `retryable` is true for network errors, timeouts and 5xx; false for 4xx.
    `maybe_created` is true when the POST may have created the ticket anyway; the retry then
    must carry the same idempotency key (it always does when built by `idempotency_key`).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        words: str = "",
        retryable: bool,
        maybe_created: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.receiver_words = words
        self.retryable = retryable
        self.maybe_created = maybe_created

    def words(self) -> str:
        """The receiver's own words for staff (or the client's, when it said nothing)."""
        if self.receiver_words:
            return f"{self}: {self.receiver_words}"
        return str(self)


# -- pure parts ------------------------------------------------------------------------------


def idempotency_key(reference: str, sequence: int) -> str:
    """The key of the `sequence`-th forward of case `reference`: the same on every retry of
    that forward (it depends on nothing else), different for a later, deliberate forward."""
    if sequence < 1:
        raise ValueError("the forward's sequence number starts at 1")
    return f"caredesk-{reference}-{sequence}"


def sign(secret: str, body: bytes) -> str:
    """The signature header value: `sha256=` and the hex HMAC-SHA256 of the exact body."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the signature of `body` with `secret`, compared in constant time
    (so the answer time does not leak how much of a forged signature was right)."""
    if not header or not header.startswith(_PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("an aware datetime is needed")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def case_payload(
    *,
    reference: str,
    kind: str,
    department: str,
    what: str | None,
    when: str | None,
    who: str | None,
    outcome: str | None,
    received_at: datetime,
    deadlines: Mapping[str, datetime],
    place: Mapping[str, Any] | None = None,
    contact: Mapping[str, str] | None = None,
    share_contact: bool = False,
) -> dict[str, Any]:
    """The JSON of a case, from plain values: the complaint's items (what occurred, when, who
    was involved, the outcome sought; None when the resident did not say), the place when known
    (e.g. `{"address": ...}` or `{"lat": ..., "long": ...}`), when it came in and its deadlines
    in UTC. The fifth item, the resident's contact details, only when `share_contact` (the
    department's configuration allows it); otherwise the key is absent altogether."""
    payload: dict[str, Any] = {
        "reference": reference,
        "kind": kind,
        "department": department,
        "what": what,
        "when": when,
        "who": who,
        "outcome": outcome,
        "received_at": _iso(received_at),
        "deadlines": {name: _iso(at) for name, at in sorted(deadlines.items())},
    }
    if place:
        payload["place"] = dict(place)
    if share_contact and contact:
        kept = {name: value for name, value in contact.items() if value}
        if kept:
            payload["contact"] = kept
    return payload


def encode(payload: Mapping[str, Any]) -> bytes:
    """The exact body bytes sent (and signed): compact, keys sorted, UTF-8."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def read_external_id(raw: bytes) -> str | None:
    """The receiver's id from a 2xx answer: `id` or `external_id` of a JSON object, else None
    (an empty or non-JSON answer is still a success)."""
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    for name in ("id", "external_id"):
        value = body.get(name)
        if value not in (None, "") and not isinstance(value, dict | list | bool):
            return str(value)
    return None


def _words(raw: bytes) -> str:
    """A receiver's error answer as text for staff: `error`/`message`/`detail` of a JSON
    object when there is one, else the body itself, shortened."""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("error", "message", "detail") if body.get(k)]
        if parts:
            text = "; ".join(parts)
    return text[:MAX_WORDS]


# -- the call --------------------------------------------------------------------------------


async def post_case(
    session: aiohttp.ClientSession,
    target: WebhookTarget,
    payload: Mapping[str, Any],
    idempotency_key: str,
    *,
    sent_at: datetime,
) -> Delivered:
    """POST `payload` as signed JSON to `target`. `sent_at` (from the injected clock) goes into
    `X-Caredesk-Timestamp` as Unix seconds. Raises `WebhookError` on failure.

    A POST that got no answer or a 5xx may have created the ticket (`maybe_created`): a server
    can fail after writing it. A 4xx did not; nor did a refused connection."""
    body = encode(payload)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        SIGNATURE_HEADER: sign(target.secret, body),
        TIMESTAMP_HEADER: str(int(sent_at.timestamp())),
        IDEMPOTENCY_HEADER: idempotency_key,
    }
    status, raw = await exchange(
        session,
        "POST",
        target.url,
        timeout=target.timeout,
        fail=WebhookError,
        data=body,
        headers=headers,
    )
    if status >= 500:
        raise WebhookError(
            f"server error {status}",
            status=status,
            words=_words(raw),
            retryable=True,
            maybe_created=True,
        )
    if status >= 400:
        raise WebhookError(
            f"refused with {status}", status=status, words=_words(raw), retryable=False
        )
    if status >= 300:
        # aiohttp follows redirects; one left over means the receiver is misconfigured.
        raise WebhookError(f"unexpected answer {status}", status=status, retryable=False)
    return Delivered(read_external_id(raw), status)


__all__ = [
    "DEFAULT_TIMEOUT",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Delivered",
    "WebhookError",
    "WebhookTarget",
    "case_payload",
    "encode",
    "idempotency_key",
    "post_case",
    "read_external_id",
    "sign",
    "verify_signature",
]
