"""The one place a month's report is put together: the month's bounds in the city's time zone,
the rows from the store (storage/report.py), the figures (bot/report.py, pure). The command
line and the staff page both call `load_report`, so they can never show different figures.

The staff page runs it in a worker thread on a connection of its own (`load_report_apart`), as
retention does: a month of many thousand cases takes a second or more, which must not hold up
the chats that share the event loop. SQLite in WAL mode lets that reader run beside the writer."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from bot.config import Config
from bot.report import Month, MonthReport, month_report
from storage.db import connect
from storage.report import month_rows


def load_report(
    db: sqlite_utils.Database, config: Config, month: Month, now: datetime
) -> MonthReport:
    tz = config.tz
    start, end = month.bounds(tz)
    rows = month_rows(db, start, end)
    departments = {d.key: d.name for d in config.departments}
    return month_report(rows, month, tz, now, departments)


def load_report_apart(path: str, config: Config, month: Month, now: datetime) -> MonthReport:
    """`load_report` on its own connection to the store file at `path` (for a worker thread:
    a connection belongs to the thread that opened it)."""
    db = connect(path)
    try:
        return load_report(db, config, month, now)
    finally:
        db.close()
