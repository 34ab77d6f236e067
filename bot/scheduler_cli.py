"""`caredesk due` and `caredesk tick`: the scheduler made visible, and run once (for tests and
for installations that prefer cron to `caredesk serve`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bot.clock import Clock

DUE_HELP = """\
Print what one scheduler pass would do at a moment (default: now), one line per action:
the case, the action and why. Nothing is written or sent. Actions:
  follow-up N      request N to the department that recorded no update (the 3rd copies the
                   Supervisor, the 4th and later the Director too; then every business day)
  interim-ack      interim acknowledgement with the expected completion date (email cases
                   expected to take longer than the response standard)
  hazard-alert     a hazard with no inspection recorded in time: the supervisor is alerted
  timeline-notice  a week before the anticipated completion date of an open case: a notice
                   with the reason and a new timeline, drafted for staff
  digest           the morning digest of cases past a standard ([clocks] digest_to)
A pass takes the first due step of each clock of a case; `caredesk tick` runs it.
"""

TICK_HELP = """\
Run one scheduler pass as of a moment (default: now) and print what it did, one line per
action. Each action is written in one transaction with its timeline event and its outbox row
or draft, and is never repeated: running tick twice at the same moment does nothing the second
time. `caredesk serve` runs a pass every [clocks] tick_seconds; use tick from cron instead if
you prefer.
"""


def add_scheduler_parsers(commands: Any) -> None:
    due = commands.add_parser(
        "due",
        help="list what the scheduler would do at a moment (follow-ups, interim replies...)",
        description=DUE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    due.add_argument(
        "--at",
        metavar="ISO",
        help="the moment, ISO-8601 with a UTC offset (e.g. 2026-12-15T09:00:00-05:00); "
        "default: now",
    )
    due.add_argument(
        "--json",
        action="store_true",
        help="one JSON object a line: case, action, n, due, why (and cc for follow-ups)",
    )
    tick = commands.add_parser(
        "tick",
        help="run one scheduler pass now (or --at a moment)",
        description=TICK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tick.add_argument(
        "--at",
        metavar="ISO",
        help="act as if it were this moment, ISO-8601 with a UTC offset; default: now",
    )
    tick.add_argument("--json", action="store_true", help="one JSON object a line")


def cmd_scheduler(args: argparse.Namespace, services: Any, clock: Clock) -> int:
    from bot.cli import moment
    from bot.scheduler import Scheduler, describe

    now = moment(args.at, clock)
    if now is None:
        return 2
    scheduler = Scheduler(services.db, services.policy, services.renderer)
    if args.command == "due":
        actions = scheduler.due(now)
        for action in actions:
            print(json.dumps(action.as_dict()) if args.json else describe(action))
        if not args.json:
            plural = "s" if len(actions) != 1 else ""
            print(f"{len(actions)} action{plural} due at {now.isoformat()}")
        return 0
    done = scheduler.tick(now)
    for d in done:
        if args.json:
            print(json.dumps({**d.action.as_dict(), "result": d.result}))
        else:
            print(f"{describe(d.action)}  -> {d.result}")
    if not args.json:
        print(f"{len(done)} action{'s' if len(done) != 1 else ''} taken at {now.isoformat()}")
    return 0
