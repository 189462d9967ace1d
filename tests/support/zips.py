"""ZIP samples for the archive tests and the bench: valid, odd and broken.

Small samples are bytes. ``StreamedZip`` describes an archive of any size (a gigabyte,
or past 4 GiB with ZIP64) that is generated chunk by chunk, never held in memory: stored
(uncompressed) entries of one repeated pseudo-random block, with correct CRCs, local
headers and a central directory at the end.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

_ZIP64_LIMIT = 0xFFFFFFFF
_FIXED_TIME = (2026, 1, 1, 12, 0, 0)


def zip_bytes(files: dict[str, bytes] | None = None, *, comment: bytes = b"") -> bytes:
    """A small deflated archive made by ``zipfile``; the same bytes on every call."""
    files = {"data.json": b'{"name": "Jane Doe"}', "notes.txt": b"x" * 5000} if files is None else files
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=_FIXED_TIME), content, compress_type=zipfile.ZIP_DEFLATED)
        archive.comment = comment
    return buffer.getvalue()


def empty_zip(*, comment: bytes = b"") -> bytes:
    """An archive with no entries: just the end record (22 bytes plus comment)."""
    return zip_bytes({}, comment=comment)


def zip64_zip() -> bytes:
    """A small archive written with ZIP64 headers, ZIP64 end record and locator."""
    return b"".join(StreamedZip(data_size=3000, entry_size=1000, zip64=True).chunks())


def self_extracting(archive: bytes | None = None) -> bytes:
    """An executable stub followed by an archive (``cat stub archive.zip``), as SFX tools make."""
    return b"MZ\x90\x00" + bytes(random.Random(7).getrandbits(8) for _ in range(4000)) + (archive or zip_bytes())


def truncated(archive: bytes | None = None, *, keep: float = 0.6) -> bytes:
    """The first part of an archive, as a broken download leaves it."""
    archive = archive or zip_bytes({"big.bin": random.Random(3).randbytes(50_000)})
    return archive[: int(len(archive) * keep)]


def trailing_junk(archive: bytes | None = None) -> bytes:
    """An archive followed by bytes its end record's comment does not cover."""
    return (archive or zip_bytes()) + b"trailing bytes"


def not_a_zip(size: int = 10_000, *, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


@dataclass(frozen=True)
class StreamedZip:
    """An archive of ``data_size`` content bytes in entries of ``entry_size``, generated lazily.

    ``zip64`` forces ZIP64 records; they are used anyway once the archive needs them.
    """

    data_size: int
    entry_size: int = 64 << 20
    block_size: int = 1 << 20
    zip64: bool = False
    comment: bytes = b""
    seed: int = 2024

    @cached_property
    def block(self) -> bytes:
        return random.Random(self.seed).randbytes(min(self.block_size, max(self.entry_size, 1)))

    @cached_property
    def entry_sizes(self) -> tuple[int, ...]:
        full, rest = divmod(self.data_size, self.entry_size)
        return (self.entry_size,) * full + ((rest,) if rest else ())

    @cached_property
    def uses_zip64(self) -> bool:
        return self.zip64 or self.data_size + 1024 * len(self.entry_sizes) >= _ZIP64_LIMIT

    @cached_property
    def size(self) -> int:
        """Exact length in bytes of what ``chunks()`` yields."""
        return sum(len(chunk) for chunk in self._records(data=False)) + self.data_size

    def chunks(self) -> Iterator[bytes]:
        """The archive's bytes, in pieces of at most ``block_size``."""
        return self._records(data=True)

    def _records(self, *, data: bool) -> Iterator[bytes]:
        offsets = []
        offset = 0
        for index, size in enumerate(self.entry_sizes):
            offsets.append(offset)
            header = self._local_header(index, size)
            yield header
            offset += len(header) + size
            if data:
                yield from self._content(size)
        directory_start = offset
        for index, size in enumerate(self.entry_sizes):
            entry = self._central_header(index, size, offsets[index])
            offset += len(entry)
            yield entry
        yield self._end_records(directory_start, offset - directory_start, offset)

    def _content(self, size: int) -> Iterator[bytes]:
        view = memoryview(self.block)
        while size > 0:
            piece = view[: min(size, len(view))]
            size -= len(piece)
            yield bytes(piece)

    def _crc(self, size: int) -> int:
        return _entry_crc(self.block, size)

    def _name(self, index: int) -> bytes:
        return f"part-{index:05d}.bin".encode()

    def _local_header(self, index: int, size: int) -> bytes:
        name = self._name(index)
        if self.uses_zip64:
            extra = struct.pack("<HHQQ", 1, 16, size, size)
            fields = (45, 0, 0, 0, 0, self._crc(size), _ZIP64_LIMIT, _ZIP64_LIMIT, len(name), len(extra))
        else:
            extra = b""
            fields = (20, 0, 0, 0, 0, self._crc(size), size, size, len(name), 0)
        return struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", *fields) + name + extra

    def _central_header(self, index: int, size: int, offset: int) -> bytes:
        name = self._name(index)
        if self.uses_zip64:
            extra = struct.pack("<HHQQQ", 1, 24, size, size, offset)
            sizes = (_ZIP64_LIMIT, _ZIP64_LIMIT)
            stored_offset, version = _ZIP64_LIMIT, 45
        else:
            extra, sizes, stored_offset, version = b"", (size, size), offset, 20
        return (
            struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                version,
                version,
                0,
                0,
                0,
                0,
                self._crc(size),
                *sizes,
                len(name),
                len(extra),
                0,
                0,
                0,
                0,
                stored_offset,
            )
            + name
            + extra
        )

    def _end_records(self, directory_start: int, directory_size: int, directory_end: int) -> bytes:
        count = len(self.entry_sizes)
        comment = struct.pack("<H", len(self.comment)) + self.comment
        if not self.uses_zip64:
            return (
                struct.pack("<4sHHHHII", b"PK\x05\x06", 0, 0, count, count, directory_size, directory_start) + comment
            )
        record = struct.pack(
            "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, directory_size, directory_start
        )
        locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, directory_end, 1)
        end = struct.pack("<4sHHHHII", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, _ZIP64_LIMIT, _ZIP64_LIMIT)
        return record + locator + end + comment


_CRC_CACHE: dict[tuple[int, int], int] = {}


def _entry_crc(block: bytes, size: int) -> int:
    """CRC-32 of ``block`` repeated to ``size`` bytes (cached: every full entry is alike)."""
    key = (hash(block), size)
    if key not in _CRC_CACHE:
        crc = 0
        full, rest = divmod(size, len(block))
        for _ in range(full):
            crc = zlib.crc32(block, crc)
        _CRC_CACHE[key] = zlib.crc32(block[:rest], crc)
    return _CRC_CACHE[key]
