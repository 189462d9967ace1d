"""``ZipWriterStream``: a ZIP written as it is read, whatever the reads' sizes, in bounded memory."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.archives import ArchiveStream, FileArchiveStore
from storage.archives.zipwriter import Entry, ZipWriterStream
from storage.errors import StorageError
from tests.support.zips import StreamedZip

MiB = 1 << 20


class ChunkSource:
    """A readable over an iterator of chunks: the way a store's stream hands out an archive."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def read(self, size: int = -1, /) -> bytes:
        while len(self._pending) < size and (chunk := next(self._chunks, b"")):
            self._pending += chunk
        taken, self._pending = self._pending[:size], self._pending[size:]
        return taken

    def close(self) -> None:
        return None


def drain(stream: ZipWriterStream, sizes: list[int]) -> bytes:
    out, turn = bytearray(), 0
    while chunk := stream.read(sizes[turn % len(sizes)]):
        out += chunk
        turn += 1
    return bytes(out)


@settings(max_examples=40, deadline=None)
@given(
    files=st.lists(st.binary(max_size=3000), min_size=1, max_size=4),
    compress=st.booleans(),
    chunk_bytes=st.integers(1, 700),
    reads=st.lists(st.integers(1, 5000), min_size=1, max_size=5),
)
def test_what_is_read_is_a_zip_of_exactly_the_entries(files, compress, chunk_bytes, reads):
    entries = [
        Entry(f"f{i}.bin", open=lambda data=data: io.BytesIO(data), size=len(data), compress=compress)
        for i, data in enumerate(files)
    ]
    written = zipfile.ZipFile(io.BytesIO(drain(ZipWriterStream(entries, chunk_bytes=chunk_bytes), reads)))
    assert written.testzip() is None
    assert [written.read(f"f{i}.bin") for i in range(len(files))] == files


def test_every_read_is_as_long_as_asked_until_the_end():
    stream = ZipWriterStream([Entry("a.txt", b"x" * 10_000), Entry("b.txt", b"y" * 10)])
    sizes = []
    while chunk := stream.read(1000):
        sizes.append(len(chunk))
    assert all(size == 1000 for size in sizes[:-1]) and 0 < sizes[-1] <= 1000


def test_an_archive_that_is_not_the_one_recorded_fails_the_package():
    entry = Entry("a.zip", open=lambda: io.BytesIO(b"changed"), sha256=hashlib.sha256(b"original").hexdigest())
    with pytest.raises(StorageError) as failed:
        drain(ZipWriterStream([entry]), [4096])
    assert failed.value.reason == "changed"


@pytest.mark.slow
def test_a_large_package_is_stored_in_bounded_memory(tmp_path: Path):
    """48 MiB of archives through the whole path (ZipWriterStream, ArchiveStream, the file store): the peak of
    Python's allocations stays a few chunks, not the package."""
    archive = StreamedZip(48 * MiB, entry_size=16 * MiB)
    entries = [Entry("big.zip", open=lambda: ChunkSource(archive.chunks()), size=archive.size, compress=False)]
    store = FileArchiveStore(tmp_path)
    tracemalloc.start()
    try:
        stored = store.put(
            "packages/case/pkg.zip", ArchiveStream(ZipWriterStream(entries), max_bytes=64 * MiB), metadata={}
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.size > archive.size and peak < 12 * MiB, f"peak {peak / MiB:.1f} MiB"
    with zipfile.ZipFile(tmp_path / "packages/case/pkg.zip") as written:
        assert written.getinfo("big.zip").file_size == archive.size
        with written.open("big.zip") as inner:
            digest = hashlib.sha256()
            while block := inner.read(MiB):
                digest.update(block)
    expected = hashlib.sha256()
    for chunk in archive.chunks():
        expected.update(chunk)
    assert digest.hexdigest() == expected.hexdigest()
