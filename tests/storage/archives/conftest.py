"""Every archive store backend behind one fixture, with a way to see what it left behind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from storage.archives import ArchiveStore, FileArchiveStore, S3ArchiveStore, S3Options
from tests.support.s3server import S3Endpoint

MiB = 1 << 20

#: Small parts so that a 12 MiB archive is a three-part multipart upload.
SMALL_PARTS = S3Options(chunk_size=5 * MiB, max_concurrency=2, max_in_memory_chunks=2)


@dataclass
class Backend:
    name: str
    store: ArchiveStore
    stored: Callable[[], list[str]]  # what a reader could find
    leftovers: Callable[[], list[str]]  # temporary files, incomplete multipart uploads
    remaining: Callable[[], list[str]]  # everything kept at all: every file, every object version and delete marker
    versioned: bool = False


def file_backend(root: Path) -> Backend:
    root.mkdir()

    def files(pattern: str) -> list[str]:
        return sorted(str(path.relative_to(root)) for path in root.rglob(pattern) if path.is_file())

    return Backend(
        name="file",
        store=FileArchiveStore(root),
        stored=lambda: [name for name in files("*") if not Path(name).name.startswith(".")],
        leftovers=lambda: files(".*"),
        remaining=lambda: files("*"),
    )


def s3_backend(
    name: str, endpoint: S3Endpoint, *, options: S3Options = SMALL_PARTS, versioned: bool = False
) -> Backend:
    bucket = endpoint.new_bucket(versioned=versioned)
    client = endpoint.client()

    def stored() -> list[str]:
        return sorted(item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", []))

    def leftovers() -> list[str]:
        return [upload["Key"] for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]

    def remaining() -> list[str]:
        listing = client.list_object_versions(Bucket=bucket)
        return sorted(
            f"{item['Key']}@{item['VersionId']}"
            for item in listing.get("Versions", []) + listing.get("DeleteMarkers", [])
        )

    store = S3ArchiveStore(bucket, "evidence", options, client=client)
    return Backend(name=name, store=store, stored=stored, leftovers=leftovers, remaining=remaining, versioned=versioned)


def backend_named(request: pytest.FixtureRequest, name: str, tmp_path: Path) -> Backend:
    """``file``, ``moto`` or ``seaweedfs``, each S3 one with ``-versioned`` for a bucket that keeps every version."""
    if name == "file":
        return file_backend(tmp_path / "archives")
    server, _, versioned = name.partition("-")
    endpoint: S3Endpoint = request.getfixturevalue("moto_s3" if server == "moto" else "seaweedfs")
    return s3_backend(name, endpoint, versioned=bool(versioned))


@pytest.fixture(params=["file", "moto", "seaweedfs"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return backend_named(request, request.param, tmp_path)


@pytest.fixture(params=["file", "moto", "seaweedfs", "moto-versioned", "seaweedfs-versioned"])
def any_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Every backend, and the S3 ones with versioning on too: what deletion must remove differs."""
    return backend_named(request, request.param, tmp_path)
