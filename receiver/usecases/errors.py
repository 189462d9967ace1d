"""The use cases' one error type: what was refused, how, and a reason code for logs and metrics.

The web layer turns ``kind`` into an HTTP status and MessageBird's error shape;
the CLI prints ``message``. ``message`` is written for the caller and never
holds a secret or a personal data value.
"""

from __future__ import annotations

from storage.errors import ServiceError

#: How a use case refused, which the adapters turn into an answer (web: the status in brackets).
KINDS = frozenset(
    {
        "missing",  # a required parameter is absent (400, MessageBird code 9)
        "invalid",  # a parameter or the document is malformed (400, code 10)
        "not_found",  # the named record does not exist (404)
        "conflict",  # the record's state does not allow it (409)
        "forbidden",  # the caller's role may not do it (403)
    }
)


class UseCaseError(ServiceError):
    """A use case refused; ``kind`` is one of ``KINDS``, ``reason`` a finer code (the kind unless given),
    ``parameter`` names the offending input."""

    def __init__(self, kind: str, message: str, *, reason: str | None = None, parameter: str | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown use case error kind: {kind!r}")
        super().__init__(reason or kind, message)
        self.kind = kind
        self.parameter = parameter
