"""An async client for Open311 GeoReport v2, the open standard many cities' 311 systems speak.

Why this shape: the outbox worker that will drive it needs three answers from every call: it
worked (with the id or a token to poll), it failed and trying again may help (network, timeout,
5xx), or it failed and only a person can fix it (4xx, with the server's own words for staff).
`Open311Error.retryable` carries that, and `maybe_created` says whether a POST may have reached
the server before it failed: Open311 has no idempotency key, so before posting again the caller
must look the request up with `find_by_reference` over the window of the first attempt.

Pure of storage: it takes plain values and returns frozen dataclasses. Personal data (contact
fields) is sent only when the caller says the department's configuration allows it, and never
logged. Spec: https://wiki.open311.org/GeoReport_v2
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from tracker.transport import exchange

#: Default time a single call may take, end to end.
DEFAULT_TIMEOUT = 10.0
#: Most ids put in one `service_request_id=a,b,c` query (keeps the URL short).
IDS_PER_QUERY = 50


@dataclass(frozen=True)
class Open311Target:
    """Where and how to reach one Open311 endpoint. `base_url` ends before `services.json`."""

    base_url: str
    api_key: str
    jurisdiction_id: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path


@dataclass(frozen=True)
class ErrorItem:
    """One entry of the standard's error array: `{"code": ..., "description": ...}`."""

    code: str
    description: str


class Open311Error(Exception):
    """A call that did not succeed.

    `status` is the HTTP status (None when no answer came: network error or timeout).
    `errors` are the server's own error entries, to show staff as they are. `retryable` is
    true for network errors, timeouts and 5xx; false for 4xx and answers the client cannot
    read. `maybe_created` is true when a POST may have created the request anyway.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        errors: Sequence[ErrorItem] = (),
        retryable: bool,
        maybe_created: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.errors = tuple(errors)
        self.retryable = retryable
        self.maybe_created = maybe_created

    def words(self) -> str:
        """The tracker's own words for staff (or the client's, when the server said nothing)."""
        if self.errors:
            return "; ".join(f"{e.code}: {e.description}" for e in self.errors)
        return str(self)


@dataclass(frozen=True)
class Service:
    """One entry of `services.json`."""

    service_code: str
    service_name: str
    description: str = ""
    metadata: bool = False
    type: str = "realtime"
    keywords: str = ""
    group: str = ""


@dataclass(frozen=True)
class Contact:
    """The resident's contact fields, sent only where the department's configuration allows."""

    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class NewRequest:
    """What caredesk sends for one case. `reference` goes into the description, so the request
    can be found again (`find_by_reference`). Give `lat`/`long` or `address_string` when known;
    the standard requires one place, the server says so if it is missing."""

    reference: str
    service_code: str
    text: str
    lat: float | None = None
    long: float | None = None
    address_string: str | None = None
    contact: Contact | None = None


@dataclass(frozen=True)
class Created:
    """The server created the request and gave its id."""

    service_request_id: str
    service_notice: str | None = None


@dataclass(frozen=True)
class Pending:
    """The server accepted the request and gave a token; poll `poll_token` for the id."""

    token: str


PostResult = Created | Pending


@dataclass(frozen=True)
class RequestStatus:
    """What the department says about a request (the fields status sync records)."""

    service_request_id: str
    status: str
    status_notes: str | None = None
    agency_responsible: str | None = None
    expected_datetime: str | None = None
    updated_datetime: str | None = None
    requested_datetime: str | None = None
    description: str | None = None
    service_code: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)


# -- pure parts ------------------------------------------------------------------------------


def describe(reference: str, text: str) -> str:
    """The description sent: the resident's words, then the caredesk reference on its own line
    in brackets, the mark `find_by_reference` looks for."""
    return f"{text.strip()}\n\n[caredesk {reference}]"


def carries_reference(description: str | None, reference: str) -> bool:
    """Whether a request's description carries this reference (exactly: CD-2026-1 is not
    CD-2026-12)."""
    if not description:
        return False
    return re.search(r"\[caredesk " + re.escape(reference) + r"\]", description) is not None


def request_form(target: Open311Target, new: NewRequest, *, share_contact: bool) -> dict[str, str]:
    """The form fields of `POST requests.json`. Contact fields only when `share_contact`."""
    form: dict[str, str] = {
        "api_key": target.api_key,
        "service_code": new.service_code,
        "description": describe(new.reference, new.text),
    }
    if target.jurisdiction_id:
        form["jurisdiction_id"] = target.jurisdiction_id
    if new.lat is not None and new.long is not None:
        form["lat"] = repr(float(new.lat))
        form["long"] = repr(float(new.long))
    elif new.address_string:
        form["address_string"] = new.address_string
    if share_contact and new.contact is not None:
        for name in ("email", "first_name", "last_name", "phone"):
            value = getattr(new.contact, name)
            if value:
                form[name] = value
    return form


def parse_errors(body: Any) -> tuple[ErrorItem, ...]:
    """The standard's error array, read leniently (a single object is accepted too)."""
    items = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
    return tuple(
        ErrorItem(str(item.get("code", "")), str(item.get("description", "")))
        for item in items
        if isinstance(item, dict) and ("code" in item or "description" in item)
    )


