"""A month's trend report (bot/report.py) as text for a person, CSV for a spreadsheet, or JSON
for a program. Every format says plainly when the month had no cases.

The CSV is one long table, `section,name,value`, so a spreadsheet can filter a section and two
months can be compared row by row (every kind, channel, department and category is listed,
zero included). Percentages are numbers (92.5), empty when there is nothing to divide.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from bot.report import NO_SURVEY, Count, MonthReport, Standard

FORMATS = ("text", "csv", "json")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def _hours(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} hours"


def standard_words(s: Standard) -> str:
    """One line: 92.0% (184 of 200 deadlines decided; 10 late, 6 still waiting; 3 not yet due)."""
    if not s.applies:
        return "no case had this deadline"
    if not s.decided:
        return f"n/a (no deadline has passed yet; {s.not_yet_due:,} not yet due)"
    return (
        f"{_pct(s.percent)} ({s.met:,} of {s.decided:,} met; {s.late:,} late, "
        f"{s.waiting:,} past the deadline and still waiting; {s.not_yet_due:,} not yet due)"
    )


def _table(title: str, rows: tuple[Count, ...]) -> list[str]:
    width = max([len(c.label) for c in rows] + [10])
    out = [title]
    out += [f"  {c.label:<{width}}  {c.count:>6,}  {_pct(c.percent):>6}" for c in rows]
    return out


def as_text(report: MonthReport) -> str:
    r = report
    lines = [
        f"Trend report: {r.month.words} ({r.timezone} time)",
        f"Cases received from {r.start:%Y-%m-%d %H:%M} to {r.end:%Y-%m-%d %H:%M}; "
        f"figures as of {r.as_of:%Y-%m-%d %H:%M %z}.",
        "",
        r.note,
    ]
    if r.empty:
        lines.append("There is nothing else to report for this month.")
        return "\n".join(lines) + "\n"
    for title, rows in (
        ("By kind", r.kinds),
        ("By channel", r.channels),
        ("By department", r.departments),
        ("By category (out of scope, policy 02.03)", r.categories),
    ):
        lines += ["", *_table(title, rows)]
    lines += [""]
    lines += ["Service standards"]
    lines += [f"  {s.title}: {standard_words(s)}" for s in r.standards]
    per_clock = ", ".join(f"{c.label} {c.count:,}" for c in r.overdue.by_clock)
    lines += [f"  Overdue now: {r.overdue.cases:,} cases ({per_clock})", ""]
    e = r.escalations
    lines += [
        "Escalations",
        f"  {e.requests:,} follow-up requests to departments, on {e.cases:,} cases; "
        f"{e.supervisor:,} reached the 3rd request (Supervisor/Division Head copied), "
        f"{e.director:,} the 4th (Director copied)",
        f"  {e.hazard_alerts:,} hazard alerts to the supervisor (inspection not recorded in time)",
        "",
        "Median times",
        f"  To acknowledge: {_hours(r.medians.to_acknowledge_hours)} "
        f"({r.medians.acknowledged:,} cases acknowledged)",
        f"  To close: {_hours(r.medians.to_close_hours)} ({r.medians.closed:,} cases closed)",
        "",
        "Satisfaction survey",
    ]
    s = r.survey
    if not s.available:
        lines.append(f"  {NO_SURVEY}")
    else:
        lines += [
            f"  {s.sent:,} surveys sent, {s.answered:,} answered",
            f"  Handled well: {_pct(s.handled_percent)} of {s.handled_answers:,} answers",
            f"  Dealt with in good time: {_pct(s.timely_percent)} of {s.timely_answers:,} answers",
            "  Mean score (1 to 5): "
            + ("n/a" if s.mean_score is None else f"{s.mean_score:.2f} of {s.scores:,} scores"),
        ]
    lines += ["", "Most frequent topics (phrases the city's rules matched; cases)"]
    if r.topics:
        width = max(len(t.phrase) for t in r.topics)
        lines += [f"  {t.phrase:<{width}}  {t.cases:>6,}" for t in r.topics]
    else:
        lines.append("  no rule matched a topic phrase")
    return "\n".join(lines) + "\n"


def _csv_rows(report: MonthReport) -> Iterator[tuple[str, str, object]]:
    r = report
    yield ("report", "month", r.month.key)
    yield ("report", "timezone", r.timezone)
    yield ("report", "from", r.start.isoformat())
    yield ("report", "until", r.end.isoformat())
    yield ("report", "as_of", r.as_of.isoformat())
    yield ("report", "note", r.note)
    yield ("cases", "received", r.cases)
    for section, rows in (
        ("kind", r.kinds),
        ("channel", r.channels),
        ("department", r.departments),
        ("category", r.categories),
    ):
        for c in rows:
            yield (section, c.key or "none", c.count)
    for standard in r.standards:
        for name in ("applies", "met", "late", "waiting", "not_yet_due", "percent"):
            value = getattr(standard, name)
            yield (standard.clock, name, "" if value is None else value)
    yield ("overdue_now", "cases", r.overdue.cases)
    for c in r.overdue.by_clock:
        yield ("overdue_now", c.label, c.count)
    e = r.escalations
    yield ("escalations", "requests", e.requests)
    yield ("escalations", "cases", e.cases)
    yield ("escalations", "supervisor_copied", e.supervisor)
    yield ("escalations", "director_copied", e.director)
    yield ("escalations", "hazard_alerts", e.hazard_alerts)
    m = r.medians
    for name in ("to_acknowledge_hours", "acknowledged", "to_close_hours", "closed"):
        value = getattr(m, name)
        yield ("median", name, "" if value is None else value)
    s = r.survey
    if not s.available:
        yield ("survey", "note", NO_SURVEY)
    else:
        yield ("survey", "sent", s.sent)
        yield ("survey", "answered", s.answered)
        yield ("survey", "handled_percent", "" if s.handled_percent is None else s.handled_percent)
        yield ("survey", "timely_percent", "" if s.timely_percent is None else s.timely_percent)
        yield ("survey", "mean_score", "" if s.mean_score is None else s.mean_score)
    for t in r.topics:
        yield ("topic", t.phrase, t.cases)
    for d in r.days:
        yield ("day", d.day.isoformat(), d.count)


def as_csv(report: MonthReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("section", "name", "value"))
    writer.writerows(_csv_rows(report))
    return out.getvalue()


def as_json(report: MonthReport) -> str:
    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n"


def render(report: MonthReport, fmt: str) -> str:
    if fmt == "csv":
        return as_csv(report)
    if fmt == "json":
        return as_json(report)
    return as_text(report)
