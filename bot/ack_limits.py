"""Limits on automatic acknowledgement mail, shared by mail intake and chat email copies.

Whoever types or forges an address decides where an acknowledgement goes, so the city's mail
could be aimed at a stranger. Three guards hold every automatic email, whichever channel
asked for it: an address that bounced recently, too many to one address in a day, and too
many to everyone in an hour. Each returns the reason, which the case timeline records.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlite_utils

from bot.config import MailConfig
from storage.mail import acks_all_since, acks_since, bounced_since


def ack_hold(
    db: sqlite_utils.Database, mail: MailConfig, address: str, now: datetime
) -> str | None:
    """Why no automatic email may go to `address` now, or None. Read inside the writing
    transaction, so two processes cannot both take the last place."""
    if bounced_since(db, address, now - timedelta(days=mail.bounce_memory_days)):
        return f"mail to this address bounced in the last {mail.bounce_memory_days} days"
    if acks_since(db, address, now - timedelta(days=1)) >= mail.ack_per_sender_per_day:
        return f"rate limit: {mail.ack_per_sender_per_day} acknowledgements a day"
    if acks_all_since(db, now - timedelta(hours=1)) >= mail.acks_per_hour:
        return f"rate limit: {mail.acks_per_hour} acknowledgement emails an hour in all"
    return None
