"""`caredesk`: the command line. Every command has --help; a bad argument gives one clear line
on stderr and exit status 2; a bad configuration or store gives one line and exit status 1."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from bot.cli_groups import command_group
from bot.clock import SLA_DESCRIPTIONS, Clock, clock_from_env, due_for, parse_received
from bot.config import Config, ConfigError, find_config_file, load_config, require_secrets
from bot.model import Status
from storage.db import StoreError

DESCRIPTION = """\
caredesk: the intake front of a city's Customer Care Centre.

Residents complain by chat or email; caredesk collects what the city's policy requires
(what, when, who, the outcome sought, contact details), opens a case, drafts and sends the
acknowledgement within the service window, and keeps the policy's clocks.

The configuration is read from --config FILE, else $CAREDESK_CONFIG, else ./caredesk.toml
if present, else built-in defaults (see caredesk.example.toml). The store is ./caredesk.db
unless the configuration or --db says otherwise.

For tests only: $CAREDESK_NOW (ISO-8601 with a UTC offset) starts the clock at that instant
instead of the wall clock's, so references and deadlines do not depend on the day.
"""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> Parser:
    parser = Parser(
        prog="caredesk",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="configuration file (TOML)")
    parser.add_argument("--db", metavar="PATH", help="SQLite store (overrides the configuration)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    commands.add_parser(
        "init",
        help="create the store (or bring it to the current schema)",
        description="Create the SQLite store, or migrate an older one forward.",
    )

    chat = commands.add_parser(
        "chat",
        help="file a complaint through the dialogue in this terminal",
        description="Run the complaint dialogue in the terminal. Interactive on a terminal; "
        "with piped stdin, each line is one message and replies go to stdout. An unfinished "
        "conversation is kept and resumed next time.",
    )
    chat.add_argument(
        "--session",
        default="default",
        help="conversation name, to keep several apart (default: default)",
    )
    chat.add_argument(
        "--new", action="store_true", help="discard an unfinished conversation and start afresh"
    )

    case_commands = command_group(
        commands,
        "cases",
        help="list and read cases",
        description="List and read cases.",
    )
    listing = case_commands.add_parser(
        "list", help="list cases, newest first", description="List cases, newest first."
    )
    listing.add_argument(
        "--status",
        choices=[status.value for status in Status],
        help="only cases with this status",
    )
    listing.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    show = case_commands.add_parser(
        "show",
        help="show one case with its timeline",
        description="Show one case: items, person, deadlines, timeline, the policy chain's "
        "decision trace (every rule, whether it fired and why), drafts and outbox.",
    )
    show.add_argument("ref", help="case reference, e.g. CD-2026-000123")
    show.add_argument("--json", action="store_true", help="print JSON")

    sla_commands = command_group(
        commands,
        "sla",
        help="service-level clocks of the policy",
        description="Deadlines of the city's service-level standards, "
        "counted in business days in the city's time zone.",
    )
    due = sla_commands.add_parser(
        "due",
        help="print the deadline of a clock for a receipt time",
        description="Print the deadline (ISO-8601, with the city's UTC offset) of an SLA kind "
        "for a receipt time. N business days means close of business on the N-th business "
        "day after the local date of receipt.",
    )
    due.add_argument("--kind", required=True, help="SLA kind (see 'caredesk sla kinds')")
    due.add_argument(
        "--received",
        required=True,
        help="receipt time, ISO-8601 with a UTC offset, e.g. 2026-12-24T16:55:00-05:00",
    )
    sla_commands.add_parser(
        "kinds",
        help="list the SLA kinds and their lengths",
        description="List the SLA kinds and their lengths.",
    )

    serve = commands.add_parser(
        "serve",
        help="run the service: health endpoint and configured workers",
        description="Run caredesk's HTTP service (the web chat at /, health at /healthz, the "
        "staff pages at /staff/, Telegram's webhook) and the workers that are configured. A "
        "channel whose server cannot be reached (Telegram's Bot API, IMAP, SMTP) is retried with "
        "backoff while the others run; /healthz then says status 'degraded' and gives the reason "
        "per channel. Webhook mode needs CAREDESK_TELEGRAM_WEBHOOK_SECRET.",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")

    mail_commands = command_group(
        commands,
        "mail",
        help="the feedback mailbox: inspect messages, check connections",
        description="The feedback mailbox (IMAP intake, SMTP acknowledgements).",
    )
    inspect = mail_commands.add_parser(
        "inspect",
        help="print what intake would do with .eml files (sends and stores nothing)",
        description="For each file, print one JSON object: acknowledge (true/false), reason "
        "(the loop-guard rule that stops an automatic reply), thread (case reference or null), "
        "from, subject, text (extracted), missing (of the five complaint items), kind, and the "
        "replies that would be drafted, the rules that fired, and the trace: every rule of "
        "the loop guard and of the policy chain, whether it fired and why. Sends and stores "
        "nothing.",
    )
    inspect.add_argument("files", nargs="+", metavar="FILE.eml", help="raw RFC 5322 messages")
    inspect.add_argument(
        "--render",
        action="store_true",
        help="also give each reply its subject and body exactly as they would be sent (the "
        "case reference, not known before filing, is shown as PREFIX-YEAR-000000)",
    )
    mail_commands.add_parser(
        "check",
        help="test the configured IMAP and SMTP connections",
        description="Connect and log in to the configured IMAP and SMTP servers and say "
        "clearly what works and what is wrong. Passwords come from CAREDESK_IMAP_PASSWORD "
        "and CAREDESK_SMTP_PASSWORD.",
    )

    tracker_commands = command_group(
        commands,
        "tracker",
        help="the departments' trackers: check where cases are forwarded, sync their status",
        description="Where each department's cases are forwarded ([[departments]]: an Open311 "
        "GeoReport v2 server, a JSON webhook, an email address, or none).",
    )
    tracker_check = tracker_commands.add_parser(
        "check",
        help="ask each department's tracker target what it answers and say what is wrong",
        description="For each department, one line: its target and either OK with what the "
        "target answered, or what is wrong in words. Open311: services.json is read and the "
        "department's open311_service_code must be offered; the API key (from "
        "CAREDESK_OPEN311_KEY_<KEY>, else CAREDESK_OPEN311_KEY) is tried on a request the "
        "server must refuse, so nothing is created. Webhook: the URL must answer (OPTIONS) and "
        "the signing secret (CAREDESK_WEBHOOK_SECRET_<KEY>, else CAREDESK_WEBHOOK_SECRET) be "
        "set. Email: the address is valid and [mail.smtp] configured; no mail is sent. <KEY> "
        "is the department's key in capitals, '-' as '_'. Secrets are never printed. Exit "
        "status 1 when any target has a problem.",
    )
    tracker_check.add_argument(
        "--json", action="store_true", help="print one JSON object per department"
    )
    tracker_check.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds each call may take (default 10)",
    )
    tracker_sync = tracker_commands.add_parser(
        "sync",
        help="one pass of Open311 status sync: ids for tokens, department updates onto cases",
        description="What `caredesk serve` does every [tracker] sync_seconds, once. For each "
        'department with tracker = "open311": requests the server answered with a token '
        "are asked for their id (tokens/{token}.json), which then goes on the case; the "
        "status of every open case with an id is read (requests.json, many ids a call, or "
        "updated_after when the server refuses a list), and each change of status, "
        "status_notes, agency_responsible or expected_datetime goes on the case's timeline "
        "as a department update. A request the department closed drafts the closing reply "
        "for staff review (once a case); the case stays open until staff close it. One line "
        "per department; exit status 1 when any department could not be synced.",
    )
    tracker_sync.add_argument(
        "--at",
        metavar="ISO",
        help="act as if it were this moment, ISO-8601 with a UTC offset; default: now",
    )
    tracker_sync.add_argument(
        "--json", action="store_true", help="print one JSON object per department"
    )
    tracker_sync.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds each call may take (default 10)",
    )

    explain = commands.add_parser(
        "explain",
        help="print how the policy decides a message: every rule tried, which fired, the result",
        description="Put a free-text message through the policy chain (the same one every "
        "channel's messages go through) and print the whole trace: every rule in order, "
        "whether it fired and why, and the result (kind, hazard, out-of-scope category, the "
        "date found, status, missing items, replies and whether each waits for staff). "
        "Assumes the message arrived by email (no subject) from an identified resident "
        "(name and address known), with no mail history: no bounce, no rate limit, a "
        "verified sender. Sends and stores nothing; needs no store.",
    )
    explain.add_argument(
        "text",
        nargs="+",
        metavar="TEXT",
        help="the message (several words are joined by spaces); '-' reads one message per "
        "line of stdin",
    )
    explain.add_argument(
        "--channel",
        choices=["email", "chat"],
        default="email",
        help="email (default), or chat: a web chat whose questions were not answered",
    )
    explain.add_argument(
        "--anonymous", action="store_true", help="from a resident with no name and no address"
    )
    explain.add_argument(
        "--at",
        metavar="ISO",
        help="when it was received, ISO-8601 with a UTC offset; dates in the message are read "
        "relative to it (default: now)",
    )
    explain.add_argument(
        "--json",
        action="store_true",
        help="one JSON object a line per message: kind (complaint, request, feedback, other), "
        "hazard, scope (null, legislation, appeal, council, employee), when (said, start, end, "
        "precision, or null), status, missing, replies, trace [{rule, fired, reason, action}]",
    )

    retention_commands = command_group(
        commands,
        "retention",
        help="erase personal data of finished cases past the retention period",
        description="Erase residents' personal data once [retention] days have passed since "
        "the last activity on a case whose handling is final (closed, declined, redirected, "
        "recorded; never open or unreadable ones): names, email addresses and phone numbers, "
        "what the resident wrote, raw mail, chat transcripts, addresses replies went to, bounce "
        "addresses and channel update ids. The anonymised record stays: each case's reference, "
        "kind, status, channel, department, rules, dates and timeline, so counts and trend "
        "reports do not change. Every erasure is written to the audit log. Running it again "
        "erases nothing more. `caredesk serve` runs it every [retention] every_hours.",
    )
    retention_run = retention_commands.add_parser(
        "run",
        help="erase what is due now (or --at a moment); --dry-run only lists it",
        description="Erase the personal data that is due for erasure and print one line per "
        "erasure: the case reference (for a chat: its channel and the cases it filed) and "
        "how many items of each kind went. "
        "Exit status 0 also when nothing was due.",
    )
    retention_run.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be erased and change nothing",
    )
    retention_run.add_argument(
        "--at",
        metavar="ISO",
        help="act as if it were this moment, ISO-8601 with a UTC offset "
        "(e.g. 2033-12-01T09:00:00-05:00); default: now",
    )
    retention_run.add_argument("--json", action="store_true", help="print JSON")

    from bot.staff.cli import add_staff_parser

    add_staff_parser(commands)

    from bot.report_cli import add_report_parser

    add_report_parser(commands)
    from bot.scheduler_cli import add_scheduler_parsers

    add_scheduler_parsers(commands)

    flow_commands = command_group(
        commands,
        "flow",
        help="show the complaint dialogue's shape",
        description="Show the complaint dialogue as its table defines it.",
    )
    flow_commands.add_parser(
        "diagram",
        help="print the dialogue's Mermaid diagram, drawn from its table",
        description="Print the complaint dialogue's Mermaid state diagram, drawn from its table "
        "(bot/flows/steps.py): every question, where each answer leads, and the states around "
        "them (filed, paused, cancelled, ended). The diagram in that module's docstring is this "
        "output: after changing the table, paste it there (a test fails until you do). Needs "
        "no store.",
    )

    config_commands = command_group(
        commands,
        "config",
        help="check or show the configuration",
        description="Check or show the effective configuration.",
    )
    config_commands.add_parser(
        "check",
        help="validate the configuration file",
        description="Validate the configuration; exit 1 with the problem if it is wrong.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(find_config_file(args.config))
        return dispatch(args, config)
    except (ConfigError, StoreError) as exc:
        print(f"caredesk: {exc}", file=sys.stderr)
        return 1


def dispatch(args: argparse.Namespace, config: Config) -> int:
    db_path = Path(args.db) if args.db else config.store_path
    if args.command == "sla":
        return cmd_sla(args, config)
    if args.command in ("config", "serve"):
        require_secrets(config)
    if args.command == "config":
        print(
            f"configuration OK ({config.source}); store: {db_path}; city: {config.city.name}, "
            f"{config.city.timezone}"
        )
        return 0
    if args.command == "explain":
        return cmd_explain(args, config)
    if args.command == "flow":
        return cmd_flow_diagram(config)
    if args.command == "mail":
        from bot.mail_cli import cmd_mail_check, cmd_mail_inspect

        if args.mail_command == "inspect":
            return cmd_mail_inspect(args.files, config, render=args.render)
        return cmd_mail_check(config)
    if args.command == "tracker" and args.tracker_command == "check":
        from bot.tracker_cli import cmd_tracker_check

        return cmd_tracker_check(config, as_json=args.json, timeout=args.timeout)
    if args.command in ("due", "tick") and args.at and moment(args.at, process_clock()) is None:
        return 2  # a bad --at is said before any store is opened (or created)
    from bot.app import build_services  # the heavier imports only for commands that need them

    services = build_services(config, db_path, process_clock())
    if args.command == "init":
        print(f"store ready: {db_path}")
        return 0
    if args.command == "chat":
        from bot.console import main_console

        return main_console(services.chat, args.session, args.new)
    if args.command == "cases":
        return cmd_cases(args, services.db, config, services.clock)
    if args.command == "retention":
        return cmd_retention(args, services.db, config, services.clock)
    if args.command == "staff":
        from bot.staff.cli import cmd_staff

        return cmd_staff(args, services.db, services.clock)
    if args.command == "tracker":
        return cmd_tracker_sync(args, services)
    if args.command == "report":
        from bot.report_cli import cmd_report

        return cmd_report(args, services.db, config, services.clock)
    if args.command in ("due", "tick"):
        from bot.scheduler_cli import cmd_scheduler

        return cmd_scheduler(args, services, services.clock)
    return cmd_serve(args, services)


def process_clock() -> Clock:
    """The wall clock, or the one $CAREDESK_NOW pins (tests of whole processes)."""
    try:
        return clock_from_env()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def moment(at: str | None, clock: Clock) -> datetime | None:
    """The moment a command acts as of: `--at ISO`, else the clock. A bad --at is one line on
    stderr and None (the caller exits with status 2)."""
    if not at:
        return clock.now()
    try:
        return parse_received(at)
    except ValueError as exc:
        print(f"caredesk: error: --at: {exc}", file=sys.stderr)
        return None


def cmd_retention(args: argparse.Namespace, db: Any, config: Config, clock: Clock) -> int:
    from bot.retention import run

    now = moment(args.at, clock)
    if now is None:
        return 2
    plan_only = args.dry_run
    report = run(db, config.retention_days, now, dry_run=plan_only)
    done = report.erasures
    if args.json:
        print(
            json.dumps(
                {
                    "dry_run": plan_only,
                    "at": now.isoformat(),
                    "cutoff": report.cutoff.isoformat(),
                    "retention_days": report.days,
                    "erasures": report.rows(),
                },
                indent=2,
            )
        )
        return 0
    verb = "would erase" if plan_only else "erased"
    for e in done:
        counts = ", ".join(f"{k} {v}" for k, v in e.counts.items() if v)
        which = e.target or e.detail.get("channel") or ""
        cases = e.detail.get("cases")
        also = f" (cases {', '.join(cases)})" if cases else ""
        print(f"{verb} {e.what} {which}{also}: {counts}")
    print(
        f"{len(done)} erasure{'s' if len(done) != 1 else ''} "
        f"{'planned (dry run, nothing changed)' if plan_only else 'done'}; "
        f"retention {config.retention_days} days, as of {now.isoformat()}"
    )
    return 0


def cmd_tracker_sync(args: argparse.Namespace, services: Any) -> int:
    import asyncio
    from dataclasses import asdict

    from bot.tracker_sync import sync_now

    now = moment(args.at, services.clock)
    if now is None:
        return 2
    if not any(d.tracker == "open311" for d in services.config.departments):
        if not args.json:
            print('no department has tracker = "open311": nothing to sync')
        return 0
    reports = asyncio.run(
        sync_now(services.db, services.policy, services.renderer, now, timeout=args.timeout)
    )
    for r in reports:
        print(json.dumps(asdict(r), ensure_ascii=False) if args.json else r.line())
    return 0 if all(r.ok for r in reports) else 1


def cmd_flow_diagram(config: Config) -> int:
    from bot.flows.complaint import ComplaintFlow
    from bot.flows.diagram import fenced
    from bot.policy import Rules

    flow = ComplaintFlow(config, Rules.from_config(config.rules))
    sys.stdout.write(fenced(flow.table.values()))
    return 0


def cmd_explain(args: argparse.Namespace, config: Config) -> int:
    from bot.decide import Policy
    from bot.explain import explain, format_explanation

    now = moment(args.at, process_clock())
    if now is None:
        return 2
    stdin = args.text == ["-"]
    texts = [line.strip() for line in sys.stdin] if stdin else [" ".join(args.text)]
    policy = Policy.from_config(config)
    first = True
    try:
        for text in texts:
            if not text:
                continue
            found = explain(text, now, policy, args.channel, args.anonymous)
            if args.json:
                print(json.dumps(found.as_dict(), ensure_ascii=False), flush=True)
            else:
                print(("" if first else "\n") + format_explanation(found), flush=True)
            first = False
    except BrokenPipeError:  # `caredesk explain - | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def cmd_sla(args: argparse.Namespace, config: Config) -> int:
    if args.sla_command == "kinds":
        for kind, rule in config.sla.items():
            unit = "business" if rule.unit == "business" else "calendar"
            text = SLA_DESCRIPTIONS.get(kind, "")
            print(f"{kind:<20} {rule.days:>3} {unit} day{'s' if rule.days != 1 else ''}  {text}")
        return 0
    try:
        received = parse_received(args.received)
        print(due_for(args.kind, received, config.calendar(), config.sla).isoformat())
    except ValueError as exc:
        print(f"caredesk: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _local(value: str | None, config: Config) -> str | None:
    if not value:
        return value
    return datetime.fromisoformat(value).astimezone(config.tz).isoformat()


DUE_FIELDS = (
    "received_at",
    "ack_due",
    "follow_up_due",
    "response_due",
    "hazard_due",
    "occurred_at",
    "occurred_until",
    "created_at",
    "updated_at",
    "closed_at",
)


def cmd_cases(args: argparse.Namespace, db: Any, config: Config, clock: Clock) -> int:
    from bot.explain import decided_trace
    from storage.cases import audit, get_case, list_cases

    if args.cases_command == "list":
        rows = [
            {
                **r,
                "missing": json.loads(r["missing"]),
                **{k: _local(r[k], config) for k in DUE_FIELDS if k in r},
            }
            for r in list_cases(db, args.status, args.limit)
        ]
        if args.json:
            print(json.dumps(rows, indent=2, ensure_ascii=False))
            return 0
        if not rows:
            print("no cases")
            return 0
        print(f"{'REF':<16} {'KIND':<13} {'STATUS':<11} {'CHANNEL':<9} {'RECEIVED':<17} ACK DUE")
        for r in rows:
            print(
                f"{r['ref']:<16} {r['kind']:<13} {r['status']:<11} {r['channel']:<9} "
                f"{(r['received_at'] or '')[:16]:<17} {(r['ack_due'] or '')[:16]}"
            )
        return 0
    case = get_case(db, args.ref)
    if case is None:
        print(f"caredesk: no case {args.ref!r}", file=sys.stderr)
        return 1
    # Personal data was shown to someone: that is recorded (policy 03.01, confidentiality).
    audit(db, f"cli:{getpass.getuser()}", "case-viewed", case["ref"], clock.now())
    for key in DUE_FIELDS:
        case[key] = _local(case.get(key), config)
    # The policy chain's trace, recorded when the case was decided (bot/chain.py).
    case["trace"] = decided_trace(case["events"])
    if args.json:
        print(json.dumps(case, indent=2, ensure_ascii=False))
        return 0
    print(format_case(case))
    return 0


def _when_range(case: dict[str, Any]) -> str:
    """The precision and end of "when" (issue 8), when the case has them."""
    precision = case.get("when_precision")
    if not precision:
        return ""
    until = f" until {case['occurred_until']}" if case.get("occurred_until") else ""
    return f"precision {precision}{until}"


def _where(place: dict[str, Any] | None) -> str:
    """Where it is (issue 12): the resident's words, its kind, and coordinates when shared."""
    if not place:
        return "-"
    at = f"  lat {place['lat']}, long {place['long']}" if place.get("lat") is not None else ""
    return f"{place['text']} ({place['kind']}){at}"


