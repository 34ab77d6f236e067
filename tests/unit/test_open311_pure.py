"""The pure parts of the Open311 client: the form sent, the reference mark, and the reading of
the standard's answers and error arrays. No server needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tracker.open311 import (
    Contact,
    Created,
    ErrorItem,
    NewRequest,
    Open311Error,
    Open311Target,
    Pending,
    Service,
    carries_reference,
    check_service_codes,
    chunks,
    describe,
    iso,
    parse_errors,
    parse_post_answer,
    parse_statuses,
    parse_token_answer,
    request_form,
)

TARGET = Open311Target("http://311.example/v2/", "k")


def new(**changes: Any) -> NewRequest:
    fields: dict[str, Any] = {"reference": "CD-2026-000007", "service_code": "P", "text": " Hole "}
    fields.update(changes)
    return NewRequest(**fields)


def test_url_joins_without_double_slash() -> None:
    assert TARGET.url("services.json") == "http://311.example/v2/services.json"


def test_description_carries_the_reference_and_is_found_exactly() -> None:
    text = describe("CD-2026-000007", " Hole ")
    assert text == "Hole\n\n[caredesk CD-2026-000007]"
    assert carries_reference(text, "CD-2026-000007")
    assert not carries_reference(text, "CD-2026-00000")
    assert not carries_reference(describe("CD-2026-0000071", "x"), "CD-2026-000007")
    assert not carries_reference(None, "CD-2026-000007")


@pytest.mark.parametrize(
    ("changes", "share", "expected_extra"),
    [
        ({}, False, {}),
        ({"address_string": "12 Main St"}, False, {"address_string": "12 Main St"}),
        (
            {"lat": 43.5, "long": -79.25, "address_string": "12 Main St"},
            False,
            {"lat": "43.5", "long": "-79.25"},
        ),
        ({"lat": 43.5}, False, {}),  # half a coordinate is no place
        ({"contact": Contact(email="a@example.org", last_name="Lee")}, False, {}),
        (
            {"contact": Contact(email="a@example.org", last_name="Lee")},
            True,
            {"email": "a@example.org", "last_name": "Lee"},
        ),
    ],
)
def test_request_form(changes: dict[str, Any], share: bool, expected_extra: dict[str, str]) -> None:
    form = request_form(TARGET, new(**changes), share_contact=share)
    base = {"api_key": "k", "service_code": "P", "description": "Hole\n\n[caredesk CD-2026-000007]"}
    assert form == {**base, **expected_extra}


def test_jurisdiction_is_sent_when_configured() -> None:
    target = Open311Target("http://x/", "k", jurisdiction_id="city.example")
    assert request_form(target, new(), share_contact=False)["jurisdiction_id"] == "city.example"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([{"code": 403, "description": "Invalid api_key"}], (ErrorItem("403", "Invalid api_key"),)),
        (
            [{"code": "a", "description": "x"}, {"code": "b", "description": "y"}],
            (ErrorItem("a", "x"), ErrorItem("b", "y")),
        ),
        ({"code": 400, "description": "one"}, (ErrorItem("400", "one"),)),
        ("<html>oops</html>", ()),
        (None, ()),
        ([{"unrelated": 1}], ()),
    ],
)
def test_parse_errors(body: Any, expected: tuple[ErrorItem, ...]) -> None:
    assert parse_errors(body) == expected


def test_post_answer_id_or_token() -> None:
    assert parse_post_answer([{"service_request_id": 638344, "service_notice": ""}]) == Created(
        "638344"
    )
    assert parse_post_answer([{"service_request_id": "7", "service_notice": "Within 5 days"}]) == (
        Created("7", "Within 5 days")
    )
    assert parse_post_answer([{"token": "abc", "service_request_id": None}]) == Pending("abc")


@pytest.mark.parametrize("body", [[], [{}], {"ok": True}, [{"token": ""}]])
def test_post_answer_without_id_or_token_is_an_error(body: Any) -> None:
    with pytest.raises(Open311Error) as caught:
        parse_post_answer(body)
    assert not caught.value.retryable
    assert caught.value.maybe_created


def test_token_answer() -> None:
    assert parse_token_answer([{"token": "t"}]) is None
    assert parse_token_answer([{"token": "t", "service_request_id": None}]) is None
    assert parse_token_answer([{"token": "t", "service_request_id": 12}]) == "12"
    assert parse_token_answer([]) is None


def test_statuses_read_and_entries_without_id_skipped() -> None:
    body = [
        {"service_request_id": 1, "status": "closed", "status_notes": "", "lat": 1.0},
        {"status": "open"},
        "junk",
    ]
    (only,) = parse_statuses(body)
    assert only.service_request_id == "1"
    assert only.status == "closed"
    assert only.status_notes is None
    assert only.extra == {"lat": 1.0}
    assert parse_statuses({"not": "a list"}) == []


def test_iso_is_utc_and_needs_an_aware_time() -> None:
    at = datetime(2026, 3, 2, 10, 0, 30, 999, tzinfo=timezone(timedelta(hours=-5)))
    assert iso(at) == "2026-03-02T15:00:30Z"
    with pytest.raises(ValueError):
        iso(datetime(2026, 3, 2))
    assert iso(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00Z"


def test_chunks() -> None:
    assert [list(c) for c in chunks(["a", "b", "c"], 2)] == [["a", "b"], ["c"]]
    assert list(chunks([], 2)) == []


def test_error_words_fall_back_to_the_message() -> None:
    assert Open311Error("no answer", status=None, retryable=True).words() == "no answer"


def test_check_service_codes_names_unknown_codes_and_attribute_services() -> None:
    services = [Service("POTHOLE", "Pothole"), Service("TREE", "Tree", metadata=True)]
    mapping = {"roads": "POTHOLE", "trees": "TREE", "noise": "NOISE"}
    assert check_service_codes(mapping, services) == [
        "category 'noise': the server has no service code 'NOISE'",
        "category 'trees': service 'TREE' asks for extra attributes, which caredesk does not send",
    ]
    assert check_service_codes({"roads": "POTHOLE"}, services) == []
