"""`caredesk report` as a person types it: a real process, a real SQLite file filled with
generated months (tests/unit/report_data.py), the clock pinned by $CAREDESK_NOW."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from storage.db import open_store

from ..unit.report_data import AS_OF, fill_months, in_month
from .test_cli import run

NOW = {"CAREDESK_NOW": AS_OF.isoformat()}


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Counter[str], int]:
    path = tmp_path_factory.mktemp("report-cli") / "caredesk.db"
    db = open_store(path)
    nov = in_month(fill_months(db), 2026, 11)
    db.close()
    return path, Counter(m.kind for m in nov), len(nov)


def test_help_explains_the_command() -> None:
    assert "    report" in run("--help").stdout
    result = run("report", "--help")
    assert result.returncode == 0
    joined = " ".join(result.stdout.split())
    for words in (
        "--month YYYY-MM",
        "--format {text,csv,json}",
        "time zone",
        "within the standard",
    ):
        assert words in joined


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2026-13"], "'2026-13' is not a month: the month must be 01 to 12"),
        (["--month", "Nov 2026"], "write it as YYYY-MM, for example 2026-11"),
        ([], "the following arguments are required: --month"),
        (["--month", "2026-11", "--format", "xlsx"], "invalid choice: 'xlsx'"),
    ],
)
def test_a_wrong_month_is_exit_status_2_and_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    store = tmp_path / "caredesk.db"
    result = run("--db", str(store), "report", *args, **NOW)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert not store.exists()  # refused before the store was opened


def test_text_csv_and_json(filled: tuple[Path, Counter[str], int]) -> None:
    store, kinds, total = filled
    text = run("--db", str(store), "report", "--month", "2026-11", **NOW)
    assert text.returncode == 0, text.stderr
    assert "Trend report: November 2026 (America/Toronto time)" in text.stdout
    assert f"{total:,} cases received in November 2026." in text.stdout
    assert "no survey was sent for these cases" in text.stdout

    out = run("--db", str(store), "report", "--month", "2026-11", "--format", "csv", **NOW)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    table = {(r["section"], r["name"]): r["value"] for r in rows}
    assert int(table[("cases", "received")]) == total
    assert {k: int(table[("kind", k)]) for k in kinds} == dict(kinds)

    out = run("--db", str(store), "report", "--month", "2026-11", "--format", "json", **NOW)
    data = json.loads(out.stdout)
    assert data["cases"] == total and data["month"] == "2026-11"
    assert data["as_of"] == AS_OF.isoformat()
    assert {c["key"]: c["count"] for c in data["by_kind"] if c["count"]} == dict(kinds)


def test_a_month_with_no_cases(filled: tuple[Path, Counter[str], int]) -> None:
    store = filled[0]
    text = run("--db", str(store), "report", "--month", "2027-03", **NOW)
    assert text.returncode == 0
    assert "No cases were received in March 2027." in text.stdout
    out = run("--db", str(store), "report", "--month", "2027-03", "--format", "json", **NOW)
    assert json.loads(out.stdout)["empty"] is True
