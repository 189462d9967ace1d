"""MessageBird's Personal Data API, simulated as its docs describe it.

- ``POST /personaldata/requests``: ``Authorization: AccessKey <key>``; the documented
  errors (401 code 2, 422 codes 9 and 10); a 201 with the complete request object, a
  fresh ``id`` and a base64 ``signatureKey``.
- ``GET /personaldata/requests``: ``{"requests": [...]}``, the complete request objects
  (``id``, ``kind``, ``field``, ``value``, ``reason``, ``signatureKey``, ``createdAt``...)
  with each request's state (``STATE_SENT``, ``STATE_DONE``, ``STATE_FAILED``,
  ``STATE_CALLBACK_OK``, ``STATE_CALLBACK_FAIL``) and, once done, the ``dataArchiveUrl``
  of a personal GET.
- Some moments after creation (``callback_delay``) the request is done and a callback
  goes to the registered URL, signed with BOTH schemes: ``MessageBird-Signature-JWT``
  with the account signing key and ``X-MessageBird-Signature`` with the request's
  ``signatureKey`` (read as base64). A KIND_PERSONAL_GET callback's ``data`` is the URL
  of a ZIP this server serves (HTTPS with a trustme CA when started with ``ca_file``).

Knobs (``Knobs``; ``POST /_simulator/knobs`` or command-line flags) make it misbehave:
a late callback, none (``callback="none"``: the listing says STATE_DONE), a failed one
(``"fail"``: STATE_CALLBACK_FAIL), a bad signature, 429 or 500 answers, a slow API, a
request created but answered only after ``stall_after_create`` seconds (past the
client's timeout), archive URLs that expire (``archive_gone``: 410, and the listing
names a new URL), an oversize archive, a failed request, requests held unfinished until
released (``hold``); each request keeps the knobs it was created under. ``GET /_simulator/requests``
shows what happened, ``POST /_simulator/release`` and ``POST /_simulator/reset`` release and forget.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import hashlib
import io
import json
import secrets
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import requests
from flask import Flask, Response, jsonify, request
from jwt.utils import base64url_encode

from simulators.serving import Server, SimulatorBase
from verification.hmac_signature import HEADER as HMAC_HEADER
from verification.hmac_signature import compute_v1, signing_mac
from verification.jwt_signature import HEADER as JWT_HEADER
from verification.jwt_signature import HMAC_ALGORITHMS, ISSUER, payload_hash, url_hash

KINDS = ("KIND_PERSONAL_GET", "KIND_PERSONAL_DELETE", "KIND_USER_GET", "KIND_USER_DELETE")
PERSONAL_KINDS = ("KIND_PERSONAL_GET", "KIND_PERSONAL_DELETE")
FIELDS = ("phone_number", "email", "ipv4", "ipv6", "address", "name", "chat api contact ID")
DEFAULT_ACCESS_KEY = "test_simulated_access_key"
DEFAULT_SIGNING_KEY = "simulator-signing-key-not-a-secret"
JWT_TTL = 300


@dataclass
class Knobs:
    callback_delay: float = 0.5  #: seconds from creation to "done" and the callback
    callback: str = "send"  #: send | none (stays STATE_DONE) | fail (STATE_CALLBACK_FAIL, nothing sent)
    bad_signature: str = ""  #: "" | jwt | hmac | both: sign with a wrong key
    outcome: str = "done"  #: done | failed (STATE_FAILED, no callback)
    rate_limit: int = 0  #: the next N API calls answer 429
    retry_after: int = 1  #: the Retry-After of those 429s
    server_errors: int = 0  #: the next N API calls answer 500
    api_delay: float = 0.0  #: seconds before each API answer
    oversize_archive: int = 0  #: serve archives of this many bytes instead of a small ZIP
    callback_attempts: int = 3  #: deliveries tried before STATE_CALLBACK_FAIL
    stall_after_create: float = 0.0  #: seconds between creating a request and answering (past the client's timeout)
    archive_gone: int = 0  #: the next N archive downloads answer 410 and re-issue that archive's URL (it expired)
    hold: bool = False  #: requests stay STATE_SENT until ``release_held()``, then finish ``callback_delay`` later

    _CHOICES: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "callback": ("send", "none", "fail"),
        "bad_signature": ("", "jwt", "hmac", "both"),
        "outcome": ("done", "failed"),
    }

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply ``changes``; ``ValueError`` for an unknown knob or a value of the wrong kind."""
        types = {f.name: f.type for f in dataclasses.fields(self)}
        for name, value in changes.items():
            if name not in types:
                raise ValueError(f"unknown knob {name!r}")
            current = getattr(self, name)
            if isinstance(current, bool) and not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
            value = type(current)(value)
            if name in self._CHOICES and value not in self._CHOICES[name]:
                raise ValueError(f"{name} must be one of {self._CHOICES[name]}")
            setattr(self, name, value)


