"""IMAP intake with imapclient: IDLE where offered, polling otherwise, reconnect with backoff.

Runs in its own thread (imapclient is blocking) with its own SQLite connection. For every new
message: fetch with BODY.PEEK[] (no \\Seen), hand the bytes to `handle` (which commits the
case), and only then move the message to the processed folder (or flag it). Mail is never
deleted. UIDVALIDITY and the last UID are remembered per folder; when UIDVALIDITY changes the
folder is read again from the start, and the store's unique message keys keep that from
filing anything twice.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from imapclient import IMAPClient

from bot.config import ImapConfig

log = logging.getLogger(__name__)

PROCESSED_KEYWORD = "caredesk-processed"
FETCH_BATCH = 100
#: How often the IDLE wait wakes to look at the stop flag and the connection.
IDLE_TICK = 1.0


class MailState:
    """Where intake stands in a folder; persisted by the caller's store."""

    def __init__(
        self,
        load: Callable[[str], tuple[int, int] | None],
        save: Callable[[str, int, int], None],
    ) -> None:
        self.load = load
        self.save = save


Handler = Callable[[bytes, datetime], Any]


def connect(cfg: ImapConfig) -> IMAPClient:
    """Log in with TLS, STARTTLS, or (loopback only, refused by the config otherwise) plain."""
    context = ssl.create_default_context()
    client = IMAPClient(
        cfg.host,
        port=cfg.port,
        ssl=cfg.security == "tls",
        ssl_context=context if cfg.security == "tls" else None,
        timeout=cfg.timeout_seconds,
    )
    if cfg.security == "starttls":
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
            if time.monotonic() - started > self.cfg.idle_renew_seconds:
                break
        client.idle_done()

    # -- one pass over the folder ------------------------------------------------------------

    def _ensure_processed_folder(self, client: IMAPClient) -> None:
        if self.cfg.after == "move" and not client.folder_exists(self.cfg.processed_folder):
            client.create_folder(self.cfg.processed_folder)

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
            criteria += ["UNKEYWORD", PROCESSED_KEYWORD]
        uids = sorted(uid for uid in client.search(criteria) if uid > last_uid)
        handled = 0
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            done = self._handle_batch(client, batch)
            if done:
                self._mark(client, done)
                self.state.save(folder, uidvalidity, max(done))
                handled += len(done)
            if self.stop.is_set():
                break
        return handled

    def _handle_batch(self, client: IMAPClient, uids: list[int]) -> list[int]:
        sizes = client.fetch(uids, ["RFC822.SIZE", "INTERNALDATE"])
        whole = [u for u in uids if int(sizes.get(u, {}).get(b"RFC822.SIZE", 0)) <= self.max_bytes]
        fetched = client.fetch(whole, ["BODY.PEEK[]"]) if whole else {}
        done = []
        for uid in uids:
            if self.stop.is_set():
                break
            raw = fetched.get(uid, {}).get(b"BODY[]")
            if raw is None:  # too large to take whole: its head is enough to case it
                part = client.fetch([uid], [f"BODY.PEEK[]<0.{self.max_bytes}>"])
                data = part.get(uid, {})
                raw = next((v for k, v in data.items() if k.startswith(b"BODY[")), b"")
            received = sizes.get(uid, {}).get(b"INTERNALDATE") or datetime.now(UTC)
            if received.tzinfo is None:
                received = received.replace(tzinfo=UTC)
            self.handle(bytes(raw), received)
            self.failpoint("imap-after-commit")
            done.append(uid)
        return done

    def _mark(self, client: IMAPClient, uids: list[int]) -> None:
        """After the cases are committed: move to the processed folder, or flag."""
        if self.cfg.after == "move":
            if client.has_capability("MOVE"):
                client.move(uids, self.cfg.processed_folder)
            else:  # COPY + \\Deleted + EXPUNGE is how IMAP4rev1 moves; the copy is kept
                client.copy(uids, self.cfg.processed_folder)
                client.add_flags(uids, [b"\\Deleted"])
                client.uid_expunge(uids)
        else:
            client.add_flags(uids, [b"\\Seen", PROCESSED_KEYWORD.encode()])
