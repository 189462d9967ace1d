"""What only the S3 store does: multipart, versions, tags, presigned URLs, SSE, error translation."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import socket
import time
import uuid

import pytest
import requests
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError

from storage.archives import ArchiveStream, S3ArchiveStore, S3Options
from storage.archives.s3store import (
    _transfer_config,
    default_client,
    describe_default_retention,
    storage_error_from_boto,
)
from storage.errors import StorageError
from tests.storage.archives.conftest import SMALL_PARTS, MiB
from tests.support import zips
from tests.support.s3server import UNTAGGING_ACCESS_KEY, UNTAGGING_SECRET_KEY, S3Endpoint

KEY = "messagebird/req-42.zip"
METADATA = {"request-id": "req-42"}


class Trickle(io.RawIOBase):
    """A source that hands out at most ``step`` bytes per read, like a slow socket."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = io.BytesIO(data)
        self._step = step

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(self._step, size if size >= 0 else self._step))


def store_on(
    endpoint: S3Endpoint, *, versioned: bool = False, options: S3Options = SMALL_PARTS
) -> tuple[S3ArchiveStore, str]:
    bucket = endpoint.new_bucket(versioned=versioned)
    return S3ArchiveStore(bucket, "evidence", options, client=endpoint.client()), bucket


def twelve_mib() -> bytes:
    return b"".join(zips.StreamedZip(12 * MiB, entry_size=4 * MiB).chunks())


def test_a_slowly_arriving_archive_is_still_uploaded_in_parts(seaweedfs: S3Endpoint) -> None:
    """Short source reads must not turn the upload into one in-memory PutObject."""
    store, bucket = store_on(seaweedfs)
    archive = twelve_mib()
    stored = store.put(KEY, ArchiveStream(Trickle(archive, 64 * 1024), max_bytes=64 * MiB), metadata=METADATA)
    head = seaweedfs.client().head_object(Bucket=bucket, Key="evidence/" + KEY)
    assert head["ETag"].strip('"').endswith("-3")
    assert head["ContentLength"] == stored.size == len(archive)


