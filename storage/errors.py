"""The storage layer's one error type.

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


class StorageError(Exception):
    """A storage operation failed; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, message: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown storage error reason: {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.message = message

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
