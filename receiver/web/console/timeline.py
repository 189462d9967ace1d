"""A case's life as a picture: one lane for the case, one per processor request, on a shared time axis.

``case_timeline(case, today)`` lays out, from the API's JSON of a case
(``GET /api/cases/<id>``), where each event goes in an SVG of ``WIDTH`` units:
receipt, deadline changes, legal holds placed and released and the answer on
the case's lane, with a band while a hold lasts; each request's sending, verified
callback, stored archive, completion or failure (and the archive's deletion, once
recorded, naming who deleted it) on its own; the deadline, the first deadline,
the processors' target and today as vertical lines. The template draws it, and
lists the same events in words for those who cannot see it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from receiver.web.console.present import provider_name, when

WIDTH = 960
LABELS = 250  #: room for the lanes' names on the left ("MessageBird · personal delete" in bold)
RIGHT = 24
TOP = 34  #: room for the axis
LANE = 38
MIN_GAP = 11  #: marks closer than this on one lane are spread apart, in their order

#: Mark classes the stylesheet colours, with their legend.
LEGEND = {
    "received": "received",
    "sent": "request sent",
    "verified": "callback verified",
    "stored": "archive stored",
    "completed": "completed",
    "failed": "failed",
    "change": "deadline changed",
    "answer": "answer sent",
    "deleted": "archive deleted",
    "hold": "legal hold placed or released",
    "other": "other event",
}
HOLD_PLACED, HOLD_RELEASED = "legal_hold_placed", "legal_hold_released"
_CASE_EVENTS = {
    "extended": "change",
    "paused": "change",
    "resumed": "change",
    HOLD_PLACED: "hold",
    HOLD_RELEASED: "hold",
    "link_emailed": "answer",
    "answer_downloaded": "answer",
}


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    kind: str
    label: str


@dataclass
class Mark:
    x: float
    y: float
    kind: str
    label: str


@dataclass(frozen=True)
class Line:
    x: float
    kind: str
    label: str


@dataclass(frozen=True)
class Span:
    """A stretch of time on a lane: a legal hold from its placing to its release (or to today)."""

    x1: float
    x2: float
    y: float
    label: str


@dataclass
class Lane:
    name: str
    y: float
    href: str | None = None
    marks: list[Mark] = field(default_factory=list)


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    lanes: list[Lane]
    lines: list[Line]
    ticks: list[tuple[float, str]]
    events: list[tuple[str, Event]]  #: (lane name, event), in time order: the words beside the picture
    left: int = LABELS  #: where the lanes begin
    right: int = WIDTH - RIGHT  #: and end
    holds: list[Span] = field(default_factory=list)

    @property
    def kinds(self) -> list[tuple[str, str]]:
        shown = {mark.kind for lane in self.lanes for mark in lane.marks}
        return [(kind, text) for kind, text in LEGEND.items() if kind in shown]


def case_timeline(case: dict[str, Any], today: dt.date, request_href: Any = None) -> Timeline:
    """The layout of ``case`` (the API's JSON) up to ``today``; ``request_href(id)`` links a request's lane."""
    lanes_events = [("Case", None, case_events(case))]
    for request in case["requests"]:
        name = (
            f"{provider_name(request['provider'])} · {request['kind'].removeprefix('KIND_').replace('_', ' ').lower()}"
        )
        lanes_events.append((name, request_href(request["id"]) if request_href else None, request_events(request)))
    start = _midnight(dt.date.fromisoformat(case["receivedOn"]))
    every = [event.at for _, _, events in lanes_events for event in events]
    end = max([_midnight(dt.date.fromisoformat(case["dueOn"])), _midnight(today), *every]) + dt.timedelta(days=2)
    scale = _Scale(start, end)
    lanes = [
        _lane(name, href, events, TOP + LANE * (index + 0.5), scale)
        for index, (name, href, events) in enumerate(lanes_events)
    ]
    ordered = sorted(((name, e) for name, _, events in lanes_events for e in events), key=lambda item: item[1].at)
    holds = [Span(scale.x(since), scale.x(until), lanes[0].y, label) for since, until, label in held(case, today)]
    return Timeline(
        WIDTH, TOP + LANE * len(lanes) + 8, lanes, _lines(case, today, scale), scale.ticks(), ordered, holds=holds
    )


def held(case: dict[str, Any], today: dt.date) -> list[tuple[dt.datetime, dt.datetime, str]]:
    """Each legal hold of the case's history: (placed, released or the end of today, words)."""
    spans, since, by = [], None, ""
    for entry in case["history"]:
        if entry["kind"] == HOLD_PLACED:
            since, by = _time(entry["at"]), entry["actor"]
        elif entry["kind"] == HOLD_RELEASED and since is not None:
            until = _time(entry["at"])
            spans.append((since, until, f"legal hold by {by}, {when(since.isoformat())} to {when(until.isoformat())}"))
            since = None
    if since is not None:
        spans.append(
            (
                since,
                max(since, _midnight(today) + dt.timedelta(days=1)),
                f"legal hold by {by} since {when(since.isoformat())}",
            )
        )
    return spans


def case_events(case: dict[str, Any]) -> list[Event]:
    events = [Event(_midnight(dt.date.fromisoformat(case["receivedOn"])), "received", "request received")]
    if case.get("clockStartsOn") and case["clockStartsOn"] != case["receivedOn"]:
        events.append(Event(_midnight(dt.date.fromisoformat(case["clockStartsOn"])), "change", "clock starts"))
    for entry in case["history"]:
        kind = _CASE_EVENTS.get(entry["kind"])
        if kind is not None:
            events.append(Event(_time(entry["at"]), kind, _history_label(entry)))
        elif entry["kind"] not in ("opened", "request_added", "closed", "close_override"):
            events.append(Event(_time(entry["at"]), "other", f"{entry['kind'].replace('_', ' ')} by {entry['actor']}"))
    if case["respondedOn"]:
        events.append(
            Event(
                _midnight(dt.date.fromisoformat(case["respondedOn"])), "answer", f"answer sent ({case['deliveredBy']})"
            )
        )
    return sorted(events, key=lambda event: event.at)


def _history_label(entry: dict[str, Any]) -> str:
    if entry["kind"] == "extended":
        return f"deadline extended to {entry['to']} by {entry['actor']}"
    if entry["kind"] == "paused":
        return f"clock stopped by {entry['actor']}"
    if entry["kind"] == HOLD_PLACED:
        return f"legal hold placed by {entry['actor']}: {entry['reason']}"
    if entry["kind"] == HOLD_RELEASED:
        return f"legal hold released by {entry['actor']}" + (f": {entry['reason']}" if entry.get("reason") else "")
    if entry["kind"] == "link_emailed":
        return "the answer's link e-mailed to the subject"
    if entry["kind"] == "answer_downloaded":
        return "the subject downloaded the whole answer"
    return f"clock restarted, due {entry['to']}, by {entry['actor']}"


def request_events(request: dict[str, Any]) -> list[Event]:
    archive = request.get("archive") or {}
    receipt = archive.get("deletionReceipt") or {}
    found = [
        (request.get("createdAt"), "sent", "request sent"),
        (request.get("callbackReceivedAt"), "verified", "callback verified"),
        (archive.get("storedAt"), "stored", "archive stored"),
        (None if archive.get("storedAt") else request.get("completedAt"), "completed", "completed"),
        (request.get("failedAt"), "failed", f"failed: {request.get('stateReason') or 'see the request'}"),
        (
            archive.get("deletedAt"),
            "deleted",
            "archive deleted" + (f" by {receipt['deletedBy']}" if receipt.get("deletedBy") else ""),
        ),
    ]
    return sorted((Event(_time(at), kind, label) for at, kind, label in found if at), key=lambda event: event.at)


def _lane(name: str, href: str | None, events: list[Event], y: float, scale: _Scale) -> Lane:
    lane = Lane(name, y, href)
    last_x: float = -MIN_GAP
    for event in events:
        x = max(scale.x(event.at), last_x + MIN_GAP)
        lane.marks.append(Mark(x, y, event.kind, f"{event.label}, {when(event.at.isoformat())}"))
        last_x = x
    return lane


def _lines(case: dict[str, Any], today: dt.date, scale: _Scale) -> list[Line]:
    lines = []
    if case["originalDueOn"] != case["dueOn"]:
        lines.append(
            Line(scale.day(case["originalDueOn"]), "first-deadline", f"first deadline {case['originalDueOn']}")
        )
    if case["requests"]:
        lines.append(Line(scale.day(case["targetOn"]), "target", f"processors' target {case['targetOn']}"))
    lines.append(Line(scale.day(case["dueOn"]), "deadline", f"deadline {case['dueOn']}"))
    lines.append(Line(scale.x(_midnight(today) + dt.timedelta(hours=12)), "today", "today"))
    return lines


class _Scale:
    def __init__(self, start: dt.datetime, end: dt.datetime) -> None:
        self.start, self.end = start, end
        self.seconds = max((end - start).total_seconds(), 1.0)

    def x(self, at: dt.datetime) -> float:
        share = (at - self.start).total_seconds() / self.seconds
        return round(LABELS + min(max(share, 0.0), 1.0) * (WIDTH - LABELS - RIGHT), 1)

    def day(self, iso_date: str) -> float:
        """The end of that day: a deadline is met by answering on the day itself."""
        return self.x(_midnight(dt.date.fromisoformat(iso_date)) + dt.timedelta(days=1))

    def ticks(self) -> list[tuple[float, str]]:
        days = (self.end - self.start).days
        step = next((s for s in (1, 2, 7, 14, 30, 61, 91) if days / s <= 8), 182)
        count = days // step + 1
        return [
            (
                self.x(self.start + dt.timedelta(days=i * step)),
                (self.start + dt.timedelta(days=i * step)).strftime("%d %b"),
            )
            for i in range(count)
        ]


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _time(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