@pytest.mark.parametrize("server", ["moto_s3", "seaweedfs"])
def test_an_upload_an_earlier_attempt_left_on_the_key_is_aborted(request: pytest.FixtureRequest, server: str) -> None:
    """A killed worker, or an abort that failed while S3 was down, leaves an upload the retry cleans up."""
    endpoint: S3Endpoint = request.getfixturevalue(server)
    store, bucket = store_on(endpoint)
    client = endpoint.client()
    client.create_multipart_upload(Bucket=bucket, Key="evidence/" + KEY)
    client.create_multipart_upload(Bucket=bucket, Key="evidence/" + KEY + ".other")
    store.put(KEY, ArchiveStream(io.BytesIO(zips.zip_bytes()), max_bytes=MiB), metadata=METADATA)
    left = [upload["Key"] for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    assert left == ["evidence/" + KEY + ".other"]


@pytest.mark.parametrize("server", ["moto_s3", "seaweedfs"])
def test_the_version_written_is_recorded(request: pytest.FixtureRequest, server: str) -> None:
    endpoint: S3Endpoint = request.getfixturevalue(server)
    store, bucket = store_on(endpoint, versioned=True)
    client = endpoint.client()
    small = store.put(KEY, ArchiveStream(io.BytesIO(zips.zip_bytes()), max_bytes=MiB), metadata=METADATA)
    large = store.put(KEY, ArchiveStream(io.BytesIO(twelve_mib()), max_bytes=64 * MiB), metadata=METADATA)
    versions = client.list_object_versions(Bucket=bucket)["Versions"]
    assert {small.version_id, large.version_id} == {version["VersionId"] for version in versions}
    assert client.head_object(Bucket=bucket, Key="evidence/" + KEY)["VersionId"] == large.version_id


@pytest.mark.parametrize("server", ["moto_s3", "seaweedfs"])
def test_an_unversioned_bucket_records_no_version(request: pytest.FixtureRequest, server: str) -> None:
    store, _ = store_on(request.getfixturevalue(server))
    stored = store.put(KEY, ArchiveStream(io.BytesIO(zips.zip_bytes()), max_bytes=MiB), metadata=METADATA)
    assert stored.version_id in (None, "null")


def test_the_request_id_is_metadata_and_the_hash_is_a_tag_on_that_version(seaweedfs: S3Endpoint) -> None:
    store, bucket = store_on(seaweedfs, versioned=True)
    archive = twelve_mib()
    stored = store.put(KEY, ArchiveStream(io.BytesIO(archive), max_bytes=64 * MiB), metadata=METADATA)
    client = seaweedfs.client()
    head = client.head_object(Bucket=bucket, Key="evidence/" + KEY)
    tags = client.get_object_tagging(Bucket=bucket, Key="evidence/" + KEY, VersionId=stored.version_id)["TagSet"]
    assert head["Metadata"] == METADATA
    assert head["ContentType"] == "application/zip"
    assert tags == [{"Key": "sha256", "Value": hashlib.sha256(archive).hexdigest()}]
    assert stored.sha256_tagged is True


def test_a_refused_tag_is_logged_and_the_archive_kept(seaweedfs: S3Endpoint, caplog: pytest.LogCaptureFixture) -> None:
    bucket = seaweedfs.new_bucket()
    untagging = seaweedfs.as_identity(UNTAGGING_ACCESS_KEY, UNTAGGING_SECRET_KEY)
    store = S3ArchiveStore(bucket, "evidence", SMALL_PARTS, client=untagging.client())
    with caplog.at_level(logging.WARNING, logger="storage.archives.s3store"):
        stored = store.put(KEY, ArchiveStream(io.BytesIO(zips.zip_bytes()), max_bytes=MiB), metadata=METADATA)
    assert stored.sha256_tagged is False
    assert [(record.message, record.reason) for record in caplog.records] == [("archive.tag_failed", "misconfigured")]
    assert seaweedfs.client().head_object(Bucket=bucket, Key="evidence/" + KEY)["ContentLength"] == stored.size


@pytest.mark.parametrize("server", ["moto_s3", "seaweedfs"])
def test_server_side_encryption_is_requested(request: pytest.FixtureRequest, server: str) -> None:
    endpoint: S3Endpoint = request.getfixturevalue(server)
    store, bucket = store_on(endpoint, options=S3Options(chunk_size=5 * MiB, sse="AES256"))
    store.put(KEY, ArchiveStream(io.BytesIO(zips.zip_bytes()), max_bytes=MiB), metadata=METADATA)
    assert endpoint.client().head_object(Bucket=bucket, Key="evidence/" + KEY)["ServerSideEncryption"] == "AES256"


def test_a_presigned_url_downloads_the_archive_until_it_expires(seaweedfs: S3Endpoint) -> None:
    store, _ = store_on(seaweedfs)
    archive = zips.zip_bytes()
    stored = store.put(KEY, ArchiveStream(io.BytesIO(archive), max_bytes=MiB), metadata=METADATA)
    url = store.presigned_url(stored.uri, expires_in=1)
    assert url is not None
    fresh = requests.get(url, timeout=10)
    assert fresh.status_code == 200 and fresh.content == archive
    time.sleep(2.1)
    assert requests.get(url, timeout=10).status_code == 403


def test_presigned_urls_default_to_the_configured_expiry(moto_s3: S3Endpoint) -> None:
    store, _ = store_on(moto_s3, options=S3Options(presign_expiry=120))
    url = store.presigned_url(f"s3://{store._bucket}/evidence/{KEY}")
    assert url is not None and "X-Amz-Expires=120" in url


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_endpoint_is_unavailable() -> None:
    endpoint = S3Endpoint(url=f"http://127.0.0.1:{closed_port()}")
    store = S3ArchiveStore("archives", "", SMALL_PARTS, client=endpoint.client(retries={"max_attempts": 1}))
    for action in (
        store.check,
        lambda: store.put(KEY, ArchiveStream(io.BytesIO(zips.zip_bytes()), max_bytes=MiB), metadata={}),
    ):
        with pytest.raises(StorageError) as failure:
            action()
        assert failure.value.reason == "unavailable" and failure.value.retryable
        assert "127.0.0.1" not in failure.value.message


def test_a_missing_bucket_or_unknown_credentials_are_misconfigured(seaweedfs: S3Endpoint) -> None:
    missing = S3ArchiveStore("no-such-bucket-here", "", SMALL_PARTS, client=seaweedfs.client())
    stranger = S3ArchiveStore(
        seaweedfs.new_bucket(), "", SMALL_PARTS, client=seaweedfs.as_identity("who", "secret").client()
    )
    for store in (missing, stranger):
        with pytest.raises(StorageError) as failure:
            store.check()
        assert failure.value.reason == "misconfigured"
        assert "secret" not in failure.value.message


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject"
    )


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (client_error("NoSuchKey", 404), "not_found"),
        (client_error("404", 404), "not_found"),
        (client_error("NoSuchBucket", 404), "misconfigured"),
        (client_error("AccessDenied", 403), "misconfigured"),
        (client_error("InvalidAccessKeyId", 403), "misconfigured"),
        (client_error("SignatureDoesNotMatch", 403), "misconfigured"),
        (client_error("SlowDown", 503), "unavailable"),
        (client_error("InternalError", 500), "unavailable"),
        (client_error("TooManyRequests", 429), "unavailable"),
        (client_error("EntityTooLarge", 400), "too_large"),
        (client_error("InvalidRequest", 400), "misconfigured"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1/?X-Amz-Signature=abc"), "unavailable"),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1/"), "unavailable"),
        (NoCredentialsError(), "misconfigured"),
    ],
)
def test_boto_errors_become_storage_errors_without_urls(error: Exception, reason: str) -> None:
    translated = storage_error_from_boto(error, "upload")  # type: ignore[arg-type]
    assert translated.reason == reason
    assert "abc" not in translated.message and "http" not in translated.message


