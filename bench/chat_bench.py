"""Chat latency and throughput: the web chat (WebSocket) and Telegram (python-telegram-bot),
each beside a baseline that does the same round trips and nothing else.

A benchmark, not a test: it prints figures and the baseline they are compared with, never
pass/fail (the exit status is 0 whatever the figures). Run from the repository root:

    PYTHONPATH=. .venv/bin/python bench/chat_bench.py [--part web|telegram|both] [--json]

Every conversation is the complete complaint of tests/scripts.py (FULL) followed by
"confirm": 10 turns, the last of which files the case.

Web: `caredesk serve` runs as a separate process (built-in configuration, a fresh store in a
temp dir, JSON logs at INFO to a file), so client and server share neither an event loop nor
CPU accounting. One client process (this one: asyncio + aiohttp) opens N conversations, each
with its own ClientSession and cookie jar (GET / sets the session cookie, then /ws), all of
them before any turn; then every conversation runs its script at once, each turn sent as soon
as the previous one was answered (closed loop, no think time). A turn is timed from just before
the `say` frame is sent until its `replies` frame is received. Afterwards the store must hold N
cases. `--think-ms MS` gives each resident a random pause before each line instead (an open,
human-paced load). Baseline: the same N connections and round trips against a trivial aiohttp
WebSocket echo server started the same way (a subprocess; it answers each `say` with one
`replies` frame holding the text). Server CPU is utime+stime from /proc/PID/stat.

Telegram: in this process, caredesk's TelegramChannel (long polling, poll_timeout 1) against
the loopback FakeBotApi of the tests, on a temp store. A turn is timed from the moment the
update is queued at the fake until the fake receives the turn's first (and last) sendMessage.
Each chat first sends /start (not timed). Two passes of --tg-turns turns each: one chat at a
time (one update in flight), then all chats at once (one update in flight per chat). Baseline:
a python-telegram-bot echo bot (one MessageHandler sending the text back) against the same
fake, same passes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import math
import os
import pstats
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
import telegram
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bench.figures import PCTS, percentiles, stop_process
from bench.figures import machine as figures_machine
from bot.app import Services, build_services
from bot.config import Config, parse_config
from bot.telegram import TelegramChannel, split_text
from storage.cases import count_cases
from storage.db import open_store
from tests.scripts import FULL
from tests.telegram_api import FakeBotApi, JSONDict

ROOT = Path(__file__).resolve().parents[1]
SCRIPT: tuple[str, ...] = (*FULL, "confirm")
ACK = "We received your complaint [CD-"
PCTS2 = {"p50": 50.0, "p99": 99.0}
AIM_P99_MS = 50.0
LOOPBACK = "127.0.0.1"
#: First chat ids of the two Telegram passes (distinct chats, distinct conversations).
SEQUENTIAL_CHATS, CONCURRENT_CHATS = 1_000_001, 2_000_001

ECHO_SERVER = '''\
"""The web baseline: GET / sets a session cookie, /ws answers each frame with one frame."""
import json
import secrets
import sys

from aiohttp import WSMsgType, web


async def page(request):
    response = web.Response(text="<!doctype html><title>echo</title>", content_type="text/html")
    if "caredesk_chat" not in request.cookies:
        response.set_cookie("caredesk_chat", secrets.token_urlsafe(32), httponly=True, path="/")
    return response


async def healthz(request):
    return web.json_response({"status": "ok"})


async def socket(request):
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
    await ws.prepare(request)
    await ws.send_json({"type": "session", "csrf": ""})  # as caredesk does for a new session
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            text = json.loads(message.data).get("text", "")
            await ws.send_json({"type": "replies", "replies": [{"text": text, "choices": []}]})
    return ws


app = web.Application()
app.router.add_get("/", page)
app.router.add_get("/healthz", healthz)
app.router.add_get("/ws", socket)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
'''


class ConversationError(Exception):
    """A conversation went wrong in a way that is not an exception of its own."""


# --------------------------------------------------------------------------------------------
# Figures


def stats(ns: Sequence[int], pcts: Mapping[str, float] = PCTS) -> dict[str, float]:
    """Nearest-rank percentiles of nanosecond samples, in milliseconds."""
    return percentiles(ns, pcts, scale=1e6)


def fmt(ms: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:8.2f}" for k, v in ms.items()) if ms else "(no samples)"


def machine() -> dict[str, Any]:
    return figures_machine(aiohttp=aiohttp.__version__, python_telegram_bot=telegram.__version__)


# --------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def raise_open_files(wanted: int) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE towards `wanted` (children inherit it); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/PID/stat (fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # fields[0] is field 3 (state)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """A server subprocess on loopback, its output in a log file."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    exit_code: int | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> int:
        self.exit_code = stop_process(self.proc, timeout)
        return self.exit_code


