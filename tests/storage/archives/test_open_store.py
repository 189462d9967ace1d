"""open_archive_store: the configured URL picks the backend; boto3's environment picks the endpoint."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from storage.archives import ArchiveStream, FileArchiveStore, S3ArchiveStore, S3Options, open_archive_store
from storage.errors import StorageError
from tests.support import zips
from tests.support.s3server import S3Endpoint


def test_a_file_url_opens_the_file_store(tmp_path: Path) -> None:
    store = open_archive_store(tmp_path.as_uri())
    assert isinstance(store, FileArchiveStore)
    store.check()


def test_an_s3_url_uses_the_standard_aws_environment(moto_s3: S3Endpoint, s3_env: Any) -> None:
    s3_env(moto_s3)
    bucket = moto_s3.new_bucket()
    store = open_archive_store(f"s3://{bucket}/evidence/prod", s3=S3Options(chunk_size=5 << 20))
    assert isinstance(store, S3ArchiveStore)
    store.check()
    stored = store.put(
        "messagebird/req-1.zip", ArchiveStream(io.BytesIO(zips.zip_bytes()), max_bytes=1 << 20), metadata={}
    )
    assert stored.uri == f"s3://{bucket}/evidence/prod/messagebird/req-1.zip"


@pytest.mark.parametrize(
    "url",
    [
        "archives",
        "/var/archives",
        "file://relative/archives",
        "file:///var/archives?x=1",
        "s3://",
        "s3://Bad_Bucket/prefix",
        "s3://ab/prefix",
        "s3://key:secret@bucket/prefix",
        "s3://bucket/../prefix",
        "gs://bucket/prefix",
    ],
)
def test_urls_that_cannot_work_are_misconfigured_and_not_repeated(url: str) -> None:
    with pytest.raises(StorageError) as refused:
        open_archive_store(url)
    assert refused.value.reason == "misconfigured"
    assert "secret" not in refused.value.message