def test_memory_is_bounded_by_in_memory_chunks_and_the_classic_client() -> None:
    config = _transfer_config(S3Options(chunk_size=16 * MiB, max_concurrency=4, max_in_memory_chunks=3))
    assert config.max_in_memory_upload_chunks == 3
    assert config.multipart_chunksize == config.multipart_threshold == 16 * MiB
    assert config.max_request_concurrency == 4
    assert config.preferred_transfer_client == "classic"


def test_checksums_only_when_required_is_a_client_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = default_client(S3Options(checksum_when_required=True))
    assert client.meta.config.request_checksum_calculation == "when_required"
    assert client.meta.config.response_checksum_validation == "when_required"
    assert client.meta.config.signature_version == "s3v4"


@pytest.mark.parametrize(
    "options",
    [
        {"chunk_size": MiB},
        {"max_concurrency": 0},
        {"max_in_memory_chunks": 0},
        {"sse": "DES"},
        {"kms_key_id": "alias/archives"},
        {"presign_expiry": 0},
    ],
)
def test_options_that_cannot_work_are_misconfigured(options: dict) -> None:
    with pytest.raises(StorageError) as refused:
        S3Options(**options)
    assert refused.value.reason == "misconfigured"


@pytest.mark.parametrize("server", ["moto_s3", "seaweedfs"])
def test_a_delete_marker_hides_the_versions_and_deletion_removes_both(
    request: pytest.FixtureRequest, server: str
) -> None:
    """A plain DeleteObject in a versioned bucket keeps every byte behind a marker: not deletion."""
    endpoint: S3Endpoint = request.getfixturevalue(server)
    store, bucket = store_on(endpoint, versioned=True)
    client = endpoint.client()
    stored = store.put(KEY, ArchiveStream(io.BytesIO(zips.zip_bytes()), max_bytes=MiB), metadata=METADATA)
    client.delete_object(Bucket=bucket, Key="evidence/" + KEY)
    assert client.list_object_versions(Bucket=bucket)["Versions"][0]["VersionId"] == stored.version_id
    deleted = store.delete_all_versions(stored.uri)
    assert sorted((v.delete_marker, v.size) for v in deleted.versions) == [(False, stored.size), (True, None)]
    assert stored.version_id in {v.version_id for v in deleted.versions}
    listing = client.list_object_versions(Bucket=bucket)
    assert listing.get("Versions", []) == [] and listing.get("DeleteMarkers", []) == []


