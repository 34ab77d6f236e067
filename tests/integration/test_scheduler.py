"""The scheduler through a case's life (issue 13): cases filed by the real intake and routed
by the real router, on a real SQLite file, with a FrozenClock moved one day at a time; a pass
each morning at 09:00 in the city's time zone, as cron running `caredesk tick` would.

The ladder crosses the Christmas holidays of 2026 (Friday 25 December, Boxing Day observed on
Monday 28 December, New Year's Day on Friday 1 January 2027): business days skip them."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app import Services, build_services
from bot.cli import main
from bot.clock import FrozenClock
from bot.config import load_config
from bot.model import Person
from bot.scheduler import Done, Scheduler
from storage.cases import add_event
from storage.clocks import set_follow_up
from storage.db import write_transaction
from storage.forwards import Receipt, record_forwarded
from storage.outbox import mark_sent
from storage.sla import alerts_count

from ..unit.test_storage import submission

TZ = ZoneInfo("America/Toronto")
ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
[store]
path = "caredesk.db"

[[departments]]
key = "roads"
name = "Transportation Services"
email = "roads@city.example"
tracker = "email"
supervisor_name = "Roads Supervisor"
supervisor_email = "roads.supervisor@city.example"
director_name = "Director of Transportation"
director_email = "director@city.example"

[[routing]]
name = "roads"
department = "roads"
phrases = ["pothole"]

[retention]
every_hours = 0
"""
#: Monday 30 November 2026, 10:00 in Toronto.
RECEIVED = datetime(2026, 11, 30, 10, 0, tzinfo=TZ)
POTHOLE = (
    "There is a deep pothole on Elm Street in front of number 12 since last Monday. "
    "It damaged my tire. Please fill it."
)


def morning(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), tzinfo=TZ)


def days(start: date, end: date) -> Iterator[date]:
    while start <= end:
        yield start
        start += timedelta(days=1)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "caredesk.toml"
    path.write_text(CONFIG)
    return path


def services_at(config_path: Path, clock: FrozenClock) -> Services:
    """What `caredesk serve` builds at start: a new Services (its own connection)."""
    config = load_config(config_path)
    return build_services(config, config_path.parent / "caredesk.db", clock)


def file_email(services: Services, text: str, at: datetime, *, deliver: bool = True) -> str:
    sub = submission(
        channel="email",
        received_at=at,
        text=text,
        what=text,
        when_text=None,
        when=None,
        who=None,
        outcome=None,
        person=Person(name="Jane Doe", email="jane@example.org"),
        subject="Elm Street",
        conversation=None,
        message_key=f"<{at.timestamp()}-{hashlib.sha1(text.encode()).hexdigest()}@example.org>",
    )
    ref = services.intake.file(sub, at).ref
    if deliver:
        deliver_forwards(services, ref, at + timedelta(minutes=1))
    return ref


def deliver_forwards(services: Services, ref: str, at: datetime) -> None:
    """What the tracker worker does with the forward intake queued (bot/forwarder.py): the
    department's tracker took it, the outbox row is sent and the forward recorded."""
    rows = services.db.execute(
        "SELECT o.id FROM outbox o JOIN cases c ON c.id = o.case_id "
        "WHERE c.ref = ? AND o.channel = 'tracker' AND o.status = 'pending'",
        [ref],
    ).fetchall()
    assert rows, "intake queued no forward"
    with write_transaction(services.db):
        for (outbox_id,) in rows:
            mark_sent(services.db, outbox_id, at)
            record_forwarded(services.db, outbox_id, Receipt(None, None), at)


def case_id(services: Services, ref: str) -> int:
    return int(services.db.execute("SELECT id FROM cases WHERE ref = ?", [ref]).fetchone()[0])


def requests(services: Services, ref: str) -> list[dict[str, Any]]:
    """The follow-up requests in the outbox, oldest first, with their Cc header."""
    rows = services.db.execute(
        "SELECT idempotency_key, recipient, headers, created_at FROM outbox "
        "WHERE case_id = ? AND reply_kind = 'dept-follow-up' ORDER BY id",
        [case_id(services, ref)],
    ).fetchall()
    return [
        {
            "key": k,
            "to": to,
            "cc": json.loads(h).get("Cc"),
            "day": datetime.fromisoformat(at).astimezone(TZ).date(),
        }
        for k, to, h, at in rows
    ]


