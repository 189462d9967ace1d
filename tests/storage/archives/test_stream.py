"""ArchiveStream: full reads, hash and size on the fly, the byte limit, the ZIP verdict at the end."""

from __future__ import annotations

import hashlib
import io
import os
import random
import signal
import time

import pytest

from storage.archives import ArchiveStream
from storage.errors import StorageError
from tests.support import zips


class Trickle:
    """A source that never gives more than ``step`` bytes per read, like a slow socket."""

    def __init__(self, data: bytes, step: int = 333) -> None:
        self._data = io.BytesIO(data)
        self._step = step
        self.reads = 0

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        return self._data.read(min(self._step, size if size >= 0 else self._step))


def drain(stream: ArchiveStream, size: int = 4096) -> bytes:
    chunks = []
    while chunk := stream.read(size):
        chunks.append(chunk)
    return b"".join(chunks)


def test_every_read_is_filled_until_the_source_ends() -> None:
    archive = zips.zip_bytes({"a.bin": bytes(range(256)) * 100})
    stream = ArchiveStream(Trickle(archive), max_bytes=len(archive))
    lengths = []
    while chunk := stream.read(1000):
        lengths.append(len(chunk))
    assert lengths[:-1] == [1000] * (len(lengths) - 1)
    assert sum(lengths) == len(archive)


def test_hash_and_size_describe_exactly_the_bytes_read() -> None:
    archive = zips.zip_bytes()
    stream = ArchiveStream(io.BytesIO(archive), max_bytes=10_000)
    assert drain(stream, 7) == archive
    assert stream.complete
    assert stream.size == len(archive)
    assert stream.sha256 == hashlib.sha256(archive).hexdigest()


def test_large_reads_hashed_in_the_background_give_the_same_hash_in_order() -> None:
    data = random.Random(3).randbytes
    archive = zips.zip_bytes({"a.bin": data(3_000_000), "b.bin": data(2_000_000)})  # incompressible: large chunks
    stream = ArchiveStream(io.BytesIO(archive), max_bytes=len(archive))
    halfway = stream.read(len(archive) // 2)
    assert stream.sha256 == hashlib.sha256(halfway).hexdigest()  # waits for the chunk in the background
    assert halfway + drain(stream, 1 << 20) == archive
    assert stream.sha256 == hashlib.sha256(archive).hexdigest()


def test_a_process_forked_after_hashing_in_the_background_hashes_in_the_background_too() -> None:
    archive = zips.zip_bytes({"a.bin": random.Random(7).randbytes(1_000_000)})  # incompressible: one large chunk
    hashed = ArchiveStream(io.BytesIO(archive), max_bytes=len(archive))
    assert drain(hashed, 1 << 20) == archive and hashed.sha256  # a thread of the pool hashed it
    time.sleep(0.2)  # and goes idle just after handing over its result: a fork now inherits an idle pool
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit status
        signal.alarm(10)  # a hash waiting on a thread the child does not have would never end
        stream = ArchiveStream(io.BytesIO(archive), max_bytes=len(archive))
        drain(stream, 1 << 20)
        os._exit(0 if stream.sha256 == hashlib.sha256(archive).hexdigest() else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_read_without_a_size_returns_the_rest() -> None:
    archive = zips.zip_bytes()
    stream = ArchiveStream(io.BytesIO(archive), max_bytes=10_000)
    assert stream.read(10) + stream.read() == archive
    assert stream.read() == b""


def test_an_empty_archive_is_complete() -> None:
    stream = ArchiveStream(io.BytesIO(zips.empty_zip()), max_bytes=100)
    assert drain(stream) == zips.empty_zip()
    assert stream.complete and stream.size == 22


def test_the_limit_is_enforced_as_soon_as_it_is_passed() -> None:
    archive = zips.zip_bytes({"big.bin": zips.not_a_zip(50_000)})
    source = Trickle(archive, step=1000)
    stream = ArchiveStream(source, max_bytes=5_000)
    with pytest.raises(StorageError) as refused:
        drain(stream, 100_000)
    assert refused.value.reason == "too_large"
    assert source.reads <= 6


def test_a_non_zip_is_refused_at_its_first_bytes() -> None:
    source = Trickle(zips.not_a_zip(100_000), step=1000)
    stream = ArchiveStream(source, max_bytes=1 << 20)
    with pytest.raises(StorageError) as refused:
        stream.read(100_000)
    assert refused.value.reason == "not_a_zip"
    assert source.reads == 1


def test_a_truncated_archive_is_refused_by_the_read_that_meets_the_end() -> None:
    archive = zips.truncated()
    stream = ArchiveStream(io.BytesIO(archive), max_bytes=1 << 20)
    assert len(stream.read(len(archive))) == len(archive)  # the source has not said it ended yet
    with pytest.raises(StorageError) as refused:
        stream.read(1)
    assert refused.value.reason == "not_a_zip"
    assert not stream.complete


def test_a_refusal_sticks() -> None:
    stream = ArchiveStream(io.BytesIO(zips.trailing_junk()), max_bytes=1 << 20)
    with pytest.raises(StorageError):
        drain(stream)
    with pytest.raises(StorageError):
        stream.read(10)


def test_a_streamed_archive_keeps_only_its_tail() -> None:
    archive = zips.StreamedZip(3_000_000, entry_size=1_000_000, block_size=64_000)
    source = io.BytesIO(b"".join(archive.chunks()))
    stream = ArchiveStream(source, max_bytes=archive.size)
    while stream.read(1 << 20):
        assert len(stream._tail) <= 65_634
    assert stream.complete and stream.size == archive.size


def test_a_tail_too_short_for_an_end_record_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="tail_bytes must be at least"):
        ArchiveStream(io.BytesIO(b""), max_bytes=10, tail_bytes=100)


def test_it_is_a_non_seekable_readable_file() -> None:
    stream = ArchiveStream(io.BytesIO(b""), max_bytes=10)
    assert stream.readable() and not stream.seekable()
