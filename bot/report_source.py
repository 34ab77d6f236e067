"""The one place a month's report is put together: the month's bounds in the city's time zone,
the rows from the store (storage/report.py), the figures (bot/report.py, pure). The command
line and the staff page both call `load_report`, so they can never show different figures."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from bot.config import Config
from bot.report import Month, MonthReport, month_report
from storage.report import month_rows


def load_report(
    db: sqlite_utils.Database, config: Config, month: Month, now: datetime
) -> MonthReport:
    tz = config.tz
    start, end = month.bounds(tz)
    rows = month_rows(db, start, end)
    departments = {d.key: d.name for d in config.departments}
    return month_report(rows, month, tz, now, departments)
