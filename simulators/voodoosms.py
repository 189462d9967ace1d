"""VoodooSMS's GDPR Forget API, simulated as its docs describe it.

- ``POST /gdpr/forget`` (``Authorization: Bearer <key>``, JSON ``{"number": 44..., "blacklist"?}``):
  ``{"status": "SUCCESS", "msg": "Your request has been accepted", "reference", "created_at"}``,
  or error 76 "Cannot use this number" for a number that does not begin with 44 or is
  one of the ``unaffiliated`` knob's numbers.
- ``/gdpr/status`` with ``date`` (UNIX or ISO 8601) and ``reference``, both as the docs
  show it (``POST`` with a JSON body) and as they name it (``GET`` with a query string):
  "...pending removal" until ``removal_delay`` seconds after the request, then
  "The number has been removed"; error 77 "No records found" when nothing matches, and
  77 or 78 "Request failed" on demand (``outcome``).

Knobs (``POST /_simulator/knobs`` or flags): ``removal_delay``, ``outcome`` (removed,
pending, failed, no_records), ``status_methods`` (``"GET"`` makes ``POST`` a 405),
``rate_limit`` and ``server_errors`` (the next N calls), ``unaffiliated``,
``stall_after_forget`` (accept the forget, answer only that many seconds later).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import secrets
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from flask import Flask, Response, jsonify, request

from simulators.serving import Server, SimulatorBase

DEFAULT_API_KEY = "simulated-voodoosms-api-key"
ACCEPTED = "Your request has been accepted"
PENDING = "Your request has been accepted and is pending removal"
REMOVED = "The number has been removed"


@dataclass
class Knobs:
    removal_delay: float = 1.0  #: seconds from the request until the number counts as removed
    outcome: str = "removed"  #: removed | pending (never removed) | failed (78) | no_records (77)
    status_methods: str = "POST,GET"  #: the methods /gdpr/status answers; others get 405
    rate_limit: int = 0  #: the next N calls answer 429
    retry_after: int = 1
    server_errors: int = 0  #: the next N calls answer 500
    unaffiliated: str = ""  #: comma-separated numbers answered with error 76
    stall_after_forget: float = 0.0  #: seconds between accepting a forget and answering (past the client's timeout)

    _CHOICES: ClassVar[Mapping[str, tuple[str, ...]]] = {"outcome": ("removed", "pending", "failed", "no_records")}

    def update(self, changes: Mapping[str, Any]) -> None:
        names = {f.name for f in dataclasses.fields(self)}
        for name, value in changes.items():
            if name not in names:
                raise ValueError(f"unknown knob {name!r}")
            value = type(getattr(self, name))(value)
            if name in self._CHOICES and value not in self._CHOICES[name]:
                raise ValueError(f"{name} must be one of {self._CHOICES[name]}")
            setattr(self, name, value)


@dataclass
class ForgetRequest:
    reference: str
    number: str = dataclasses.field(repr=False)
    blacklist: bool | None
    created_at: dt.datetime
    plan: Knobs
    status_checks: int = 0


class VoodooSmsSimulator(SimulatorBase):
    """The simulated GDPR Forget API; ``app`` is the Flask app to serve."""

    knobs_type = Knobs

    def __init__(self, *, api_key: str = DEFAULT_API_KEY, knobs: Knobs | None = None) -> None:
        super().__init__(knobs)
        self.api_key = api_key
        self.requests: dict[str, ForgetRequest] = {}
        self.app = self._build_app()

    def _build_app(self) -> Flask:
        app = Flask("simulators.voodoosms")
        self.add_simulator_routes(app)
        app.add_url_rule("/gdpr/forget", view_func=self._forget, methods=["POST"])
        app.add_url_rule("/gdpr/status", view_func=self._status, methods=["GET", "POST"])
        return app

    def _gate(self) -> tuple[Response, int] | None:
        knobs = self._take_knobs()
        if knobs.rate_limit > 0:
            response, status = error(429, None, "Too many requests")
            response.headers["Retry-After"] = str(knobs.retry_after)
            return response, status
        if knobs.server_errors > 0:
            return error(500, None, "Internal server error")
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not secrets.compare_digest(key.strip().encode(), self.api_key.encode()):
            return error(401, None, "Unauthorised")
        return None

    def _forget(self) -> tuple[Response, int] | Response:
        refused = self._gate()
        if refused is not None:
            return refused
        body = request.get_json(force=True, silent=True)
        document: dict[str, Any] = body if isinstance(body, dict) else {}
        number = str(document.get("number", ""))
        with self._lock:
            unaffiliated = {n.strip() for n in self.knobs.unaffiliated.split(",") if n.strip()}
            if not number.isdigit() or not number.startswith("44") or number in unaffiliated:
                return error(400, 76, "Cannot use this number")
            created = ForgetRequest(
                _reference(),
                number,
                document.get("blacklist"),
                dt.datetime.now(dt.UTC),
                dataclasses.replace(self.knobs),
            )
            self.requests[created.reference] = created
        time.sleep(created.plan.stall_after_forget)
        return jsonify(
            status="SUCCESS", msg=ACCEPTED, reference=created.reference, created_at=int(created.created_at.timestamp())
        )

    def _status(self) -> tuple[Response, int] | Response:
        with self._lock:
            allowed = {m.strip().upper() for m in self.knobs.status_methods.split(",")}
        if request.method not in allowed:
            return error(405, None, "Method not allowed")
        refused = self._gate()
        if refused is not None:
            return refused
        fields = request.args if request.method == "GET" else (request.get_json(force=True, silent=True) or {})
        since = parse_date(fields.get("date"))
        if since is None:
            return error(400, None, "date is required: a UNIX timestamp or an ISO 8601 date")
        found = self._find(since, fields.get("reference"))
        if found is None or found.plan.outcome == "no_records":
            return error(404, 77, "No records found")
        if found.plan.outcome == "failed":
            return error(400, 78, "Request failed")
        return jsonify(
            status="SUCCESS",
            msg=self._message(found),
            reference=found.reference,
            created_at=int(found.created_at.timestamp()),
        )

    def _find(self, since: dt.datetime, reference: Any) -> ForgetRequest | None:
        """The newest request submitted on or after the day of ``since`` (and with ``reference``, if given)."""
        day = since.replace(hour=0, minute=0, second=0, microsecond=0)
        with self._lock:
            matches = [
                r for r in self.requests.values() if r.created_at >= day and (not reference or r.reference == reference)
            ]
            if not matches:
                return None
            found = max(matches, key=lambda r: r.created_at)
            found.status_checks += 1
            return found

    @staticmethod
    def _message(found: ForgetRequest) -> str:
        elapsed = (dt.datetime.now(dt.UTC) - found.created_at).total_seconds()
        return REMOVED if found.plan.outcome == "removed" and elapsed >= found.plan.removal_delay else PENDING

    def _show(self) -> Response:
        with self._lock:
            shown = [
                {
                    "reference": r.reference,
                    "blacklist": r.blacklist,
                    "statusChecks": r.status_checks,
                    "createdAt": int(r.created_at.timestamp()),
                }
                for r in self.requests.values()
            ]
        return jsonify(requests=shown, apiCalls=self.api_calls)


def error(status: int, code: int | None, message: str) -> tuple[Response, int]:
    """An answer in the documented error shape, ``{"error": {"code", "msg"}}``."""
    detail: dict[str, Any] = {"msg": message}
    if code is not None:
        detail["code"] = code
    return jsonify(error=detail), status


def parse_date(value: Any) -> dt.datetime | None:
    """A UNIX timestamp or an ISO 8601 string (the simulator does not read "last friday of march")."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    if value.strip().isdigit():
        return dt.datetime.fromtimestamp(int(value), dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _reference() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(15))