@dataclass
class SimulatedRequest:
    id: str
    kind: str
    field: str | None
    value: str | None = dataclasses.field(repr=False)
    reason: str | None
    callback_url: str
    signature_key: str = dataclasses.field(repr=False)
    plan: Knobs
    state: str = "STATE_SENT"
    created_at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC))
    updated_at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC))
    archive_token: str | None = None
    archive: bytes | None = dataclasses.field(default=None, repr=False)
    deliveries: list[int] = dataclasses.field(default_factory=list)

    def resource(self, base_url: str) -> dict[str, Any]:
        """The request object as the API shows it."""
        document: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "field": self.field,
            "value": self.value,
            "reason": self.reason,
            "callback": {"http": self.callback_url},
            "state": self.state,
            "signatureKey": self.signature_key,
            "createdAt": rfc3339(self.created_at),
            "updatedAt": rfc3339(self.updated_at),
        }
        if self.archive_token and self.state != "STATE_SENT":
            document["dataArchiveUrl"] = f"{base_url}/archives/{self.archive_token}.zip"
        return document


class MessageBirdSimulator(SimulatorBase):
    """The simulated API, its callbacks and its archives; ``app`` is the Flask app to serve."""

    knobs_type = Knobs

    def __init__(
        self,
        *,
        access_key: str = DEFAULT_ACCESS_KEY,
        signing_key: str = DEFAULT_SIGNING_KEY,
        knobs: Knobs | None = None,
    ) -> None:
        super().__init__(knobs)
        self.access_key = access_key
        self.signing_key = signing_key
        self.requests: dict[str, SimulatedRequest] = {}
        self._timers: list[threading.Timer] = []
        self._held: list[str] = []
        self._http = requests.Session()
        self._http.trust_env = False  # callbacks go to the receiver on loopback, never through a proxy
        self.app = self._build_app()

    # -- the API ---------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask("simulators.messagebird")
        self.add_simulator_routes(app)
        app.add_url_rule("/personaldata/requests", view_func=self._create, methods=["POST"])
        app.add_url_rule("/personaldata/requests", view_func=self._list, methods=["GET"], endpoint="list")
        app.add_url_rule("/archives/<token>.zip", view_func=self._archive, methods=["GET"])
        app.add_url_rule(
            "/_simulator/release",
            view_func=lambda: jsonify(released=self.release_held()),
            methods=["POST"],
            endpoint="release",
        )
        return app

    def _gate(self) -> tuple[Response, int] | None:
        """The misbehaviour and the authentication every API call goes through first."""
        knobs = self._take_knobs()
        time.sleep(knobs.api_delay)
        if knobs.rate_limit > 0:
            response, status = error(429, None, "Rate limited. Reduce the number of requests")
            response.headers["Retry-After"] = str(knobs.retry_after)
            return response, status
        if knobs.server_errors > 0:
            return error(500, 99, "Internal error")
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme != "AccessKey" or not secrets.compare_digest(key.strip().encode(), self.access_key.encode()):
            return error(401, 2, "Request not allowed (incorrect access_key)", "access_key")
        return None

    def _create(self) -> tuple[Response, int]:
        refused = self._gate()
        if refused is not None:
            return refused
        document = request.get_json(silent=True)
        problem = validate(document)
        if problem is not None:
            return problem
        assert isinstance(document, dict)  # validate refused anything else
        created = self._register(document)
        time.sleep(created.plan.stall_after_create)
        return jsonify(created.resource(self.base_url)), 201

    def _register(self, document: Mapping[str, Any]) -> SimulatedRequest:
        kind = document.get("kind") or "KIND_PERSONAL_GET"
        personal = kind in PERSONAL_KINDS
        with self._lock:
            created = SimulatedRequest(
                id=uuid.uuid4().hex,
                kind=kind,
                field=document.get("field") if personal else None,
                value=document.get("value") if personal else None,
                reason=document.get("reason"),
                callback_url=document["callback"]["http"],
                signature_key=base64.b64encode(secrets.token_bytes(32)).decode(),
                plan=dataclasses.replace(self.knobs),
            )
            self.requests[created.id] = created
            if created.plan.hold:
                self._held.append(created.id)
                return created
        self._finish_later(created)
        return created

    def release_held(self) -> int:
        """Let the requests created under ``hold`` finish, each ``callback_delay`` from now; how many."""
        with self._lock:
            released = [self.requests[request_id] for request_id in self._held if request_id in self.requests]
            self._held.clear()
        for found in released:
            self._finish_later(found)
        return len(released)

    def _finish_later(self, found: SimulatedRequest) -> None:
        timer = threading.Timer(found.plan.callback_delay, self._finish, args=(found.id,))
        timer.daemon = True
        with self._lock:
            self._timers.append(timer)
        timer.start()

    def _list(self) -> tuple[Response, int] | Response:
        refused = self._gate()
        if refused is not None:
            return refused
        with self._lock:
            listed = [r.resource(self.base_url) for r in self.requests.values()]
        return jsonify(requests=listed)

    def _archive(self, token: str) -> Response:
        with self._lock:
            found = next((r for r in self.requests.values() if r.archive_token == token), None)
            if found is not None and self.knobs.archive_gone > 0:
                self.knobs.archive_gone -= 1
                found.archive_token = secrets.token_urlsafe(16)  # the listing names the new URL from now on
                return Response(status=410)
        if found is None or found.archive is None:
            return Response(status=404)
        if found.plan.oversize_archive:
            size = found.plan.oversize_archive
            return Response(_zeros(size), mimetype="application/zip", headers={"Content-Length": str(size)})
        return Response(found.archive, mimetype="application/zip")

    def add_request(
        self, request_id: str, kind: str, *, signature_key: str, state: str, callback_url: str = ""
    ) -> SimulatedRequest:
        """A request created on this account by other means (another system, a lost answer), in ``state``;
        a personal GET gets its archive (listed once it is done). Nothing is called back."""
        added = SimulatedRequest(
            id=request_id,
            kind=kind,
            field=None,
            value=None,
            reason=None,
            callback_url=callback_url,
            signature_key=signature_key,
            plan=dataclasses.replace(self.knobs, callback="none"),
            state=state,
        )
        if kind == "KIND_PERSONAL_GET":  # listed once the request is no longer STATE_SENT
            added.archive_token, added.archive = secrets.token_urlsafe(16), sample_archive(added)
        with self._lock:
            self.requests[request_id] = added
        return added

    def set_state(self, request_id: str, state: str) -> None:
        """Move a request to ``state``, as processing it would (nothing is called back)."""
        with self._lock:
            self._set_state(self.requests[request_id], state)

    # -- the request's life after creation --------------------------------------------

    def _finish(self, request_id: str) -> None:
        """Processing is over: STATE_DONE (with an archive for a personal GET) or STATE_FAILED; then the callback."""
        with self._lock:
            found = self.requests.get(request_id)
            if found is None:
                return
            if found.plan.outcome == "failed":
                self._set_state(found, "STATE_FAILED")
                return
            if found.kind == "KIND_PERSONAL_GET":
                found.archive_token, found.archive = secrets.token_urlsafe(16), sample_archive(found)
            self._set_state(found, "STATE_DONE")
            mode = found.plan.callback
            if mode == "fail":
                self._set_state(found, "STATE_CALLBACK_FAIL")
        if mode == "send":
            self._deliver(found)

    def _deliver(self, found: SimulatedRequest) -> None:
        body = self._callback_body(found)
        for attempt in range(found.plan.callback_attempts):
            status = self._post_callback(found, body)
            with self._lock:
                found.deliveries.append(status)
                if status == 200:
                    self._set_state(found, "STATE_CALLBACK_OK")
                    return
            time.sleep(0.2 * (attempt + 1))
        with self._lock:
            self._set_state(found, "STATE_CALLBACK_FAIL")

    def _callback_body(self, found: SimulatedRequest) -> bytes:
        document: dict[str, Any] = {"requestId": found.id, "requestKind": found.kind, "result": "Processed"}
        if found.archive_token:
            document["data"] = f"{self.base_url}/archives/{found.archive_token}.zip"
        return json.dumps(document).encode()

    def _post_callback(self, found: SimulatedRequest, body: bytes) -> int:
        headers = {"Content-Type": "application/json", **self.signature_headers(found, body)}
        try:
            return self._http.post(found.callback_url, data=body, headers=headers, timeout=10).status_code
        except requests.RequestException:
            return 0

    def signature_headers(self, found: SimulatedRequest, body: bytes) -> dict[str, str]:
        """Both documented signatures, each made with a wrong key when the request's knobs say so."""
        broken = found.plan.bad_signature
        signing_key = secrets.token_urlsafe(32) if broken in ("jwt", "both") else self.signing_key
        signature_key = (
            base64.b64encode(secrets.token_bytes(32)).decode() if broken in ("hmac", "both") else found.signature_key
        )
        now = int(time.time())
        return {
            JWT_HEADER: sign_jwt(signing_key, found.callback_url, body, now),
            HMAC_HEADER: f"t={now},v1={compute_v1(signing_mac(signature_key, 'base64'), now, body)}",
        }

    @staticmethod
    def _set_state(found: SimulatedRequest, state: str) -> None:
        found.state, found.updated_at = state, dt.datetime.now(dt.UTC)

    # -- the simulator's own endpoints --------------------------------------------------

    def _show(self) -> Response:
        with self._lock:
            shown = [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "state": r.state,
                    "deliveries": list(r.deliveries),
                    "archiveBytes": len(r.archive) if r.archive else None,
                    "archiveSha256": hashlib.sha256(r.archive).hexdigest() if r.archive else None,
                }
                for r in self.requests.values()
            ]
        return jsonify(requests=shown, apiCalls=self.api_calls)

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._http.close()


