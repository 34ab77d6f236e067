"""Real servers for integration tests: a private Dovecot IMAP server and an aiosmtpd SMTP sink.

Plain classes, usable without pytest; `tests/conftest.py` wraps them in fixtures. Recipes and
pitfalls: /work/shared/TESTING.md sections 1 and 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from imapclient import IMAPClient

DOVECOT_BIN = "/usr/sbin/dovecot"
LOOPBACK = "127.0.0.1"
#: For the environment of a test and of the processes it starts: a proxy set in the
#: environment would swallow every loopback call (TESTING.md). Both spellings, as clients
#: read one or the other.
NO_PROXY_ENV = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------------
# Dovecot
# --------------------------------------------------------------------------------------------

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) ([0-9:,]+)\]")


def _parse_uid_set(text: bytes) -> list[int]:
    uids: list[int] = []
    for part in text.decode().split(","):
        lo, _, hi = part.partition(":")
        uids.extend(range(int(lo), int(hi or lo) + 1))
    return uids


class DovecotError(RuntimeError):
    pass


class DovecotServer:
    """A throw-away Dovecot 2.3 on 127.0.0.1 with one passwd-file user and a Maildir.

    State lives in a `tempfile.mkdtemp()` directory (not pytest's tmp_path: that one is 0700 and
    Dovecot's auth process, running as nobody, could not read the passwd file). `close()` stops
    the server and removes the directory. The port is chosen once and kept across `restart()`.
    """

    def __init__(
        self,
        user: str = "caredesk",
        password: str = "secret",
        *,
        port: int | None = None,
        binary: str = DOVECOT_BIN,
    ) -> None:
        self.host = LOOPBACK
        self.port = port if port is not None else free_port()
        self.user = user
        self.password = password
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="caredesk-dovecot-"))
        self.dir.chmod(0o755)
        self.home = self.dir / "home" / user
        self.maildir = self.home / "Maildir"
        self.log_path = self.dir / "log" / "dovecot.log"
        self.conf_path = self.dir / "dovecot.conf"
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        try:
            self._setup()
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    # -- lifecycle ---------------------------------------------------------------------------

    def _setup(self) -> None:
        d = self.dir
        for sub in ("run", "state", "log", "home"):
            (d / sub).mkdir(mode=0o755)
            (d / sub).chmod(0o755)
        (d / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}::::::\n")
        (d / "passwd").chmod(0o644)
        if os.geteuid() == 0:
            # Mail processes run as nobody; they must be able to create the Maildir.
            nobody = pwd.getpwnam("nobody")
            uid, gid = nobody.pw_uid, nobody.pw_gid
            run_user, run_group = "nobody", grp.getgrgid(gid).gr_name
            os.chown(d / "home", uid, gid)
        else:
            # Non-root: every Dovecot process runs as ourselves.
            uid, gid = os.geteuid(), os.getegid()
            run_user, run_group = pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name
        self.conf_path.write_text(
            f"""\
base_dir = {d}/run
state_dir = {d}/state
log_path = {self.log_path}
info_log_path = {self.log_path}
protocols = imap
listen = {self.host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_internal_user = {run_user}
default_internal_group = {run_group}
default_login_user = {run_user}
mail_location = maildir:{d}/home/%u/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""
        )

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the master and wait for the `* OK` greeting on the port."""
        if self.running:
            return
        if not os.access(self.binary, os.X_OK):
            raise DovecotError(f"{self.binary} not found: run `make system-deps`")
        self._stderr = open(self.dir / "log" / "stderr.log", "ab")  # noqa: SIM115
        self._proc = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.conf_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._stderr,
            stderr=self._stderr,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                rc = self._proc.returncode
                self.stop()
                raise DovecotError(f"dovecot exited with {rc} at start:\n{self.log_tail()}")
            if self._greets():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise DovecotError(
                    f"dovecot gave no `* OK` greeting on {self.host}:{self.port} in {timeout} s:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.02)

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as s:
                return s.recv(100).startswith(b"* OK")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the master and every process it started (including imap processes of clients
        still connected, e.g. in IDLE); returns when the port is closed.

        SIGTERM to the master, wait, then killpg works too but always takes 1.1 s: see
        `_terminate_group` for what is done instead.
        """
        proc, self._proc = self._proc, None
        if proc is not None:
            _terminate_group(proc, timeout)
            # A killed master leaves its pid file; if that pid is reused, the next start
            # would fail with "Dovecot is already running".
            (self.dir / "run" / "master.pid").unlink(missing_ok=True)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def restart(self) -> None:
        """Stop and start again on the same port and Maildir; mail, flags and UIDs stay."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for path in (self.log_path, self.dir / "log" / "stderr.log"):
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            if text.strip():
                out.append(f"--- {path.name}\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(out) or "(dovecot log is empty)"

    # -- IMAP helpers (each uses its own short-lived connection) -----------------------------

    def client(self, timeout: float = 30.0) -> IMAPClient:
        """A new logged-in IMAPClient; the caller logs out / closes it."""
        c = IMAPClient(self.host, port=self.port, ssl=False, timeout=timeout)
        try:
            c.login(self.user, self.password)
        except BaseException:
            with contextlib.suppress(Exception):
                c.shutdown()
            raise
        return c

    @contextlib.contextmanager
    def _session(self) -> Iterator[IMAPClient]:
        c = self.client()
        try:
            yield c
        finally:
            with contextlib.suppress(Exception):
                c.logout()

    @staticmethod
    def _ensure_folder(c: IMAPClient, folder: str) -> None:
        if folder.upper() != "INBOX" and not c.folder_exists(folder):
            c.create_folder(folder)

    def append(
        self,
        raw: bytes,
        folder: str = "INBOX",
        flags: Iterable[bytes | str] = (),
        msg_time: Any = None,
    ) -> int:
        """APPEND one message (creating the folder if needed); returns its UID."""
        with self._session() as c:
            self._ensure_folder(c, folder)
            resp = c.append(folder, raw, flags=tuple(flags), msg_time=msg_time)
        m = _APPENDUID.search(resp)
        if not m:
            raise DovecotError(f"no APPENDUID in APPEND response: {resp!r}")
        return int(m.group(2))

    def multiappend(self, raws: Iterable[bytes], folder: str = "INBOX") -> list[int]:
        """APPEND many messages in one MULTIAPPEND command; returns their UIDs in order."""
        msgs = list(raws)
        if not msgs:
            return []
        with self._session() as c:
            self._ensure_folder(c, folder)
            resp = c.multiappend(folder, msgs)
        if isinstance(resp, tuple):  # imapclient 4.1 returns ("OK", [b"[APPENDUID ...] ..."])
            resp = b" ".join(x for x in resp[1] if isinstance(x, bytes))
        m = _APPENDUID.search(resp)
        if not m:
            raise DovecotError(f"no APPENDUID in MULTIAPPEND response: {resp!r}")
        return _parse_uid_set(m.group(2))

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self._session() as c:
            return int(c.select_folder(folder, readonly=True)[b"UIDVALIDITY"])

    def folder_uids(self, folder: str = "INBOX") -> list[int]:
        with self._session() as c:
            c.select_folder(folder, readonly=True)
            return sorted(int(u) for u in c.search(["ALL"]))

    def fetch_flags(self, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        """{uid: flags} for every message in the folder (read-only select: changes nothing)."""
        with self._session() as c:
            c.select_folder(folder, readonly=True)
            uids = c.search(["ALL"])
            if not uids:
                return {}
            return {int(uid): tuple(d[b"FLAGS"]) for uid, d in c.fetch(uids, ["FLAGS"]).items()}

    def reset_uidvalidity(self) -> int:
        """Give INBOX a new UIDVALIDITY, keeping its messages (they get new UIDs 1..n).

        Stops the server, deletes INBOX's dovecot-uidlist and index files (the uidvalidity
        counter file stays, so the new value is always different), starts again and checks.
        Returns the new UIDVALIDITY.
        """
        with self._session() as c:
            info = c.select_folder("INBOX", readonly=True)
            old, count = int(info[b"UIDVALIDITY"]), int(info[b"EXISTS"])
        self.stop()
        for path in self.maildir.iterdir() if self.maildir.is_dir() else ():
            if path.is_file() and (
                path.name == "dovecot-uidlist" or path.name.startswith("dovecot.index")
            ):
                path.unlink()
        self.start()
        with self._session() as c:
            info = c.select_folder("INBOX", readonly=True)
            new, new_count = int(info[b"UIDVALIDITY"]), int(info[b"EXISTS"])
        if new == old or new_count != count:
            raise DovecotError(
                f"reset_uidvalidity: UIDVALIDITY {old} -> {new}, messages {count} -> {new_count}"
            )
        return new


# What is still running once the master has stopped auth, anvil and config: its log process,
# and imap processes of connected clients with the stats process they report to.
_LINGERING = frozenset({"dovecot/log", "dovecot/imap", "dovecot/stats"})


def _terminate_group(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Stop a Dovecot master (leader of process group `proc.pid`) and all its processes.

    1. SIGTERM to the master alone: it stops auth, anvil, config, stats in its own order
       (signalling the whole group at once makes auth log "Error: read(anvil-auth-penalty)",
       and a child dying first gets respawned unsignalled: the log process "must always run").
    2. Once only the master and `_LINGERING` processes are left (or after 0.1 s),
       SIGTERM to the group, every 0.1 s: reaches imap processes of clients still connected
       (e.g. in IDLE), which outlive the master otherwise.
    3. A master left alone gets SIGKILL: it would otherwise sleep through its 1.1 s shutdown
       wait with nothing left to wait for, and it has no children left to orphan.
    Anything alive after `timeout` gets SIGKILL.
    """
    pgid = proc.pid
    start = time.monotonic()
    proc.terminate()
    last_term = start
    group_phase = False
    alone_since: float | None = None
    while True:
        now = time.monotonic()
        master_alive = proc.poll() is None
        others = [pid for pid in _live_group_members(pgid) if pid != pgid]
        if not master_alive and not others:
            return
        if now - start > timeout:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        else:
            if not group_phase and (
                now - start > 0.1 or all(_proc_name(pid) in _LINGERING for pid in others)
            ):
                group_phase = True
                last_term = -1.0
            if group_phase and now - last_term >= 0.1:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGTERM)
                last_term = now
        if master_alive and not others:
            alone_since = alone_since if alone_since is not None else now
            if now - alone_since > 0.02:
                proc.kill()
        else:
            alone_since = None
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(0.005)


