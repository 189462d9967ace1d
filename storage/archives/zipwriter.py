"""``ZipWriterStream``: a ZIP archive written as it is read, never whole in memory.

A store's ``put`` reads the package the way it reads a downloaded archive (through
``ArchiveStream``, which measures it). Each ``read(n)`` runs ``zipfile`` just far
enough to have ``n`` bytes: one chunk of one entry at a time, so memory holds a chunk
and the ZIP's central directory, whatever the package's size. The output is not
seekable, so ``zipfile`` writes each entry's CRC and sizes after its data (a data
descriptor); every ZIP reader takes them from the central directory.

An entry is a name and a way to open its content. ``Entry.sha256`` makes the copy
check the content on the way: the stored archive must still be the bytes whose
SHA-256 was recorded when it was stored, or the package fails (``changed``).
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from storage.errors import StorageError

CHUNK_BYTES = 1 << 20
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Entry:
    """One file of the ZIP: ``name``, its content (``data``, or ``open`` for a stream), how it is kept."""

    name: str
    data: bytes | None = None
    open: Callable[[], _Readable] | None = None
    #: The content's size when known before it is read (a stored archive): ZIP64 is used when it needs it.
    size: int | None = None
    #: The content's expected SHA-256: a stream that differs fails the package.
    sha256: str | None = None
    compress: bool = True
    date_time: tuple[int, int, int, int, int, int] = _FIXED_TIME


class _Sink:
    """Where ``zipfile`` writes: a buffer the reader drains. No ``tell``/``seek``: zipfile streams."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


class ZipWriterStream:
    """A read-once stream of the ZIP of ``entries``, written as it is read."""

    def __init__(self, entries: Iterable[Entry], *, chunk_bytes: int = CHUNK_BYTES) -> None:
        self._sink = _Sink()
        self._chunk_bytes = chunk_bytes
        self._steps = self._write(entries)
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1, /) -> bytes:
        wanted = None if size is None or size < 0 else size
        while not self._done and (wanted is None or len(self._sink.buffer) < wanted):
            try:
                next(self._steps)
            except StopIteration:
                self._done = True
        buffer = self._sink.buffer
        taken = bytes(buffer if wanted is None else buffer[:wanted])
        del buffer[: len(taken)]
        return taken

    def _write(self, entries: Iterable[Entry]) -> Iterator[None]:
        with zipfile.ZipFile(self._sink, "w", allowZip64=True) as archive:
            for entry in entries:
                yield from self._write_entry(archive, entry)
        yield

    def _write_entry(self, archive: zipfile.ZipFile, entry: Entry) -> Iterator[None]:
        info = zipfile.ZipInfo(entry.name, date_time=entry.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED if entry.compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        if entry.data is not None:
            archive.writestr(info, entry.data)
            yield
            return
        assert entry.open is not None, "an entry has data or a way to open it"
        if entry.size is not None:
            info.file_size = entry.size  # lets zipfile choose ZIP64 up front for a large file
        source = entry.open()
        digest = hashlib.sha256()
        try:
            with archive.open(info, "w") as target:
                while chunk := source.read(self._chunk_bytes):
                    digest.update(chunk)
                    target.write(chunk)
                    yield
                _check_content(entry, digest.hexdigest())
        finally:
            source.close()


def _check_content(entry: Entry, sha256: str) -> None:
    if entry.sha256 is not None and sha256 != entry.sha256:
        raise StorageError("changed", f"{entry.name}: the stored archive is not the one recorded")
