"""The pure parts of the webhook client (tracker/webhook.py): the payload (contact only when
allowed), the signature and its check, the idempotency key, reading the receiver's id."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tracker.webhook import (
    WebhookTarget,
    case_payload,
    encode,
    idempotency_key,
    read_external_id,
    sign,
    verify_signature,
)

RECEIVED = datetime(2026, 3, 2, 10, 30, tzinfo=timezone(timedelta(hours=-5)))
CONTACT = {"email": "ana@example.org", "phone": "", "name": "Ana Silva"}


def build(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "reference": "CD-2026-000007",
        "kind": "complaint",
        "department": "parks",
        "what": "The gate was locked at noon.",
        "when": "2026-03-01 12:00",
        "who": "A park attendant",
        "outcome": "Keep it open as posted.",
        "received_at": RECEIVED,
        "deadlines": {"acknowledge": RECEIVED + timedelta(days=2)},
        "contact": CONTACT,
    }
    fields.update(changes)
    return case_payload(**fields)


def test_payload_carries_the_case_in_utc() -> None:
    got = build(place={"lat": 43.65, "long": -79.38})
    assert got == {
        "reference": "CD-2026-000007",
        "kind": "complaint",
        "department": "parks",
        "what": "The gate was locked at noon.",
        "when": "2026-03-01 12:00",
        "who": "A park attendant",
        "outcome": "Keep it open as posted.",
        "received_at": "2026-03-02T15:30:00Z",
        "deadlines": {"acknowledge": "2026-03-04T15:30:00Z"},
        "place": {"lat": 43.65, "long": -79.38},
    }


def test_no_contact_unless_allowed() -> None:
    assert "contact" not in build()
    assert "contact" not in build(share_contact=False)
    assert "ana@example.org" not in encode(build()).decode()
    shared = build(share_contact=True)
    assert shared["contact"] == {"email": "ana@example.org", "name": "Ana Silva"}


def test_no_place_key_when_the_place_is_unknown() -> None:
    assert "place" not in build(place=None)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        build(received_at=datetime(2026, 3, 2, 10, 30))


def test_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = encode(build())
    expected = hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert sign("k3y", body) == "sha256=" + expected
    assert verify_signature("k3y", body, "sha256=" + expected)


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "md5=abc", "sha256=" + "0" * 64],
)
def test_bad_signatures_are_refused(header: str | None) -> None:
    assert not verify_signature("k3y", b"{}", header)


def test_signature_fails_on_another_secret_or_a_changed_body() -> None:
    body = encode(build())
    header = sign("k3y", body)
    assert not verify_signature("other", body, header)
    assert not verify_signature("k3y", body + b" ", header)


def test_encoding_is_stable_and_utf8() -> None:
    payload = build(what="Café fermé")
    assert encode(payload) == encode(json.loads(encode(payload)))
    assert "Café fermé".encode() in encode(payload)


def test_idempotency_key_depends_on_reference_and_sequence_only() -> None:
    assert idempotency_key("CD-1", 1) == idempotency_key("CD-1", 1)
    assert idempotency_key("CD-1", 1) != idempotency_key("CD-1", 2)
    assert idempotency_key("CD-1", 2) != idempotency_key("CD-12", 1)
    with pytest.raises(ValueError):
        idempotency_key("CD-1", 0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"id": 42}', "42"),
        (b'{"external_id": "T-9"}', "T-9"),
        (b'{"id": "", "external_id": "T-9"}', "T-9"),
        (b"", None),
        (b"ok", None),
        (b"[1]", None),
        (b'{"id": {"nested": 1}}', None),
    ],
)
def test_external_id_is_read_when_given(raw: bytes, expected: str | None) -> None:
    assert read_external_id(raw) == expected


def test_target_repr_hides_the_secret() -> None:
    assert "hush" not in repr(WebhookTarget("http://x/hook", "hush"))
