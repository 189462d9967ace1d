"""``S3ArchiveStore``: archives as objects in an S3 (or S3-compatible) bucket.

Where the bucket is and who we are come only from boto3's own standard configuration
(``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``, ``AWS_CONFIG_FILE`` ...);
``S3Options`` holds only how we upload. Beyond the promises of ``storage.archives.base``:

- ``put`` streams through s3transfer's managed upload with memory bounded by
  ``max_in_memory_chunks * chunk_size`` (the classic transfer client forced, so a CRT client
  cannot ignore it); a failed stream or S3 aborts the multipart upload, and ``put`` first
  aborts any upload an earlier attempt left on its key (one worker holds a request at a time);
- the whole-file SHA-256 measured by ``ArchiveStream`` is recorded (S3's ETags and checksums
  hash part hashes) and tagged ``sha256`` on the exact version written; a refused tag is logged
  (``archive.tag_failed``) and reported as ``StoredArchive.sha256_tagged = False``;
- the ``VersionId`` is the one S3 answered for that key's ``PutObject`` or
  ``CompleteMultipartUpload`` (heard on the client's ``after-call`` events; ``head_object`` the
  fallback), ``None`` when the bucket is not versioned;
- ``delete_all_versions`` deletes every version and delete marker by its id, then lists again to
  prove nothing is left; ``deletion_blocker`` names a default object lock retention that would
  refuse it, and a governance retention is never bypassed.

The bucket should carry a lifecycle rule that aborts incomplete multipart uploads after a day
(docs/operations.md, "Deploying"); the story: docs/archives.md, "The archive store".
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from storage.archives.base import DeletedArchive, DeletedVersion, StoredArchive, check_key, check_metadata
from storage.archives.s3options import S3Options
from storage.archives.stream import ArchiveStream
from storage.clock import Clock
from storage.errors import StorageError

log = logging.getLogger(__name__)


#: What S3 answers ``GetObjectLockConfiguration`` for a bucket without object lock (or an endpoint without it).
_NO_OBJECT_LOCK_CODES = frozenset({"ObjectLockConfigurationNotFoundError", "NotImplemented"})
_DELETE_BATCH = 1000  # DeleteObjects' limit
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "NotFound", "404"})
_UNAVAILABLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
        "NoSuchUpload",
    }
)


def default_client(options: S3Options) -> Any:
    """An S3 client configured by boto3's standard environment, plus ``options``."""
    settings: dict[str, Any] = {
        "max_pool_connections": max(10, options.max_concurrency * 2),
        "signature_version": "s3v4",  # presigned URLs too: botocore would sign some with SigV2
    }
    if options.checksum_when_required:
        settings["request_checksum_calculation"] = "when_required"
        settings["response_checksum_validation"] = "when_required"
    try:
        return boto3.session.Session().client("s3", config=Config(**settings))
    except (BotoCoreError, ValueError) as error:
        raise StorageError("misconfigured", f"S3 client cannot be built: {type(error).__name__}") from error


