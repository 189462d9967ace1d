"""The ArchiveStore contract, run against every backend: the file store, moto and SeaweedFS."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC

import pytest

from storage.archives import ArchiveStream
from storage.archives.zipwriter import Entry, ZipWriterStream
from storage.errors import StorageError
from tests.storage.archives.conftest import Backend, MiB
from tests.support import zips

KEY = "messagebird/3f2b8c1e-request.zip"
METADATA = {"request-id": "3f2b8c1e-request"}


class SourceBroke(Exception):
    """What a download raises when the connection drops part-way."""


class BreaksAfter:
    def __init__(self, data: bytes, limit: int) -> None:
        self._data = io.BytesIO(data)
        self._limit = limit

    def read(self, size: int = -1) -> bytes:
        if self._data.tell() >= self._limit:
            raise SourceBroke("connection reset")
        return self._data.read(min(size, self._limit - self._data.tell()))


def stream_of(data: bytes, *, max_bytes: int = 64 * MiB) -> ArchiveStream:
    return ArchiveStream(io.BytesIO(data), max_bytes=max_bytes)


def multipart_sized() -> bytes:
    """12 MiB: three parts with the backends' 5 MiB part size."""
    return b"".join(zips.StreamedZip(12 * MiB, entry_size=4 * MiB).chunks())


def read_back(backend: Backend, uri: str) -> bytes:
    with backend.store.open(uri) as stored:
        return stored.read()


def assert_nothing_left(backend: Backend) -> None:
    assert backend.stored() == []
    assert backend.leftovers() == []


def test_put_stores_the_exact_bytes_with_their_hash_and_size(backend: Backend) -> None:
    archive = zips.zip_bytes()
    stored = backend.store.put(KEY, stream_of(archive), metadata=METADATA)
    assert stored.size == len(archive)
    assert stored.sha256 == hashlib.sha256(archive).hexdigest()
    assert stored.uri.endswith("/" + KEY)
    assert stored.uri.startswith("file:///" if backend.name == "file" else "s3://")
    assert stored.stored_at.tzinfo is UTC
    assert read_back(backend, stored.uri) == archive
    assert backend.leftovers() == []


