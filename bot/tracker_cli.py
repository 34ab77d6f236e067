"""`caredesk tracker check`: what each department's tracker target answers, and what is wrong.

Why: forwarding runs unattended in the outbox; a wrong URL, key or service code would only show
up as dead letters. This asks each target once, the way forwarding will, and says in words what
it answered, before any case depends on it. It creates nothing and sends no mail:

- open311: `GET services.json` (reachable, and the configured service code offered), then a
  `POST requests.json` carrying only the api_key, no service code and no place, which the
  standard makes the server refuse: a 401/403 means the key is refused, any other refusal
  that it got past the key. A server that accepted it is a problem too.
- webhook: an `OPTIONS` request (any HTTP answer counts: it is reachable) and the signing
  secret present in the environment.
- email: the address is well formed and `[mail.smtp]` is configured (`caredesk mail check`
  tests the connection).

Secrets come from the environment (`secret_env`) and are never printed: only the variable's
name is.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import asdict, dataclass, field

import aiohttp

from bot.config import Config, Department
from bot.tracker_targets import (
    OPEN311_KEY_ENV,
    WEBHOOK_SECRET_ENV,
    open311_client,
    secret_env,
    service_code_check,
)
from tracker.open311 import Open311Client, Open311Error

DEFAULT_TIMEOUT = 10.0


@dataclass
class Result:
    """One department's line: `problems` empty means the target is OK."""

    department: str
    name: str
    tracker: str
    target: str
    ok: bool = True
    answer: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.ok = False
        self.problems.append(text)

    def line(self) -> str:
        where = f"{self.department} ({self.name}): {self.tracker}"
        if self.target:
            where += f" {self.target}"
        if self.ok:
            return f"{where}: OK, " + "; ".join(self.answer)
        said = "; ".join(self.answer)
        return f"{where}: " + "; ".join(self.problems) + (f" (answered: {said})" if said else "")


def _refusal(exc: Open311Error) -> str:
    """The server's answer in words: the HTTP status and its own error entries."""
    if exc.status is None:
        return f"unreachable ({exc})"
    if exc.errors:
        return f"HTTP {exc.status}: {exc.words()}"
    return f"HTTP {exc.status} ({exc})"


async def check_open311(
    session: aiohttp.ClientSession, dept: Department, timeout: float, out: Result
) -> None:
    env, key = secret_env(OPEN311_KEY_ENV, dept.key)
    client = open311_client(session, dept, timeout)
    try:
        services = await client.services()
    except Open311Error as exc:
        out.problem(f"services.json: {_refusal(exc)}")
        if not key:
            out.problem(f"no API key: set {env} (or {OPEN311_KEY_ENV}) in the environment")
        return
    out.answer.append(f"Open311: {len(services)} services")
    problems, fine = service_code_check(dept, services)
    for problem in problems:
        out.problem(problem)
    out.answer.extend(fine)
    if not key:
        out.problem(f"no API key: set {env} (or {OPEN311_KEY_ENV}) in the environment")
        return
    await _probe_key(client, env, out)


async def _probe_key(client: Open311Client, env: str, out: Result) -> None:
    """POST a request the server must refuse (no service code, no place) to see the key
    judged; see the module's docstring."""
    try:
        await client.probe_api_key()
    except Open311Error as exc:
        if exc.status in (401, 403):
            out.problem(f"API key from {env} refused: {_refusal(exc)}")
        elif exc.status is None or exc.status >= 500:
            out.problem(f"requests.json: {_refusal(exc)}")
        else:
            out.answer.append(f"API key from {env} accepted")
        return
    out.problem("requests.json accepted a request with no service code: check the server")


async def check_webhook(
    session: aiohttp.ClientSession, dept: Department, timeout: float, out: Result
) -> None:
    env, secret = secret_env(WEBHOOK_SECRET_ENV, dept.key)
    try:
        async with session.options(
            dept.webhook_url, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            out.answer.append(f"reachable: OPTIONS answered {response.status}")
    except TimeoutError:
        out.problem(f"unreachable: no answer within {timeout:g} s")
    except aiohttp.ClientError as exc:
        # The class name only: an exception's text can carry the URL.
        out.problem(f"unreachable: {type(exc).__name__}")
    if not secret:
        out.problem(f"no signing secret: set {env} (or {WEBHOOK_SECRET_ENV}) in the environment")
    else:
        out.answer.append(f"signing secret from {env}")


_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def check_email(config: Config, dept: Department, out: Result) -> None:
    if not _ADDRESS.fullmatch(dept.email):
        out.problem(f"{dept.email!r} is not an email address")
    smtp = config.mail.smtp
    if smtp is None:
        out.problem("[mail.smtp] is not configured: nothing can send the forward")
    elif smtp.user and not smtp.password:
        out.problem(f"CAREDESK_SMTP_PASSWORD is not set (smtp user {smtp.user!r})")
    else:
        out.answer.append(
            f"sent through smtp {smtp.host}:{smtp.port} (caredesk mail check tests it)"
        )


def _target(dept: Department) -> str:
    return {
        "open311": dept.open311_url,
        "webhook": dept.webhook_url,
        "email": dept.email,
    }.get(dept.tracker, "")


async def check_all(config: Config, timeout: float) -> list[Result]:
    results: list[Result] = []
    async with aiohttp.ClientSession(trust_env=True) as session:
        for dept in config.departments:
            out = Result(dept.key, dept.name, dept.tracker, _target(dept))
            if dept.tracker == "open311":
                await check_open311(session, dept, timeout, out)
            elif dept.tracker == "webhook":
                await check_webhook(session, dept, timeout, out)
            elif dept.tracker == "email":
                check_email(config, dept, out)
            else:
                out.answer.append("not forwarded: staff forward by hand")
            results.append(out)
    return results


def cmd_tracker_check(config: Config, *, as_json: bool, timeout: float = DEFAULT_TIMEOUT) -> int:
    """Exit 0 when every target is OK (or none is configured), 1 when any has a problem."""
    if not config.departments:
        if not as_json:
            print("no departments are configured ([[departments]], caredesk.example.toml)")
        return 0
    results = asyncio.run(check_all(config, timeout))
    for result in results:
        print(json.dumps(asdict(result), ensure_ascii=False) if as_json else result.line())
    return 0 if all(r.ok for r in results) else 1
