"""The archive store interface: what every backend promises, and the record of a stored archive.

An archive store keeps downloaded personal-data archives as chain-of-custody evidence.
Every backend (``FileArchiveStore``, ``S3ArchiveStore``) promises:

* **Atomic.** ``put`` publishes the whole archive or nothing. On any failure (the
  source, the ZIP check, the byte limit, the backend) it removes what it started (the
  temporary file; the multipart upload) and raises. A reader never sees half a file.
* **Idempotent.** Keys are deterministic (``<provider>/<request id>.zip``); putting
  the same key again replaces the archive (a new version where the bucket keeps them)
  rather than adding a second copy.
* **Measured.** The ``StoredArchive`` record carries the SHA-256 and byte count of
  exactly the bytes stored, computed while they streamed by.
* **Deleted means gone.** ``delete_all_versions`` removes every version of the key the
  backend keeps (every S3 object version and delete marker; the file, its directory
  entry made durable, and any temporary file an interrupted write left), checks that
  nothing is left, and says what it removed. A delete marker alone is not deletion.
* **Plain errors.** Every failure is ``StorageError`` with a reason code; messages never
  hold credentials, signed URLs or personal data.

The shared contract suite in ``tests/storage/archives/test_contract.py`` pins these
promises down against every backend.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol

from storage.archives.stream import ArchiveStream
from storage.errors import StorageError

_KEY_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MAX_KEY_LENGTH = 512
MAX_METADATA_BYTES = 2048  # S3's limit for user metadata


@dataclass(frozen=True)
class StoredArchive:
    """Where an archive now lives and what exactly was stored.

    ``sha256_tagged`` says whether the backend also attached the SHA-256 to the stored
    object itself (an S3 object tag): ``None`` where the backend has no such place
    (the file store), ``False`` where the endpoint refused the tag. The record here is
    the evidence either way; the tag is a convenience for people browsing the bucket.
    """

    uri: str
    size: int
    sha256: str
    version_id: str | None
    stored_at: datetime
    sha256_tagged: bool | None = None


@dataclass(frozen=True)
class DeletedVersion:
    """One stored thing ``delete_all_versions`` removed.

    ``version_id`` is the S3 version (``"null"`` in a bucket that never had versioning
    on), None for a file. ``size`` is what the backend listed for it just before the
    deletion (None for a delete marker, which holds no data).
    """

    version_id: str | None
    size: int | None
    delete_marker: bool = False
    #: A temporary file an interrupted write left beside the archive (the file store).
    partial: bool = False


@dataclass(frozen=True)
class DeletedArchive:
    """What deleting an archive removed: empty ``versions`` when nothing was there any more."""

    uri: str
    versions: tuple[DeletedVersion, ...]

    @property
    def data_bytes(self) -> int:
        return sum(version.size or 0 for version in self.versions)


class ArchiveStore(Protocol):
    """Keeps archives under deterministic keys; see the module docstring for the promises."""

    def put(self, key: str, stream: ArchiveStream, *, metadata: Mapping[str, str]) -> StoredArchive:
        """Read ``stream`` to its end and publish it under ``key``, atomically.

        ``metadata`` (for example ``{"request-id": ...}``) goes where the backend keeps
        object metadata; lower-case ASCII names, ASCII values, no personal data.
        """
        ...

    def check(self) -> None:
        """Readiness: raise ``StorageError("unavailable")`` when the backend cannot be reached."""
        ...

    def presigned_url(self, uri: str, expires_in: int | None = None) -> str | None:
        """A time-limited download URL for ``uri``, or ``None`` if the backend cannot sign one."""
        ...

    def open(self, uri: str) -> BinaryIO:
        """A readable stream of the archive at ``uri``; ``StorageError("not_found")`` if absent."""
        ...

    def list_versions(self, uri: str) -> tuple[DeletedVersion, ...]:
        """Every version of the archive at ``uri`` that ``delete_all_versions`` would remove now (none when
        it is gone): listed before a deletion, so its receipt can name them whichever run completes it."""

    def open_from(self, uri: str, offset: int) -> BinaryIO:
        """``open``, from byte ``offset`` on (a resumed download); ``StorageError("not_found")`` if absent."""
        ...

    def delete_all_versions(self, uri: str) -> DeletedArchive:
        """Remove every version of the archive at ``uri`` and check none is left; what was removed.

        Removing one that is already gone is not an error (``versions`` is empty). When a
        version cannot be removed (an S3 object lock, a permission), the others are removed,
        and ``StorageError`` says how many remain.
        """
        ...

    def deletion_blocker(self) -> str | None:
        """Why the backend's own configuration would refuse deletions (an S3 bucket's default
        object lock retention), or None when nothing there stands in the way."""
        ...

    def put_record(self, key: str, data: bytes, *, retain_until: datetime | None = None) -> str:
        """Publish a small record (an audit anchor) under ``key``, atomically; its URI.

        ``retain_until``: where the backend can lock one object (S3 Object Lock, in a bucket
        created with it), the record cannot be deleted or overwritten before then; elsewhere
        it is ignored. Never a bucket-wide default, which would block archive deletion.
        """
        ...

    def list_records(self, prefix: str) -> list[str]:
        """The keys of the records under ``prefix`` (``audit/anchors/``), sorted."""
        ...

    def read_record(self, key: str) -> bytes:
        """The record's bytes; ``StorageError("not_found")`` if absent."""
        ...


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key (``provider/request-id.zip``), else refuse it.

    Segments start with a letter or digit and hold only letters, digits, ``.``, ``_``
    and ``-``; no ``..`` anywhere, no leading ``/``, no empty segments.
    """
    segments = key.split("/")
    if len(key) > MAX_KEY_LENGTH or ".." in key or not all(_KEY_SEGMENT.fullmatch(segment) for segment in segments):
        raise StorageError("misconfigured", f"archive key refused: {key[:80]!r}")
    return key


def check_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Metadata every backend can keep: lower-case ASCII names, printable ASCII values, 2 KiB in all."""
    names_ok = all(re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", name) for name in metadata)
    values_ok = all(re.fullmatch(r"[\x20-\x7e]*", value) for value in metadata.values())
    total = sum(len(name) + len(value) for name, value in metadata.items())
    if not (names_ok and values_ok) or total > MAX_METADATA_BYTES:
        raise StorageError("misconfigured", "archive metadata refused: names or values out of range")
    return dict(metadata)