def _proc_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


def _live_group_members(pgid: int) -> list[int]:
    """PIDs in process group `pgid` that are not zombies (Linux /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry))
    return pids


# --------------------------------------------------------------------------------------------
# SMTP sink
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


class _Failure:
    """A status line to answer with, `times` more times (None: until cleared)."""

    def __init__(self, line: str, times: int | None) -> None:
        self.line = line
        self.times = times

    def take(self) -> str | None:
        if self.times is None:
            return self.line
        if self.times <= 0:
            return None
        self.times -= 1
        return self.line


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that keeps what it receives and fails on request.

    Handlers run in the controller's own thread; all state is behind one lock, and `messages`
    / `envelopes` return snapshots. `stop()` then `start()` reuses the same port.
    """

    def __init__(self, *, port: int | None = None, host: str = LOOPBACK) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._received: list[ReceivedMail] = []
        self._rcpt_attempts: list[tuple[str, str]] = []
        self._mail_failure: _Failure | None = None
        self._rcpt_failures: list[_Failure] = []
        self._rcpt_failure_by_address: dict[str, _Failure] = {}
        self._data_failure: _Failure | None = None
        self._controller: Controller | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._controller is not None:
            return
        controller = Controller(
            self,
            hostname=self.host,
            port=self.port,
            ready_timeout=10.0,
            server_hostname="smtp-sink.test",  # default: socket.getfqdn(), may wait on DNS
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what arrived ------------------------------------------------------------------------

    @property
    def messages(self) -> list[bytes]:
        """Message contents accepted so far (a snapshot), as received (bytes)."""
        with self._lock:
            return [m.content for m in self._received]

    @property
    def envelopes(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._received)

    @property
    def rcpt_attempts(self) -> list[tuple[str, str]]:
        """Every RCPT TO seen, accepted or not: (address, status line answered)."""
        with self._lock:
            return list(self._rcpt_attempts)

    def clear(self) -> None:
        """Forget received messages and RCPT attempts (failures stay programmed)."""
        with self._lock:
            self._received.clear()
            self._rcpt_attempts.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[bytes]:
        """Block until at least `count` messages arrived; returns them all.

        For sync code only: in an async test use `await_count`, or this would block the loop
        that is sending."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._received) >= count, timeout):
                raise TimeoutError(
                    f"SMTP sink: {len(self._received)} message(s) after {timeout} s, "
                    f"expected {count}"
                )
            return [m.content for m in self._received]

    async def await_count(self, count: int, timeout: float = 10.0) -> list[bytes]:
        """Async variant of `wait_for`: polls with asyncio.sleep, leaving the loop free."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.messages
            if len(messages) >= count:
                return messages
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"SMTP sink: {len(messages)} message(s) after {timeout} s, expected {count}"
                )
            await asyncio.sleep(0.01)

    # -- programmed failures (status lines such as "451 4.3.0 try again") --------------------

    def fail_mail(self, code_line: str, times: int | None = 1) -> None:
        """Answer MAIL FROM with `code_line` the next `times` times (None: until cleared)."""
        with self._lock:
            self._mail_failure = _Failure(code_line, times)

    def fail_next_rcpt(self, code_line: str, times: int = 1) -> None:
        """Refuse the next `times` RCPT TO commands (any address) with `code_line`."""
        with self._lock:
            self._rcpt_failures.append(_Failure(code_line, times))

    def fail_all_rcpt(self, code_line: str) -> None:
        """Refuse every RCPT TO with `code_line` until `clear_failures()`."""
        with self._lock:
            self._rcpt_failures.append(_Failure(code_line, None))

    def fail_rcpt_to(self, address: str, code_line: str, times: int | None = None) -> None:
        """Refuse RCPT TO:<address> (exact, case-insensitive) with `code_line`."""
        with self._lock:
            self._rcpt_failure_by_address[address.lower()] = _Failure(code_line, times)

    def fail_data(self, code_line: str, times: int | None = None) -> None:
        """Answer the end of DATA with `code_line` (`times` times; None: until cleared)."""
        with self._lock:
            self._data_failure = _Failure(code_line, times)

    def clear_failures(self) -> None:
        with self._lock:
            self._mail_failure = None
            self._rcpt_failures.clear()
            self._rcpt_failure_by_address.clear()
            self._data_failure = None

    # -- aiosmtpd handler hooks (run in the controller's thread) -----------------------------

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        with self._lock:
            failure = self._mail_failure.take() if self._mail_failure else None
        if failure:
            return failure
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        with self._lock:
            status = None
            by_address = self._rcpt_failure_by_address.get(address.lower())
            if by_address is not None:
                status = by_address.take()
            while status is None and self._rcpt_failures:
                status = self._rcpt_failures[0].take()
                if status is None:
                    self._rcpt_failures.pop(0)
            status = status or "250 OK"
            self._rcpt_attempts.append((address, status))
        if status.startswith("250"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return status

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._arrived:
            failure = self._data_failure.take() if self._data_failure else None
            if failure:
                return failure
            self._received.append(
                ReceivedMail(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    content=bytes(envelope.content),
                )
            )
            self._arrived.notify_all()
        return "250 OK"


def serve_argv(config: Path, db_path: Path, port: int) -> list[str]:
    """The command line of `caredesk serve` as the end-to-end tests start it, as a process."""
    return [
        sys.executable,
        "-m",
        "bot.cli",
        "--config",
        str(config),
        "--db",
        str(db_path),
        "serve",
        "--port",
        str(port),
    ]


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """`caredesk ARGS` as its own process, stdout and stderr together, without blocking the
    event loop the test's servers run in. `env` is the whole environment (the caller decides
    which CAREDESK_ variables of the test run it keeps); loopback bypasses any proxy."""
    root = Path(__file__).resolve().parents[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**env, **NO_PROXY_ENV, "PYTHONPATH": str(root)},
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()
