"""Pure checks that a byte stream is one complete ZIP archive, from its head and tail only.

``ArchiveStream`` keeps the first four bytes and the last ``TAIL_BYTES`` of an archive
while it streams, and hands them here at the end. That is enough to refuse what
``zipfile.is_zipfile`` lets through: a self-extracting stub (junk before the first
local header), a truncated download (no end record ending the file), trailing bytes
after the end record's comment, and a central directory that does not sit where the
end record says it does.

Every refusal is ``StorageError("not_a_zip")``; nothing else escapes these functions.
No I/O happens here.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from storage.errors import StorageError

LOCAL_HEADER = b"PK\x03\x04"
CENTRAL_HEADER = b"PK\x01\x02"
END_RECORD = b"PK\x05\x06"
ZIP64_END_RECORD = b"PK\x06\x06"
ZIP64_LOCATOR = b"PK\x06\x07"

END_RECORD_SIZE = 22
ZIP64_LOCATOR_SIZE = 20
ZIP64_END_RECORD_SIZE = 56
CENTRAL_HEADER_SIZE = 46
MAX_COMMENT = 0xFFFF

#: Bytes of tail that always hold the end record with the longest comment, the ZIP64
#: locator and a ZIP64 end record without extensible data.
TAIL_BYTES = MAX_COMMENT + 1 + END_RECORD_SIZE + ZIP64_LOCATOR_SIZE + ZIP64_END_RECORD_SIZE

_END = struct.Struct("<4sHHHHIIH")
_LOCATOR = struct.Struct("<4sIQI")
_ZIP64_END = struct.Struct("<4sQHHIIQQQQ")
_CENTRAL_NAME_LENGTHS = struct.Struct("<HHH")  # name, extra field, comment; at offset 28


def check_zip_head(head: bytes) -> None:
    """The archive starts with a local file header, or is an empty archive's end record."""
    if head[:4] not in (LOCAL_HEADER, END_RECORD):
        raise _refused("does not start with a ZIP local file header")


def check_zip_tail(tail: bytes, total_size: int) -> None:
    """The last bytes of an archive of ``total_size`` bytes end it as a ZIP file must.

    ``tail`` is the whole archive when it is shorter than ``TAIL_BYTES``.
    """
    if len(tail) > total_size or len(tail) < END_RECORD_SIZE:
        raise _refused("too short to hold an end-of-central-directory record")
    tail_start = total_size - len(tail)
    end = _find_end_record(tail)
    directory = _directory_from_end_record(tail, end, tail_start)
    _check_directory(tail, tail_start, directory)


def check_zip(head: bytes, tail: bytes, total_size: int) -> None:
    """Both checks, for callers that have the whole picture at once."""
    check_zip_head(head)
    check_zip_tail(tail, total_size)


class _Directory(NamedTuple):
    """Where an end record says the central directory is, in absolute offsets."""

    disk: int
    directory_disk: int
    entries_on_disk: int
    entries: int
    size: int
    offset: int
    end: int


def _find_end_record(tail: bytes) -> int:
    """The last end record whose comment ends exactly at the end of the archive."""
    search_end = len(tail) - END_RECORD_SIZE + len(END_RECORD)
    while (position := tail.rfind(END_RECORD, 0, search_end)) >= 0:
        comment_length = _END.unpack_from(tail, position)[-1]
        if position + END_RECORD_SIZE + comment_length == len(tail):
            return position
        search_end = position + len(END_RECORD) - 1
    raise _refused("no end-of-central-directory record ends the file (truncated or trailing data)")


def _directory_from_end_record(tail: bytes, end: int, tail_start: int) -> _Directory:
    _, disk, directory_disk, on_disk, entries, size, offset, _ = _END.unpack_from(tail, end)
    has_locator = end >= ZIP64_LOCATOR_SIZE and tail.startswith(ZIP64_LOCATOR, end - ZIP64_LOCATOR_SIZE)
    saturated = 0xFFFF in (disk, directory_disk, on_disk, entries) or 0xFFFFFFFF in (size, offset)
    if has_locator:
        return _zip64_directory(tail, end - ZIP64_LOCATOR_SIZE, tail_start)
    if saturated:
        raise _refused("ZIP64 values without a ZIP64 end-of-central-directory locator")
    return _Directory(disk, directory_disk, on_disk, entries, size, offset, tail_start + end)


def _zip64_directory(tail: bytes, locator: int, tail_start: int) -> _Directory:
    _, record_disk, record_offset, disks = _LOCATOR.unpack_from(tail, locator)
    if record_disk != 0 or disks > 1:
        raise _refused("split (multi-disk) ZIP64 archives are not accepted")
    record = record_offset - tail_start
    if record < 0 or record + ZIP64_END_RECORD_SIZE > locator:
        raise _refused("ZIP64 end-of-central-directory record is not where its locator points")
    signature, remaining, _, _, disk, directory_disk, on_disk, entries, size, offset = _ZIP64_END.unpack_from(
        tail, record
    )
    if signature != ZIP64_END_RECORD or record + 12 + remaining != locator:
        raise _refused("ZIP64 end-of-central-directory record is not where its locator points")
    return _Directory(disk, directory_disk, on_disk, entries, size, offset, record_offset)


def _check_directory(tail: bytes, tail_start: int, directory: _Directory) -> None:
    if directory.disk != 0 or directory.directory_disk != 0:
        raise _refused("split (multi-disk) archives are not accepted")
    if directory.entries_on_disk != directory.entries:
        raise _refused("entry counts in the end record disagree")
    if directory.offset + directory.size != directory.end:
        raise _refused("central directory does not end where the end record starts")
    if directory.entries == 0:
        if directory.end != 0:
            raise _refused("an empty central directory after archive data")
        return
    if directory.size < CENTRAL_HEADER_SIZE * directory.entries:
        raise _refused("central directory too small for its entry count")
    if directory.offset >= tail_start:
        _walk_directory(tail, directory.offset - tail_start, directory.end - tail_start, directory.entries)


def _walk_directory(tail: bytes, position: int, end: int, entries: int) -> None:
    """Every central header is where the previous one ends, and the last ends the directory."""
    for _ in range(entries):
        if position + CENTRAL_HEADER_SIZE > end or not tail.startswith(CENTRAL_HEADER, position):
            raise _refused("central directory offset does not point at a central file header")
        name, extra, comment = _CENTRAL_NAME_LENGTHS.unpack_from(tail, position + 28)
        position += CENTRAL_HEADER_SIZE + name + extra + comment
    if position != end:
        raise _refused("central directory entries do not fill the central directory")


def _refused(why: str) -> StorageError:
    return StorageError("not_a_zip", f"not a complete ZIP archive: {why}")
