"""The one way an age or a limit is printed, by the console and /readyz alike."""

import pytest

from interview_retention.clock import human_duration


@pytest.mark.parametrize(
    ("seconds", "printed"),
    [
        (0, "0s"),
        (36.9, "36s"),
        (120, "2m"),
        (156, "2m 36s"),
        (3600, "1h 0m"),
        (3660 + 59, "1h 1m"),
        (86400, "1d 0h 0m"),
        (319 * 86400 + 7 * 3600 + 12 * 60 + 39, "319d 7h 12m"),
    ],
)
def test_leading_zero_units_left_out_seconds_only_under_an_hour(seconds, printed):
    assert human_duration(seconds) == printed
