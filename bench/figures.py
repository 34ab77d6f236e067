"""What every benchmark prints the same way: percentiles, the machine, and its servers.

One definition of a percentile for all of bench/: the nearest rank (the smallest sample with at
least p% of the samples at or below it: rank ceil(p/100 * n), 1-based), so "p99" means the same
in every report. Before this module, two scripts rounded the rank and three took its ceiling
while all of them said "nearest rank".
"""

from __future__ import annotations

import math
import os
import platform
import signal
import sqlite3
import subprocess
from collections.abc import Iterable, Mapping
from typing import Any

#: The percentiles most reports print; "max" is the 100th.
PCTS: Mapping[str, float] = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0}


def nearest_rank(ordered: list[float], p: float) -> float:
    """The p-th percentile of samples already sorted ascending (p in 0..100)."""
    if not ordered:
        raise ValueError("no samples")
    rank = math.ceil(p * len(ordered) / 100)
    return ordered[min(len(ordered) - 1, max(0, rank - 1))]


def percentiles(
    samples: Iterable[float],
    pcts: Mapping[str, float] = PCTS,
    *,
    scale: float = 1.0,
    digits: int = 3,
) -> dict[str, float]:
    """Named nearest-rank percentiles of `samples`, each divided by `scale` and rounded
    (e.g. nanoseconds to milliseconds: scale=1e6). No samples: an empty dict."""
    ordered = sorted(samples)
    if not ordered:
        return {}
    return {name: round(nearest_rank(ordered, p) / scale, digits) for name, p in pcts.items()}


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: on a shared machine, read every figure with it."""
    return [round(x, 2) for x in os.getloadavg()]


def machine(**versions: str) -> dict[str, Any]:
    """What a reader needs to compare a report with another: Python, OS, CPUs, load, SQLite,
    and the versions of whatever the benchmark exercises (passed by name)."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg": load_average(),
        "sqlite": sqlite3.sqlite_version,
        **versions,
    }


def stop_process(proc: subprocess.Popen[Any], timeout: float = 20.0) -> int:
    """SIGINT first (aiohttp shuts down cleanly, a cProfile run writes its file), then kill."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return int(proc.returncode)
