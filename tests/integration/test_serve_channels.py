"""`caredesk serve` as a real process when a channel's server is not there at start.

The Bot API, the IMAP server and the SMTP server are pointed at a closed port: the service
must start anyway, answer the web chat, say in /healthz which channel is degraded and why,
log one clear line (no traceback), and recover by itself once the server comes up on that
port (the loopback Bot API of the tests, Dovecot, aiosmtpd). The log of a real run against
the loopback Bot API must never carry the bot's token.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from storage.cases import list_cases
from storage.db import open_store

from ..servers import NO_PROXY_ENV, DovecotServer, SmtpSink, free_port, serve_argv
from .test_mail_e2e import resident_mail

ROOT = Path(__file__).resolve().parents[2]
#: Shaped like a real token (digits, colon, 35 characters), so the pattern filter is tested
#: as well as the exact-token one.
TOKEN = "7012345678:AAHf0-Secret_Part_Of_The_Token_x1y2z3"
CHAT = 5151

pytestmark = pytest.mark.usefixtures("no_proxy")


class Serve:
    """`caredesk serve` with a given configuration; its stderr (the JSON log) kept in a file."""

    def __init__(self, tmp: Path, config: str, **env: str) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_path = tmp / "caredesk.db"
        self.config = tmp / "caredesk.toml"
        self.config.write_text(config)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CAREDESK_")},
            "PYTHONPATH": str(ROOT),
            **NO_PROXY_ENV,
            **env,
        }
        self.log_path = tmp / f"serve-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> Serve:
        self.log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            serve_argv(self.config, self.db_path, self.port),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        await self.wait_for(self._answers, 30, "serve answering /healthz")
        return self

    async def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"serve exited {self.proc.returncode}:\n{self.text()}")
        try:
            await self.health()
        except (aiohttp.ClientError, OSError):
            return False
        return True

    async def health(self) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as client,
            client.get(self.url + "/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r,
        ):
            assert r.status == 200
            body: dict[str, Any] = await r.json()
            return body

    async def channel(self, name: str) -> dict[str, Any]:
        state: dict[str, Any] = (await self.health())["channels"].get(name, {})
        return state

    async def wait_for(
        self, check: Callable[[], Any], timeout: float, what: str, tick: float = 0.1
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await check()
            if value:
                return value
            await asyncio.sleep(tick)  # never block the loop: the Bot API of the test runs here
        raise AssertionError(f"timed out waiting for {what}; log:\n{self.text()[-3000:]}")

    async def stop(self) -> int:
        """SIGINT, then wait without blocking the loop (the test's Bot API must answer the
        service's last getUpdates while it shuts down)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(self.proc.wait, 20)
        self.log.close()
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
            self.log.close()

    def text(self) -> str:
        return self.log_path.read_bytes().decode("utf-8", "replace")

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out


@pytest.fixture
def serves() -> Iterator[list[Serve]]:
    made: list[Serve] = []
    yield made
    for s in made:
        s.kill()


async def web_chat_answers(serve: Serve) -> None:
    """A resident can still start a complaint on the web page."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as client:
        async with client.get(serve.url + "/") as page:
            html = await page.text()
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
        assert csrf, html[:500]
        async with client.post(serve.url + "/", data={"text": "1", "csrf": csrf.group(1)}) as r:
            after = await r.text()
    assert "immediate danger" in after


def telegram_config(port: int) -> str:
    return (
        "[telegram]\n"
        f'api_base_url = "http://127.0.0.1:{port}/bot"\n'
        f'api_file_url = "http://127.0.0.1:{port}/file/bot"\n'
        "poll_timeout = 1\n"
    )


def assert_no_traceback(serve: Serve) -> None:
    assert "Traceback" not in serve.text(), serve.text()[-3000:]


async def test_an_unreachable_bot_api_degrades_telegram_only_and_it_recovers(
    tmp_path, serves, make_bot_api
):
    port = free_port()  # nothing listens there yet
    serve = Serve(tmp_path, telegram_config(port), CAREDESK_TELEGRAM_TOKEN=TOKEN)
    serves.append(serve)
    await serve.start()
    telegram = await serve.wait_for(
        lambda: _degraded(serve, "telegram"), 15, "telegram degraded in /healthz"
    )
    assert "Bot API" in telegram["reason"]
    assert (await serve.health())["status"] == "degraded"
    await web_chat_answers(serve)

    api = await make_bot_api(TOKEN, port=port)
    try:
        await serve.wait_for(lambda: _state_is(serve, "telegram", "ok"), 30, "telegram ok")
        assert (await serve.health())["status"] == "ok"
        before = len(api.sent)
        api.push_text(CHAT, "/start")
        await api.wait_sent(before + 1)
        assert "thank you for contacting" in api.sent[before]["text"]
        # The Bot API goes away while the service runs, then comes back.
        await api.stop()
        await serve.wait_for(lambda: _degraded(serve, "telegram"), 30, "degraded mid-run")
        await web_chat_answers(serve)
        await api.start()  # the same port, the same state
        await serve.wait_for(lambda: _state_is(serve, "telegram", "ok"), 60, "ok again")
        before = len(api.sent)
        api.push_text(CHAT, "1")
        await api.wait_sent(before + 1)
    finally:
        assert await serve.stop() == 0
    assert_no_traceback(serve)
    lines = [
        r for r in serve.records() if r["logger"] == "bot.health" and r["channel"] == "telegram"
    ]
    states = [r["status"] for r in lines]
    assert states == ["degraded", "ok", "degraded", "ok"], lines  # once per change, not retry
    assert TOKEN.split(":")[1] not in serve.text()


async def _logged(serve: Serve, logger: str) -> bool:
    """A warning or an error of `logger` is in the log (a line being written is not read)."""
    try:
        records = serve.records()
    except ValueError:
        return False
    return any(r["logger"] == logger and r["level"] in ("warning", "error") for r in records)


async def _degraded(serve: Serve, name: str) -> dict[str, Any] | None:
    state = await serve.channel(name)
    return state if state.get("state") == "degraded" and state.get("reason") else None


async def _state_is(serve: Serve, name: str, wanted: str) -> bool:
    return bool((await serve.channel(name)).get("state") == wanted)


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_the_bot_token_never_reaches_the_log(tmp_path, serves, level, make_bot_api):
    api = await make_bot_api(TOKEN)
    serve = Serve(
        tmp_path,
        telegram_config(api.port),
        CAREDESK_TELEGRAM_TOKEN=TOKEN,
        CAREDESK_LOG_LEVEL=level,
    )
    serves.append(serve)
    try:
        await serve.start()
        await serve.wait_for(lambda: _state_is(serve, "telegram", "ok"), 30, "telegram ok")
        before = len(api.sent)
        api.push_text(CHAT, "/start")
        await api.wait_sent(before + 1)
        api.push_text(CHAT, "1")
        await api.wait_sent(before + 2)
        api.fail_next("sendMessage", 500, "Internal Server Error")  # an error with its URL
        api.push_text(CHAT, "no")
        await serve.wait_for(lambda: _logged(serve, "bot.telegram"), 30, "the failed reply logged")
    finally:
        await serve.stop()
    text = serve.text()
    secret = TOKEN.split(":", 1)[1]
    assert secret not in text
    assert serve.records(), "serve wrote no log at all"
    if level == "DEBUG":  # the HTTP client's request lines are there, the token redacted
        assert "/bot[redacted]/getMe" in text, text[-2000:]
    else:  # quiet at INFO: the HTTP client's per-request lines are not logged
        assert not [r for r in serve.records() if r["logger"].startswith(("httpx", "httpcore"))]


def mail_config(imap_port: int, smtp_port: int, user: str) -> str:
    return (
        "[mail]\n"
        'address = "feedback@city.example"\n'
        "[mail.imap]\n"
        f'host = "127.0.0.1"\nport = {imap_port}\nsecurity = "none"\nuser = "{user}"\n'
        'folder = "INBOX"\nprocessed_folder = "Processed"\nidle = true\n'
        "[mail.smtp]\n"
        f'host = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\nuser = ""\n'
        "retry_base_seconds = 0.2\nmax_attempts = 20\n"
    )


async def test_unreachable_imap_and_smtp_degrade_mail_only_and_recover(tmp_path, serves):
    dovecot = DovecotServer()  # set up, not started: its port is closed
    sink = SmtpSink()  # likewise
    try:
        serve = Serve(
            tmp_path,
            mail_config(dovecot.port, sink.port, dovecot.user),
            CAREDESK_IMAP_PASSWORD=dovecot.password,
        )
        serves.append(serve)
        await serve.start()
        imap = await serve.wait_for(lambda: _degraded(serve, "imap"), 15, "imap degraded")
        smtp = await serve.wait_for(lambda: _degraded(serve, "smtp"), 15, "smtp degraded")
        assert str(dovecot.port) in imap["reason"] and str(sink.port) in smtp["reason"]
        health = await serve.health()
        assert health["status"] == "degraded" and health["channels"]["web"]["state"] == "ok"
        await web_chat_answers(serve)

        await asyncio.to_thread(dovecot.start)
        await asyncio.to_thread(dovecot.append, resident_mail(1))
        await serve.wait_for(lambda: _state_is(serve, "imap", "ok"), 60, "imap ok", tick=0.3)
        await serve.wait_for(lambda: _cases(serve.db_path), 30, "the mail cased", tick=0.3)
        sink.start()
        await serve.wait_for(lambda: _state_is(serve, "smtp", "ok"), 90, "smtp ok", tick=0.3)
        await serve.wait_for(lambda: _sunk(sink), 60, "the acknowledgement sent", tick=0.3)
        assert (await serve.health())["status"] == "ok"
        assert await serve.stop() == 0
    finally:
        sink.stop()
        await asyncio.to_thread(dovecot.close)
    assert_no_traceback(serve)
    changes = [(r["channel"], r["status"]) for r in serve.records() if r["logger"] == "bot.health"]
    assert changes.count(("imap", "degraded")) == 1 and changes.count(("imap", "ok")) == 1
    assert changes.count(("smtp", "degraded")) == 1 and changes.count(("smtp", "ok")) == 1


async def _cases(db_path: Path) -> int:
    db = open_store(db_path)
    try:
        return len(list_cases(db))
    finally:
        db.close()


async def _sunk(sink: SmtpSink) -> int:
    return len(sink.messages)
