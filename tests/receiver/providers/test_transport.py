"""The transport's pure parts: reading Retry-After and the meaning of a status."""

from __future__ import annotations

import datetime as dt

import pytest

from receiver.providers.errors import ProviderError
from receiver.providers.transport import Answer, error_for, retry_after_seconds

NOW = dt.datetime(2026, 11, 23, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        ("Mon, 23 Nov 2026 12:00:30 GMT", 30.0),
        ("Mon, 23 Nov 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header, seconds):
    assert retry_after_seconds({"Retry-After": header}, now=NOW) == seconds


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (401, "unauthorized"),
        (422, "rejected"),
        (404, "rejected"),
        (429, "rate_limited"),
        (503, "unavailable"),
        (200, "bad_response"),
    ],
)
def test_a_status_means_one_reason(status, reason):
    error = error_for(Answer(status, None, 3.0), provider="messagebird", code=9, description="d")
    assert (error.reason, error.status, error.code, error.retry_after) == (reason, status, 9, 3.0)


def test_only_known_reasons_exist():
    with pytest.raises(ValueError, match="unknown provider error reason"):
        ProviderError("sideways", "no", provider="messagebird")
