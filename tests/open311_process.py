"""The loopback Open311 server of the tests (tests/open311.py) as a process of its own, for the
tests and benchmarks that kill `caredesk serve` and need a server that outlives it, or that
must not count the server's CPU against caredesk:

    python -m tests.open311_process --port P --state FILE [--delay 0.03] [--now ISO]

Every created service request is appended to FILE as one JSON line (`{"created": {...}}`)
before the answer leaves, and every call as `{"call": [method, path, query]}`, so what the
server did survives the test's own view of it. `--delay` holds each POST's answer that long
*after* the request was created: the window where a killed client has made a ticket it never
heard about, the one caredesk's lookup-before-repost exists for. `--now` pins the server's
clock (tests/open311.py stamps `requested_datetime` with it) as $CAREDESK_NOW pins caredesk's,
so the lookup window does not depend on the day the test runs.

Prints `ready` on stdout once listening; SIGTERM or SIGINT stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import IO, Any

from aiohttp import web

from bot.clock import Clock, PinnedClock, SystemClock, parse_received

from .open311 import FakeOpen311, Received


class RecordingOpen311(FakeOpen311):
    """FakeOpen311 that writes what it did to a JSON-lines file and answers POSTs slowly."""

    def __init__(self, *, state: IO[str], delay: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state
        self.delay = delay

    def _write(self, entry: dict[str, Any]) -> None:
        self.state.write(json.dumps(entry) + "\n")
        self.state.flush()

    async def _record(self, request: web.Request) -> Any:
        seen, failure = await super()._record(request)
        self._write({"call": [seen.method, seen.path, seen.query]})
        if len(self.received) > 1000:  # a long benchmark need not keep every call in memory
            self.received.clear()
        return seen, failure

    async def _post_request(self, request: web.Request) -> web.StreamResponse:
        before = len(self.requests)
        response = await super()._post_request(request)
        # No await between the creation above and this write: a cancelled handler (the client
        # was killed) either created and recorded the request, or did neither.
        if len(self.requests) > before:  # one POST creates one request, the newest
            self._write({"created": self.requests[next(reversed(self.requests))]})
            if self.delay:
                await asyncio.sleep(self.delay)
        return response


def read_state(path: Path) -> tuple[list[dict[str, Any]], list[Received]]:
    """(created requests, calls) from a state file, in order."""
    created: list[dict[str, Any]] = []
    calls: list[Received] = []
    if not path.exists():
        return created, calls
    *lines, _partial = path.read_text(encoding="utf-8").split("\n")  # the last: being written
    for line in lines:
        entry = json.loads(line)
        if "created" in entry:
            created.append(entry["created"])
        else:
            method, where, query = entry["call"]
            calls.append(Received(method, where, query, {}))
    return created, calls


async def serve(args: argparse.Namespace) -> None:
    clock: Clock = PinnedClock(parse_received(args.now)) if args.now else SystemClock()
    with open(args.state, "a", encoding="utf-8") as state:
        server = RecordingOpen311(
            state=state, delay=args.delay, api_key=args.api_key, clock=clock, port=args.port
        )
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print("ready", flush=True)
        await stop.wait()
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True, help="JSON-lines record to append")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each POST answer waits")
    parser.add_argument("--api-key", default="test-key")
    parser.add_argument("--now", default="", help="ISO instant the server's clock starts at")
    asyncio.run(serve(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
