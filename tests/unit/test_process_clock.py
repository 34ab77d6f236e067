"""$CAREDESK_NOW and the PinnedClock: how whole processes run on a clock the tests choose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import PinnedClock, SystemClock, clock_from_env


class Ticks:
    """A monotonic source the test moves by hand."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


def test_pinned_clock_starts_at_its_instant_and_runs_forward():
    ticks = Ticks()
    clock = PinnedClock(datetime(2026, 11, 25, 16, 38, tzinfo=UTC), ticks)
    assert clock.now() == datetime(2026, 11, 25, 16, 38, tzinfo=UTC)
    ticks.value += 90.5
    assert clock.now() == datetime(2026, 11, 25, 16, 38, tzinfo=UTC) + timedelta(seconds=90.5)


def test_environment_pins_the_clock_or_leaves_the_wall_clock():
    assert isinstance(clock_from_env({}), SystemClock)
    assert isinstance(clock_from_env({"CAREDESK_NOW": " "}), SystemClock)
    pinned = clock_from_env({"CAREDESK_NOW": "2031-03-03T10:00:00-05:00"})
    assert isinstance(pinned, PinnedClock)
    assert abs(pinned.now() - datetime(2031, 3, 3, 15, 0, tzinfo=UTC)) < timedelta(seconds=5)


@pytest.mark.parametrize("value", ["2031-03-03", "2031-03-03T10:00:00", "tomorrow"])
def test_a_pin_without_offset_or_unreadable_is_refused(value):
    with pytest.raises(ValueError, match="CAREDESK_NOW"):
        clock_from_env({"CAREDESK_NOW": value})
