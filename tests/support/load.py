"""Load on the callback endpoint: a pre-signed corpus, direct registration, a fast loopback client.

Used by the fault-injection suite (``tests/faults/``) and ``bench/callback_bench.py``.

* ``register_requests`` stores requests straight into the database through
  ``storage.registry.register`` (signature keys sealed with ``SecretBox``): thousands in
  seconds, where the admin API would take one HTTP round trip each.
* ``sign_callbacks`` builds each delivery's exact bytes up front (both signature schemes,
  a unique ``X-Request-Id`` the service records in ``callbacks.http_request_id``), so
  signing never competes with the server for the CPU while it is being measured.
* ``fire`` sends them with asyncio over raw sockets, ``concurrency`` at a time, one
  connection per request (as separate deliveries arrive), and answers with one ``Answer``
  per delivery: the status, or the error that stood in its way.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from storage import registry
from storage.crypto import SecretBox
from storage.db import Database
from verification.testing import sign_hmac, sign_jwt

T = TypeVar("T")

CALLBACK_PATH = "/webhooks/messagebird/personal-data"
DELETE_KIND = "KIND_USER_DELETE"
GET_KIND = "KIND_PERSONAL_GET"


@dataclass(frozen=True)
class RawRequest:
    """One HTTP request, ready to send: its bytes and what it is about."""

    request_id: str
    http_id: str
    raw: bytes


@dataclass
class Answer:
    """What one delivery got: ``status`` (None when no answer came) or ``error``, and timings."""

    delivery: RawRequest
    status: int | None
    body: bytes = b""
    error: str | None = None
    started: float = 0.0
    seconds: float = 0.0

    @property
    def verdict(self) -> str | None:
        """The endpoint's ``status`` field on a 200 (accepted or duplicate)."""
        if self.status != 200:
            return None
        return json.loads(self.body).get("status")

    @property
    def retryable(self) -> bool:
        """What a sender retries: no answer at all, or a 5xx."""
        return self.status is None or self.status >= 500


def register_requests(
    database_url: str, *, secret_key: str, signature_key: str, kinds: dict[str, str], batch: int = 1000
) -> None:
    """Register ``{request id: kind}`` as MessageBird requests in state ``sent``."""
    box = SecretBox([secret_key])
    sealed = box.seal(signature_key)
    database = Database(database_url)
    try:
        items = iter(kinds.items())
        while chunk := list(itertools.islice(items, batch)):
            with database.transaction() as session:
                registry.register_many(
                    session,
                    [
                        registry.NewRequest(rid, registry.MESSAGEBIRD, kind, signature_key_sealed=sealed)
                        for rid, kind in chunk
                    ],
                )
    finally:
        database.dispose()


def callback_json(request_id: str, kind: str, data: str | None = None) -> bytes:
    document = {"requestId": request_id, "requestKind": kind, "result": "Processed"}
    if data is not None:
        document["data"] = data
    return json.dumps(document).encode()


