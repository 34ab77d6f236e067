"""How dates and times are written to residents: "Tuesday, November 24, 2026 at 3:05 p.m."."""

from __future__ import annotations

from datetime import datetime


def human_day(at: datetime) -> str:
    return f"{at:%A}, {at:%B} {at.day}, {at.year}"


def human_time(at: datetime) -> str:
    hour = at.hour % 12 or 12
    minutes = f":{at.minute:02d}" if at.minute else ""
    return f"{hour}{minutes} {'a.m.' if at.hour < 12 else 'p.m.'}"


def human_datetime(at: datetime) -> str:
    return f"{human_day(at)} at {human_time(at)}"