#: Every server started, so that main() can stop whatever an error left running.
SPAWNED: list[Server] = []


def server_env() -> dict[str, str]:
    """The bench's environment without caredesk settings that would start other workers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREDESK_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def spawn(name: str, argv: list[str], port: int, tmp: Path) -> Server:
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=tmp,  # no ./caredesk.toml there: the built-in configuration
            env=server_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a ^C in the terminal reaches only us; we stop it
        )
    server = Server(name, proc, port, log)
    SPAWNED.append(server)
    return server


async def wait_ready(server: Server, timeout: float = 60.0) -> float:
    """Poll /healthz until it answers 200; returns the seconds it took."""
    t0 = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as client:
        while time.perf_counter() - t0 < timeout:
            if server.proc.poll() is not None:
                raise RuntimeError(
                    f"{server.name} exited with {server.proc.returncode}:\n{server.tail()}"
                )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with client.get(server.url + "/healthz") as response:
                    if response.status == 200:
                        return time.perf_counter() - t0
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{server.name} not ready after {timeout:.0f} s:\n{server.tail()}")


# --------------------------------------------------------------------------------------------
# Web chat


@dataclass
class WebSamples:
    turn: list[int] = field(default_factory=list)
    confirm: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    completed: int = 0


Conversation = tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]


async def open_conversation(base: str, timeout: float) -> Conversation:
    """A browser of its own: GET / (session cookie), then the WebSocket."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        # unsafe=True: keep cookies for an IP address host, as browsers do for 127.0.0.1.
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        timeout=aiohttp.ClientTimeout(total=timeout),
    )
    try:
        async with session.get(base + "/") as response:
            await response.read()
            if response.status != 200:
                raise ConversationError(f"GET / answered {response.status}")
        # Origin as a browser sends it (the service refuses sockets from other sites).
        ws = await session.ws_connect(base + "/ws", max_msg_size=1024 * 1024, origin=base)
        first = await ws.receive(timeout=timeout)  # caredesk: the session's new form token
        if first.type != aiohttp.WSMsgType.TEXT or json.loads(first.data).get("type") != "session":
            raise ConversationError(f"first frame was not the session: {first.data!r}")
    except BaseException:
        await session.close()
        raise
    return session, ws


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConversationError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:120]


async def converse(
    ws: aiohttp.ClientWebSocketResponse,
    go: asyncio.Event,
    check: Callable[[list[str]], bool],
    timeout: float,
    out: WebSamples,
    pauses: list[float],
) -> None:
    """The script, each line sent after pauses[i] seconds (all 0: as soon as answered)."""
    await go.wait()
    texts: list[str] = []
    try:
        for i, line in enumerate(SCRIPT):
            if pauses[i]:
                await asyncio.sleep(pauses[i])
            frame = json.dumps({"type": "say", "text": line})
            t0 = time.perf_counter_ns()
            await ws.send_str(frame)
            message = await ws.receive(timeout=timeout)
            dt = time.perf_counter_ns() - t0
            if message.type != aiohttp.WSMsgType.TEXT:
                raise ConversationError(f"socket {message.type.name} at turn {i + 1}")
            data = json.loads(message.data)
            if data.get("type") != "replies":
                raise ConversationError(f"a {data.get('type')!r} frame at turn {i + 1}")
            out.turn.append(dt)
            if i == len(SCRIPT) - 1:
                out.confirm.append(dt)
            texts = [str(r.get("text", "")) for r in data.get("replies", [])]
        if not check(texts):
            raise ConversationError("last reply lacks the expected text")
        out.completed += 1
    except Exception as exc:
        out.errors[error_kind(exc)] += 1


