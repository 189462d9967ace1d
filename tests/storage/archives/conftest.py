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


def file_backend(root: Path) -> Backend:
    root.mkdir()

    def files(pattern: str) -> list[str]:
        return sorted(str(path.relative_to(root)) for path in root.rglob(pattern) if path.is_file())

    return Backend(
        name="file",
        store=FileArchiveStore(root),
        stored=lambda: [name for name in files("*") if not Path(name).name.startswith(".")],
        leftovers=lambda: files(".*"),
    )


def s3_backend(name: str, endpoint: S3Endpoint, *, options: S3Options = SMALL_PARTS, versioned: bool = False) -> Backend:
    bucket = endpoint.new_bucket(versioned=versioned)
    client = endpoint.client()

    def stored() -> list[str]:
        return sorted(item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", []))

    def leftovers() -> list[str]:
        return [upload["Key"] for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]

    store = S3ArchiveStore(bucket, "evidence", options, client=client)
    return Backend(name=name, store=store, stored=stored, leftovers=leftovers)


@pytest.fixture(params=["file", "moto", "seaweedfs"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "file":
        return file_backend(tmp_path / "archives")
    endpoint: S3Endpoint = request.getfixturevalue("moto_s3" if request.param == "moto" else "seaweedfs")
    return s3_backend(request.param, endpoint)
