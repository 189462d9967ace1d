"""The service's error base, and the storage layer's one error type.

``ServiceError`` is the base of every layer's error (storage, use cases, providers,
notifications, identity, fetching, time-stamping, jobs, the web's answers): a ``reason``
code for logs and metrics, and a ``message`` in words. It lives here, in the lowest of the
service's layers, so that every layer can derive from it; ``verification`` and
``deadlines`` keep errors of their own (they import nothing of the service).

Driver, boto and filesystem exceptions are translated into ``StorageError`` at the
boundary, so callers above never import a driver to handle a failure.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

#: The fixed vocabulary of ``StorageError.reason``.
REASONS = frozenset(
    {
        "unavailable",  # the database, cache or object store cannot be reached now; retry later
        "not_found",  # the record or object does not exist
        "conflict",  # a uniqueness or state rule refused the write
        "not_a_zip",  # an archive stream is not a complete ZIP file
        "too_large",  # an archive stream went past its byte limit
        "misconfigured",  # a store URL or option cannot work
        "changed",  # a stored archive is no longer the bytes whose SHA-256 was recorded
    }
)


class ServiceError(Exception):
    """An error of one of the service's layers.

    ``reason`` is a stable code (a word: ``unavailable``, ``not_found``, ``http_503``...) that
    logs and metrics carry; ``message`` says what happened in words, and never holds a secret,
    a token or a personal data value, so that it may be logged and shown to an operator.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class StorageError(ServiceError):
    """A storage operation failed; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, message: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown storage error reason: {reason!r}")
        super().__init__(reason, message)

    @property
    def retryable(self) -> bool:
        return self.reason == "unavailable"


def storage_error_from(error: DBAPIError) -> StorageError | None:
    """The ``StorageError`` a database driver's error stands for; None for a programming error, which stays a bug."""
    if isinstance(error, IntegrityError):
        return StorageError("conflict", "the write conflicts with a stored record")
    if isinstance(error, OperationalError | InterfaceError) or error.connection_invalidated:
        return StorageError("unavailable", f"database unavailable ({type(error.orig).__name__})")
    if getattr(error.orig, "sqlstate", None) == READ_ONLY_SQL_TRANSACTION:
        return StorageError("unavailable", "database takes no writes now (a standby, or read-only)")
    return None


#: PostgreSQL's SQLSTATE for a write refused by a read-only server (a standby, ``default_transaction_read_only``).
READ_ONLY_SQL_TRANSACTION = "25006"