def parse_post_answer(body: Any) -> PostResult:
    """`[{"service_request_id": ...}]` or `[{"token": ...}]`; anything else is an error."""
    first = body[0] if isinstance(body, list) and body else body
    if isinstance(first, dict):
        if first.get("service_request_id") not in (None, ""):
            notice = first.get("service_notice")
            return Created(str(first["service_request_id"]), str(notice) if notice else None)
        if first.get("token") not in (None, ""):
            return Pending(str(first["token"]))
    raise Open311Error(
        "the server's answer has neither service_request_id nor token",
        status=200,
        errors=parse_errors(body),
        retryable=False,
        maybe_created=True,
    )


def parse_token_answer(body: Any) -> str | None:
    """The id from `tokens/{token}.json`, or None while the server has not made one yet."""
    first = body[0] if isinstance(body, list) and body else body
    if isinstance(first, dict) and first.get("service_request_id") not in (None, ""):
        return str(first["service_request_id"])
    return None


_STATUS_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "agency_responsible",
    "expected_datetime",
    "updated_datetime",
    "requested_datetime",
    "description",
    "service_code",
}


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def parse_statuses(body: Any) -> list[RequestStatus]:
    """The request list of `GET requests.json`; entries without an id are skipped."""
    found: list[RequestStatus] = []
    for item in body if isinstance(body, list) else []:
        if not isinstance(item, dict) or _text(item.get("service_request_id")) is None:
            continue
        found.append(
            RequestStatus(
                service_request_id=str(item["service_request_id"]),
                status=str(item.get("status") or ""),
                status_notes=_text(item.get("status_notes")),
                agency_responsible=_text(item.get("agency_responsible")),
                expected_datetime=_text(item.get("expected_datetime")),
                updated_datetime=_text(item.get("updated_datetime")),
                requested_datetime=_text(item.get("requested_datetime")),
                description=_text(item.get("description")),
                service_code=_text(item.get("service_code")),
                extra={k: v for k, v in item.items() if k not in _STATUS_FIELDS},
            )
        )
    return found


def check_service_codes(mapping: Mapping[str, str], services: Sequence[Service]) -> list[str]:
    """What is wrong with a configured mapping of caredesk categories to service codes, given
    the server's `services.json`, in words for `caredesk tracker check` (empty: all good).
    Codes whose service needs extra attributes (`metadata`) are named too: caredesk does not
    send attributes, so the server may refuse them."""
    known = {s.service_code: s for s in services}
    problems: list[str] = []
    for category, code in sorted(mapping.items()):
        service = known.get(code)
        if service is None:
            problems.append(f"category {category!r}: the server has no service code {code!r}")
        elif service.metadata:
            problems.append(
                f"category {category!r}: service {code!r} asks for extra attributes, "
                "which caredesk does not send"
            )
    return problems


def iso(at: datetime) -> str:
    """W3C datetime as the standard wants it, in UTC, to the second."""
    if at.tzinfo is None:
        raise ValueError("an aware datetime is needed")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def chunks(ids: Sequence[str], size: int = IDS_PER_QUERY) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# -- the client ------------------------------------------------------------------------------


