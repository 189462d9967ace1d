"""``FileArchiveStore``: archives as files under one local directory.

``put`` streams into a temporary file next to the final one (``.<name>.<random>.part``,
same directory, so the rename cannot cross filesystems), fsyncs it, renames it into
place with ``os.replace`` (atomic on POSIX) and fsyncs the directory so the rename
survives a power cut. On any failure the temporary file is removed before the error
propagates. A process killed outright can leave a ``.part`` file behind; such files
start with a dot and are never served.

``delete_all_versions`` removes the file (and any ``.part`` file an interrupted write
left for the same key) and fsyncs the directory, so the removal of the directory entry
is as durable as its creation was; a file store keeps no older versions.

The root directory must exist (``check`` says so when it does not); the store creates
the per-provider directories beneath it. The file store keeps no object metadata: the
database row holding the ``StoredArchive`` record is the evidence.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from storage.archives.base import DeletedArchive, DeletedVersion, StoredArchive, check_key, check_metadata
from storage.archives.stream import ArchiveStream, Readable
from storage.clock import Clock
from storage.errors import StorageError

_COPY_CHUNK = 1 << 20
_MISCONFIGURED_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR}


class FileArchiveStore:
    """An ``ArchiveStore`` on a local (or mounted) filesystem; ``uri`` is ``file:///abs/path``."""

    def __init__(self, root: Path, *, clock: Callable[[], datetime] | None = None) -> None:
        if not root.is_absolute():
            raise StorageError("misconfigured", "file archive store root must be an absolute path")
        self._root = root
        self._clock = clock or Clock().now

    def put(self, key: str, stream: ArchiveStream, *, metadata: Mapping[str, str]) -> StoredArchive:
        check_metadata(metadata)
        target = self._root / check_key(key)
        self._require_root()
        try:
            self._write_atomically(target, stream)
        except OSError as error:
            raise _storage_error(error, "write") from error
        return StoredArchive(
            uri=target.as_uri(),
            size=stream.size,
            sha256=stream.sha256,
            version_id=None,
            stored_at=self._clock(),
        )

    def check(self) -> None:
        self._require_root()
        if not os.access(self._root, os.W_OK | os.X_OK):
            raise StorageError("unavailable", "archive directory is not writable")

    def presigned_url(self, uri: str, expires_in: int | None = None) -> str | None:
        return None

    def open(self, uri: str) -> BinaryIO:
        try:
            return self._path(uri).open("rb")
        except FileNotFoundError as error:
            raise StorageError("not_found", "archive file does not exist") from error
        except OSError as error:
            raise _storage_error(error, "open") from error

    def list_versions(self, uri: str) -> tuple[DeletedVersion, ...]:
        """The file and any temporary file an interrupted write left beside it, with their sizes."""
        path = self._path(uri)
        try:
            found = [_listed(leftover, partial=True) for leftover in _abandoned_parts(path)]
            found.append(_listed(path, partial=False))
        except OSError as error:
            raise _storage_error(error, "list") from error
        return tuple(version for version in found if version is not None)

    def open_from(self, uri: str, offset: int) -> BinaryIO:
        file = self.open(uri)
        file.seek(offset)
        return file

    def delete_all_versions(self, uri: str) -> DeletedArchive:
        """Remove the file and any temporary file an interrupted write left beside it, then fsync the
        directory so that the removal of their entries survives a power cut; what was removed."""
        path = self._path(uri)
        try:
            removed = [_unlink(leftover, partial=True) for leftover in _abandoned_parts(path)]
            removed.append(_unlink(path, partial=False))
            if path.parent.is_dir():
                _fsync_directory(path.parent)
        except OSError as error:
            raise _storage_error(error, "delete") from error
        if path.exists():
            raise StorageError("unavailable", "archive file still exists after its deletion")
        return DeletedArchive(uri=uri, versions=tuple(version for version in removed if version is not None))

    def deletion_blocker(self) -> str | None:
        return None

    def put_record(self, key: str, data: bytes, *, retain_until: datetime | None = None) -> str:
        """Written atomically like an archive; a file system has no per-file retention: ``retain_until`` is unused."""
        target = self._root / check_key(key)
        self._require_root()
        try:
            self._write_atomically(target, _BytesSource(data))
        except OSError as error:
            raise _storage_error(error, "write") from error
        return target.as_uri()

    def list_records(self, prefix: str) -> list[str]:
        directory = self._root / check_key(prefix.strip("/"))
        if not directory.is_dir():
            return []
        try:
            return sorted(
                path.relative_to(self._root).as_posix()
                for path in directory.rglob("*")
                if path.is_file() and not path.name.startswith(".")
            )
        except OSError as error:
            raise _storage_error(error, "list") from error

    def read_record(self, key: str) -> bytes:
        try:
            return (self._root / check_key(key)).read_bytes()
        except FileNotFoundError as error:
            raise StorageError("not_found", "record does not exist") from error
        except OSError as error:
            raise _storage_error(error, "read") from error

    def _require_root(self) -> None:
        if not self._root.is_dir():
            raise StorageError("unavailable", "archive directory does not exist or is not mounted")

    def _path(self, uri: str) -> Path:
        """The file a ``file://`` URI names, refused unless it is a key under this store's root."""
        parts = urlsplit(uri)
        path = Path(unquote(parts.path))
        if parts.scheme != "file" or parts.netloc not in ("", "localhost") or not path.is_relative_to(self._root):
            raise StorageError("not_found", "archive URI is not in this file store")
        check_key(path.relative_to(self._root).as_posix())
        return path

    def _write_atomically(self, target: Path, stream: Readable) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_parts(target)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        published = False
        try:
            with os.fdopen(descriptor, "wb") as file:
                _copy(stream, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
            published = True
        finally:
            if not published:
                Path(temporary).unlink(missing_ok=True)
        self._fsync_up_to_root(target.parent)

    def _fsync_up_to_root(self, directory: Path) -> None:
        """Make the rename, and any directory made for it, durable."""
        _fsync_directory(directory)
        while directory != self._root:
            directory = directory.parent
            _fsync_directory(directory)


class _BytesSource:
    """Bytes read like a stream, for ``_copy``."""

    def __init__(self, data: bytes) -> None:
        self._data, self._offset = data, 0

    def read(self, size: int = -1, /) -> bytes:
        end = len(self._data) if size < 0 else self._offset + size
        chunk, self._offset = self._data[self._offset : end], min(end, len(self._data))
        return chunk


def _remove_abandoned_parts(target: Path) -> None:
    """Delete temporary files an earlier attempt left when its process was killed.

    Keys are deterministic and one key is written under one job lease at a time, so
    a temporary file for this key that exists now belongs to a dead attempt.
    """
    for leftover in _abandoned_parts(target):
        leftover.unlink(missing_ok=True)


def _abandoned_parts(target: Path) -> list[Path]:
    return sorted(target.parent.glob(f".{target.name}.*.part")) if target.parent.is_dir() else []


def _listed(path: Path, *, partial: bool) -> DeletedVersion | None:
    """What ``path`` is (its size), or None when it is not there."""
    try:
        return DeletedVersion(version_id=None, size=path.stat().st_size, partial=partial)
    except FileNotFoundError:
        return None


def _unlink(path: Path, *, partial: bool) -> DeletedVersion | None:
    """Remove ``path``; what it was (its size), or None when it was not there."""
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return None
    return DeletedVersion(version_id=None, size=size, partial=partial)


def _copy(stream: Readable, file: BinaryIO) -> None:
    while chunk := stream.read(_COPY_CHUNK):
        file.write(chunk)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _storage_error(error: OSError, action: str) -> StorageError:
    reason = "misconfigured" if error.errno in _MISCONFIGURED_ERRNOS else "unavailable"
    return StorageError(reason, f"archive file {action} failed: {error.strerror or type(error).__name__}")