@pytest.mark.parametrize("server", ["moto_s3", "seaweedfs"])
def test_an_upload_left_on_the_key_goes_with_the_archive(request: pytest.FixtureRequest, server: str) -> None:
    endpoint: S3Endpoint = request.getfixturevalue(server)
    store, bucket = store_on(endpoint)
    client = endpoint.client()
    stored = store.put(KEY, ArchiveStream(io.BytesIO(zips.zip_bytes()), max_bytes=MiB), metadata=METADATA)
    client.create_multipart_upload(Bucket=bucket, Key="evidence/" + KEY)
    store.delete_all_versions(stored.uri)
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.parametrize("server", ["moto_s3", "seaweedfs"])
def test_a_default_object_lock_retention_is_named_and_its_refusal_keeps_the_receipt_unwritten(
    request: pytest.FixtureRequest, server: str
) -> None:
    endpoint: S3Endpoint = request.getfixturevalue(server)
    bucket = endpoint.new_locked_bucket()
    store = S3ArchiveStore(bucket, "evidence", SMALL_PARTS, client=endpoint.client())
    blocker = store.deletion_blocker()
    assert blocker is not None and "GOVERNANCE, 1 days" in blocker and "refuses to delete" in blocker
    stored = store.put(KEY, ArchiveStream(io.BytesIO(zips.zip_bytes()), max_bytes=MiB), metadata=METADATA)
    with pytest.raises(StorageError) as refused:
        store.delete_all_versions(stored.uri)
    assert refused.value.reason == "misconfigured"
    assert refused.value.message == "S3 kept 1 of 1 versions of the archive (refused: AccessDenied)"
    with store.open(stored.uri) as kept:
        assert kept.read() == zips.zip_bytes()


@pytest.mark.parametrize("server", ["moto_s3", "seaweedfs"])
def test_a_bucket_without_object_lock_blocks_nothing(request: pytest.FixtureRequest, server: str) -> None:
    store, _ = store_on(request.getfixturevalue(server), versioned=True)
    assert store.deletion_blocker() is None


@pytest.mark.parametrize(
    ("configuration", "described"),
    [
        ({}, None),
        ({"ObjectLockEnabled": "Enabled"}, None),
        (
            {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 7}}},
            "(COMPLIANCE, 7 years)",
        ),
        (
            {
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30, "Years": 0}},
            },
            "(GOVERNANCE, 30 days)",
        ),
    ],
)
def test_object_lock_configurations_are_described_by_what_they_do_to_deletion(configuration, described) -> None:
    answer = describe_default_retention(configuration)
    assert answer == described if described is None else described in answer


@pytest.mark.parametrize("server", ["moto_s3", "seaweedfs"])
def test_a_record_is_retained_where_the_bucket_allows_object_lock_and_stored_plainly_elsewhere(
    request: pytest.FixtureRequest, server: str
) -> None:
    endpoint: S3Endpoint = request.getfixturevalue(server)
    client = endpoint.client()
    locked = f"lockable-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=locked, ObjectLockEnabledForBucket=True)  # no default retention: archives deletable
    until = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=1)
    store = S3ArchiveStore(locked, "evidence", SMALL_PARTS, client=client)
    store.put_record("audit/anchors/1.json", b"{}", retain_until=until)
    head = client.head_object(Bucket=locked, Key="evidence/audit/anchors/1.json")
    assert (head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")) == ("COMPLIANCE", until)
    assert store.deletion_blocker() is None
    plain, _ = store_on(endpoint, versioned=False)
    plain.put_record("audit/anchors/1.json", b"{}", retain_until=until)
    assert plain.read_record("audit/anchors/1.json") == b"{}"
