"""How facts read on a page: the days-left badge, states in words, sizes and ages.

Pure functions of the API's JSON (a ``CaseSummary`` or ``RequestRecord`` as
``as_json`` writes it), so the console shows exactly what the API answers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Tones the stylesheet colours: red (late or nearly), amber (attention), green (done), grey (nothing running).
DANGER, WARNING, GOOD, NEUTRAL, INFO = "danger", "warning", "good", "neutral", "info"

STATE_TONES = {
    "open": INFO,
    "waiting_on_processors": INFO,
    "ready": GOOD,
    "needs_attention": WARNING,
    "closed": NEUTRAL,
    "sending": INFO,
    "sent": INFO,
    "callback_received": INFO,
    "archiving": INFO,
    "completed": GOOD,
    "failed": DANGER,
}
PROVIDERS = {"messagebird": "MessageBird", "voodoosms": "VoodooSMS"}


@dataclass(frozen=True)
class Badge:
    text: str
    tone: str
    #: For people using a screen reader: the same in a sentence.
    label: str


def deadline_badge(case: dict[str, Any]) -> Badge:
    """The days-left badge of a case: "overdue" in words when it is; red when overdue or under a quarter left."""
    if case["respondedOn"]:
        in_time = case["answeredInTime"]
        return Badge(
            "answered" if in_time else "answered late",
            NEUTRAL if in_time else WARNING,
            f"answered on {case['respondedOn']}" + ("" if in_time else ", after the deadline"),
        )
    if case["paused"]:
        return Badge("clock stopped", NEUTRAL, f"clock stopped since {case['pausedSince']}")
    left = case["daysLeft"]
    if case["overdue"]:
        late = -left
        return Badge(f"overdue {late} {_days(late)}", DANGER, f"overdue by {late} {_days(late)}")
    text = "due today" if left == 0 else f"{left} {_days(left)} left"
    return Badge(text, DANGER if _under_a_quarter_left(case) else INFO, f"{text}, due {case['dueOn']}")


def _under_a_quarter_left(case: dict[str, Any]) -> bool:
    started = dt.date.fromisoformat(case["clockStartsOn"] or case["receivedOn"])
    total = (dt.date.fromisoformat(case["dueOn"]) - started).days
    return case["daysLeft"] * 4 < total


def _days(count: int) -> str:
    return "day" if abs(count) == 1 else "days"


def case_history(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The case's history (``GET /api/cases/<id>``), with each of its archives' deletions, oldest first.

    A deletion is recorded on its request (the receipt and an ``archive_deleted`` event);
    the case's history shows it too, named by its receipt: who (the operator or the
    retention run), under which policy, and which request's archive it was.
    """
    deletions = [
        {
            "at": receipt["deletedAt"],
            "actor": receipt["deletedBy"],
            "kind": "archive_deleted",
            "changed": "archive",
            "from": "stored",
            "to": "deleted",
            "reason": receipt["policy"],
            "requestId": request["id"],
        }
        for request in case["requests"]
        if (receipt := (request.get("archive") or {}).get("deletionReceipt"))
    ]
    return sorted([*case["history"], *deletions], key=lambda entry: _instant(entry["at"]))


def _instant(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))


def words(state: str | None) -> str:
    """``waiting_on_processors`` → ``waiting on processors``."""
    return (state or "").replace("_", " ")


def tone_of(state: str | None) -> str:
    return STATE_TONES.get(state or "", NEUTRAL)


def provider_name(provider: str | None) -> str:
    return PROVIDERS.get(provider or "", provider or "")


def size(count: int | None) -> str:
    """Bytes for people: ``1.4 MiB (1,468,006 bytes)``."""
    if count is None:
        return ""
    value, unit = float(count), "bytes"
    for next_unit in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, next_unit
    shown = f"{count:,} bytes" if unit == "bytes" else f"{value:.1f} {unit} ({count:,} bytes)"
    return shown


def age(seconds: float | None) -> str:
    """``3 min``, ``2 h 5 min``, ``4 days``; an empty string for none."""
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{seconds // 86400} {_days(seconds // 86400)}"


def when(iso: str | None) -> str:
    """An API timestamp (``2026-01-02T10:11:12.123456Z``) as ``2026-01-02 10:11:12 UTC``."""
    if not iso:
        return ""
    return iso.replace("T", " ")[:19] + " UTC"


FILTERS: dict[str, Callable[..., str]] = {
    "words": words,
    "tone": tone_of,
    "provider": provider_name,
    "size": size,
    "age": age,
    "when": when,
}
