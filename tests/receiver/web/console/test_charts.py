"""The refused-deliveries chart: one bar per period, one segment per reason, heights in proportion."""

from __future__ import annotations

import datetime as dt

from receiver.web.console.charts import BY_DAY, BY_HOUR, refusal_chart
from storage.refusals import Refusal

NOW = dt.datetime(2025, 3, 10, 15, 30, tzinfo=dt.UTC)


def refused(hours_ago: float, reason: str) -> Refusal:
    return Refusal(NOW - dt.timedelta(hours=hours_ago), 401, reason, "192.0.2.1", "0" * 64, 10)


def test_a_week_by_day_stacks_each_days_reasons():
    samples = [
        refused(1, "bad_signature"),
        refused(2, "bad_signature"),
        refused(3, "no_signature"),
        refused(50, "no_signature"),
        refused(24 * 9, "too_old"),
    ]
    chart = refusal_chart(samples, since=NOW - dt.timedelta(days=7), now=NOW, by=BY_DAY)
    assert len(chart.x_labels) == 8 and chart.x_labels[-1][1] == "10 Mar"
    assert chart.total == 4 and chart.reasons == [("bad_signature", 0, 2), ("no_signature", 1, 2)]
    today = [s for s in chart.segments if s.title.startswith("10 Mar")]
    assert [(s.reason, s.title) for s in today] == [
        ("bad_signature", "10 Mar: 2 bad_signature"),
        ("no_signature", "10 Mar: 1 no_signature"),
    ]
    assert today[0].height == 2 * today[1].height
    assert today[1].y + today[1].height == today[0].y  # stacked


def test_the_last_day_by_hour_has_24_bars():
    chart = refusal_chart([refused(0.5, "malformed_json")], since=NOW - dt.timedelta(days=7), now=NOW, by=BY_HOUR)
    assert [s.title for s in chart.segments] == ["15:00: 1 malformed_json"]
    assert len(chart.y_ticks) == 5 and chart.y_ticks[-1][1] == 4


def test_no_sample_draws_no_bar():
    chart = refusal_chart([], since=NOW - dt.timedelta(days=7), now=NOW)
    assert (chart.segments, chart.reasons, chart.total) == ([], [], 0)