def start(simulator: VoodooSmsSimulator, *, host: str = "127.0.0.1", port: int = 0) -> Server:
    """Serve ``simulator`` over plain HTTP in a background thread."""
    server = Server(simulator.app, host=host, port=port)
    simulator.base_url = server.url
    return server.start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.voodoosms", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--removal-delay", type=float, default=1.0)
    parser.add_argument("--outcome", choices=Knobs._CHOICES["outcome"], default="removed")
    parser.add_argument("--status-methods", default="POST,GET")
    parser.add_argument("--rate-limit", type=int, default=0)
    parser.add_argument("--server-errors", type=int, default=0)
    parser.add_argument("--unaffiliated", default="", help="comma-separated numbers refused with error 76")
    parser.add_argument(
        "--stall-after-forget",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="accept the forget, then wait this long before answering",
    )
    arguments = parser.parse_args(argv)
    knobs = Knobs(
        removal_delay=arguments.removal_delay,
        outcome=arguments.outcome,
        status_methods=arguments.status_methods,
        rate_limit=arguments.rate_limit,
        server_errors=arguments.server_errors,
        unaffiliated=arguments.unaffiliated,
        stall_after_forget=arguments.stall_after_forget,
    )
    server = Server(
        VoodooSmsSimulator(api_key=arguments.api_key, knobs=knobs).app, host=arguments.host, port=arguments.port
    )
    print(json.dumps({"url": server.url}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
