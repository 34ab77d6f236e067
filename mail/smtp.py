"""Sending replies over SMTP with aiosmtplib, on one kept-open connection.

Failures are sorted the way SMTP means them: a 4xx answer, a refused or dropped connection or
a timeout is `temporary` (retry later); a 5xx answer is `permanent` (stop, tell staff).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime
from email.headerregistry import BaseHeader
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import aiosmtplib

from bot.config import MailConfig, SmtpConfig
from mail.parse import MAIL_POLICY, one_line
from storage.outbox import DeliveryError, OutboxItem, to_department

log = logging.getLogger(__name__)

#: Headers copied from the outbox row; anything else a row carries is ignored.
THREAD_HEADERS = ("Message-ID", "In-Reply-To", "References")


@functools.lru_cache(maxsize=16)
def fixed_header(name: str, value: str) -> BaseHeader:
    """A header that is the same on every reply (the city's From, the loop guards), parsed
    once: email's structured parser costs about 0.3 ms for a From, on every acknowledgement,
    in the thread the event loop runs in. Parsed headers are immutable; a message given one
    writes it exactly as it writes the same value given as text. Only configuration goes
    here, never a resident's value."""
    header: BaseHeader = MAIL_POLICY.header_factory(name, value)
    return header


def build_message(item: OutboxItem, mail: MailConfig, now: datetime) -> EmailMessage:
    """An automatic reply as RFC 3834 asks: Auto-Submitted, threaded, no header injection
    (every value is one line; the email package refuses CR/LF in headers as well)."""
    if not item.recipient:
        raise DeliveryError("no recipient", permanent=True)
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["From"] = fixed_header("From", formataddr((one_line(mail.from_name), mail.address)))
    msg["To"] = one_line(item.recipient)
    msg["Subject"] = one_line(item.subject)
    msg["Date"] = format_datetime(now)
    for name in THREAD_HEADERS:
        if item.headers.get(name):
            msg[name] = one_line(item.headers[name])
    if to_department(item.reply_kind):
        # Mail to a department (a forward, a follow-up request) answers nobody: RFC 3834's
        # "auto-generated". The copies the escalation ladder asks for go in Cc.
        if item.headers.get("Cc"):
            msg["Cc"] = one_line(item.headers["Cc"])
        msg["Auto-Submitted"] = fixed_header("Auto-Submitted", "auto-generated")
    else:
        msg["Auto-Submitted"] = fixed_header("Auto-Submitted", "auto-replied")
    msg["X-Auto-Response-Suppress"] = fixed_header("X-Auto-Response-Suppress", "All")
    msg["X-Loop"] = fixed_header("X-Loop", mail.address)
    msg.set_content(item.body)
    return msg


class SmtpSender:
    """Keeps one SMTP session open across messages; reconnects when it drops."""

    channel = "email"

    def __init__(
        self,
        mail: MailConfig,
        smtp: SmtpConfig,
        on_state: Callable[[str, str], object] = lambda state, reason: None,
    ) -> None:
        self.mail = mail
        self.cfg = smtp
        self._client: aiosmtplib.SMTP | None = None
        #: Told "ok" when a connection succeeds and "degraded" (with the reason) when not.
        self.on_state = on_state

    def _new_client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.cfg.host,
            port=self.cfg.port,
            username=self.cfg.user or None,
            password=self.cfg.password or None if self.cfg.user else None,
            use_tls=self.cfg.security == "tls",
            start_tls=self.cfg.security == "starttls",
            timeout=self.cfg.timeout_seconds,
        )

    async def connect(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        client = self._new_client()
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            reason = f"cannot connect to {self.cfg.host}:{self.cfg.port}: {exc}"[:300]
            self.on_state("degraded", reason)
            raise DeliveryError(f"cannot connect to SMTP: {exc}", permanent=False) from exc
        self.on_state("ok", "")
        self._client = client
        return client

    async def send(self, item: OutboxItem, now: datetime) -> None:
        message = build_message(item, self.mail, now)
        client = await self.connect()
        try:
            errors, _response = await client.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            code = exc.recipients[0].code if exc.recipients else 550
            raise DeliveryError(f"recipient refused ({code})", code // 100 == 5, code) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.code}", exc.code // 100 == 5, exc.code) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self.close()
            raise DeliveryError(f"SMTP connection: {type(exc).__name__}", False) from exc
        if errors:
            code = next(iter(errors.values())).code
            raise DeliveryError(f"recipient refused ({code})", code // 100 == 5, code)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
