"""A loopback Open311 GeoReport v2 server for the tests: real HTTP, the standard's JSON.

    server = FakeOpen311(clock=FrozenClock(...))
    await server.start()
    client = Open311Client(session, Open311Target(server.base_url, server.api_key))
    ...
    await server.stop()

Endpoints (under `base_url`): `GET services.json`, `POST requests.json` (form-encoded; checks
`api_key` and `service_code`), `GET tokens/{token}.json`, `GET requests.json` with
`service_request_id=a,b`, `start_date`/`end_date` or `updated_after`. Errors are the standard's
arrays `[{"code": ..., "description": ...}]` with a 4xx status.

Behaviour a test chooses:
- `answer = "id"` (default) answers a POST with `service_request_id`; `"token"` with a `token`
  whose id appears after `token_polls` polls of `tokens/{token}.json`.
- `multi_id = False` refuses a comma list of ids (400), as some servers do.
- `fail(kind, ...)` queues a failure for the next matching call: `"status"` answers `status`
  (503 by default) without doing anything; `"slow"` does the work (a POST creates the
  request) and then holds the answer `delay` seconds, longer than the client's timeout;
  `"drop"` does the work and then closes the connection without answering.
- `update(id, ...)` changes a request as the department would, stamping `updated_datetime`.

`received` records every call (method, path, query, form) in order; `requests` holds the
created service requests by id. Times come from the injected clock, never the real one.
Everything runs in the test's event loop and nothing here is thread-safe.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.clock import Clock, SystemClock

from .servers import LOOPBACK, free_port

DEFAULT_SERVICES: tuple[dict[str, Any], ...] = (
    {
        "service_code": "POTHOLE",
        "service_name": "Pothole",
        "description": "A hole in the road",
        "metadata": False,
        "type": "realtime",
        "keywords": "road, pothole",
        "group": "Streets",
    },
    {
        "service_code": "STREETLIGHT",
        "service_name": "Street light out",
        "description": "",
        "metadata": False,
        "type": "realtime",
        "keywords": "",
        "group": "Streets",
    },
)


@dataclass(frozen=True)
class Received:
    """One call the server received, as it came."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]


