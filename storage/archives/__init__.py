"""Archive stores: where downloaded personal-data archives are kept as evidence.

The worker composes the pieces like this::

    store = open_archive_store(settings.archive_store_url, s3=S3Options(...))
    with open_archive(url, policy) as source:               # receiver.fetching
        stream = ArchiveStream(source, max_bytes=limit)
        stored = store.put(f"{provider}/{request_id}.zip", stream, metadata={"request-id": request_id})

``stored`` (a ``StoredArchive``) is the record to keep: URI, size, SHA-256, version id
and time. Every failure is a ``storage.errors.StorageError`` (or, from the download
itself, a ``receiver.fetching.FetchError``), and nothing partial is left behind. When
the retention policy's time comes, ``store.delete_all_versions(uri)`` removes every
version of the archive and answers what it removed (a ``DeletedArchive``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from storage.archives.base import ArchiveStore, DeletedArchive, DeletedVersion, StoredArchive, check_key
from storage.archives.filestore import FileArchiveStore
from storage.archives.s3options import S3Options
from storage.archives.stream import ArchiveStream
from storage.clock import Clock
from storage.errors import StorageError

if TYPE_CHECKING:
    from storage.archives.s3store import S3ArchiveStore

__all__ = [
    "ArchiveStore",
    "ArchiveStream",
    "DeletedArchive",
    "DeletedVersion",
    "FileArchiveStore",
    "S3ArchiveStore",
    "S3Options",
    "StoredArchive",
    "check_key",
    "open_archive_store",
]

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def open_archive_store(url: str, *, s3: S3Options | None = None, clock: Clock | None = None) -> ArchiveStore:
    """The store a URL names: ``file:///absolute/dir`` or ``s3://bucket/optional/prefix``.

    The S3 endpoint and credentials come from boto3's standard environment, never from
    the URL. A URL that cannot work raises ``StorageError("misconfigured")``; the message
    never repeats the URL, which might hold a secret pasted in by mistake. ``clock`` (the
    service's) times what is stored.
    """
    parts = urlsplit(url)
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise StorageError("misconfigured", "archive store URL must not have credentials, a query or a fragment")
    if parts.scheme == "file":
        return _file_store(parts.netloc, unquote(parts.path), clock or Clock())
    if parts.scheme == "s3":
        return _s3_store(parts.netloc, parts.path, s3 or S3Options(), clock or Clock())
    raise StorageError("misconfigured", "archive store URL must start with file:/// or s3://")


def _file_store(host: str, path: str, clock: Clock) -> FileArchiveStore:
    if host not in ("", "localhost") or not path.startswith("/"):
        raise StorageError("misconfigured", "file archive store URL must be file:///absolute/path")
    return FileArchiveStore(Path(path), clock=clock.now)


def __getattr__(name: str) -> object:
    """``S3ArchiveStore``, loaded (with boto3) when first asked for: most processes never need it."""
    if name == "S3ArchiveStore":
        from storage.archives.s3store import S3ArchiveStore

        return S3ArchiveStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _s3_store(bucket: str, path: str, options: S3Options, clock: Clock) -> S3ArchiveStore:
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise StorageError("misconfigured", "s3 archive store URL must name a valid bucket: s3://bucket/prefix")
    prefix = path.strip("/")
    if prefix:
        check_key(prefix)
    from storage.archives.s3store import S3ArchiveStore

    return S3ArchiveStore(bucket, prefix, options, clock=clock.now)