def validate(document: Any) -> tuple[Response, int] | None:
    """The documented 422 for a request the API would refuse, or None."""
    if not isinstance(document, dict):
        return error(422, 21, "Bad request")
    kind = document.get("kind") or "KIND_PERSONAL_GET"
    if kind not in KINDS:
        return error(422, 10, "kind is invalid", "kind")
    callback = document.get("callback")
    if not isinstance(callback, dict) or not isinstance(callback.get("http"), str) or not callback["http"]:
        return error(422, 9, "callback is required", "callback")
    if kind in PERSONAL_KINDS:
        for name in ("field", "value"):
            if not isinstance(document.get(name), str) or not document[name]:
                return error(422, 9, f"{name} is required", name)
        if document["field"] not in FIELDS:
            return error(422, 10, "field is invalid", "field")
    return None


def error(status: int, code: int | None, description: str, parameter: str | None = None) -> tuple[Response, int]:
    """An answer in the documented error shape."""
    detail: dict[str, Any] = {"description": description}
    if code is not None:
        detail["code"] = code
    if parameter is not None:
        detail["parameter"] = parameter
    return jsonify(errors=[detail]), status


def sign_jwt(key: str, url: str, body: bytes, now: int) -> str:
    """A ``MessageBird-Signature-JWT`` as the docs describe it (HS256, iss, nbf, exp, jti, url and payload hashes)."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "nbf": now,
        "exp": now + JWT_TTL,
        "jti": uuid.uuid4().hex,
        "url_hash": url_hash(url),
    }
    if body:
        claims["payload_hash"] = payload_hash(body)
    segments = [
        base64url_encode(json.dumps(part, separators=(",", ":")).encode())
        for part in ({"alg": "HS256", "typ": "JWT"}, claims)
    ]
    signing_input = b".".join(segments)
    signature = HMAC_ALGORITHMS["HS256"].sign(signing_input, key.encode())
    return (signing_input + b"." + base64url_encode(signature)).decode("ascii")


def sample_archive(found: SimulatedRequest) -> bytes:
    """A small ZIP of what the simulator "holds" about the subject (fixed timestamps: same input, same bytes)."""
    files = {
        "request.json": json.dumps({"requestId": found.id, "kind": found.kind, "field": found.field}).encode(),
        "messages.csv": b"id,direction,created_at,body\n"
        + b"".join(
            f"{n},outbound,2026-01-{n:02d}T10:00:00Z,Your code is {100000 + n}\n".encode() for n in range(1, 29)
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), content)
    return buffer.getvalue()


def _zeros(size: int) -> Iterator[bytes]:
    """``size`` bytes that begin like a ZIP and never end like one."""
    chunk = b"\0" * 65536
    yield b"PK\x03\x04"
    left = size - 4
    while left > 0:
        yield chunk[: min(left, len(chunk))]
        left -= len(chunk)


def rfc3339(moment: dt.datetime) -> str:
    """RFC 3339 with nanoseconds, as the API writes ``createdAt``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def start(simulator: MessageBirdSimulator, *, ca_file: Path, host: str = "127.0.0.1", port: int = 0) -> Server:
    """Serve ``simulator`` over HTTPS in a background thread; its CA certificate goes to ``ca_file``."""
    server = Server(simulator.app, host=host, port=port, ca_file=ca_file)
    simulator.base_url = server.url
    return server.start()


