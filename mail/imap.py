"""IMAP intake with imapclient: IDLE where offered, polling otherwise, reconnect with backoff.

Runs in its own thread (imapclient is blocking) with its own SQLite connection. For every new
message: fetch with BODY.PEEK[] (no \\Seen), hand the bytes to `handle` (which commits the
case), make the batch's commits durable (one fsync), and only then move the message to the
processed folder (or flag it). Mail is never deleted.

Sizes (RFC822.SIZE) are read first and bodies fetched in batches bounded by bytes
(`fetch_batch_bytes`), not only by count: a hundred 25 MB messages never sit in memory at once.
Each start of intake on a message is counted in the store before it is processed; a message
that keeps failing (or killing the process) is, after `max_attempts` tries, filed as a case
for staff and moved to `quarantine_folder` (flagged, in "flag" mode) instead of blocking
every message behind it. UIDVALIDITY and the last UID are remembered per folder; when
UIDVALIDITY changes the folder is read again from the start, and the store's unique message
keys keep that from filing anything twice.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from imapclient import IMAPClient

from bot.config import ImapConfig

log = logging.getLogger(__name__)

PROCESSED_KEYWORD = "caredesk-processed"
QUARANTINE_KEYWORD = "caredesk-quarantined"
#: Sizes are asked for this many messages at a time; bodies are fetched by bytes.
FETCH_BATCH = 100
#: How often the IDLE wait wakes to look at the stop flag and the connection.
IDLE_TICK = 1.0
#: IDLE is left at least this often for one SEARCH: mail that arrived while IDLE was being
#: set up is not always announced (seen with Dovecot in the tests), and without this it would
#: wait for the next message or the renewal (idle_renew_seconds, 10 minutes by default).
IDLE_RECHECK_SECONDS = 30.0


def _no_attempts(folder: str, uidvalidity: int, uid: int) -> int:
    return 1


class MailState:
    """Where intake stands in a folder, and what it needs from the caller's store.

    `load`/`save`: (UIDVALIDITY, last UID) of a folder. `sync`: make every commit so far
    durable (called before any message leaves the folder). `attempt`: count one more start on
    a message, return the count. `failed`: why an attempt failed. `quarantine`: file a message
    that kept failing as a case for staff (raw, INTERNALDATE, why). `forget`: the attempts of
    messages that left the folder."""

    def __init__(
        self,
        load: Callable[[str], tuple[int, int] | None],
        save: Callable[[str, int, int], None],
        *,
        sync: Callable[[], None] = lambda: None,
        attempt: Callable[[str, int, int], int] = _no_attempts,
        failed: Callable[[str, int, int, str], None] = lambda folder, v, uid, why: None,
        quarantine: Callable[[bytes, datetime, str], None] = lambda raw, at, why: None,
        forget: Callable[[str, int, list[int]], None] = lambda folder, v, uids: None,
    ) -> None:
        self.load = load
        self.save = save
        self.sync = sync
        self.attempt = attempt
        self.failed = failed
        self.quarantine = quarantine
        self.forget = forget


Handler = Callable[[bytes, datetime], Any]
#: (uid, RFC822.SIZE, INTERNALDATE) of a message waiting in the folder.
Waiting = tuple[int, int, datetime]


def connect(cfg: ImapConfig) -> IMAPClient:
    """Log in with TLS, STARTTLS, or (loopback only, refused by the config otherwise) plain."""
    # Only when used: loading the CA store holds the GIL for tens of milliseconds.
    context = ssl.create_default_context() if cfg.security != "none" else None
    client = IMAPClient(
        cfg.host,
        port=cfg.port,
        ssl=cfg.security == "tls",
        ssl_context=context if cfg.security == "tls" else None,
        timeout=cfg.timeout_seconds,
    )
    # imapclient sets imaplib's debug level to 5 and routes it to a logger: imaplib then builds
    # a repr of every response, whole messages included, whether or not anything is logged.
    # For a megabyte that is tens of milliseconds with the GIL held (the event loop stalls),
    # and the text is residents' mail, which must never reach a log anyway.
    client._imap.debug = 0
    if cfg.security == "starttls":
        assert context is not None
        client.starttls(context)
    client.normalise_times = False  # aware INTERNALDATEs
    client.login(cfg.user, cfg.password)
    return client


class ImapIntake:
    def __init__(
        self,
        cfg: ImapConfig,
        handle: Handler,
        state: MailState,
        stop: threading.Event,
        max_message_bytes: int,
        failpoint: Callable[[str], None] = lambda name: None,
        on_state: Callable[[str, str], object] | None = None,
    ) -> None:
        self.cfg = cfg
        self.handle = handle
        self.state = state
        self.stop = stop
        self.max_bytes = max_message_bytes
        self.failpoint = failpoint
        self.connected = threading.Event()
        #: Told "ok" once logged in and "degraded" (with the reason) when a session fails;
        #: the caller logs changes of state. Without it, every failure is logged here.
        self.on_state = on_state

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        """Until `stop` is set: a session, and after any failure a reconnect with backoff."""
        delay = 1.0
        while not self.stop.is_set():
            try:
                self.session()
                delay = 1.0
            except Exception as exc:  # network, server restart, auth: all retried
                self.connected.clear()
                reason = f"{self.cfg.host}:{self.cfg.port}: {type(exc).__name__}: {exc}"[:300]
                if self.on_state is not None:
                    self.on_state("degraded", reason)
                else:
                    log.warning("imap session ended; reconnecting", extra={"error": reason})
                self.stop.wait(delay)
                delay = min(delay * 2, 60.0)

    def session(self) -> None:
        client = connect(self.cfg)
        if self.on_state is not None:
            self.on_state("ok", "")
        try:
            self._ensure_processed_folder(client)
            can_idle = self.cfg.idle and client.has_capability("IDLE")
            while not self.stop.is_set():
                handled = self.drain(client)
                self.connected.set()
                if handled:  # mail may have arrived during the pass: look again before IDLE
                    continue
                if can_idle:
                    self._idle(client)
                else:
                    self.stop.wait(self.cfg.poll_seconds)
                    client.noop()
        finally:
            self.connected.clear()
            try:
                client.logout()
            except Exception:  # the connection may already be gone
                client.shutdown()

    def _idle(self, client: IMAPClient) -> None:
        """Wait in IDLE for new mail, re-issuing it before the server would drop it."""
        client.idle()
        started = time.monotonic()
        quick_empty = 0
        while not self.stop.is_set():
            asked = time.monotonic()
            responses = client.idle_check(timeout=IDLE_TICK)
            if any(r[0] == b"BYE" for r in responses if r):
                raise ConnectionError("IMAP server said BYE")
            # imapclient swallows EOF inside idle_check and returns nothing at once; a few
            # empty answers well before the tick mean the connection is gone.
            if not responses and time.monotonic() - asked < IDLE_TICK / 2:
                quick_empty += 1
                if quick_empty >= 3:
                    raise ConnectionError("IMAP connection closed during IDLE")
            else:
                quick_empty = 0
            if any(r[1] in (b"EXISTS", b"RECENT") for r in responses if len(r) > 1):
                break
            if time.monotonic() - started > min(self.cfg.idle_renew_seconds, IDLE_RECHECK_SECONDS):
                break
        client.idle_done()

    # -- one pass over the folder ------------------------------------------------------------

    def _ensure_processed_folder(self, client: IMAPClient) -> None:
        if self.cfg.after == "move":
            for folder in (self.cfg.processed_folder, self.cfg.quarantine_folder):
                if not client.folder_exists(folder):
                    client.create_folder(folder)

    def drain(self, client: IMAPClient) -> int:
        """File every message newer than the last UID; returns how many were handled."""
        folder = self.cfg.folder
        selected = client.select_folder(folder)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        known = self.state.load(folder)
        last_uid = 0
        if known and known[0] == uidvalidity:
            last_uid = known[1]
        elif known:
            log.warning(
                "UIDVALIDITY changed; reading the folder again (duplicates are skipped)",
                extra={"host": self.cfg.host},
            )
        criteria: list[Any] = ["UID", f"{last_uid + 1}:*"]
        if self.cfg.after == "flag":
            criteria += ["UNKEYWORD", PROCESSED_KEYWORD, "UNKEYWORD", QUARANTINE_KEYWORD]
        uids = sorted(uid for uid in client.search(criteria) if uid > last_uid)
        handled = 0
        for batch in self._batches(client, uids):
            handled += self._handle_batch(client, folder, uidvalidity, batch)
            if self.stop.is_set():
                break
        return handled

    def _batches(self, client: IMAPClient, uids: list[int]) -> Iterator[list[Waiting]]:
        """Batches whose bodies together stay under fetch_batch_bytes (one message at least:
        a message larger than the bound is fetched alone, and only its head if it is over
        max_message_bytes)."""
        for start in range(0, len(uids), FETCH_BATCH):
            chunk = uids[start : start + FETCH_BATCH]
            info = client.fetch(chunk, ["RFC822.SIZE", "INTERNALDATE"])
            batch: list[Waiting] = []
            total = 0
            for uid in chunk:
                if uid not in info:  # expunged meanwhile
                    continue
                size = int(info[uid].get(b"RFC822.SIZE", 0))
                received = info[uid].get(b"INTERNALDATE") or datetime.now(UTC)
                if received.tzinfo is None:
                    received = received.replace(tzinfo=UTC)
                cost = min(size, self.max_bytes)
                if batch and total + cost > self.cfg.fetch_batch_bytes:
                    yield batch
                    batch, total = [], 0
                batch.append((uid, size, received))
                total += cost
            if batch:
                yield batch

    def fetch_bodies(self, client: IMAPClient, uids: list[int]) -> dict[int, bytes]:
        """The whole messages, in one FETCH (BODY.PEEK: no \\Seen)."""
        fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
        return {uid: bytes(data[b"BODY[]"]) for uid, data in fetched.items() if b"BODY[]" in data}

    def _fetch_head(self, client: IMAPClient, uid: int) -> bytes:
        """A message too large to take whole: its head is enough to case it."""
        part = client.fetch([uid], [f"BODY.PEEK[]<0.{self.max_bytes}>"])
        data = part.get(uid, {})
        return bytes(next((v for k, v in data.items() if k.startswith(b"BODY[")), b""))

    def _handle_batch(
        self, client: IMAPClient, folder: str, uidvalidity: int, batch: list[Waiting]
    ) -> int:
        bodies = self.fetch_bodies(
            client, [uid for uid, size, _ in batch if size <= self.max_bytes]
        )
        done: list[int] = []
        quarantined: list[int] = []
        try:
            for uid, _size, received in batch:
                if self.stop.is_set():
                    break
                raw = bodies.pop(uid, None)
                if raw is None:
                    raw = self._fetch_head(client, uid)
                tries = self.state.attempt(folder, uidvalidity, uid)
                if tries > self.cfg.max_attempts:
                    why = f"intake failed on this message {tries - 1} times"
                    self.state.quarantine(raw, received, why)
                    quarantined.append(uid)
                    continue
                try:
                    self.handle(raw, received)
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    self.state.failed(folder, uidvalidity, uid, error)
                    log.warning(
                        "mail intake failed on a message; it is tried again later",
                        extra={"uid": uid, "attempt": tries, "error": error[:200]},
                    )
                    raise
                self.failpoint("imap-after-commit")
                done.append(uid)
        finally:
            # What was filed before a failure still leaves the folder; the failing message and
            # those after it stay for the next session (after the reconnect backoff).
            self._finish(client, folder, uidvalidity, done, quarantined)
        return len(done) + len(quarantined)

    def _finish(
        self,
        client: IMAPClient,
        folder: str,
        uidvalidity: int,
        done: list[int],
        quarantined: list[int],
    ) -> None:
        if not done and not quarantined:
            return
        self.state.sync()  # the cases are on disk before any message leaves the folder
        if quarantined:
            self._mark_quarantined(client, quarantined)
        if done:
            self._mark(client, done)
        self.state.save(folder, uidvalidity, max(done + quarantined))
        self.state.forget(folder, uidvalidity, done + quarantined)

    def _mark_quarantined(self, client: IMAPClient, uids: list[int]) -> None:
        if self.cfg.after == "move":
            self._move(client, uids, self.cfg.quarantine_folder)
        else:
            client.add_flags(uids, [b"\\Flagged", QUARANTINE_KEYWORD.encode()])

    def _move(self, client: IMAPClient, uids: list[int], target: str) -> None:
        if client.has_capability("MOVE"):
            client.move(uids, target)
        else:  # COPY + \\Deleted + EXPUNGE is how IMAP4rev1 moves; the copy is kept
            client.copy(uids, target)
            client.add_flags(uids, [b"\\Deleted"])
            client.uid_expunge(uids)

    def _mark(self, client: IMAPClient, uids: list[int]) -> None:
        """After the cases are committed durably: move to the processed folder, or flag."""
        if self.cfg.after == "move":
            self._move(client, uids, self.cfg.processed_folder)
        else:
            client.add_flags(uids, [b"\\Seen", PROCESSED_KEYWORD.encode()])
