"""The notification channels' one error type."""

from __future__ import annotations

from storage.errors import ServiceError


class NotifyError(ServiceError):
    """A notification was not delivered on a channel.

    ``reason`` is a fixed word (``http_503``, ``address_not_allowed``, ``timeout``, ``smtp_auth``...);
    ``message`` reads ``<channel> failed: <reason> at <origin> (<detail>)`` and names no URL path or
    query, no address of a recipient and no content; ``retryable`` says whether a later attempt may pass.
    """

    def __init__(self, reason: str, message: str, *, retryable: bool) -> None:
        super().__init__(reason, message)
        self.retryable = retryable