def argument_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m simulators.messagebird``."""
    parser = argparse.ArgumentParser(prog="python -m simulators.messagebird", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--access-key", default=DEFAULT_ACCESS_KEY)
    parser.add_argument("--signing-key", default=DEFAULT_SIGNING_KEY, help="the service's MESSAGEBIRD_SIGNING_KEY")
    parser.add_argument("--ca-file", type=Path, required=True, help="where to write the CA certificate (PEM)")
    parser.add_argument("--callback-delay", type=float, default=0.5, help="seconds until done and the callback")
    parser.add_argument("--callback", choices=("send", "none", "fail"), default="send")
    parser.add_argument("--bad-signature", choices=("", "jwt", "hmac", "both"), default="")
    parser.add_argument("--outcome", choices=("done", "failed"), default="done")
    parser.add_argument("--rate-limit", type=int, default=0, help="answer the next N API calls with 429")
    parser.add_argument("--server-errors", type=int, default=0, help="answer the next N API calls with 500")
    parser.add_argument("--api-delay", type=float, default=0.0)
    parser.add_argument("--oversize-archive", type=int, default=0, metavar="BYTES")
    parser.add_argument(
        "--stall-after-create",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="create the request, then wait this long before answering",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    arguments = argument_parser().parse_args(argv)
    knobs = Knobs(
        callback_delay=arguments.callback_delay,
        callback=arguments.callback,
        bad_signature=arguments.bad_signature,
        outcome=arguments.outcome,
        rate_limit=arguments.rate_limit,
        server_errors=arguments.server_errors,
        api_delay=arguments.api_delay,
        oversize_archive=arguments.oversize_archive,
        stall_after_create=arguments.stall_after_create,
    )
    simulator = MessageBirdSimulator(access_key=arguments.access_key, signing_key=arguments.signing_key, knobs=knobs)
    server = Server(simulator.app, host=arguments.host, port=arguments.port, ca_file=arguments.ca_file)
    simulator.base_url = server.url
    print(json.dumps({"url": server.url, "ca_bundle": str(arguments.ca_file)}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
