"""Refused deliveries by reason over time: a stacked bar chart laid out for an SVG drawn on the server.

``refusal_chart(samples, since, now, by)`` counts the sampled refusals (``console_views.refusals_seen``)
per day (or per hour over the last day) and reason, and places one bar per period,
its segments one per reason, each reason in its own colour class.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from receiver.usecases.console_views import Refusal

WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 12, 34
PALETTE = 8  #: colour classes ``reason-0`` .. ``reason-7``, reused past eight reasons
BY_DAY, BY_HOUR = "day", "hour"


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    reason: str
    colour: int
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    segments: list[Segment]
    x_labels: list[tuple[float, str]]
    y_ticks: list[tuple[float, int]]
    reasons: list[tuple[str, int, int]]  #: (reason, colour, count), most frequent first
    total: int


def refusal_chart(samples: Sequence[Refusal], *, since: dt.datetime, now: dt.datetime, by: str = BY_DAY) -> Chart:
    periods = _periods(since, now, by)
    counts = Counter((_period_of(s.received_at, by), s.reason) for s in samples if s.received_at >= periods[0])
    by_reason = Counter(s.reason for s in samples if s.received_at >= periods[0]).most_common()
    colours = {reason: index % PALETTE for index, (reason, _) in enumerate(by_reason)}
    tallest = max([sum(n for (p, _), n in counts.items() if p == period) for period in periods] + [1])
    top = _nice_ceiling(tallest)
    slot = (WIDTH - LEFT - RIGHT) / len(periods)
    plot = HEIGHT - TOP - BOTTOM
    segments = []
    for index, period in enumerate(periods):
        base: float = HEIGHT - BOTTOM
        for reason, _ in by_reason:
            count = counts.get((period, reason), 0)
            if count:
                height = plot * count / top
                base -= height
                segments.append(
                    Segment(
                        round(LEFT + index * slot + slot * 0.15, 1),
                        round(base, 1),
                        round(slot * 0.7, 1),
                        round(height, 1),
                        reason,
                        colours[reason],
                        f"{_label(period, by)}: {count} {reason}",
                    )
                )
    labels = [
        (round(LEFT + (i + 0.5) * slot, 1), _label(p, by))
        for i, p in enumerate(periods)
        if len(periods) <= 12 or i % 3 == 0
    ]
    y_ticks = [(round(HEIGHT - BOTTOM - plot * value / top, 1), value) for value in _steps(top)]
    reasons = [(reason, colours[reason], count) for reason, count in by_reason]
    return Chart(WIDTH, HEIGHT, segments, labels, y_ticks, reasons, sum(count for _, count in by_reason))


def _periods(since: dt.datetime, now: dt.datetime, by: str) -> list[dt.datetime]:
    if by == BY_HOUR:
        last = now.replace(minute=0, second=0, microsecond=0)
        return [last - dt.timedelta(hours=h) for h in range(23, -1, -1)]
    last = now.replace(hour=0, minute=0, second=0, microsecond=0)
    days = max(1, (last - since.replace(hour=0, minute=0, second=0, microsecond=0)).days + 1)
    return [last - dt.timedelta(days=d) for d in range(days - 1, -1, -1)]


def _period_of(at: dt.datetime, by: str) -> dt.datetime:
    if by == BY_HOUR:
        return at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def _label(period: dt.datetime, by: str) -> str:
    return period.strftime("%H:00") if by == BY_HOUR else period.strftime("%d %b")


def _nice_ceiling(value: int) -> int:
    for scale in (1, 10, 100, 1000, 10000):
        for step in (1, 2, 5):
            if step * scale * 4 >= value:
                return step * scale * 4
    return value


def _steps(top: int) -> list[int]:
    return [top * i // 4 for i in range(5)]