class Open311Client:
    """Calls to one Open311 endpoint over a shared aiohttp session (the caller owns it, so one
    pool serves every department). Every method raises `Open311Error` on failure."""

    def __init__(self, session: aiohttp.ClientSession, target: Open311Target) -> None:
        self.session = session
        self.target = target

    def _params(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        params = dict(extra or {})
        if self.target.jurisdiction_id:
            params["jurisdiction_id"] = self.target.jurisdiction_id
        return params

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
    ) -> Any:
        """One HTTP call, its failure classified. A POST that got no answer, a 5xx or an
        unreadable answer may have created the request (`maybe_created`): a server can fail
        after writing it. A 4xx did not; nor did a refused connection."""
        posting = method == "POST"
        status, raw = await exchange(
            self.session,
            method,
            self.target.url(path),
            timeout=self.target.timeout,
            fail=Open311Error,
            params=params,
            data=form,
        )
        body = _json_or_none(raw)
        if status >= 500:
            raise Open311Error(
                f"server error {status}",
                status=status,
                errors=parse_errors(body),
                retryable=True,
                maybe_created=posting,
            )
        if status >= 400:
            raise Open311Error(
                f"refused with {status}", status=status, errors=parse_errors(body), retryable=False
            )
        if body is None:
            raise Open311Error(
                f"answer {status} is not JSON",
                status=status,
                retryable=False,
                maybe_created=posting,
            )
        return body

    async def services(self) -> list[Service]:
        """`GET services.json`: the service codes the city accepts."""
        body = await self._call("GET", "services.json", params=self._params())
        return [
            Service(
                service_code=str(item["service_code"]),
                service_name=str(item.get("service_name") or ""),
                description=str(item.get("description") or ""),
                metadata=bool(item.get("metadata")),
                type=str(item.get("type") or "realtime"),
                keywords=str(item.get("keywords") or ""),
                group=str(item.get("group") or ""),
            )
            for item in (body if isinstance(body, list) else [])
            if isinstance(item, dict) and item.get("service_code") not in (None, "")
        ]

    async def post_request(self, new: NewRequest, *, share_contact: bool = False) -> PostResult:
        """`POST requests.json`. Before calling it again after a failure with
        `maybe_created`, call `find_by_reference`."""
        form = request_form(self.target, new, share_contact=share_contact)
        return parse_post_answer(await self._call("POST", "requests.json", form=form))

    async def submit(
        self,
        new: NewRequest,
        *,
        tried_since: datetime | None = None,
        share_contact: bool = False,
    ) -> PostResult:
        """Post `new` exactly once. `tried_since` is when the first attempt of this case began,
        when an earlier attempt may have created the request (it failed with `maybe_created`,
        or the worker crashed mid-call); then the request is looked up by its reference first
        and, when found, its id is returned without posting again."""
        if tried_since is not None:
            found = await self.find_by_reference(new.reference, tried_since)
            if found is not None:
                return Created(found.service_request_id)
        return await self.post_request(new, share_contact=share_contact)

    async def poll_token(self, token: str) -> str | None:
        """`GET tokens/{token}.json`: the id once the server has made it, else None."""
        path = f"tokens/{token}.json"
        return parse_token_answer(await self._call("GET", path, params=self._params()))

    async def find_by_reference(
        self, reference: str, since: datetime, until: datetime | None = None
    ) -> RequestStatus | None:
        """The request whose description carries `reference`, among those requested between
        `since` and `until` (the window of the first attempt, with a margin the caller
        chooses). None when there is none: then posting again cannot make a second ticket."""
        params = {"start_date": iso(since)}
        if until is not None:
            params["end_date"] = iso(until)
        body = await self._call("GET", "requests.json", params=self._params(params))
        for request in parse_statuses(body):
            if carries_reference(request.description, reference):
                return request
        return None

    async def statuses(
        self, ids: Sequence[str], *, updated_after: datetime | None = None
    ) -> list[RequestStatus]:
        """The requests `ids`, several in one call (`service_request_id=a,b`). A server that
        refuses the list (4xx) is asked instead for everything updated after `updated_after`,
        filtered to `ids`; without `updated_after` the refusal is raised."""
        wanted = list(dict.fromkeys(ids))
        found: list[RequestStatus] = []
        try:
            for part in chunks(wanted):
                params = self._params({"service_request_id": ",".join(part)})
                found.extend(
                    parse_statuses(await self._call("GET", "requests.json", params=params))
                )
        except Open311Error as exc:
            if exc.retryable or updated_after is None:
                raise
            return await self.updated_since(updated_after, only=wanted)
        return [s for s in found if s.service_request_id in set(wanted)]

    async def updated_since(
        self, updated_after: datetime, *, only: Iterable[str] | None = None
    ) -> list[RequestStatus]:
        """`GET requests.json?updated_after=...`, optionally filtered to some ids."""
        params = self._params({"updated_after": iso(updated_after)})
        found = parse_statuses(await self._call("GET", "requests.json", params=params))
        if only is None:
            return found
        keep = set(only)
        return [s for s in found if s.service_request_id in keep]

    async def probe_api_key(self) -> None:
        """`POST requests.json` with the api_key (and jurisdiction_id) only: no service code,
        no place, so the standard makes the server refuse it and nothing is created. For
        `caredesk tracker check`: the caller reads a 401/403 as the key refused, another 4xx
        as the key got past. Returns normally only if the server accepted the empty request."""
        form = {"api_key": self.target.api_key}
        if self.target.jurisdiction_id:
            form["jurisdiction_id"] = self.target.jurisdiction_id
        await self._call("POST", "requests.json", form=form)


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


__all__ = [
    "Contact",
    "Created",
    "ErrorItem",
    "NewRequest",
    "Open311Client",
    "Open311Error",
    "Open311Target",
    "Pending",
    "PostResult",
    "RequestStatus",
    "Service",
    "check_service_codes",
]
