"""JSON over HTTPS to a provider API: timeouts, bounded answers, retries of 429 and 5xx.

``JsonTransport.call`` sends one request and returns the final ``Answer`` (status,
parsed JSON, ``Retry-After``). It retries, with exponential backoff and jitter, a 429
or a 5xx, and a connection that was never established; it waits what ``Retry-After``
asks for when the provider says so, but never more than ``RetryPolicy.max_wait``
seconds in all (the admin API waits on it). A read timeout is retried only for an
idempotent call: a POST that timed out may have been carried out.

Failures of the transport itself (timeout, no connection, unreadable JSON) raise
``ProviderError``; what a status means is for the client to say, through ``error_for``.
A failure after the request may have reached the provider, or a success answer that
cannot be read, is marked ``outcome_unknown``: the caller must find out from the
provider's own records whether it was carried out, never by sending it again.
Log events carry the provider, the method and the path, never a header or a body.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3.exceptions

from receiver.backoff import backoff_seconds
from receiver.observability.logs import get_logger
from receiver.providers.errors import ProviderError
from storage.clock import Clock

log = get_logger("receiver.providers")

USER_AGENT = "gdpr-callback-receiver/0.1"
MAX_ANSWER_BYTES = 8 * 1024 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    max_wait: float = 5.0  #: seconds of waiting between attempts, in all
    base_delay: float = 0.5


@dataclass(frozen=True)
class Answer:
    status: int
    document: Any  #: the parsed JSON body, or None when there was none
    retry_after: float | None = None


@dataclass
class JsonTransport:
    provider: str
    base_url: str
    headers: Mapping[str, str] = field(repr=False)
    timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep
    #: The service's clock, for a ``Retry-After`` given as an HTTP date.
    clock: Clock = field(default_factory=Clock)

    def call(self, method: str, path: str, *, json_body: Any = None, params: Mapping[str, Any] | None = None) -> Answer:
        """Send ``method path`` and return the final answer after any retries."""
        waited, attempt = 0.0, 0
        while True:
            attempt += 1
            answer, failure = self._attempt(method, path, json_body, params, attempt)
            delay = self._retry_delay(method, answer, failure, attempt, waited)
            if delay is None:
                if failure is not None:
                    raise failure.error
                assert answer is not None
                return answer
            log.warning(
                "provider.retrying",
                provider=self.provider,
                method=method,
                path=path,
                attempt=attempt,
                status=answer.status if answer else None,
                reason=failure.error.reason if failure else None,
                delay_s=round(delay, 2),
            )
            self.sleep(delay)
            waited += delay

    def _attempt(
        self, method: str, path: str, json_body: Any, params: Mapping[str, Any] | None, attempt: int
    ) -> tuple[Answer | None, _Failure | None]:
        started = time.perf_counter()
        try:
            answer = self._send(method, path, json_body, params)
        except _Failure as failure:
            log.warning(
                "provider.call_failed",
                provider=self.provider,
                method=method,
                path=path,
                attempt=attempt,
                reason=failure.error.reason,
                duration_ms=_ms(started),
            )
            return None, failure
        log.info(
            "provider.called",
            provider=self.provider,
            method=method,
            path=path,
            attempt=attempt,
            status=answer.status,
            duration_ms=_ms(started),
        )
        return answer, None

    def _send(self, method: str, path: str, json_body: Any, params: Mapping[str, Any] | None) -> Answer:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **self.headers}
        if json_body is not None:
            headers["Content-Type"] = "application/json"
        data = None if json_body is None else json.dumps(json_body).encode()
        try:
            with self.session.request(
                method,
                self.base_url + path,
                data=data,
                params=params,
                headers=headers,
                timeout=self.timeout,
                stream=True,
                allow_redirects=False,
            ) as response:
                return Answer(
                    response.status_code,
                    self._document(response),
                    retry_after_seconds(response.headers, now=self.clock.now()),
                )
        except requests.Timeout as error:
            raise self._failure("timeout", f"no answer within {self.timeout} s", _may_have_arrived(error)) from None
        except requests.ConnectionError as error:
            raise self._failure("unavailable", "connection failed", _may_have_arrived(error)) from None
        except requests.RequestException as error:
            raise self._failure("unavailable", f"request failed ({type(error).__name__})", True) from None

    def _document(self, response: requests.Response) -> Any:
        raw = b""
        for chunk in response.iter_content(64 * 1024):
            raw += chunk
            if len(raw) > MAX_ANSWER_BYTES:
                raise self._failure("bad_response", f"answer larger than {MAX_ANSWER_BYTES} bytes", True)
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            if not 200 <= response.status_code < 300:
                return None  # a proxy's HTML error page: the status says enough
            raise self._failure("bad_response", f"HTTP {response.status_code} answer is not JSON", True) from None

    def _failure(self, reason: str, message: str, may_have_arrived: bool) -> _Failure:
        error = ProviderError(
            reason, f"{self.provider}: {message}", provider=self.provider, outcome_unknown=may_have_arrived
        )
        return _Failure(error, may_have_arrived=may_have_arrived)

    def _retry_delay(
        self, method: str, answer: Answer | None, failure: _Failure | None, attempt: int, waited: float
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to stop here."""
        if attempt > self.retry.max_retries:
            return None
        if failure is not None and not failure.may_resend(method):
            return None
        if answer is not None and answer.status not in RETRY_STATUSES:
            return None
        asked = answer.retry_after if answer is not None else None
        delay = asked if asked is not None else backoff_seconds(attempt, base=self.retry.base_delay)
        return delay if waited + delay <= self.retry.max_wait else None


class _Failure(Exception):
    """One attempt failed before an answer: the error, and whether the request may have arrived."""

    def __init__(self, error: ProviderError, *, may_have_arrived: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.may_have_arrived = may_have_arrived

    def may_resend(self, method: str) -> bool:
        """A request never sent may be sent again; one that may have arrived only if idempotent."""
        if self.error.reason == "bad_response":
            return False
        return not self.may_have_arrived or method in {"GET", "HEAD", "OPTIONS"}


def _may_have_arrived(error: requests.RequestException) -> bool:
    """False only when the connection never opened, so the provider cannot have seen the request."""
    if isinstance(error, requests.ConnectTimeout):
        return False
    reason = getattr(error.args[0] if error.args else None, "reason", None)
    return not isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError)


def retry_after_seconds(headers: Mapping[str, str], *, now: dt.datetime) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP date; None when absent or unreadable."""
    raw = (headers.get("Retry-After") or "").strip()
    if not raw:
        return None
    if raw.isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def error_for(
    answer: Answer,
    *,
    provider: str,
    code: int | None = None,
    description: str | None = None,
    parameter: str | None = None,
    reason: str | None = None,
) -> ProviderError:
    """The ``ProviderError`` an unsuccessful answer stands for, with the provider's documented error fields.

    ``reason`` overrides the one the status implies.
    """
    reason = reason or _reason_for_status(answer.status)
    detail = f" (error {code}: {description})" if code is not None or description else ""
    return ProviderError(
        reason,
        f"{provider} answered HTTP {answer.status}{detail}",
        provider=provider,
        status=answer.status,
        code=code,
        description=description,
        parameter=parameter,
        retry_after=answer.retry_after,
        outcome_unknown=reason == "bad_response" and 200 <= answer.status < 300,  # a success we cannot read
    )


def _reason_for_status(status: int) -> str:
    if status == 401:
        return "unauthorized"
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "unavailable"
    if 200 <= status < 300:
        return "bad_response"
    return "rejected"


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