class S3ArchiveStore:
    """An ``ArchiveStore`` on one bucket and prefix; ``uri`` is ``s3://bucket/prefix/key``."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        options: S3Options,
        *,
        client: Any | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        if self._prefix:
            check_key(self._prefix)
        self._options = options
        self._client = client if client is not None else default_client(options)
        self._clock = clock or Clock().now
        self._transfer = _transfer_config(options)
        self._versions = _VersionRecorder(self._client)
        self._lockable: bool | None = None

    def put(self, key: str, stream: ArchiveStream, *, metadata: Mapping[str, str]) -> StoredArchive:
        object_key = self._object_key(check_key(key))
        extra_args = self._upload_args(check_metadata(metadata))
        self._versions.forget(self._bucket, object_key)
        self._abort_earlier_uploads(object_key)
        try:
            self._client.upload_fileobj(stream, self._bucket, object_key, ExtraArgs=extra_args, Config=self._transfer)
        except (ClientError, BotoCoreError) as error:
            raise storage_error_from_boto(error, "upload") from error
        version_id = self._version_of(object_key)
        return StoredArchive(
            uri=f"s3://{self._bucket}/{object_key}",
            size=stream.size,
            sha256=stream.sha256,
            version_id=version_id,
            stored_at=self._clock(),
            sha256_tagged=self._tag_sha256(object_key, version_id, stream.sha256),
        )

    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self._bucket)
        except (ClientError, BotoCoreError) as error:
            failure = storage_error_from_boto(error, "head bucket")
            if failure.reason == "not_found":
                raise StorageError("misconfigured", "S3 bucket does not exist") from error
            raise failure from error

    def presigned_url(self, uri: str, expires_in: int | None = None) -> str | None:
        params = {"Bucket": self._bucket, "Key": self._key_of(uri)}
        expiry = self._options.presign_expiry if expires_in is None else expires_in
        try:
            return self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=expiry)
        except BotoCoreError as error:
            raise storage_error_from_boto(error, "presign") from error

    def open(self, uri: str) -> BinaryIO:
        """The object's body as a stream (botocore's ``StreamingBody``)."""
        try:
            return self._client.get_object(Bucket=self._bucket, Key=self._key_of(uri))["Body"]
        except (ClientError, BotoCoreError) as error:
            raise storage_error_from_boto(error, "get object") from error

    def list_versions(self, uri: str) -> tuple[DeletedVersion, ...]:
        return tuple(self._versions_of(self._key_of(uri)))

    def open_from(self, uri: str, offset: int) -> BinaryIO:
        """The object's body from byte ``offset`` on (an HTTP range request to the bucket)."""
        if offset == 0:
            return self.open(uri)
        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=self._key_of(uri), Range=f"bytes={offset}-")
        except (ClientError, BotoCoreError) as error:
            raise storage_error_from_boto(error, "get object") from error
        return answer["Body"]

    def delete_all_versions(self, uri: str) -> DeletedArchive:
        """Delete every version and delete marker of exactly this key, then list it again: nothing may be left.

        A plain ``DeleteObject`` in a versioned bucket only adds a delete marker and keeps
        every byte, so the versions are listed (``ListObjectVersions``) and deleted by id
        (``DeleteObjects``). Uploads an interrupted attempt left on the key are aborted too.
        """
        object_key = self._key_of(uri)
        self._abort_earlier_uploads(object_key)
        found = self._versions_of(object_key)
        refused = self._delete_versions(object_key, found)
        left = self._versions_of(object_key)
        if refused or left:
            raise _incomplete_deletion(object_key, found, left, refused)
        return DeletedArchive(uri=uri, versions=tuple(found))

    def deletion_blocker(self) -> str | None:
        """The bucket's default object lock retention, described, or None when it has none."""
        try:
            answer = self._client.get_object_lock_configuration(Bucket=self._bucket)
        except ClientError as error:
            if _error_code(error) in _NO_OBJECT_LOCK_CODES:
                return None
            raise storage_error_from_boto(error, "get object lock configuration") from error
        except BotoCoreError as error:
            raise storage_error_from_boto(error, "get object lock configuration") from error
        return describe_default_retention(answer.get("ObjectLockConfiguration") or {})

    def put_record(self, key: str, data: bytes, *, retain_until: datetime | None = None) -> str:
        """One ``PutObject``; with ``retain_until``, a COMPLIANCE retention on this object alone, where the
        bucket was created with Object Lock (elsewhere S3 would refuse it, and it is left out)."""
        object_key = self._object_key(check_key(key))
        args: dict[str, Any] = {"ContentType": "application/octet-stream"}
        if self._options.sse is not None:
            args["ServerSideEncryption"] = self._options.sse
        if self._options.kms_key_id is not None:
            args["SSEKMSKeyId"] = self._options.kms_key_id
        if retain_until is not None and self._object_lock_enabled():
            args.update(ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=retain_until)
        try:
            self._client.put_object(Bucket=self._bucket, Key=object_key, Body=data, **args)
        except (ClientError, BotoCoreError) as error:
            raise storage_error_from_boto(error, "put record") from error
        return f"s3://{self._bucket}/{object_key}"

    def list_records(self, prefix: str) -> list[str]:
        stem = self._object_key(check_key(prefix.strip("/"))) + "/"
        keys: list[str] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=stem):
                keys += [item["Key"] for item in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as error:
            raise storage_error_from_boto(error, "list records") from error
        start = len(self._prefix) + 1 if self._prefix else 0
        return sorted(key[start:] for key in keys)

    def read_record(self, key: str) -> bytes:
        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=self._object_key(check_key(key)))
            return bytes(answer["Body"].read())
        except (ClientError, BotoCoreError) as error:
            raise storage_error_from_boto(error, "get record") from error

    def _object_lock_enabled(self) -> bool:
        """Whether the bucket was created with Object Lock (asked once per store)."""
        if self._lockable is None:
            try:
                answer = self._client.get_object_lock_configuration(Bucket=self._bucket)
                self._lockable = answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
            except ClientError as error:
                if _error_code(error) not in _NO_OBJECT_LOCK_CODES:
                    raise storage_error_from_boto(error, "get object lock configuration") from error
                self._lockable = False
            except BotoCoreError as error:
                raise storage_error_from_boto(error, "get object lock configuration") from error
        return self._lockable

    def _versions_of(self, object_key: str) -> list[DeletedVersion]:
        """Every version and delete marker of exactly ``object_key`` (the listing's prefix matches longer keys too)."""
        found: list[DeletedVersion] = []
        try:
            pages = self._client.get_paginator("list_object_versions").paginate(Bucket=self._bucket, Prefix=object_key)
            for page in pages:
                found += [
                    DeletedVersion(v["VersionId"], v.get("Size"))
                    for v in page.get("Versions", [])
                    if v["Key"] == object_key
                ]
                found += [
                    DeletedVersion(m["VersionId"], None, delete_marker=True)
                    for m in page.get("DeleteMarkers", [])
                    if m["Key"] == object_key
                ]
        except (ClientError, BotoCoreError) as error:
            raise storage_error_from_boto(error, "list object versions") from error
        return found

    def _delete_versions(self, object_key: str, versions: list[DeletedVersion]) -> list[str]:
        """``DeleteObjects`` on each version id, 1,000 at a time; the error codes of the versions S3 refused."""
        refused: list[str] = []
        for start in range(0, len(versions), _DELETE_BATCH):
            batch = [{"Key": object_key, "VersionId": v.version_id} for v in versions[start : start + _DELETE_BATCH]]
            try:
                answer = self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True})
            except (ClientError, BotoCoreError) as error:
                raise storage_error_from_boto(error, "delete object versions") from error
            refused += [_printable(str(e.get("Code", ""))) or "refused" for e in answer.get("Errors", [])]
        return refused

    def _object_key(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    def _key_of(self, uri: str) -> str:
        """The object key an ``s3://`` URI names, refused unless it is under this store."""
        stem = f"s3://{self._bucket}/{self._prefix}/" if self._prefix else f"s3://{self._bucket}/"
        if not uri.startswith(stem):
            raise StorageError("not_found", "archive URI is not in this S3 store")
        check_key(uri[len(stem) :])
        return uri[len(f"s3://{self._bucket}/") :]

    def _upload_args(self, metadata: dict[str, str]) -> dict[str, Any]:
        args: dict[str, Any] = {"Metadata": metadata, "ContentType": "application/zip"}
        if self._options.sse is not None:
            args["ServerSideEncryption"] = self._options.sse
        if self._options.kms_key_id is not None:
            args["SSEKMSKeyId"] = self._options.kms_key_id
        return args

    def _version_of(self, object_key: str) -> str | None:
        recorded, version_id = self._versions.take(self._bucket, object_key)
        if recorded:
            return version_id
        try:
            return self._client.head_object(Bucket=self._bucket, Key=object_key).get("VersionId")
        except (ClientError, BotoCoreError) as error:
            raise storage_error_from_boto(error, "head object") from error

    def _abort_earlier_uploads(self, object_key: str) -> None:
        """Abort multipart uploads an earlier attempt left on this key; a refusal is logged, never fatal."""
        try:
            listing = self._client.list_multipart_uploads(Bucket=self._bucket, Prefix=object_key)
            for upload in listing.get("Uploads", []):
                if upload["Key"] == object_key:
                    upload_id = upload["UploadId"]
                    self._client.abort_multipart_upload(Bucket=self._bucket, Key=object_key, UploadId=upload_id)
                    log.info("archive.upload_aborted", extra={"archive_key": object_key})
        except (ClientError, BotoCoreError) as error:
            reason = storage_error_from_boto(error, "abort earlier upload").reason
            log.warning("archive.abort_failed", extra={"archive_key": object_key, "reason": reason})

    def _tag_sha256(self, object_key: str, version_id: str | None, sha256: str) -> bool:
        """Attach the SHA-256 as an object tag; a refusal is logged, never fatal."""
        request: dict[str, Any] = {
            "Bucket": self._bucket,
            "Key": object_key,
            "Tagging": {"TagSet": [{"Key": "sha256", "Value": sha256}]},
        }
        if version_id is not None:
            request["VersionId"] = version_id
        try:
            self._client.put_object_tagging(**request)
        except (ClientError, BotoCoreError) as error:
            reason = storage_error_from_boto(error, "tag object").reason
            log.warning("archive.tag_failed", extra={"archive_key": object_key, "reason": reason})
            return False
        return True


class _VersionRecorder:
    """Remembers the ``VersionId`` S3 answered when an upload to a key completed.

    One handler per client, registered once; ``upload_fileobj`` completes uploads on
    s3transfer's threads, so the answers go through a lock.
    """

    _OPERATIONS = ("CompleteMultipartUpload", "PutObject")

    def __init__(self, client: Any) -> None:
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str], str | None] = {}
        for operation in self._OPERATIONS:
            client.meta.events.register(
                f"after-call.s3.{operation}", self._record, unique_id=f"archive-version-{id(self)}-{operation}"
            )

    def forget(self, bucket: str, key: str) -> None:
        with self._lock:
            self._answers.pop((bucket, key), None)

    def take(self, bucket: str, key: str) -> tuple[bool, str | None]:
        with self._lock:
            if (bucket, key) not in self._answers:
                return False, None
            return True, self._answers.pop((bucket, key))

    def _record(self, *, parsed: Mapping[str, Any], context: Mapping[str, Any], **_: Any) -> None:
        target = context.get("input_params", {})
        if "Error" in parsed or "Bucket" not in target or "Key" not in target:
            return
        with self._lock:
            self._answers[(target["Bucket"], target["Key"])] = parsed.get("VersionId")


