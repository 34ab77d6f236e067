"""What the store knows about an address that automatic acknowledgement mail would go to.

Whoever types or forges an address decides where an acknowledgement goes, so the city's mail
could be aimed at a stranger. Three limits hold every automatic email, whichever channel asked
for it: an address that bounced recently, too many to one address in a day, and too many to
everyone in an hour. This module only gathers the counts; the rules that apply the limits
(`recent-bounce`, `sender-rate-limit`, `hourly-rate-limit`) are in the policy chain
(bot/chain.py), which records why on the case.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlite_utils

from bot.chain import AddressFacts
from bot.config import MailConfig
from storage.mail import acks_all_since, acks_since, bounced_since


def address_facts(
    db: sqlite_utils.Database, mail: MailConfig, address: str, now: datetime
) -> AddressFacts:
    """Read inside the writing transaction, so two processes cannot both take the last place."""
    return AddressFacts(
        bounced=bounced_since(db, address, now - timedelta(days=mail.bounce_memory_days)),
        acks_today=acks_since(db, address, now - timedelta(days=1)),
        acks_this_hour=acks_all_since(db, now - timedelta(hours=1)),
    )
