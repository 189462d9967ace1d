"""What only the file store does: its URIs, its root, its temporary files."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.archives import ArchiveStream, FileArchiveStore, filestore
from storage.errors import StorageError
from tests.support import zips

KEY = "messagebird/req-7.zip"


def test_the_uri_is_the_absolute_file_url(tmp_path: Path) -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    store = FileArchiveStore(tmp_path, clock=lambda: moment)
    stored = store.put(KEY, ArchiveStream(io.BytesIO(zips.zip_bytes()), max_bytes=1 << 20), metadata={})
    assert stored.uri == (tmp_path / KEY).as_uri()
    assert stored.stored_at == moment
    assert stored.version_id is None and stored.sha256_tagged is None
    assert (tmp_path / KEY).read_bytes() == zips.zip_bytes()


def test_a_root_with_spaces_round_trips_through_its_uri(tmp_path: Path) -> None:
    root = tmp_path / "evidence store"
    root.mkdir()
    store = FileArchiveStore(root)
    stored = store.put(KEY, ArchiveStream(io.BytesIO(zips.zip_bytes()), max_bytes=1 << 20), metadata={})
    with store.open(stored.uri) as archive:
        assert archive.read() == zips.zip_bytes()


def test_files_become_readable_only_when_complete(tmp_path: Path) -> None:
    """While the upload runs, the final name does not exist; only a hidden .part file does."""
    store = FileArchiveStore(tmp_path)
    seen: list[list[str]] = []

    class Watching(io.BytesIO):
        def read(self, size: int = -1) -> bytes:
            seen.append(sorted(path.name for path in (tmp_path / "messagebird").glob("*")))
            return super().read(min(size, 100))

    store.put(KEY, ArchiveStream(Watching(zips.zip_bytes()), max_bytes=1 << 20), metadata={})
    assert all(name.startswith(".req-7.zip.") and name.endswith(".part") for names in seen[1:] for name in names)
    assert sorted(path.name for path in (tmp_path / "messagebird").iterdir()) == ["req-7.zip"]


def test_a_missing_root_is_unavailable_and_not_created(tmp_path: Path) -> None:
    store = FileArchiveStore(tmp_path / "not-mounted")
    for action in (
        store.check,
        lambda: store.put(KEY, ArchiveStream(io.BytesIO(zips.zip_bytes()), max_bytes=1 << 20), metadata={}),
    ):
        with pytest.raises(StorageError) as failure:
            action()
        assert failure.value.reason == "unavailable"
    assert not (tmp_path / "not-mounted").exists()


def test_a_relative_root_is_misconfigured() -> None:
    with pytest.raises(StorageError) as refused:
        FileArchiveStore(Path("archives"))
    assert refused.value.reason == "misconfigured"


def test_uris_cannot_climb_out_of_the_root(tmp_path: Path) -> None:
    store = FileArchiveStore(tmp_path / "root")
    for uri in (f"file://{tmp_path}/root/../secret.zip", f"file://{tmp_path}/elsewhere.zip", "file://host/x.zip"):
        with pytest.raises(StorageError) as refused:
            store.open(uri)
        assert refused.value.reason in ("not_found", "misconfigured")


def test_the_file_store_signs_no_urls(tmp_path: Path) -> None:
    assert FileArchiveStore(tmp_path).presigned_url((tmp_path / KEY).as_uri(), 60) is None


def test_deleting_removes_what_an_interrupted_write_left_too(tmp_path: Path) -> None:
    """A worker killed mid-write leaves a hidden ``.part`` file of the same archive: personal data all the same."""
    store = FileArchiveStore(tmp_path)
    stored = store.put(KEY, ArchiveStream(io.BytesIO(zips.zip_bytes()), max_bytes=1 << 20), metadata={})
    half = zips.zip_bytes()[:100]
    (tmp_path / "messagebird" / ".req-7.zip.k1ll3d.part").write_bytes(half)
    deleted = store.delete_all_versions(stored.uri)
    assert sorted((v.size, v.partial) for v in deleted.versions) == [(len(half), True), (len(zips.zip_bytes()), False)]
    assert list((tmp_path / "messagebird").iterdir()) == []


def test_the_directory_is_synced_after_the_file_is_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The removal of the directory entry is made durable, as its creation was."""
    store = FileArchiveStore(tmp_path)
    stored = store.put(KEY, ArchiveStream(io.BytesIO(zips.zip_bytes()), max_bytes=1 << 20), metadata={})
    synced: list[tuple[Path, bool]] = []
    original = filestore._fsync_directory

    def recording(directory: Path) -> None:
        synced.append((directory, (tmp_path / KEY).exists()))
        original(directory)

    monkeypatch.setattr(filestore, "_fsync_directory", recording)
    store.delete_all_versions(stored.uri)
    assert synced == [(tmp_path / "messagebird", False)]
