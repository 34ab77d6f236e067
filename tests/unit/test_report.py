"""The trend report (policy 03.04) on generated months, against a real SQLite store: every
figure is checked against numbers the test works out itself from what it generated
(tests/unit/report_data.py), never by calling bot/report.py's helpers."""

from __future__ import annotations

import csv
import io
import json
import shutil
import statistics
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlite_utils

from bot.report import Month, MonthError, parse_month
from bot.report_format import as_csv, as_json, as_text
from bot.report_source import load_report
from storage.cases import add_event
from storage.db import open_store

from .report_data import AS_OF, CONFIG, RESIDENT, TORONTO, Made, fill_months, in_month

NOVEMBER = Month(2026, 11)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Made]]:
    """Filed once for the module (400 cases through the real insert path take seconds)."""
    path = tmp_path_factory.mktemp("report") / "filled.db"
    store = open_store(path)
    made = fill_months(store)
    store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return path, made


@pytest.fixture
def made(filled: tuple[Path, list[Made]]) -> list[Made]:
    return filled[1]


@pytest.fixture
def db(filled: tuple[Path, list[Made]], tmp_path: Path) -> Iterator[sqlite_utils.Database]:
    """A copy of the filled store for each test, so one test's writes reach no other."""
    copy = tmp_path / "store.db"
    shutil.copyfile(filled[0], copy)
    store = open_store(copy)
    yield store
    store.close()


def pct(part: int, whole: int) -> float | None:
    return round(part * 100 / whole, 1) if whole else None


def counted(report_rows: tuple, attr: str = "count") -> dict:
    return {c.key: getattr(c, attr) for c in report_rows}


def test_the_generated_data_covers_what_the_report_counts(made: list[Made]) -> None:
    """A guard on the generator: otherwise a figure could pass by being zero on both sides."""
    nov = in_month(made, 2026, 11)
    assert 100 <= len(nov) <= 180
    assert {m.kind for m in nov} >= {"complaint", "request", "hazard", "out-of-scope"}
    assert {m.channel for m in nov} == {"email", "web", "telegram", "console"}
    assert sum(1 for m in nov if m.acked and m.acked > m.ack_due) >= 5
    assert sum(1 for m in nov if m.requests >= 4) >= 1
    assert sum(1 for m in nov if m.response_due and m.response_due > AS_OF) >= 1


def test_breakdowns_by_kind_channel_department_and_category(
    db: sqlite_utils.Database,
    made: list[Made],
) -> None:
    report = load_report(db, CONFIG, NOVEMBER, AS_OF)
    nov = in_month(made, 2026, 11)
    assert report.cases == len(nov)
    for rows, attr in (
        (report.kinds, "kind"),
        (report.channels, "channel"),
        (report.departments, "department"),
        (report.categories, "category"),
    ):
        expected = Counter(getattr(m, attr) for m in nov)
        got = counted(rows)
        assert {k: v for k, v in got.items() if v} == dict(expected), attr
        assert sum(got.values()) == len(nov)
        for c in rows:
            assert c.percent == pct(expected[c.key], len(nov))
        counts = [c.count for c in rows]
        assert counts == sorted(counts, reverse=True), f"{attr}: most frequent first"
    # Every configured department is listed, zero or not, with its name.
    names = {c.key: c.label for c in report.departments}
    assert names["roads"] == "Roads and Sidewalks"
    assert names[None].startswith("No department")


