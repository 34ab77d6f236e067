"""`caredesk retention run` and $CAREDESK_NOW as a person types them: real processes, a real
SQLite file, the clock pinned (never the day the tests run)."""

from __future__ import annotations

import json

from storage.db import open_store

from ..scripts import FULL
from .test_cli import run

COMPLAINT = "\n".join([*FULL, "confirm"]) + "\n"
#: Eight years after the pinned clock of test_cli.PINNED: past the default 2555 days.
LATER = "2034-11-27T09:00:00-05:00"


def test_the_pinned_clock_sets_the_reference_year_and_the_dates():
    # The same complaint on two pinned days: the year and the dates follow the clock.
    for now, ref, follow_up in [
        ("2026-11-25T16:38:00-05:00", "CD-2026-000001", "Wednesday, December 9, 2026"),
        ("2031-03-03T10:00:00-05:00", "CD-2031-000001", "Monday, March 17, 2031"),
    ]:
        out = run("--db", ":memory:", "chat", stdin=COMPLAINT, CAREDESK_NOW=now).stdout
        assert f"[{ref}]" in out and follow_up in out, out


def test_a_bad_pinned_clock_is_one_clear_line():
    result = run("--db", ":memory:", "init", CAREDESK_NOW="2026-11-25")
    assert result.returncode == 1
    assert result.stderr.startswith("caredesk: CAREDESK_NOW: ") and "UTC offset" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_retention_run_dry_then_for_real_then_nothing_more(tmp_path):
    store = tmp_path / "caredesk.db"
    assert run("--db", str(store), "chat", stdin=COMPLAINT).returncode == 0
    assert run("--db", str(store), "chat", "--session", "b", stdin=COMPLAINT).returncode == 0
    db = open_store(store)
    db.execute("UPDATE cases SET status = 'closed' WHERE ref = 'CD-2026-000001'")
    before = db.execute("SELECT * FROM people ORDER BY id").fetchall()
    db.close()

    # Nothing is due yet on the pinned day itself.
    today = run("--db", str(store), "retention", "run")
    assert today.returncode == 0 and "0 erasures done" in today.stdout

    dry = run("--db", str(store), "retention", "run", "--dry-run", "--at", LATER)
    assert dry.returncode == 0, dry.stderr
    assert "would erase case CD-2026-000001: person 1" in dry.stdout
    assert "CD-2026-000002" not in dry.stdout  # still open
    assert "dry run, nothing changed" in dry.stdout
    db = open_store(store)
    assert db.execute("SELECT * FROM people ORDER BY id").fetchall() == before
    assert db.execute("SELECT count(*) FROM audit").fetchone()[0] == 0
    db.close()

    done = run("--db", str(store), "retention", "run", "--at", LATER, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["dry_run"] is False and report["retention_days"] == 2555
    cases = [e for e in report["erasures"] if e["what"] == "case"]
    assert [c["target"] for c in cases] == ["CD-2026-000001"]
    assert cases[0]["counts"]["person"] == 1 and cases[0]["counts"]["case_text"] == 1
    assert "Jane" not in done.stdout and "jane@" not in done.stdout  # the report is anonymous

    shown = json.loads(run("--db", str(store), "cases", "show", "CD-2026-000001", "--json").stdout)
    assert shown["person"]["name"] is None and shown["person"]["email"] is None
    assert shown["what"] is None and shown["kind"] == "complaint" and shown["events"]
    kept = json.loads(run("--db", str(store), "cases", "show", "CD-2026-000002", "--json").stdout)
    assert kept["person"]["name"] == "Jane Doe" and kept["what"]

    again = run("--db", str(store), "retention", "run", "--at", LATER, "--json")
    assert json.loads(again.stdout)["erasures"] == []
    db = open_store(store)
    audited = db.execute("SELECT action, target FROM audit WHERE actor = 'retention'").fetchall()
    db.close()
    assert ("erased-case", "CD-2026-000001") in audited
    assert len(audited) == len(report["erasures"])


def test_retention_at_needs_an_offset():
    result = run("--db", ":memory:", "retention", "run", "--at", "2034-11-27")
    assert result.returncode == 2 and "UTC offset" in result.stderr
