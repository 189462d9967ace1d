"""The provider clients' one error type."""

from __future__ import annotations

from storage.errors import ServiceError

#: The fixed vocabulary of ``ProviderError.reason``.
REASONS = frozenset(
    {
        "not_configured",  # no access key or API key is set: nothing was sent
        "unauthorized",  # 401: the provider refused our key (a configuration error)
        "rejected",  # the provider refused the request with a documented error (422, VoodooSMS codes)
        "rate_limited",  # 429, still after the retries
        "unavailable",  # 5xx or no connection, still after the retries
        "timeout",  # no answer within PROVIDER_TIMEOUT_SECONDS
        "bad_response",  # an answer that is not what the API reference documents
    }
)
RETRYABLE = frozenset({"rate_limited", "unavailable", "timeout"})


class ProviderError(ServiceError):
    """A call to a provider failed; ``reason`` is one of ``REASONS``.

    ``code``, ``description`` and ``parameter`` are the provider's own documented
    error fields when it sent them (``message`` is ours); ``status`` the HTTP status; ``retry_after`` the
    seconds its ``Retry-After`` header asked for. ``outcome_unknown`` is true when the
    provider may have carried the request out all the same: no answer came after the
    request went out (a timeout, a connection lost), or a success answer could not be
    read. An error answer is taken at its word: nothing was done. ``message`` holds no
    secret and no personal data: it may be logged.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        code: int | None = None,
        description: str | None = None,
        parameter: str | None = None,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown provider error reason: {reason!r}")
        super().__init__(reason, message)
        self.provider = provider
        self.status = status
        self.code = code
        self.description = description
        self.parameter = parameter
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown

    @property
    def retryable(self) -> bool:
        return self.reason in RETRYABLE