def test_the_month_is_the_citys(db: sqlite_utils.Database, made: list[Made]) -> None:
    """23:30 on 31 October in Toronto is 03:30 on 1 November in UTC, and October's; midnight
    on 1 December is December's."""
    report = load_report(db, CONFIG, NOVEMBER, AS_OF)
    edges = {m.received: m for m in made[-4:]}
    oct_31 = datetime(2026, 10, 31, 23, 30, tzinfo=TORONTO).astimezone(UTC)
    assert oct_31 in edges and oct_31.day == 1  # 1 November in UTC
    days = {d.day.isoformat(): d.count for d in report.days}
    assert len(days) == 30
    expected_days = Counter(m.received.astimezone(TORONTO).date().isoformat() for m in made)
    assert days == {d: expected_days.get(d, 0) for d in days}
    assert report.start.isoformat() == "2026-11-01T00:00:00-04:00"
    assert report.end.isoformat() == "2026-12-01T00:00:00-05:00"
    october = load_report(db, CONFIG, Month(2026, 10), AS_OF)
    assert october.cases == len(in_month(made, 2026, 10))
    assert report.cases + october.cases + load_report(
        db, CONFIG, Month(2026, 9), AS_OF
    ).cases + load_report(db, CONFIG, Month(2026, 12), AS_OF).cases == len(made)


def _standard(nov: list[Made], due: str, done: str) -> tuple[int, int, int, int]:
    met = late = waiting = later = 0
    for m in nov:
        deadline, when = getattr(m, due), getattr(m, done)
        if deadline is None:
            continue
        if when is not None and when <= deadline:
            met += 1
        elif when is not None:
            late += 1
        elif deadline < AS_OF:
            waiting += 1
        else:
            later += 1
    return met, late, waiting, later


def test_within_standard(db: sqlite_utils.Database, made: list[Made]) -> None:
    report = load_report(db, CONFIG, NOVEMBER, AS_OF)
    nov = in_month(made, 2026, 11)
    by_clock = {s.clock: s for s in report.standards}
    for clock, due, done in (
        ("acknowledgement", "ack_due", "acked"),
        ("response", "response_due", "closed"),
    ):
        met, late, waiting, later = _standard(nov, due, done)
        s = by_clock[clock]
        assert (s.met, s.late, s.waiting, s.not_yet_due) == (met, late, waiting, later), clock
        assert s.applies == sum(1 for m in nov if getattr(m, due))
        assert s.percent == pct(met, met + late + waiting)
    assert by_clock["acknowledgement"].late > 0 and by_clock["acknowledgement"].waiting > 0


def test_overdue_now(db: sqlite_utils.Database, made: list[Made]) -> None:
    """The policy's clocks in the test's words: acknowledgement until a reply reached the
    resident or the case is closed; response and follow-up while open; hazard inspection while
    open and not inspected."""
    report = load_report(db, CONFIG, NOVEMBER, AS_OF)
    nov = in_month(made, 2026, 11)
    per_clock: Counter[str] = Counter()
    cases = 0
    for m in nov:
        still_open = m.status == "open"
        late = {
            "acknowledgement": m.acked is None and m.status != "closed" and m.ack_due < AS_OF,
            "response": still_open and m.response_due is not None and m.response_due < AS_OF,
            "follow-up": still_open and m.follow_up_due is not None and m.follow_up_due < AS_OF,
            "hazard inspection": still_open
            and m.hazard_checked is None
            and m.hazard_due is not None
            and m.hazard_due < AS_OF,
        }
        per_clock.update(k for k, v in late.items() if v)
        cases += any(late.values())
    assert report.overdue.cases == cases > 0
    assert {c.label: c.count for c in report.overdue.by_clock} == {
        k: per_clock[k] for k in ("acknowledgement", "response", "follow-up", "hazard inspection")
    }