def format_case(case: dict[str, Any]) -> str:
    person = case["person"] or {}
    contact = ", ".join(p for p in (person.get("email"), person.get("phone")) if p) or "-"
    lines = [
        f"{case['ref']}  {case['kind']}  {case['status']}  via {case['channel']}",
        f"received      {case['received_at']}",
        f"ack due       {case['ack_due']}",
        f"follow-up     {case['follow_up_due'] or '-'}",
    ]
    if case["hazard_due"]:
        lines.append(f"inspect by    {case['hazard_due']}")
    if case["response_due"]:
        lines.append(f"respond by    {case['response_due']}")
    lines += [
        "",
        f"what          {case['what'] or '-'}",
        f"where         {_where(case.get('place'))}",
        f"when          {case['when_text'] or '-'}  {case['occurred_at'] or ''}".rstrip(),
        f"              {_when_range(case)}".rstrip(),
        f"who           {case['who'] or '-'}",
        f"outcome       {case['outcome'] or '-'}",
        f"name          {person.get('name') or '-'}",
        f"contact       {contact}",
        f"missing       {', '.join(case['missing']) or 'nothing'}",
        "rules         " + "; ".join(f"{r['rule']}: {r['reason']}" for r in case["rules"]),
        "",
        "timeline",
    ]
    lines += [f"  {e['at']}  {e['type']:<14} {e['actor']}" for e in case["events"]]
    flags = [e["data"].get("reason", "") for e in case["events"] if e["type"] == "flagged"]
    lines += ["", "flagged for staff"] + [f"  {reason}" for reason in flags] if flags else []
    later = [m for m in case["messages"] if m["direction"] == "in"][1:]
    if later:  # what the resident added after filing ("Actually it was Wednesday")
        lines += ["", "added by the resident"] + [f"  {m['at']}  {m['body']}" for m in later]
    if case.get("trace"):
        from bot.explain import format_trace

        lines += ["", "decision trace ([x] fired, [ ] did not)", *format_trace(case["trace"])]
    for draft in case["drafts"]:
        lines += [
            "",
            f"draft #{draft['id']} ({draft['reply_kind']}, {draft['status']}, "
            f"to {draft['channel']}): {draft['subject']}",
        ]
    for item in case["outbox"]:
        lines += [
            f"outbox #{item['id']} ({item['reply_kind']}, {item['status']}, "
            f"{item['channel']}): {item['subject']}"
        ]
    return "\n".join(lines)


