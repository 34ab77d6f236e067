"""The tests that file cases, run with the machine's clock in 2027 (libfaketime).

References carry the year, so a test that read the wall clock and expected `CD-2026-...`
would break on 1 January 2027. Those tests now run on an injected clock (FrozenClock,
PinnedClock, $CAREDESK_NOW); this runs a few of them with the wall clock moved to January
2027 to keep it so. `scripts/install-system-deps` installs faketime.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..servers import NO_PROXY_ENV

ROOT = Path(__file__).resolve().parents[2]
FAKETIME = shutil.which("faketime")
#: "@" starts the fake clock there and lets it run (asyncio needs time to pass).
IN_2027 = "@2027-01-04 10:00:00"
SUBSET = [
    "tests/unit/test_chat_service.py",
    "tests/integration/test_webchat_http.py::test_a_whole_complaint_over_the_websocket",
    "tests/integration/test_telegram_e2e.py::test_a_full_complaint",
    "tests/integration/test_cli.py::test_eof_mid_conversation_keeps_it_and_files_nothing",
]

pytestmark = pytest.mark.skipif(
    FAKETIME is None, reason="faketime is not installed (scripts/install-system-deps)"
)


def in_2027(*command: str) -> subprocess.CompletedProcess[str]:
    assert FAKETIME is not None
    env = {**os.environ, "PYTHONPATH": str(ROOT), **NO_PROXY_ENV}
    env.pop("CAREDESK_NOW", None)
    return subprocess.run(
        [FAKETIME, "-f", IN_2027, *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


def test_the_wall_clock_is_in_2027_under_faketime():
    # Without this, the next test could pass because faketime did nothing.
    code = "from bot.clock import SystemClock; print(SystemClock().now().year)"
    result = in_2027(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2027"


def test_the_tests_that_file_cases_pass_in_2027():
    result = in_2027(sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *SUBSET)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
