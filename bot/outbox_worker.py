"""The outbox worker: sends what the outbox holds for one channel, retries, and marks it.

A row becomes `sent` in the transaction right after the channel accepted it. The only way to
send twice is a crash in the milliseconds between the server's "250 OK" and that commit; the
retry then carries the same Message-ID, so the recipient's mail system can tell it is the
same message. A temporary failure is retried with exponential backoff; a permanent one (or
too many temporary ones) marks the row failed and flags the case for staff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import sqlite_utils

from bot.clock import Clock
from bot.failpoints import failpoint
from storage.cases import add_event
from storage.db import write_transaction
from storage.mail import set_attention
from storage.outbox import (
    DeliveryError,
    OutboxItem,
    Sender,
    due_items,
    mark_failed,
    mark_retry,
    mark_sent,
)

log = logging.getLogger(__name__)


class OutboxWorker:
    def __init__(
        self,
        db: sqlite_utils.Database,
        sender: Sender,
        clock: Clock,
        retry_base_seconds: float = 30.0,
        max_attempts: int = 10,
        poll_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.sender = sender
        self.clock = clock
        self.retry_base = retry_base_seconds
        self.max_attempts = max_attempts
        self.poll_seconds = poll_seconds
        self.wake = asyncio.Event()

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.retry_base * 2**attempts, 3600.0))

    async def drain(self) -> int:
        """Send every due item once; returns how many were sent."""
        sent = 0
        while True:
            items = due_items(self.db, self.sender.channel, self.clock.now(), limit=200)
            if not items:
                return sent
            for item in items:
                sent += await self._deliver(item)

    async def _deliver(self, item: OutboxItem) -> int:
        try:
            receipt = await self.sender.send(item, self.clock.now())
        except DeliveryError as exc:
            self._failed(item, exc)
            return 0
        failpoint(f"{self.sender.channel}-after-send")  # the documented window, for tests
        with write_transaction(self.db):
            mark_sent(self.db, item.id, self.clock.now(), receipt)
        log.info(
            "reply sent",
            extra={"outbox_id": item.id, "reply": item.reply_kind, "channel": item.channel},
        )
        return 1

    def _failed(self, item: OutboxItem, exc: DeliveryError) -> None:
        now = self.clock.now()
        attempts = item.attempts + 1
        final = exc.permanent or attempts >= self.max_attempts
        with write_transaction(self.db):
            if not final:
                mark_retry(self.db, item.id, str(exc), now, self.backoff(item.attempts))
            elif not mark_failed(self.db, item.id, str(exc), now) and item.case_id is not None:
                # A forward records its own failure (the dead-letter list, storage/forwards.py).
                data = {
                    "outbox_id": item.id,
                    "reply": item.reply_kind,
                    "error": str(exc),
                    "attempts": attempts,
                }
                add_event(self.db, item.case_id, "delivery-failed", item.channel, now, data)
                why = f"the {item.reply_kind} reply could not be delivered"
                set_attention(self.db, item.case_id, why, now)
        log.warning(
            "delivery failed",
            extra={
                "outbox_id": item.id,
                "attempt": attempts,
                "error": str(exc),
                "status": "failed" if final else "retry",
            },
        )

    async def run(self) -> None:
        """Until cancelled: drain, then wait for a wake-up or the poll interval."""
        try:
            while True:
                try:
                    await self.drain()
                except Exception:
                    log.exception("outbox worker error; retrying")
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_seconds):  # cancellation-safe
                        await self.wake.wait()
        finally:
            await self.sender.close()