async def web_load(
    server: Server,
    n: int,
    check: Callable[[list[str]], bool],
    timeout: float,
    connect_concurrency: int,
    think_s: float,
) -> dict[str, Any]:
    """N conversations: connect them all, then run every script at once."""
    out = WebSamples()
    # With a think time, a resident starts within one think time and then pauses 0.5-1.5x
    # of it before each line (the same seeded pauses for caredesk and the baseline).
    rng = random.Random(1)
    pauses = [
        [think_s * (rng.random() if i == 0 else 0.5 + rng.random()) for i in range(len(SCRIPT))]
        for _ in range(n)
    ]
    gate = asyncio.Semaphore(connect_concurrency)

    async def connect() -> Conversation | None:
        async with gate:
            try:
                return await open_conversation(server.url, timeout)
            except Exception as exc:
                out.errors[f"connect: {error_kind(exc)}"] += 1
                return None

    cpu0 = server.cpu()
    t0 = time.perf_counter()
    opened = [c for c in await asyncio.gather(*(connect() for _ in range(n))) if c]
    connect_s = time.perf_counter() - t0
    try:
        go = asyncio.Event()
        tasks = [
            asyncio.create_task(converse(ws, go, check, timeout, out, pauses[i]))
            for i, (_, ws) in enumerate(opened)
        ]
        await asyncio.sleep(0.5)  # let the server settle after the connection storm
        cpu1, client1 = server.cpu(), time.process_time()
        t1 = time.perf_counter()
        go.set()
        await asyncio.gather(*tasks)
        run_s = time.perf_counter() - t1
        cpu2, client2 = server.cpu(), time.process_time()
    finally:
        await asyncio.gather(*(ws.close() for _, ws in opened), return_exceptions=True)
        await asyncio.gather(*(s.close() for s, _ in opened), return_exceptions=True)
    turns = len(out.turn)
    return {
        "conversations": n,
        "connected": len(opened),
        "completed": out.completed,
        "turns": turns,
        "expected_turns": n * len(SCRIPT),
        "connect_s": round(connect_s, 3),
        "run_s": round(run_s, 3),
        "turns_per_s": round(turns / run_s, 1) if run_s else 0.0,
        "think_ms": round(think_s * 1000, 1),
        "turn_ms": stats(out.turn),
        "confirm_ms": stats(out.confirm, PCTS2),
        "under_aim": sum(1 for x in out.turn if x < AIM_P99_MS * 1e6),
        "server_cpu_connect_s": round(cpu1 - cpu0, 3),
        "server_cpu_run_s": round(cpu2 - cpu1, 3),
        "server_cpu_us_per_turn": round((cpu2 - cpu1) / turns * 1e6, 1) if turns else None,
        "server_busy_in_run": round((cpu2 - cpu1) / run_s, 2) if run_s else None,
        "client_cpu_run_s": round(client2 - client1, 3),
        "errors": sum(out.errors.values()),
        "error_kinds": dict(out.errors),
    }


def serve_log_problems(log: Path) -> dict[str, int]:
    problems: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("level") in ("warning", "error", "critical"):
                problems[f"{entry.get('msg')}: {entry.get('error', '')}"[:160]] += 1
    return dict(problems)


async def web_server_run(
    server: Server, n: int, check: Callable[[list[str]], bool], args: argparse.Namespace
) -> dict[str, Any]:
    try:
        ready_s = await wait_ready(server)
        result = await web_load(
            server, n, check, args.timeout, args.connect_concurrency, args.think_ms / 1000
        )
        result["startup_s"] = round(ready_s, 2)
        if args.turn_cpu_conversations:
            result["turn_cpu"] = await turn_cpu(server, args.turn_cpu_conversations, args.timeout)
        result["server_cpu_total_s"] = round(server.cpu(), 3)
    finally:
        result_exit = server.stop()
    result["server_exit"] = result_exit
    return result


def loop_thread_cpu_ns(pid: int) -> int:
    """CPU time of the server's main thread (its event loop, where a turn runs), in ns: the
    first field of /proc/PID/task/PID/schedstat (utime/stime tick every 10 ms, too coarse)."""
    return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[0])


async def turn_cpu(server: Server, conversations: int, timeout: float) -> dict[str, Any]:
    """Server CPU per turn, turn by turn: one conversation at a time on a quiet server, the
    loop thread's CPU read before a 'say' frame and again once the reply is in and the
    server had a moment to finish (marking a reply delivered comes after sending it)."""
    samples: list[int] = []
    errors = completed = 0
    settle = 0.003
    for _ in range(conversations):
        try:
            session, ws = await open_conversation(server.url, timeout)
        except Exception:
            errors += 1
            continue
        try:
            for line in SCRIPT:
                await asyncio.sleep(settle)
                before = loop_thread_cpu_ns(server.proc.pid)
                await ws.send_str(json.dumps({"type": "say", "text": line}))
                message = await ws.receive(timeout=timeout)
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise ConversationError(f"socket {message.type.name}")
                await asyncio.sleep(settle)
                samples.append(loop_thread_cpu_ns(server.proc.pid) - before)
            completed += 1
        except Exception:
            errors += 1
        finally:
            await ws.close()
            await session.close()
    us = [n / 1000 for n in samples]
    at = percentiles(us, {"p50_us": 50.0, "p90_us": 90.0, "p99_us": 99.0}, digits=1)

    return {
        "turns": len(us),
        "completed": completed,
        "errors": errors,
        **at,
    }


