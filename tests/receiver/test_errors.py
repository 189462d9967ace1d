"""One error base for the service's layers: a reason code and a message, each layer keeping its own codes."""

from __future__ import annotations

import pytest

from receiver.fetching import FetchError
from receiver.identity.errors import IdentityError
from receiver.notifications.errors import NotifyError
from receiver.providers.errors import ProviderError
from receiver.timestamping import TimestampError
from receiver.usecases.errors import UseCaseError
from receiver.usecases.job_runs import JobFailure, JobInterrupted
from receiver.web.errors import HttpProblem
from storage.errors import ServiceError, StorageError

LAYER_ERRORS = [
    (StorageError("unavailable", "database unavailable (OperationalError)"), "unavailable"),
    (UseCaseError("invalid", "receivedOn is after today", parameter="receivedOn"), "invalid"),
    (UseCaseError("conflict", "the case is closed", reason="case_closed"), "case_closed"),
    (ProviderError("timeout", "no answer within 10.0 s", provider="messagebird"), "timeout"),
    (NotifyError("http_503", "webhook failed: http_503 at https://hooks.example", retryable=True), "http_503"),
    (IdentityError("no_mapped_group", "None of your groups may use the console."), "no_mapped_group"),
    (FetchError("http_404", "https://files.example/a.zip?secret=1", retryable=False), "http_404"),
    (TimestampError("unavailable", "no authority answered"), "unavailable"),
    (JobFailure("download failed: http_404 at https://files.example", retryable=False), "job_failed"),
    (HttpProblem(404, 20, "Not found", reason="not_found"), "not_found"),
]


@pytest.mark.parametrize(("error", "reason"), LAYER_ERRORS, ids=lambda value: type(value).__name__)
def test_every_layer_error_is_a_service_error_with_a_code_and_a_message(error, reason):
    assert isinstance(error, ServiceError)
    assert error.reason == reason
    assert error.message and str(error) == error.message


def test_the_message_of_a_fetch_error_names_the_origin_never_the_path_or_query():
    error = FetchError("http_404", "https://files.example/a.zip?secret=1", retryable=False)
    assert error.message == "http_404 at https://files.example"


def test_a_job_interrupted_is_no_error_of_a_layer():
    """A hand-back, not a failure: an ``except ServiceError`` never swallows it."""
    assert not isinstance(JobInterrupted("worker stopping"), ServiceError)
