"""The VoodooSMS polling interval: doubling from the first, capped (pure)."""

from __future__ import annotations

from types import SimpleNamespace

from receiver.usecases.forget_polling import next_interval


def test_the_interval_doubles_up_to_the_cap():
    settings = SimpleNamespace(voodoosms_poll_interval_seconds=900, voodoosms_poll_max_interval_seconds=4 * 3600)
    assert [next_interval(settings, polls) for polls in range(1, 8)] == [900, 1800, 3600, 7200, 14400, 14400, 14400]
