"""storage/mail.py's acknowledgement counts on a real SQLite store: right, and by the index
that keeps each count small (the per-address one read every email of the day before)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from storage.mail import acks_all_since, acks_since

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("America/Toronto"))


def complaint(i: int, sender: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: feedback@city.example\r\nSubject: Garbage {i}\r\n"
        f"Date: Wed, 25 Nov 2026 09:00:00 -0500\r\nMessage-ID: <c{i}@example.com>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "On Monday 16 November at 9:30am the garbage truck skipped our street. "
        f"The driver was rude to me. I would like an apology. ({i})\r\n"
    ).encode()


def test_counts_per_address_and_overall_by_the_address_index(make_mail_desk):
    services, intake = make_mail_desk(now=NOW)
    for i in range(6):
        sender = "jane@example.com" if i < 2 else f"r{i}@example.com"
        assert intake.process(complaint(i, sender), NOW, NOW).action == "cased"
    since = NOW - timedelta(days=1)
    statements: list[str] = []
    services.db.conn.set_trace_callback(statements.append)
    assert acks_since(services.db, "Jane@Example.com", since) == 2
    services.db.conn.set_trace_callback(None)
    assert acks_since(services.db, "r3@example.com", since) == 1
    assert acks_since(services.db, "nobody@example.com", since) == 0
    assert acks_all_since(services.db, since) == 6
    assert acks_since(services.db, "jane@example.com", NOW + timedelta(seconds=1)) == 0
    [sql] = statements
    plan = " ".join(row[3] for row in services.db.execute("EXPLAIN QUERY PLAN " + sql))
    assert "outbox_recipient" in plan, plan
    statements.clear()
    services.db.conn.set_trace_callback(statements.append)
    acks_all_since(services.db, since)
    services.db.conn.set_trace_callback(None)
    [sql] = statements
    plan = " ".join(row[3] for row in services.db.execute("EXPLAIN QUERY PLAN " + sql))
    assert "outbox_email_acks" in plan, plan
