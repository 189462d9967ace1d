"""``ArchiveStream``: the one pass over a downloaded archive that measures and checks it.

A store's ``put`` reads the stream to its end. On the way the stream hashes every byte
(SHA-256), counts them, stops at the byte limit, and keeps only the first four bytes and
the last ``tail_bytes`` so that, when the source ends, ``zipcheck`` can tell whether
what went by was one complete ZIP archive. The verdict is raised from the very ``read``
that meets the end of the source, before it returns the empty read that tells the store
the upload is complete: a store that aborts on an exception never publishes a bad file.

Every ``read(n)`` returns exactly ``n`` bytes until the source ends. s3transfer decides
between one PutObject and a multipart upload from the length of its first read; one
short read would make it buffer the whole rest of the archive in memory.

A large chunk is hashed on a shared background thread while the caller reads the next
one (hashlib lets go of the GIL): the download and the hash overlap instead of taking
turns. Chunks are hashed in order, one at a time; ``sha256`` waits for the last.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from storage.archives.zipcheck import TAIL_BYTES, check_zip_head, check_zip_tail
from storage.errors import StorageError

_HEAD_BYTES = 4
#: A chunk at least this long is hashed in the background; a shorter one costs less to hash than to hand over.
_BACKGROUND_HASH_BYTES = 256 << 10


def _hashing_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="archive-hash")


_HASHING = _hashing_pool()


def _new_pool_in_child() -> None:
    """A forked child has none of its parent's threads: a pool of its own, or its first hash would wait forever."""
    global _HASHING
    _HASHING = _hashing_pool()


os.register_at_fork(after_in_child=_new_pool_in_child)


class Readable(Protocol):
    """What ``ArchiveStream`` needs from its source: ``read(n)``, empty at the end."""

    def read(self, size: int = -1, /) -> bytes: ...


class ArchiveStream:
    """A read-once, non-seekable file-like view of ``source`` that hashes, counts and checks it."""

    def __init__(self, source: Readable, *, max_bytes: int, tail_bytes: int = TAIL_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        if tail_bytes < TAIL_BYTES:
            raise ValueError(f"tail_bytes must be at least {TAIL_BYTES} to hold a ZIP end record")
        self._source = source
        self._max_bytes = max_bytes
        self._tail_bytes = tail_bytes
        self._hash = hashlib.sha256()
        self._hashing: Future[None] | None = None
        self._size = 0
        self._head = b""
        self._tail = bytearray()
        self._complete = False
        self._failure: StorageError | None = None

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the bytes read so far; of the whole archive once ``complete``."""
        self._hashed()
        return self._hash.hexdigest()

    @property
    def size(self) -> int:
        """Bytes read so far; the archive's size once ``complete``."""
        return self._size

    @property
    def complete(self) -> bool:
        """The source has ended and what it gave is a complete ZIP archive."""
        return self._complete

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int | None = -1, /) -> bytes:
        """Up to ``size`` bytes (all the rest when negative); fewer only at the end."""
        if self._failure is not None:
            raise self._failure
        if self._complete or size == 0:
            return b""
        try:
            return self._read_all() if size is None or size < 0 else self._fill(size)
        except StorageError as error:
            self._failure = error  # sticks: every later read raises it again
            raise

    def _read_all(self) -> bytes:
        chunks = []
        while chunk := self._fill(1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)

    def _fill(self, size: int) -> bytes:
        chunks: list[bytes] = []
        filled = 0
        while filled < size and not self._complete:
            chunk = self._source.read(size - filled)
            if not chunk:
                self._finish()
                break
            chunk = bytes(chunk)
            self._take(chunk)
            chunks.append(chunk)
            filled += len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _take(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._max_bytes:
            raise StorageError("too_large", f"archive is larger than {self._max_bytes} bytes")
        self._hash_in_order(chunk)
        if len(self._head) < _HEAD_BYTES:
            self._head += chunk[: _HEAD_BYTES - len(self._head)]
            if len(self._head) == _HEAD_BYTES:
                check_zip_head(self._head)
        self._keep_tail(chunk)

    def _hash_in_order(self, chunk: bytes) -> None:
        self._hashed()
        if len(chunk) < _BACKGROUND_HASH_BYTES:
            self._hash.update(chunk)
        else:
            self._hashing = _HASHING.submit(self._hash.update, chunk)

    def _hashed(self) -> None:
        """Wait for the chunk being hashed in the background, if any."""
        if self._hashing is not None:
            self._hashing.result()
            self._hashing = None

    def _keep_tail(self, chunk: bytes) -> None:
        if len(chunk) >= self._tail_bytes:
            self._tail[:] = chunk[-self._tail_bytes :]
            return
        self._tail += chunk
        excess = len(self._tail) - self._tail_bytes
        if excess > 0:
            del self._tail[:excess]

    def _finish(self) -> None:
        check_zip_head(self._head)
        check_zip_tail(bytes(self._tail), self._size)
        self._complete = True