def test_escalations_medians_and_topics(db: sqlite_utils.Database, made: list[Made]) -> None:
    report = load_report(db, CONFIG, NOVEMBER, AS_OF)
    nov = in_month(made, 2026, 11)
    e = report.escalations
    assert e.requests == sum(m.requests for m in nov)
    assert e.cases == sum(1 for m in nov if m.requests)
    assert e.supervisor == sum(1 for m in nov if m.requests >= 3)
    assert e.director == sum(1 for m in nov if m.requests >= 4)
    assert e.hazard_alerts == sum(1 for m in nov if m.hazard_alert) > 0

    hours_to_ack = [(m.acked - m.received).total_seconds() / 3600 for m in nov if m.acked]
    hours_to_close = [(m.closed - m.received).total_seconds() / 3600 for m in nov if m.closed]
    assert report.medians.acknowledged == len(hours_to_ack)
    assert report.medians.closed == len(hours_to_close)
    assert report.medians.to_acknowledge_hours == pytest.approx(
        statistics.median(hours_to_ack), abs=0.05
    )
    assert report.medians.to_close_hours == pytest.approx(
        statistics.median(hours_to_close), abs=0.05
    )

    topic_counts = Counter(t for m in nov for t in m.topics)
    expected = sorted(topic_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [(t.phrase, t.cases) for t in report.topics] == expected
    assert "unacceptable" not in {t.phrase for t in report.topics}  # a kind word, not a topic


def test_no_personal_data_in_any_format(db: sqlite_utils.Database, made: list[Made]) -> None:
    report = load_report(db, CONFIG, NOVEMBER, AS_OF)
    for text in (as_text(report), as_csv(report), as_json(report)):
        assert RESIDENT not in text and "Elm Street" not in text


def test_survey_answers_when_the_table_exists(
    db: sqlite_utils.Database,
    made: list[Made],
) -> None:
    before = load_report(db, CONFIG, NOVEMBER, AS_OF)
    assert not before.survey.available
    note = "no survey was sent for these cases"
    assert json.loads(as_json(before))["survey"] == {"available": False, "note": note}
    assert note in as_text(before)
    # The surveys of bot/survey.py (storage/survey_schema.py): the report reads the answers
    # and never the comment.
    nov = in_month(made, 2026, 11)
    answers = [(1, 1, 5), (1, 0, 4), (0, 0, 1), (None, None, None), (1, None, None)]
    for m, (handled, timely, score) in zip(nov, answers, strict=False):
        db.execute(
            "INSERT INTO surveys (case_id, channel, status, asked_at, answered_at, handled, "
            "timely, score, comment) VALUES (?, 'email', ?, '2026-11-30', ?, ?, ?, ?, ?)",
            [
                m.id,
                "asked" if handled is None else "answered",
                None if handled is None else "2026-12-01",
                handled,
                timely,
                score,
                RESIDENT,
            ],
        )
    october = in_month(made, 2026, 10)[0]
    db.execute(
        "INSERT INTO surveys (case_id, channel, status, asked_at, handled) "
        "VALUES (?, 'email', 'answered', '2026-10-30', 0)",
        [october.id],
    )
    s = load_report(db, CONFIG, NOVEMBER, AS_OF).survey
    assert (s.available, s.sent, s.answered) == (True, 5, 4)
    assert (s.handled_yes, s.handled_answers, s.handled_percent) == (3, 4, 75.0)
    assert (s.timely_yes, s.timely_answers, s.timely_percent) == (1, 3, 33.3)
    assert (s.mean_score, s.scores) == (pytest.approx(10 / 3, abs=0.005), 3)
    text = as_text(load_report(db, CONFIG, NOVEMBER, AS_OF))
    assert "4 answered" in text and RESIDENT not in text


def test_an_empty_month_is_a_report_that_says_so(db: sqlite_utils.Database) -> None:
    report = load_report(db, CONFIG, Month(2027, 3), AS_OF)
    assert report.empty and report.cases == 0
    assert "No cases were received in March 2027." in as_text(report)
    data = json.loads(as_json(report))
    assert data["empty"] is True and data["cases"] == 0
    assert data["note"] == "No cases were received in March 2027."
    assert all(s["percent"] is None for s in data["standards"].values())
    assert data["median_hours"]["to_acknowledge_hours"] is None
    assert data["topics"] == []
    rows = list(csv.DictReader(io.StringIO(as_csv(report))))
    assert {"section": "cases", "name": "received", "value": "0"} in rows
    assert {"section": "report", "name": "note", "value": data["note"]} in rows


JSON_KEYS = {
    "month",
    "timezone",
    "from",
    "until",
    "as_of",
    "cases",
    "empty",
    "note",
    "by_kind",
    "by_channel",
    "by_department",
    "by_category",
    "standards",
    "overdue_now",
    "escalations",
    "median_hours",
    "survey",
    "topics",
    "by_day",
}


def test_json_and_csv_carry_the_same_figures(db: sqlite_utils.Database, made: list[Made]) -> None:
    report = load_report(db, CONFIG, NOVEMBER, AS_OF)
    data = json.loads(as_json(report))
    assert set(data) == JSON_KEYS
    assert set(data["standards"]) == {"acknowledgement", "response"}
    assert set(data["standards"]["acknowledgement"]) == {
        "clock",
        "applies",
        "met",
        "late",
        "waiting",
        "not_yet_due",
        "percent",
        "decided",
    }
    assert set(data["by_kind"][0]) == {"key", "label", "count", "percent"}
    assert set(data["escalations"]) == {
        "requests",
        "cases",
        "supervisor",
        "director",
        "hazard_alerts",
    }
    assert set(data["overdue_now"]["by_clock"]) == {
        "acknowledgement",
        "response",
        "follow-up",
        "hazard inspection",
    }
    assert data["month"] == "2026-11" and data["cases"] == len(in_month(made, 2026, 11))

    rows = list(csv.reader(io.StringIO(as_csv(report))))
    assert rows[0] == ["section", "name", "value"]
    assert all(len(r) == 3 for r in rows)
    table = {(r[0], r[1]): r[2] for r in rows[1:]}
    assert int(table[("cases", "received")]) == data["cases"]
    for c in data["by_kind"]:
        assert int(table[("kind", c["key"])]) == c["count"]
    for c in data["by_department"]:
        assert int(table[("department", c["key"] or "none")]) == c["count"]
    ack = data["standards"]["acknowledgement"]
    assert float(table[("acknowledgement", "percent")]) == ack["percent"]
    assert int(table[("escalations", "director_copied")]) == data["escalations"]["director"]
    for t in data["topics"]:
        assert int(table[("topic", t["phrase"])]) == t["cases"]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2026-13", "01 to 12"),
        ("2026-00", "01 to 12"),
        ("2026-1", "YYYY-MM"),
        ("November 2026", "YYYY-MM"),
        ("", "YYYY-MM"),
        ("２０２６-１１", "YYYY-MM"),  # full-width digits are not ASCII digits
        ("0001-01", "1970"),
    ],
)
def test_a_month_that_is_not_one(text: str, why: str) -> None:
    with pytest.raises(MonthError, match=why):
        parse_month(text)


def test_a_month_and_its_bounds() -> None:
    assert parse_month(" 2026-11 ") == Month(2026, 11)
    assert Month(2026, 12).next() == Month(2027, 1)
    start, end = Month(2026, 12).bounds(TORONTO)
    assert (start.isoformat(), end.isoformat()) == (
        "2026-12-01T00:00:00-05:00",
        "2027-01-01T00:00:00-05:00",
    )


def test_a_ladder_that_started_again_counts_its_highest_rung(
    db: sqlite_utils.Database, made: list[Made]
) -> None:
    """Requests 1, 2 (the department answered), then 1, 2, 3 again: five requests, and the
    case reached the 3rd (Supervisor copied), not the 4th."""
    case = next(m for m in in_month(made, 2026, 11) if m.requests == 0)
    before = load_report(db, CONFIG, NOVEMBER, AS_OF).escalations
    for n in (1, 2, 1, 2, 3):
        add_event(db, case.id, "follow-up-requested", "scheduler", AS_OF, {"n": n})
    after = load_report(db, CONFIG, NOVEMBER, AS_OF).escalations
    assert after.requests == before.requests + 5
    assert after.cases == before.cases + 1
    assert after.supervisor == before.supervisor + 1
    assert after.director == before.director
