"""`caredesk report`: a month's trend report (policy 03.04) on the command line."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import sqlite_utils

from bot.clock import Clock
from bot.config import Config
from bot.report import Month, MonthError, parse_month
from bot.report_format import FORMATS, render
from bot.report_source import load_report

DESCRIPTION = """\
Print the trend report of one month (policy 03.04): the cases received in that month, in the
city's time zone, counted as of now. It gives the cases by kind, channel, department and
out-of-scope category; the share acknowledged and responded to within the standard (of the
deadlines that have passed or were met: acknowledged = first reply reached the resident by
the deadline, responded = closed by the email response deadline); the cases overdue now;
escalations (follow-up requests to departments, and how many reached the Supervisor or the
Director); median hours to acknowledge and to close; survey results when there are any; and
the most frequent topics, read from the phrases the city's own rules matched, never from what
residents wrote. A month with no cases is a valid report that says so. The staff page
/staff/reports?month=YYYY-MM shows the same figures with a chart.
"""


def month_argument(text: str) -> Month:
    try:
        return parse_month(text)
    except MonthError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_report_parser(commands: Any) -> None:
    """Adds `report` to the top-level subparsers."""
    report = commands.add_parser(
        "report",
        help="print a month's trend report: cases, standards met, overdue, topics",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument(
        "--month",
        required=True,
        type=month_argument,
        metavar="YYYY-MM",
        help="the month, e.g. 2026-11 (the city's local month, midnight to midnight)",
    )
    report.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (default) for reading; csv (section,name,value rows) for a spreadsheet; "
        "json for a program",
    )


def cmd_report(
    args: argparse.Namespace, db: sqlite_utils.Database, config: Config, clock: Clock
) -> int:
    report = load_report(db, config, args.month, clock.now())
    sys.stdout.write(render(report, args.format))
    return 0