def events(services: Services, ref: str, kind: str) -> list[dict[str, Any]]:
    rows = services.db.execute(
        "SELECT data FROM events WHERE case_id = ? AND type = ? ORDER BY id",
        [case_id(services, ref), kind],
    ).fetchall()
    return [json.loads(r[0]) for r in rows]


def tick(services: Services, at: datetime) -> list[Done]:
    services.clock.set(at)  # type: ignore[attr-defined]
    return Scheduler(services.db, services.policy, services.renderer).tick(at)


def due_cli(config_path: Path, at: datetime, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """`caredesk due --at ... --json`, in-process: one object a line."""
    capsys.readouterr()
    assert main(["--config", str(config_path), "due", "--at", at.isoformat(), "--json"]) == 0
    out = capsys.readouterr().out
    return [line for line in out.splitlines() if line.strip()]


def test_the_follow_up_ladder_over_the_holidays_with_a_restart(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FrozenClock(RECEIVED)
    services = services_at(config_path, clock)
    ref = file_email(services, POTHOLE, RECEIVED)
    row = services.db.execute(
        "SELECT department, follow_up_due FROM cases WHERE ref = ?", [ref]
    ).fetchone()
    assert row[0] == "roads"
    # Two weeks after forwarding: Monday 14 December, close of business.
    assert datetime.fromisoformat(row[1]) == datetime(2026, 12, 14, 16, 30, tzinfo=TZ)

    sent_on: dict[int, date] = {}
    for day in days(date(2026, 11, 30), date(2026, 12, 30)):
        for d in tick(services, morning(day)):
            if d.action.action == "follow-up":
                sent_on[d.action.n] = day
    assert sent_on == {1: date(2026, 12, 15), 2: date(2026, 12, 22)}

    # 3rd request due on the 5th business day after the 2nd: 23, 24, (25 Christmas, 26-27
    # weekend, 28 Boxing Day observed) 29, 30, 31 December.
    at = morning(date(2026, 12, 31))
    before = due_cli(config_path, at, capsys)
    assert [json.loads(x)["action"] for x in before] == ["follow-up"]
    assert json.loads(before[0])["n"] == 3 and json.loads(before[0])["cc"] == ["supervisor"]
    # Restart: the service stops, a new one starts on the same store and sees the same.
    services.db.close()
    services = services_at(config_path, clock)
    assert due_cli(config_path, at, capsys) == before
    done = tick(services, at)
    assert [(d.action.action, d.action.n, d.result) for d in done] == [("follow-up", 3, "queued")]
    assert due_cli(config_path, at, capsys) == []  # after the pass: nothing left to do then
    assert tick(services, at) == []  # and a second pass at the same moment does nothing
    sent_on[3] = date(2026, 12, 31)
    # The 3rd marks the file for follow-up in 3 business days: (1 January holiday, weekend)
    # 4, 5, 6 January.
    follow_up = services.db.execute(
        "SELECT follow_up_due, attention FROM cases WHERE ref = ?", [ref]
    ).fetchone()
    assert datetime.fromisoformat(follow_up[0]).astimezone(TZ) == datetime(
        2027, 1, 6, 8, 30, tzinfo=TZ
    )
    assert follow_up[1].startswith("escalated:")

    # Another restart in the middle of the recheck window.
    services.db.close()
    services = services_at(config_path, clock)
    for day in days(date(2027, 1, 1), date(2027, 1, 12)):
        for d in tick(services, morning(day)):
            assert d.action.action == "follow-up"
            assert d.action.n not in sent_on, "no request is ever sent twice"
            sent_on[d.action.n] = day
    # 4th on the recheck date, then every business day (9-10 January is a weekend).
    assert sent_on == {
        1: date(2026, 12, 15),
        2: date(2026, 12, 22),
        3: date(2026, 12, 31),
        4: date(2027, 1, 6),
        5: date(2027, 1, 7),
        6: date(2027, 1, 8),
        7: date(2027, 1, 11),
        8: date(2027, 1, 12),
    }
    sent = requests(services, ref)
    assert [r["day"] for r in sent] == list(sent_on.values())
    assert {r["to"] for r in sent} == {"roads@city.example"}
    assert [r["cc"] for r in sent[:4]] == [
        None,
        None,
        "roads.supervisor@city.example",
        "roads.supervisor@city.example, director@city.example",
    ]
    assert all(r["cc"] == sent[3]["cc"] for r in sent[4:])
    assert len({r["key"] for r in sent}) == len(sent)
    timeline = events(services, ref, "follow-up-requested")
    assert [e["n"] for e in timeline] == list(range(1, 9))
    assert [[c["role"] for c in e["copied"]] for e in timeline[:4]] == [
        [],
        [],
        ["supervisor"],
        ["supervisor", "director"],
    ]

    # The department answers: the ladder stops.
    with write_transaction(services.db):
        add_event(
            services.db,
            case_id(services, ref),
            "department-update",
            "tracker-sync",
            morning(date(2027, 1, 12)) + timedelta(hours=3),
            {"source": "email"},
        )
    for day in days(date(2027, 1, 13), date(2027, 2, 12)):
        assert tick(services, morning(day)) == []
    assert len(requests(services, ref)) == 8
    # Staff set a new follow-up date (the case page's form): a new round, from the first rung.
    with write_transaction(services.db):
        set_follow_up(
            services.db,
            case_id(services, ref),
            datetime(2027, 2, 15, 16, 30, tzinfo=TZ),
            "staff:agent@city.example",
            morning(date(2027, 2, 12)),
        )
    assert tick(services, morning(date(2027, 2, 15))) == []
    done = tick(services, morning(date(2027, 2, 16)))
    assert [(d.action.n, d.action.detail["level"]) for d in done] == [(9, 1)]
    assert requests(services, ref)[-1]["cc"] is None
    services.db.close()


def test_interim_acknowledgement_on_business_day_2(config_path: Path) -> None:
    clock = FrozenClock(RECEIVED)
    services = services_at(config_path, clock)
    ref = file_email(services, POTHOLE, RECEIVED)
    cid = case_id(services, ref)
    # The department expects to finish on 29 January 2027, beyond the 15 business days
    # (21 December): the resident is owed an interim acknowledgement with that date.
    expected = datetime(2027, 1, 29, 17, 0, tzinfo=TZ)
    with write_transaction(services.db):
        services.db.execute(
            "UPDATE cases SET expected_at = ? WHERE id = ?", [expected.isoformat(), cid]
        )
        add_event(
            services.db,
            cid,
            "department-update",
            "tracker-sync",
            RECEIVED + timedelta(hours=4),
            {"expected_datetime": expected.isoformat()},
        )
    assert tick(services, RECEIVED + timedelta(hours=5)) == []
    assert tick(services, morning(date(2026, 12, 1))) == []  # business day 1
    done = tick(services, morning(date(2026, 12, 2)))  # business day 2
    assert [(d.action.action, d.result) for d in done] == [("interim-ack", "drafted")]
    draft = services.db.execute(
        "SELECT reply_kind, channel, recipient, body, due_at FROM drafts "
        "WHERE case_id = ? AND reply_kind = 'interim-ack'",
        [cid],
    ).fetchone()
    assert draft[1:3] == ("email", "jane@example.org")
    assert "Friday, January 29, 2027" in draft[3]
    # It must go out by the end of business day 2.
    assert datetime.fromisoformat(draft[4]) == datetime(2026, 12, 2, 16, 30, tzinfo=TZ)
    for day in days(date(2026, 12, 3), date(2026, 12, 20)):
        assert [d.action.action for d in tick(services, morning(day))] == []

    # One week before the anticipated completion date: a notice drafted for staff.
    assert tick(services, morning(date(2027, 1, 22))) == []
    done = tick(services, datetime(2027, 1, 22, 17, 0, tzinfo=TZ))
    assert [(d.action.action, d.result) for d in done] == [("timeline-notice", "drafted")]
    notice = services.db.execute(
        "SELECT body, why FROM drafts WHERE case_id = ? AND reply_kind = 'timeline-notice'",
        [cid],
    ).fetchone()
    assert "Friday, January 29, 2027" in notice[0] and "[Staff:" in notice[0]
    assert tick(services, morning(date(2027, 1, 25))) == []
    # The department gives a new date: a notice a week before that one too.
    later = datetime(2027, 2, 26, 17, 0, tzinfo=TZ)
    services.db.execute("UPDATE cases SET expected_at = ? WHERE id = ?", [later.isoformat(), cid])
    assert tick(services, morning(date(2027, 2, 18))) == []
    done = tick(services, morning(date(2027, 2, 20)))
    assert [(d.action.action, d.action.n) for d in done] == [("timeline-notice", 2)]
    services.db.close()


def test_interim_acknowledgement_sent_when_configured_automatic(
    config_path: Path, tmp_path: Path
) -> None:
    config_path.write_text(CONFIG + '\n[review]\ninterim-ack = "auto"\n')
    clock = FrozenClock(RECEIVED)
    services = services_at(config_path, clock)
    ref = file_email(services, POTHOLE, RECEIVED)
    cid = case_id(services, ref)
    services.db.execute(
        "UPDATE cases SET expected_at = ? WHERE id = ?",
        [datetime(2027, 1, 29, 17, 0, tzinfo=TZ).isoformat(), cid],
    )
    done = tick(services, morning(date(2026, 12, 2)))
    assert [(d.action.action, d.result) for d in done] == [("interim-ack", "queued")]
    row = services.db.execute(
        "SELECT channel, recipient, idempotency_key FROM outbox "
        "WHERE case_id = ? AND reply_kind = 'interim-ack'",
        [cid],
    ).fetchone()
    assert tuple(row) == ("email", "jane@example.org", f"{ref}:interim-ack:email")
    services.db.close()


def test_a_hazard_not_inspected_in_time_alerts_the_supervisor(config_path: Path) -> None:
    clock = FrozenClock(RECEIVED)
    services = services_at(config_path, clock)
    ref = file_email(
        services,
        "There is a live wire down on the sidewalk on Elm Street and it is sparking.",
        RECEIVED,
        deliver=False,  # no routing rule for it: no department, nothing forwarded
    )
    due = services.db.execute("SELECT hazard_due FROM cases WHERE ref = ?", [ref]).fetchone()[0]
    assert datetime.fromisoformat(due) == datetime(2026, 12, 1, 16, 30, tzinfo=TZ)
    assert tick(services, morning(date(2026, 12, 1))) == []
    assert tick(services, datetime(2026, 12, 1, 16, 29, tzinfo=TZ)) == []
    at = datetime(2026, 12, 1, 16, 31, tzinfo=TZ)
    done = tick(services, at)
    assert [(d.action.action, d.result) for d in done] == [("hazard-alert", "flagged")]
    attention = services.db.execute("SELECT attention FROM cases WHERE ref = ?", [ref]).fetchone()[
        0
    ]
    assert attention.startswith("hazard alert:") and "supervisor" in attention
    assert events(services, ref, "hazard-alert")[0]["to"] == "supervisor"
    assert alerts_count(services.db, at) >= 1
    assert tick(services, morning(date(2026, 12, 2))) == []  # once
    services.db.close()


def test_a_crash_inside_a_pass_repeats_nothing_and_misses_nothing(config_path: Path) -> None:
    """`caredesk tick` killed (os._exit, like a power cut) while acting on the second case:
    what was not committed is rolled back (a transaction holds a few cases); the next tick
    takes each remaining action once and none that was committed again."""
    clock = FrozenClock(RECEIVED)
    services = services_at(config_path, clock)
    refs = [file_email(services, POTHOLE + f" ({n})", RECEIVED) for n in range(3)]
    services.db.close()
    at = morning(date(2026, 12, 15)).isoformat()
    env = {k: v for k, v in os.environ.items() if k != "CAREDESK_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "bot.cli", "--config", str(config_path), "tick", "--at", at]
    crashed = subprocess.run(
        command,
        env={**env, "CAREDESK_FAILPOINT": "scheduler-action:2"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert crashed.returncode == 99
    services = services_at(config_path, clock)
    committed = sum(len(requests(services, r)) for r in refs)
    assert committed < 2  # the second action never committed
    claimed = services.db.execute("SELECT count(*) FROM clock_actions").fetchone()[0]
    assert claimed == committed  # a claim exists exactly when its request does
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert f"{3 - committed} actions taken" in again.stdout
    assert [len(requests(services, r)) for r in refs] == [1, 1, 1]
    assert [len(events(services, r, "follow-up-requested")) for r in refs] == [1, 1, 1]
    services.db.close()


def test_the_morning_digest_once_a_business_day(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path.write_text(CONFIG + '\n[clocks]\ndigest_to = "supervisors@city.example"\n')
    clock = FrozenClock(RECEIVED)
    services = services_at(config_path, clock)
    ref = file_email(services, POTHOLE, RECEIVED)
    tick(services, RECEIVED)  # Monday, filed at 10:00: that morning's digest goes now
    services.db.execute("DELETE FROM outbox WHERE reply_kind = 'dept-digest'")
    saturday, monday = date(2026, 12, 5), date(2026, 12, 7)
    assert [d.action.action for d in tick(services, morning(saturday))] == []
    assert tick(services, at_8 := datetime.combine(monday, time(8, 0), tzinfo=TZ)) == []
    assert at_8 < morning(monday)
    listed = due_cli(config_path, morning(monday), capsys)
    assert [json.loads(x)["action"] for x in listed] == ["digest"]
    done = tick(services, morning(monday))
    assert [(d.action.action, d.result) for d in done] == [("digest", "queued")]
    assert tick(services, morning(monday) + timedelta(hours=3)) == []
    rows = services.db.execute(
        "SELECT recipient, subject, body, idempotency_key FROM outbox "
        "WHERE reply_kind = 'dept-digest'"
    ).fetchall()
    assert len(rows) == 1
    recipient, subject, body, key = rows[0]
    assert (recipient, key) == ("supervisors@city.example", "digest:2026-12-07")
    # The acknowledgement was never sent (no SMTP here): past its standard since 2 December.
    assert f"{ref}  acknowledgement: due 2026-12-02 16:30" in body
    assert "jane" not in body.lower()  # references and standards only, no personal data
    assert subject == "Customer Care: 1 case past a standard (2026-12-07)"
    services.db.close()


def test_a_case_that_fails_is_retried_next_pass_and_does_not_stop_the_others(
    config_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FrozenClock(RECEIVED)
    services = services_at(config_path, clock)
    good, bad = (file_email(services, POTHOLE + f" ({n})", RECEIVED) for n in range(2))
    # A timeline event the rules cannot read (a bug elsewhere wrote it): this case fails.
    services.db.execute(
        "INSERT INTO events (case_id, at, type, actor, data) VALUES (?, ?, 'routed', 'x', '{')",
        [case_id(services, bad), RECEIVED.isoformat()],
    )
    at = morning(date(2026, 12, 15))
    done = tick(services, at)
    assert [d.action.ref for d in done] == [good]
    assert f"case {case_id(services, bad)} failed" in caplog.text
    retry = services.db.execute(
        "SELECT due_at FROM clocks WHERE case_id = ?", [case_id(services, bad)]
    ).fetchone()[0]
    assert datetime.fromisoformat(retry) == at + timedelta(seconds=60)
    assert tick(services, at) == []  # not again in the same pass's moment
    services.db.close()


async def test_serve_runs_a_pass_at_start_and_every_tick(config_path: Path) -> None:
    """The scheduler inside `caredesk serve` (bot/app.py): the whole app started on a test
    server; its first pass runs at once, the next after [clocks] tick_seconds."""
    import asyncio

    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_app

    config_path.write_text(CONFIG + "\n[clocks]\ntick_seconds = 1\n")
    clock = FrozenClock(RECEIVED)
    services = services_at(config_path, clock)
    ref = file_email(services, POTHOLE, RECEIVED)
    clock.set(morning(date(2026, 12, 15)))
    client = TestClient(TestServer(build_app(services)))
    await client.start_server()
    try:
        for _ in range(100):
            if requests(services, ref):
                break
            await asyncio.sleep(0.05)
        assert len(requests(services, ref)) == 1
        clock.set(morning(date(2026, 12, 22)))
        for _ in range(100):
            if len(requests(services, ref)) == 2:
                break
            await asyncio.sleep(0.05)
        assert [e["n"] for e in events(services, ref, "follow-up-requested")] == [1, 2]
    finally:
        await client.close()


def test_no_follow_up_before_the_department_s_tracker_took_the_case(config_path: Path) -> None:
    clock = FrozenClock(RECEIVED)
    services = services_at(config_path, clock)
    ref = file_email(services, POTHOLE, RECEIVED, deliver=False)
    # The forward is still waiting (its tracker was down): nothing to chase yet.
    assert tick(services, morning(date(2026, 12, 15))) == []
    deliver_forwards(services, ref, morning(date(2026, 12, 16)))
    # Two weeks after the forward, not after receipt: Wednesday 30 December.
    for day in days(date(2026, 12, 16), date(2026, 12, 30)):
        assert tick(services, morning(day)) == []
    done = tick(services, datetime(2026, 12, 30, 16, 31, tzinfo=TZ))
    assert [(d.action.action, d.action.n) for d in done] == [("follow-up", 1)]
    services.db.close()