def http_request(
    method: str, path: str, *, host: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    """The bytes of one HTTP/1.1 request that asks the server to close the connection after it."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class CallbackSigner:
    """Signs callbacks for one public URL with MessageBird's two schemes."""

    public_url: str
    signing_key: str
    signature_key: str
    host: str = "127.0.0.1"
    _serial: itertools.count = field(default_factory=itertools.count)

    @property
    def url(self) -> str:
        return self.public_url + CALLBACK_PATH

    def sign(self, request_id: str, body: bytes, now: float | None = None) -> RawRequest:
        """A freshly signed delivery (a new ``jti``), as MessageBird signs every attempt."""
        now = time.time() if now is None else now
        http_id = f"ld-{next(self._serial)}-{uuid.uuid4().hex[:8]}"
        headers = {
            "Content-Type": "application/json",
            "X-Request-Id": http_id,
            "MessageBird-Signature-JWT": sign_jwt(self.signing_key, self.url, body, now),
            "X-MessageBird-Signature": sign_hmac(self.signature_key, body, int(now)),
        }
        return RawRequest(
            request_id, http_id, http_request("POST", CALLBACK_PATH, host=self.host, headers=headers, body=body)
        )

    def resign(self, delivery: RawRequest) -> RawRequest:
        """The same callback signed again, for a sender's retry."""
        return self.sign(delivery.request_id, delivery.raw.split(b"\r\n\r\n", 1)[1])


def sign_callbacks(
    signer: CallbackSigner, kinds: dict[str, str], *, data: dict[str, str] | None = None
) -> list[RawRequest]:
    """One signed delivery per request id, with its archive URL from ``data`` where given."""
    data = data or {}
    return [signer.sign(rid, callback_json(rid, kind, data.get(rid))) for rid, kind in kinds.items()]


def get_request(path: str, host: str = "127.0.0.1") -> RawRequest:
    return RawRequest("", f"get-{uuid.uuid4().hex[:8]}", http_request("GET", path, host=host))


def fire(
    address: tuple[str, int],
    deliveries: Sequence[RawRequest],
    *,
    concurrency: int,
    timeout: float = 15,
    on_answer: Callable[[int], object] | None = None,
) -> list[Answer]:
    """Send every delivery, ``concurrency`` at a time; the answers in the deliveries' order.

    ``on_answer(count)``, when given, is called after each answer with the number answered so far
    (a fault injector paced by the load's progress, whatever the machine's speed)."""
    return run_apart(_fire(address, deliveries, concurrency, timeout, on_answer))


def run_apart(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, in a thread of its own when the calling thread runs an event loop already (Playwright's sync
    API leaves one running in a test process once a browser test has run there), where ``asyncio.run`` refuses."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="load") as runner:
        return runner.submit(asyncio.run, coroutine).result()


def with_header(delivery: RawRequest, name: str, value: str) -> RawRequest:
    """The same request with one more header (after the request line)."""
    line, rest = delivery.raw.split(b"\r\n", 1)
    return RawRequest(
        delivery.request_id, delivery.http_id, line + f"\r\n{name}: {value}".encode("latin-1") + b"\r\n" + rest
    )


async def _fire(
    address: tuple[str, int],
    deliveries: Sequence[RawRequest],
    concurrency: int,
    timeout: float,
    on_answer: Callable[[int], object] | None = None,
) -> list[Answer]:
    answers: list[Answer | None] = [None] * len(deliveries)
    indexes = iter(range(len(deliveries)))
    answered = itertools.count(1)

    async def lane() -> None:
        for index in indexes:
            answers[index] = await send(address, deliveries[index], timeout)
            if on_answer is not None:
                on_answer(next(answered))

    await asyncio.gather(*(lane() for _ in range(max(1, concurrency))))
    return [answer for answer in answers if answer is not None]


async def send(address: tuple[str, int], delivery: RawRequest, timeout: float) -> Answer:
    """One request on its own connection; never raises for a network failure."""
    started = time.perf_counter()
    try:
        status, body = await asyncio.wait_for(_exchange(address, delivery.raw), timeout)
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as error:
        return Answer(
            delivery, None, error=type(error).__name__, started=started, seconds=time.perf_counter() - started
        )
    return Answer(delivery, status, body, started=started, seconds=time.perf_counter() - started)


async def _exchange(address: tuple[str, int], raw: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(raw)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status, length = _parse_head(head)
        body = await reader.readexactly(length) if length is not None else await reader.read()
        return status, body
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _parse_head(head: bytes) -> tuple[int, int | None]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return status, int(value.strip())
    return status, None


def deliver_until_answered(
    address: tuple[str, int],
    signer: CallbackSigner,
    deliveries: Iterable[RawRequest],
    *,
    concurrency: int,
    rounds: int = 6,
    pause: float = 0.5,
) -> tuple[list[Answer], list[Answer]]:
    """Send, then re-sign and resend what got no answer or a 5xx, as MessageBird retries.

    Returns every answer of every round, and the final answer per request id.
    """
    pending = list(deliveries)
    every: list[Answer] = []
    final: dict[str, Answer] = {}
    for attempt in range(rounds):
        answers = fire(address, pending, concurrency=concurrency)
        every += answers
        final.update((answer.delivery.request_id, answer) for answer in answers)
        pending = [signer.resign(answer.delivery) for answer in answers if answer.retryable]
        if not pending:
            break
        time.sleep(pause * (attempt + 1))
    return every, list(final.values())