def describe_telegram(config: Config) -> str:
    telegram = config.telegram
    if not telegram.token:
        return "not configured (set CAREDESK_TELEGRAM_TOKEN to start it)"
    if telegram.mode == "webhook":
        return f"webhook {telegram.webhook_url} -> {telegram.webhook_path}"
    return f"long polling {telegram.api_base_url}"


def describe_tracker(config: Config) -> str:
    """Where cases are forwarded, one word a department: what `serve` will do with them."""
    if not config.departments:
        return "no departments configured: cases wait for staff ([[departments]])"
    kinds = ", ".join(f"{d.key} ({d.tracker})" for d in config.departments)
    return f"{kinds}; `caredesk tracker check` tests each"


def describe_mail(config: Config) -> str:
    mail = config.mail
    parts = []
    if mail.imap:
        how = "IDLE" if mail.imap.idle else f"polling every {mail.imap.poll_seconds}s"
        parts.append(
            f"intake from imap {mail.imap.host}:{mail.imap.port} {mail.imap.folder} ({how})"
        )
    if mail.smtp:
        parts.append(f"acknowledgements via smtp {mail.smtp.host}:{mail.smtp.port}")
    return "; ".join(parts) or "not configured ([mail.imap] / [mail.smtp] in the configuration)"


def cmd_serve(args: argparse.Namespace, services: Any) -> int:
    from aiohttp import web

    from bot.app import build_app
    from bot.logs import configure_logging

    config = services.config
    secrets = [config.telegram.token, config.telegram.webhook_secret]
    secrets += [server.password for server in (config.mail.imap, config.mail.smtp) if server]
    configure_logging(os.environ.get("CAREDESK_LOG_LEVEL", "INFO"), secrets)
    app = build_app(services)
    base = f"http://{args.host}:{args.port}"
    print(
        f"caredesk serving on {base}\n"
        f"  web chat: {base}/  (open it in a browser to file a complaint)\n"
        f"  health:   {base}/healthz\n"
        f"  store:    {services.db.conn.execute('PRAGMA database_list').fetchone()[2]}\n"
        f"  city:     {services.config.city.name} ({services.config.city.timezone})\n"
        "  terminal: `.venv/bin/caredesk chat` files one in another terminal;\n"
        "            `.venv/bin/caredesk cases list` shows what was filed.\n"
        f"  mail:     {describe_mail(services.config)}\n"
        f"  telegram: {describe_telegram(services.config)}\n"
        f"  tracker:  {describe_tracker(services.config)}\n"
        f"  staff:    {base}/staff/  (sign in with a staff account; `caredesk staff --help`)\n"
        f"            {base}/staff/forwards (forwarding), {base}/staff/reports (trends)",
        flush=True,
    )
    try:
        web.run_app(
            app,
            host=args.host,
            port=args.port,
            print=None,
            handle_signals=True,
            # No client address in the access log: it is personal data (policy 03.01).
            access_log_format='"%r" %s %b %Tfs',
        )
    except OSError as exc:
        print(
            f"caredesk: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