@dataclass
class Failure:
    kind: str  # "status" | "slow" | "drop"
    method: str | None = None
    path: str | None = None
    status: int = 503
    delay: float = 30.0
    errors: list[dict[str, str]] = field(default_factory=list)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime:
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class FakeOpen311:
    def __init__(
        self,
        *,
        api_key: str = "test-key",
        clock: Clock | None = None,
        answer: str = "id",
        token_polls: int = 0,
        multi_id: bool = True,
        services: tuple[dict[str, Any], ...] = DEFAULT_SERVICES,
        port: int | None = None,
    ) -> None:
        self.api_key = api_key
        self.clock: Clock = clock or SystemClock()
        self.answer = answer
        self.token_polls = token_polls
        self.multi_id = multi_id
        self.services = [dict(s) for s in services]
        self.port = port if port is not None else free_port()
        self.received: list[Received] = []
        self.requests: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, tuple[str, int]] = {}  # token -> (id, polls left)
        self._failures: deque[Failure] = deque()
        self._ids = itertools.count(1001)
        self._token_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/open311/v2"

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/open311/v2/services.json", self._services)
        app.router.add_post("/open311/v2/requests.json", self._post_request)
        app.router.add_get("/open311/v2/requests.json", self._get_requests)
        app.router.add_get("/open311/v2/tokens/{token}.json", self._token)
        # handler_cancellation: a held ("slow") answer must not hold stop() (TESTING.md 3).
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, LOOPBACK, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- what a test does --------------------------------------------------------------------

    def fail(
        self,
        kind: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int = 503,
        delay: float = 30.0,
        times: int = 1,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        """Queue `times` failures of `kind` for the next calls matching method/path
        (`path` relative to base_url, e.g. "requests.json")."""
        if kind not in ("status", "slow", "drop"):
            raise ValueError(kind)
        for _ in range(times):
            self._failures.append(Failure(kind, method, path, status, delay, errors or []))

    def update(self, request_id: str, **fields: Any) -> None:
        """Change a request as the department would (status, status_notes, ...)."""
        self.requests[request_id].update(fields, updated_datetime=_iso(self.clock.now()))

    def posts(self) -> list[Received]:
        return [r for r in self.received if r.method == "POST"]

    # -- handlers ----------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> tuple[Received, Failure | None]:
        form = {k: str(v) for k, v in (await request.post()).items()}
        path = request.path.removeprefix("/open311/v2/")
        seen = Received(request.method, path, dict(request.query), form)
        self.received.append(seen)
        failure = None
        for item in self._failures:
            if (item.method in (None, request.method)) and (item.path in (None, path)):
                failure = item
                break
        if failure is not None:
            self._failures.remove(failure)
        return seen, failure

    async def _finish(
        self, request: web.Request, failure: Failure | None, body: Any, status: int = 200
    ) -> web.StreamResponse:
        """Answer, or fail after the work was done ("slow", "drop")."""
        if failure is not None and failure.kind == "slow":
            await asyncio.sleep(failure.delay)
        if failure is not None and failure.kind == "drop":
            assert request.transport is not None
            request.transport.close()
            raise asyncio.CancelledError
        return web.json_response(body, status=status)

    @staticmethod
    def _error(status: int, code: Any, description: str) -> web.Response:
        return web.json_response([{"code": code, "description": description}], status=status)

    def _early(self, failure: Failure | None) -> web.Response | None:
        if failure is not None and failure.kind == "status":
            body = failure.errors or [
                {"code": str(failure.status), "description": "failure on demand"}
            ]
            return web.json_response(body, status=failure.status)
        return None

    async def _services(self, request: web.Request) -> web.StreamResponse:
        _, failure = await self._record(request)
        return self._early(failure) or await self._finish(request, failure, self.services)

    async def _post_request(self, request: web.Request) -> web.StreamResponse:
        seen, failure = await self._record(request)
        if (early := self._early(failure)) is not None:
            return early
        form = seen.form
        if form.get("api_key") != self.api_key:
            return self._error(403, 403, "Invalid api_key")
        codes = {s["service_code"] for s in self.services}
        if form.get("service_code") not in codes:
            return self._error(400, 400, f"Service code {form.get('service_code')!r} is invalid")
        if not (("lat" in form and "long" in form) or form.get("address_string")):
            return self._error(400, 400, "A location is required: lat/long or address_string")
        now = _iso(self.clock.now())
        request_id = str(next(self._ids))
        self.requests[request_id] = {
            "service_request_id": request_id,
            "status": "open",
            "status_notes": None,
            "service_name": form["service_code"],
            "service_code": form["service_code"],
            "description": form.get("description", ""),
            "agency_responsible": None,
            "service_notice": None,
            "requested_datetime": now,
            "updated_datetime": now,
            "expected_datetime": None,
            "address": form.get("address_string"),
            "lat": float(form["lat"]) if "lat" in form else None,
            "long": float(form["long"]) if "long" in form else None,
            "contact": {
                k: form[k] for k in ("email", "first_name", "last_name", "phone") if k in form
            },
        }
        if self.answer == "token":
            token = f"tok-{next(self._token_ids)}"
            self._tokens[token] = (request_id, self.token_polls)
            body: Any = [{"token": token}]
        else:
            body = [{"service_request_id": request_id, "service_notice": "", "account_id": None}]
        return await self._finish(request, failure, body)

    async def _token(self, request: web.Request) -> web.StreamResponse:
        _, failure = await self._record(request)
        if (early := self._early(failure)) is not None:
            return early
        token = request.match_info["token"]
        if token not in self._tokens:
            return self._error(404, 404, f"Token {token!r} not found")
        request_id, left = self._tokens[token]
        if left > 0:
            self._tokens[token] = (request_id, left - 1)
            body: Any = [{"token": token}]
        else:
            body = [{"service_request_id": request_id, "token": token}]
        return await self._finish(request, failure, body)

    async def _get_requests(self, request: web.Request) -> web.StreamResponse:
        seen, failure = await self._record(request)
        if (early := self._early(failure)) is not None:
            return early
        query = seen.query
        found = list(self.requests.values())
        if "service_request_id" in query:
            ids = [i for i in query["service_request_id"].split(",") if i]
            if len(ids) > 1 and not self.multi_id:
                return self._error(400, 400, "Only one service_request_id at a time")
            found = [self.requests[i] for i in ids if i in self.requests]
        try:
            if "start_date" in query:
                since = _parse_iso(query["start_date"])
                found = [r for r in found if _parse_iso(r["requested_datetime"]) >= since]
            if "end_date" in query:
                until = _parse_iso(query["end_date"])
                found = [r for r in found if _parse_iso(r["requested_datetime"]) <= until]
            if "updated_after" in query:
                after = _parse_iso(query["updated_after"])
                found = [r for r in found if _parse_iso(r["updated_datetime"]) > after]
        except ValueError:
            return self._error(400, 400, "Invalid date")
        body = [{k: v for k, v in r.items() if k != "contact"} for r in found]
        return await self._finish(request, failure, body)
