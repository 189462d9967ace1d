"""How the S3 archive store uploads: its options, checked when made.

Apart from ``s3store`` so that reading the settings (every process does) does not load boto3,
which only a service whose archives go to S3 needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from storage.errors import StorageError

MiB = 1 << 20
_MIN_PART = 5 * MiB  # S3's smallest part but the last
_MAX_PART = 5 * 1024 * MiB
_MAX_PRESIGN = 7 * 24 * 3600


@dataclass(frozen=True)
class S3Options:
    """How the store uploads; where and as whom come from boto3's standard environment."""

    chunk_size: int = 8 * MiB
    max_concurrency: int = 4
    max_in_memory_chunks: int = 4
    sse: Literal["AES256", "aws:kms"] | None = None
    kms_key_id: str | None = None
    #: botocore >= 1.36 sends CRC32 checksums by default, which several S3-compatible
    #: endpoints reject; True sends checksums only where an operation requires them.
    checksum_when_required: bool = False
    presign_expiry: int = 300

    def __post_init__(self) -> None:
        problems = [
            (not _MIN_PART <= self.chunk_size <= _MAX_PART, "chunk_size must be between 5 MiB and 5 GiB"),
            (self.max_concurrency < 1, "max_concurrency must be at least 1"),
            (self.max_in_memory_chunks < 1, "max_in_memory_chunks must be at least 1"),
            (self.sse not in (None, "AES256", "aws:kms"), "sse must be AES256, aws:kms or None"),
            (self.kms_key_id is not None and self.sse != "aws:kms", "kms_key_id needs sse='aws:kms'"),
            (not 1 <= self.presign_expiry <= _MAX_PRESIGN, "presign_expiry must be 1 s to 7 days"),
        ]
        for failed, message in problems:
            if failed:
                raise StorageError("misconfigured", f"S3 options: {message}")