def test_open_from_reads_the_archive_from_a_byte_on(backend: Backend) -> None:
    archive = zips.zip_bytes()
    stored = backend.store.put(KEY, stream_of(archive), metadata=METADATA)
    for offset in (0, 1, len(archive) // 2, len(archive) - 1):
        with backend.store.open_from(stored.uri, offset) as stream:
            assert stream.read() == archive[offset:]


def test_a_package_written_as_it_is_read_is_stored_whole(backend: Backend) -> None:
    inner = zips.zip_bytes()
    entries = [
        Entry("index.json", b'{"files": 1}'),
        Entry(
            "inner.zip",
            open=lambda: io.BytesIO(inner),
            size=len(inner),
            sha256=hashlib.sha256(inner).hexdigest(),
            compress=False,
        ),
    ]
    stored = backend.store.put(
        "packages/case-1/pkg-1.zip", stream_of_source(ZipWriterStream(entries, chunk_bytes=64)), metadata={}
    )
    written = zipfile.ZipFile(io.BytesIO(read_back(backend, stored.uri)))
    assert written.namelist() == ["index.json", "inner.zip"] and written.read("inner.zip") == inner
    assert written.testzip() is None


def test_a_package_whose_archive_changed_is_not_stored(backend: Backend) -> None:
    entries = [Entry("inner.zip", open=lambda: io.BytesIO(zips.zip_bytes()), sha256="0" * 64, compress=False)]
    with pytest.raises(StorageError) as refused:
        backend.store.put("packages/case-1/pkg-2.zip", stream_of_source(ZipWriterStream(entries)), metadata={})
    assert refused.value.reason == "changed"
    assert_nothing_left(backend)


def stream_of_source(source: ZipWriterStream, *, max_bytes: int = 64 * MiB) -> ArchiveStream:
    return ArchiveStream(source, max_bytes=max_bytes)


def test_an_archive_larger_than_one_part_is_stored_whole(backend: Backend) -> None:
    archive = multipart_sized()
    stored = backend.store.put(KEY, stream_of(archive), metadata=METADATA)
    assert stored.sha256 == hashlib.sha256(archive).hexdigest()
    assert read_back(backend, stored.uri) == archive


def test_an_empty_archive_is_stored(backend: Backend) -> None:
    stored = backend.store.put(KEY, stream_of(zips.empty_zip()), metadata=METADATA)
    assert stored.size == 22
    assert read_back(backend, stored.uri) == zips.empty_zip()


def test_a_truncated_archive_leaves_nothing_behind(backend: Backend) -> None:
    with pytest.raises(StorageError) as refused:
        backend.store.put(KEY, stream_of(multipart_sized()[:-100]), metadata=METADATA)
    assert refused.value.reason == "not_a_zip"
    assert_nothing_left(backend)


def test_a_file_that_is_not_a_zip_leaves_nothing_behind(backend: Backend) -> None:
    with pytest.raises(StorageError) as refused:
        backend.store.put(KEY, stream_of(zips.self_extracting()), metadata=METADATA)
    assert refused.value.reason == "not_a_zip"
    assert_nothing_left(backend)


def test_an_archive_over_the_limit_leaves_nothing_behind(backend: Backend) -> None:
    with pytest.raises(StorageError) as refused:
        backend.store.put(KEY, stream_of(multipart_sized(), max_bytes=11 * MiB), metadata=METADATA)
    assert refused.value.reason == "too_large"
    assert_nothing_left(backend)


def test_a_download_that_breaks_part_way_leaves_nothing_behind(backend: Backend) -> None:
    source = BreaksAfter(multipart_sized(), limit=11 * MiB)
    with pytest.raises(SourceBroke):
        backend.store.put(KEY, ArchiveStream(source, max_bytes=64 * MiB), metadata=METADATA)
    assert_nothing_left(backend)


def test_a_failed_retry_keeps_the_archive_already_stored(backend: Backend) -> None:
    first = backend.store.put(KEY, stream_of(zips.zip_bytes()), metadata=METADATA)
    with pytest.raises(StorageError):
        backend.store.put(KEY, stream_of(zips.truncated()), metadata=METADATA)
    assert read_back(backend, first.uri) == zips.zip_bytes()
    assert backend.leftovers() == []


def test_putting_the_same_key_again_replaces_the_archive(backend: Backend) -> None:
    first = backend.store.put(KEY, stream_of(zips.zip_bytes({"a.txt": b"first"})), metadata=METADATA)
    second_archive = zips.zip_bytes({"a.txt": b"second attempt"})
    second = backend.store.put(KEY, stream_of(second_archive), metadata=METADATA)
    assert second.uri == first.uri
    assert len(backend.stored()) == 1
    assert read_back(backend, second.uri) == second_archive


def test_deleting_removes_every_version_kept_and_says_what_it_removed(any_backend: Backend) -> None:
    first, second = zips.zip_bytes({"a.txt": b"first"}), zips.zip_bytes({"a.txt": b"the second attempt"})
    any_backend.store.put(KEY, stream_of(first), metadata=METADATA)
    stored = any_backend.store.put(KEY, stream_of(second), metadata=METADATA)
    deleted = any_backend.store.delete_all_versions(stored.uri)
    assert any_backend.remaining() == []
    assert deleted.uri == stored.uri
    kept = [len(first), len(second)] if any_backend.versioned else [len(second)]
    assert sorted(version.size for version in deleted.versions) == sorted(kept)
    assert not any(version.delete_marker or version.partial for version in deleted.versions)
    with pytest.raises(StorageError) as missing:
        any_backend.store.open(stored.uri)
    assert missing.value.reason == "not_found"


def test_the_versions_listed_before_a_deletion_are_those_it_removes(any_backend: Backend) -> None:
    any_backend.store.put(KEY, stream_of(zips.zip_bytes({"a.txt": b"first"})), metadata=METADATA)
    stored = any_backend.store.put(KEY, stream_of(zips.zip_bytes({"a.txt": b"second"})), metadata=METADATA)
    listed = any_backend.store.list_versions(stored.uri)
    assert len(listed) == (2 if any_backend.versioned else 1)
    assert set(any_backend.store.delete_all_versions(stored.uri).versions) == set(listed)
    assert any_backend.store.list_versions(stored.uri) == ()


def test_deleting_again_removes_nothing_and_is_not_an_error(any_backend: Backend) -> None:
    stored = any_backend.store.put(KEY, stream_of(zips.zip_bytes()), metadata=METADATA)
    any_backend.store.delete_all_versions(stored.uri)
    again = any_backend.store.delete_all_versions(stored.uri)
    assert again.versions == () and again.data_bytes == 0
    assert any_backend.remaining() == []


def test_deleting_an_archive_leaves_keys_that_merely_start_alike(any_backend: Backend) -> None:
    """S3 lists versions by prefix: ``x.zip.bak`` must not go with ``x.zip``."""
    stored = any_backend.store.put(KEY, stream_of(zips.zip_bytes()), metadata=METADATA)
    neighbour = any_backend.store.put(KEY + ".bak", stream_of(zips.empty_zip()), metadata=METADATA)
    deleted = any_backend.store.delete_all_versions(stored.uri)
    assert len(deleted.versions) == 1
    assert read_back(any_backend, neighbour.uri) == zips.empty_zip()
    assert any_backend.stored() == [("evidence/" if any_backend.name != "file" else "") + KEY + ".bak"]


def test_nothing_in_a_plain_store_stands_in_the_way_of_deletion(any_backend: Backend) -> None:
    assert any_backend.store.deletion_blocker() is None


def test_a_uri_from_elsewhere_is_not_found(backend: Backend) -> None:
    for uri in ("s3://another-bucket/evidence/x.zip", "file:///etc/passwd", "https://example.com/x.zip"):
        for use in (backend.store.open, backend.store.delete_all_versions, backend.store.list_versions):
            with pytest.raises(StorageError) as missing:
                use(uri)
            assert missing.value.reason == "not_found"


@pytest.mark.parametrize(
    "key", ["../escape.zip", "/absolute.zip", "a//b.zip", "a/../b.zip", "a/.hidden.zip", "a b.zip", "", "a/b/"]
)
def test_unsafe_keys_are_refused_before_anything_is_written(backend: Backend, key: str) -> None:
    with pytest.raises(StorageError) as refused:
        backend.store.put(key, stream_of(zips.zip_bytes()), metadata=METADATA)
    assert refused.value.reason == "misconfigured"
    assert_nothing_left(backend)


def test_metadata_that_no_backend_can_keep_is_refused(backend: Backend) -> None:
    with pytest.raises(StorageError) as refused:
        backend.store.put(KEY, stream_of(zips.zip_bytes()), metadata={"Request Id": "é"})
    assert refused.value.reason == "misconfigured"


def test_a_reachable_store_is_ready(backend: Backend) -> None:
    backend.store.check()


# -- small records (audit anchors) ---------------------------------------------------------------


def test_records_are_published_listed_and_read_back(backend: Backend) -> None:
    store = backend.store
    assert store.list_records("audit/anchors") == []
    first = store.put_record("audit/anchors/000000000001-aa.json", b'{"seq":1}')
    store.put_record("audit/anchors/000000000002-bb.json", b'{"seq":2}')
    store.put_record("audit/anchors/000000000002-bb.tsr", b"\x30\x82")
    assert store.list_records("audit/anchors/") == [
        "audit/anchors/000000000001-aa.json",
        "audit/anchors/000000000002-bb.json",
        "audit/anchors/000000000002-bb.tsr",
    ]
    assert store.read_record("audit/anchors/000000000002-bb.tsr") == b"\x30\x82"
    assert "audit/anchors/000000000001-aa.json" in first
    with pytest.raises(StorageError) as missing:
        store.read_record("audit/anchors/none.json")
    assert missing.value.reason == "not_found"