def _transfer_config(options: S3Options) -> TransferConfig:
    config = TransferConfig(
        multipart_threshold=options.chunk_size,
        multipart_chunksize=options.chunk_size,
        max_concurrency=options.max_concurrency,
        preferred_transfer_client="classic",
    )
    # Not a constructor keyword; it is what bounds a streamed upload's memory.
    config.max_in_memory_upload_chunks = options.max_in_memory_chunks
    return config


def _incomplete_deletion(
    object_key: str, found: list[DeletedVersion], left: list[DeletedVersion], refused: list[str]
) -> StorageError:
    """The error for versions S3 kept (logged with the ids it did delete, which no receipt will list)."""
    kept = {version.version_id for version in left}
    deleted = [version.version_id for version in found if version.version_id not in kept]
    codes = sorted(set(refused))
    log.warning(
        "archive.delete_incomplete",
        extra={"archive_key": object_key, "deleted_versions": deleted, "left": len(left), "refused": codes},
    )
    because = f" (refused: {', '.join(codes)})" if codes else " (written during the deletion)"
    return StorageError(
        "misconfigured" if codes else "conflict",
        f"S3 kept {len(left)} of {len(found)} versions of the archive{because}",
    )


def describe_default_retention(configuration: Mapping[str, Any]) -> str | None:
    """What a bucket's ``ObjectLockConfiguration`` means for deleting archives, or None when it has no default
    retention."""
    retention = (configuration.get("Rule") or {}).get("DefaultRetention") or {}
    if configuration.get("ObjectLockEnabled") != "Enabled" or not retention:
        return None
    days, years = retention.get("Days") or 0, retention.get("Years") or 0
    period = f"{days} days" if days else f"{years} years"
    mode = _printable(str(retention.get("Mode", ""))) or "unknown mode"
    return (
        f"the bucket's default object lock retention ({mode}, {period}) protects every archive version for "
        f"{period} after it is written: S3 refuses to delete it before then"
    )


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def storage_error_from_boto(error: ClientError | BotoCoreError, action: str) -> StorageError:
    """The ``StorageError`` for a boto failure; the message names only the action and S3's code."""
    if isinstance(error, ClientError):
        return _from_client_error(error, action)
    if isinstance(error, (BotoConnectionError, HTTPClientError)):
        return StorageError("unavailable", f"S3 {action} failed: endpoint unreachable ({type(error).__name__})")
    return StorageError("misconfigured", f"S3 {action} failed: {type(error).__name__}")


def _from_client_error(error: ClientError, action: str) -> StorageError:
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    message = f"S3 {action} failed: {_printable(code) or status}"
    if code in _NOT_FOUND_CODES or (status == 404 and code != "NoSuchBucket"):
        return StorageError("not_found", message)
    if code in _UNAVAILABLE_CODES or status >= 500 or status in (408, 429):
        return StorageError("unavailable", message)
    if code == "EntityTooLarge":
        return StorageError("too_large", message)
    return StorageError("misconfigured", message)


def _printable(code: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "", code)[:64]