async def run_web(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    n = args.conversations
    limits = raise_open_files(2 * n + 1024)
    out: dict[str, Any] = {"open_files_limit": limits[0]}

    echo_file = tmp / "echo_server.py"
    echo_file.write_text(ECHO_SERVER)
    port = free_port()
    echo = spawn("echo", [sys.executable, str(echo_file), str(port)], port, tmp)
    last = SCRIPT[-1]
    out["echo"] = await web_server_run(echo, n, lambda texts: texts == [last], args)

    db = tmp / "caredesk.db"
    port = free_port()
    profile = ["-m", "cProfile", "-o", str(args.profile_server)] if args.profile_server else []
    # Every simulated resident comes from 127.0.0.1: lift the per-client limit, which would
    # otherwise (rightly) slow down one address sending this much.
    config = tmp / "bench.toml"
    config.write_text("[web]\nclient_rate_per_minute = 100000000\n")
    cmd = [sys.executable, *profile, "-m", "bot.cli", "--config", str(config), "--db", str(db)]
    cmd += ["serve", "--port"]
    caredesk = spawn("caredesk", [*cmd, str(port)], port, tmp)
    result = await web_server_run(caredesk, n, lambda texts: any(ACK in t for t in texts), args)
    store = open_store(db)
    try:
        result["cases"] = count_cases(store)
    finally:
        store.close()
    result["serve_warnings"] = serve_log_problems(caredesk.log)
    # The conversations of the per-turn CPU measurement file cases too.
    filed = n + result.get("turn_cpu", {}).get("completed", 0)
    result["errors"] += abs(result["cases"] - filed) + (result["server_exit"] != 0)
    out["caredesk"] = result
    return out


# --------------------------------------------------------------------------------------------
# Telegram


class TimedBotApi(FakeBotApi):
    """The tests' fake Bot API, noting when each sendMessage reached it, per chat."""

    def __init__(self) -> None:
        super().__init__()
        self.sent_ns: defaultdict[Any, list[int]] = defaultdict(list)
        self.sent_texts: defaultdict[Any, list[str]] = defaultdict(list)
        #: update_id -> when a getUpdates answer first carried it.
        self.delivered_ns: dict[int, int] = {}
        self._arrived: dict[Any, asyncio.Event] = {}

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        updates = await super()._get_updates(params)
        now = time.perf_counter_ns()
        for update in updates:
            self.delivered_ns.setdefault(int(update["update_id"]), now)
        return updates

    async def _send_message(self, params: JSONDict) -> JSONDict:
        message = await super()._send_message(params)
        chat = self.sent[-1]["chat_id"]
        self.sent_ns[chat].append(time.perf_counter_ns())
        self.sent_texts[chat].append(str(message["text"]))
        event = self._arrived.get(chat)
        if event is not None:
            event.set()
        return message

    async def wait_count(self, chat: int, count: int, timeout: float) -> bool:
        """Wait until `count` messages were sent to `chat` in all; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        event = self._arrived.setdefault(chat, asyncio.Event())
        while len(self.sent_ns[chat]) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
        return True

    def polls(self) -> int:
        return sum(1 for name, _ in self.calls if name == "getUpdates")


@dataclass(frozen=True)
class Expected:
    """How many sendMessage calls /start and each line of the script produce."""

    start: int
    turns: tuple[int, ...]
    check: Callable[[list[str]], bool]


def caredesk_expected(tmp: Path) -> Expected:
    """Replay the script through ChatService once (a scratch store) to count the messages."""
    services = build_services(Config(), tmp / "dry-run.db")
    try:
        chat, key = services.chat, "telegram:1"

        def messages(replies: Sequence[Any]) -> int:
            return sum(len(split_text(r.text)) for r in replies)

        start = messages(chat.open("telegram", key).replies)
        turns = []
        last: list[str] = []
        for line in SCRIPT:
            turn = chat.handle("telegram", key, line)
            turns.append(messages(turn.replies))
            last = [r.text for r in turn.replies]
    finally:
        services.db.close()
    if not any(ACK in t for t in last):
        raise RuntimeError(f"the dry run of the script did not file a case: {last!r}")
    return Expected(start, tuple(turns), lambda texts: any(ACK in t for t in texts))


ECHO_EXPECTED = Expected(1, (1,) * len(SCRIPT), lambda texts: texts == [SCRIPT[-1]])


@dataclass
class TgSamples:
    first: list[int] = field(default_factory=list)
    last: list[int] = field(default_factory=list)
    #: queued -> handed to PTB in a getUpdates answer; and from there to the first message.
    delivery: list[int] = field(default_factory=list)
    handling: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


async def tg_start(api: TimedBotApi, chat: int, expected: Expected, timeout: float) -> None:
    api.push_text(chat, "/start")
    if not await api.wait_count(chat, expected.start, timeout):
        raise ConversationError("no answer to /start")


async def tg_script(
    api: TimedBotApi, chat: int, expected: Expected, timeout: float, out: TgSamples
) -> None:
    """One update at a time: the next line is sent once the turn's last message arrived."""
    try:
        texts: list[str] = []
        for i, (line, count) in enumerate(zip(SCRIPT, expected.turns, strict=True)):
            before = len(api.sent_ns[chat])
            t0 = time.perf_counter_ns()
            update_id = api.push_text(chat, line)
            if not await api.wait_count(chat, before + count, timeout):
                raise ConversationError(f"turn {i + 1}: not all messages within {timeout} s")
            times = api.sent_ns[chat]
            delivered = api.delivered_ns.get(update_id, t0)
            out.delivery.append(delivered - t0)
            out.handling.append(times[before] - delivered)
            out.first.append(times[before] - t0)
            out.last.append(times[before + count - 1] - t0)
            texts = api.sent_texts[chat][before : before + count]
        if not expected.check(texts):
            raise ConversationError("last reply lacks the expected text")
    except Exception as exc:
        out.errors[error_kind(exc)] += 1


async def tg_pass(
    api: TimedBotApi,
    chats: list[int],
    expected: Expected,
    timeout: float,
    concurrent: bool,
) -> dict[str, Any]:
    out = TgSamples()
    for chat in chats:  # /start, not timed, one chat after the other
        try:
            await tg_start(api, chat, expected, timeout)
        except Exception as exc:
            out.errors[f"start: {error_kind(exc)}"] += 1
    polls0, delivered0 = api.polls(), len(api.deliveries)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if concurrent:
        await asyncio.gather(*(tg_script(api, c, expected, timeout, out) for c in chats))
    else:
        for chat in chats:
            await tg_script(api, chat, expected, timeout, out)
    run_s = time.perf_counter() - t0
    cpu_s = time.process_time() - cpu0
    polls, delivered = api.polls() - polls0, len(api.deliveries) - delivered0
    await asyncio.sleep(0.3)  # anything sent late is counted below
    total = expected.start + sum(expected.turns)
    extra = sum(1 for c in chats if len(api.sent_ns[c]) > total)
    if extra:
        out.errors["more messages than expected"] += extra
    turns = len(out.first)
    return {
        "chats": len(chats),
        "in_flight": len(chats) if concurrent else 1,
        "turns": turns,
        "run_s": round(run_s, 3),
        "turns_per_s": round(turns / run_s, 1) if run_s else 0.0,
        "first_ms": stats(out.first),
        "last_ms": stats(out.last),
        "delivery_ms": stats(out.delivery),
        "handling_ms": stats(out.handling),
        "process_cpu_s": round(cpu_s, 3),
        "cpu_us_per_turn": round(cpu_s / turns * 1e6, 1) if turns else None,
        "get_updates_calls": polls,
        "updates_per_get_updates": round(delivered / polls, 2) if polls else None,
        "errors": sum(out.errors.values()),
        "error_kinds": dict(out.errors),
    }


async def tg_bot_run(
    api: TimedBotApi,
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
    expected: Expected,
    args: argparse.Namespace,
) -> dict[str, Any]:
    n_chats = math.ceil(args.tg_turns / len(SCRIPT))
    t0 = time.perf_counter()
    await start()
    result: dict[str, Any] = {"startup_s": round(time.perf_counter() - t0, 3)}
    try:
        seq = list(range(SEQUENTIAL_CHATS, SEQUENTIAL_CHATS + n_chats))
        result["sequential"] = await tg_pass(api, seq, expected, args.timeout, False)
        conc = list(range(CONCURRENT_CHATS, CONCURRENT_CHATS + n_chats))
        result["concurrent"] = await tg_pass(api, conc, expected, args.timeout, True)
    finally:
        await stop()
    result["chats"] = 2 * n_chats
    result["messages_per_turn"] = list(expected.turns)
    return result


def telegram_services(api: FakeBotApi, tmp: Path) -> tuple[Config, Services]:
    """caredesk's configuration and services for a Telegram channel polling `api` (1 s long
    polls), on a store of its own in `tmp`."""
    config = parse_config(
        {
            "telegram": {
                "api_base_url": api.base_url,
                "api_file_url": api.base_file_url,
                "poll_timeout": 1,
            }
        }
    )
    return config, build_services(config, tmp / "telegram.db")


async def run_telegram_caredesk(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    expected = caredesk_expected(tmp)
    api = TimedBotApi()
    await api.start()
    try:
        config, services = telegram_services(api, tmp)
        try:
            channel = TelegramChannel(services.chat, config.telegram, api.token)
            result = await tg_bot_run(api, channel.start, channel.stop, expected, args)
            result["cases"] = count_cases(services.db)
        finally:
            services.db.close()
    finally:
        await api.stop()
    errors = result["sequential"]["errors"] + result["concurrent"]["errors"]
    result["errors"] = errors + abs(result["cases"] - result["chats"])
    return result


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None and message.text is not None:
        await context.bot.send_message(message.chat_id, message.text)


async def run_telegram_echo(args: argparse.Namespace) -> dict[str, Any]:
    api = TimedBotApi()
    await api.start()
    try:
        app: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(api.token)
            .base_url(api.base_url)
            .base_file_url(api.base_file_url)
            .build()
        )
        app.add_handler(MessageHandler(filters.TEXT, echo))

        async def start() -> None:
            await app.initialize()
            await app.start()
            assert app.updater is not None
            # As TelegramChannel.start polls: no pause between polls, 1 s long-poll timeout.
            await app.updater.start_polling(
                poll_interval=0.0, timeout=1, allowed_updates=Update.ALL_TYPES
            )

        async def stop() -> None:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await app.shutdown()

        result = await tg_bot_run(api, start, stop, ECHO_EXPECTED, args)
    finally:
        await api.stop()
    result["errors"] = result["sequential"]["errors"] + result["concurrent"]["errors"]
    return result


async def run_telegram(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    # PTB (httpx) honours HTTP(S)_PROXY; NO_PROXY=localhost does not cover 127.0.0.1.
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    return {
        "echo": await run_telegram_echo(args),
        "caredesk": await run_telegram_caredesk(args, tmp),
    }


# --------------------------------------------------------------------------------------------
# Output


def ms_cell(key: str, pct: str) -> Callable[[dict[str, Any]], str]:
    return lambda r: f"{r[key].get(pct, 0):.2f}"


def print_web(w: dict[str, Any], profile: Path | None) -> None:
    """Figures side by side; `profile`: caredesk ran under cProfile (slower)."""
    c, e = w["caredesk"], w["echo"]
    n = c["conversations"]
    think = c["think_ms"]
    how = (
        f"think time {think:.0f} ms (0.5-1.5x at random)" if think else "closed loop, no think time"
    )
    print(
        f"\nWEB CHAT  {n} concurrent WebSocket conversations x {len(SCRIPT)} turns "
        f"(tests/scripts.py FULL + confirm), {how}"
    )
    print(
        "  server: a subprocess on loopback; client: this process, one ClientSession per "
        f"conversation; open files limit {w['open_files_limit']}"
    )
    print("  turn = 'say' frame sent -> 'replies' frame received, timed in the client")
    if profile:
        print("  caredesk serve ran under cProfile: its figures are inflated by the profiler")
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("startup s", lambda r: f"{r['startup_s']:.2f}"),
        ("connected", lambda r: f"{r['connected']}/{r['conversations']}"),
        ("connect all s", lambda r: f"{r['connect_s']:.2f}"),
        ("completed", lambda r: f"{r['completed']}/{r['conversations']}"),
        ("turns", lambda r: f"{r['turns']}/{r['expected_turns']}"),
        ("run s", lambda r: f"{r['run_s']:.2f}"),
        ("turns/s", lambda r: f"{r['turns_per_s']:.0f}"),
        *[(f"turn ms {k}", ms_cell("turn_ms", k)) for k in PCTS],
        *[(f"confirm ms {k}", ms_cell("confirm_ms", k)) for k in PCTS2],
        ("turns < 50 ms", lambda r: f"{r['under_aim']}/{r['turns']}"),
        ("server cpu s, run", lambda r: f"{r['server_cpu_run_s']:.2f}"),
        ("server cpu us/turn", lambda r: f"{r['server_cpu_us_per_turn'] or 0:.0f}"),
        ("server busy in run", lambda r: f"{r['server_busy_in_run'] or 0:.0%}"),
        ("server cpu s, connect", lambda r: f"{r['server_cpu_connect_s']:.2f}"),
        ("server cpu s, total", lambda r: f"{r['server_cpu_total_s']:.2f}"),
        ("client cpu s, run", lambda r: f"{r['client_cpu_run_s']:.2f}"),
        ("server exit", lambda r: str(r["server_exit"])),
        ("errors", lambda r: str(r["errors"])),
    ]
    print(f"  {'':24}{'caredesk':>16}{'echo baseline':>16}")
    for label, cell in rows:
        print(f"  {label:24}{cell(c):>16}{cell(e):>16}")
    more = c.get("turn_cpu", {}).get("completed", 0)
    print(
        f"  cases in the store        {c['cases']}/{n} + {more} of the per-turn CPU "
        "conversations (read after the server stopped)"
    )
    for name, r in (("caredesk", c), ("echo", e)):
        for kind, count in r["error_kinds"].items():
            print(f"    {name} error: {count} x {kind}")
    for text, count in c["serve_warnings"].items():
        print(f"    caredesk log: {count} x {text}")
    ct, et = c.get("turn_cpu"), e.get("turn_cpu")
    if ct and et and ct.get("turns") and et.get("turns"):
        print(
            f"  server CPU per turn, one conversation at a time ({ct['turns']} turns; the loop "
            "thread's schedstat around each turn)"
        )
        for key in ("p50_us", "p90_us", "p99_us"):
            print(f"    {key:22}{ct[key]:>16.1f}{et[key]:>16.1f}")
        print(
            f"    ratio caredesk/echo at the median {ct['p50_us'] / et['p50_us']:.1f}x; "
            f"aim (issue): median <= 100 us: {'met' if ct['p50_us'] <= 100 else 'not met'}"
        )
    ce, ee = c["turn_ms"], e["turn_ms"]
    if ce and ee and ee["p50"] and ee["p99"] and e["turns_per_s"]:
        print(
            f"  ratio caredesk/echo   p50 {ce['p50'] / ee['p50']:.1f}x   "
            f"p99 {ce['p99'] / ee['p99']:.1f}x   turns/s "
            f"{c['turns_per_s'] / e['turns_per_s']:.2f}x"
        )
    if ce:
        met = c["errors"] == 0 and ce["p99"] < AIM_P99_MS
        print(
            f"  aim (issue): no errors and p99 < {AIM_P99_MS:.0f} ms: "
            f"{'met' if met else 'not met'} (errors {c['errors']}, p99 {ce['p99']:.2f} ms)"
        )
        if c["turns_per_s"] and not think:
            little = c["connected"] / c["turns_per_s"] * 1000
            print(
                f"  Little's law: {c['connected']} turns in flight / {c['turns_per_s']:.0f} "
                f"turns/s = {little:.1f} ms mean wait per turn in a closed loop"
            )


def print_telegram(t: dict[str, Any]) -> None:
    c, e = t["caredesk"], t["echo"]
    print(
        f"\nTELEGRAM  in process: FakeBotApi (aiohttp, loopback) + python-telegram-bot "
        f"long polling (poll_interval 0, timeout 1 s); {c['chats']} chats"
    )
    print(
        "  turn = update queued at the fake -> the fake receives the turn's first (last) "
        "sendMessage"
    )
    print(
        "  = delivery: queued -> a getUpdates answer carries it. A held long poll is answered "
        "the moment\n    an update is queued; otherwise the update waits for PTB's next "
        "getUpdates, which PTB sends\n    at once (poll_interval 0): the 1 s poll timeout only "
        "paces an idle bot, it is no wait here.\n  + handling: PTB decodes the answer and queues "
        "the updates; it runs ONE update at a time\n    (concurrent_updates off), so an update "
        "waits for those before it; then the handler and\n    its sendMessage HTTP call(s). "
        "Fake, bot and driver share this process's event loop and CPU."
    )
    print(f"  caredesk messages per turn: {c['messages_per_turn']}; echo: 1")
    for mode in ("sequential", "concurrent"):
        cs, es = c[mode], e[mode]
        print(
            f"  {mode}: {cs['turns']} turns, {cs['chats']} chats, "
            f"{cs['in_flight']} update(s) in flight"
        )
        print(f"    {'':14}{'caredesk':>52}   {'echo bot':>52}")
        print(f"    {'first msg ms':14}{fmt(cs['first_ms']):>52}   {fmt(es['first_ms']):>52}")
        print(f"    {'last msg ms':14}{fmt(cs['last_ms']):>52}   {fmt(es['last_ms']):>52}")
        for label, key in (("  = delivery", "delivery_ms"), ("  + handling", "handling_ms")):
            print(f"    {label:14}{fmt(cs[key]):>52}   {fmt(es[key]):>52}")
        for label, key, f in (
            ("turns/s", "turns_per_s", "{:.0f}"),
            ("cpu us/turn", "cpu_us_per_turn", "{:.0f}"),
            ("getUpdates", "get_updates_calls", "{}"),
            ("updates/poll", "updates_per_get_updates", "{}"),
            ("errors", "errors", "{}"),
        ):
            print(f"    {label:14}{f.format(cs[key]):>52}   {f.format(es[key]):>52}")
        for name, r in (("caredesk", cs), ("echo", es)):
            for kind, count in r["error_kinds"].items():
                print(f"    {name} error: {count} x {kind}")
    print(f"  cases in the store {c['cases']}/{c['chats']}   errors caredesk {c['errors']}")


def print_profile(path: Path, top: int) -> None:
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(str(path), stream=out).strip_dirs().sort_stats(key).print_stats(top)
        print(f"\nPROFILE of caredesk serve, sorted by {key}, top {top}  ({path})")
        lines = out.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        print("\n".join(lines[start:]))


# --------------------------------------------------------------------------------------------


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


async def run(args: argparse.Namespace, tmp: Path, out: dict[str, Any]) -> None:
    if args.part in ("web", "both"):
        out["web"] = await run_web(args, tmp)
        print_web(out["web"], args.profile_server)
        if args.profile_server:
            print_profile(args.profile_server, args.profile_top)
    if args.part in ("telegram", "both"):
        out["telegram"] = await run_telegram(args, tmp)
        print_telegram(out["telegram"])


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--part", choices=("web", "telegram", "both"), default="both")
    parser.add_argument("--conversations", type=int, default=1000, metavar="N")
    parser.add_argument(
        "--tg-turns",
        type=int,
        default=1000,
        metavar="T",
        help=f"Telegram turns per pass, in chats of {len(SCRIPT)} (default 1000)",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="S", help="wait for one turn (default 60)"
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="web: a resident's pause before each line, 0.5-1.5x MS at random, first start "
        "0-1x MS (default 0: closed loop, the next line as soon as the reply is in)",
    )
    parser.add_argument(
        "--connect-concurrency",
        type=int,
        default=64,
        metavar="C",
        help="web conversations being opened at once (default 64)",
    )
    parser.add_argument(
        "--profile-server",
        type=Path,
        metavar="FILE",
        help="run caredesk serve under `python -m cProfile -o FILE` and print its top functions",
    )
    parser.add_argument("--profile-top", type=int, default=30, metavar="K")
    parser.add_argument(
        "--turn-cpu-conversations",
        type=int,
        default=50,
        metavar="K",
        help="web: after the load, K conversations one at a time, each turn's server CPU "
        "measured on its own (median and p99; default 50, 0 for none)",
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON object")
    args = parser.parse_args()
    if args.profile_server:
        args.profile_server = args.profile_server.resolve()
    signal.signal(signal.SIGTERM, _sigterm)
    ctx = machine()
    print(
        f"machine   python {ctx['python']}, {ctx['cpus']} CPUs, {ctx['platform']}, "
        f"load {ctx['loadavg']}\n"
        f"          aiohttp {ctx['aiohttp']}, python-telegram-bot {ctx['python_telegram_bot']}, "
        f"sqlite {ctx['sqlite']}; everything on loopback"
    )
    out: dict[str, Any] = {"machine": ctx}
    tmp = Path(tempfile.mkdtemp(prefix="caredesk-chatbench-"))
    try:
        asyncio.run(run(args, tmp, out))
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped and temp dirs removed", file=sys.stderr)
        return 130
    finally:
        for server in SPAWNED:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
