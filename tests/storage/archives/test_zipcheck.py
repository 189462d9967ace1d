"""The pure ZIP head and tail checks, on whole samples and on arbitrary bytes."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.archives.zipcheck import TAIL_BYTES, check_zip, check_zip_head, check_zip_tail
from storage.errors import StorageError
from tests.support import zips


def check(archive: bytes) -> None:
    check_zip(archive[:4], archive[-TAIL_BYTES:], len(archive))


@pytest.mark.parametrize(
    "archive",
    [
        pytest.param(zips.zip_bytes(), id="deflated"),
        pytest.param(zips.empty_zip(), id="empty"),
        pytest.param(zips.empty_zip(comment=b"nothing here"), id="empty-with-comment"),
        pytest.param(zips.zip_bytes(comment=b"c" * 0xFFFF), id="longest-comment"),
        pytest.param(zips.zip_bytes(comment=b"PK\x05\x06 inside a comment"), id="signature-in-comment"),
        pytest.param(zips.zip64_zip(), id="zip64"),
        pytest.param(zips.zip_bytes({f"f{i}.txt": b"a" for i in range(3000)}), id="directory-longer-than-tail"),
        pytest.param(b"".join(zips.StreamedZip(200_000, entry_size=50_000, block_size=7_000).chunks()), id="streamed"),
    ],
)
def test_complete_archives_pass(archive: bytes) -> None:
    check(archive)


@pytest.mark.parametrize(
    ("archive", "why"),
    [
        pytest.param(zips.self_extracting(), "does not start with a ZIP local file header", id="self-extracting"),
        pytest.param(zips.truncated(), "no end-of-central-directory record ends the file", id="truncated"),
        pytest.param(zips.trailing_junk(), "no end-of-central-directory record ends the file", id="trailing-bytes"),
        pytest.param(zips.not_a_zip(), "does not start with a ZIP local file header", id="random"),
        pytest.param(b"", "does not start", id="empty-file"),
        pytest.param(b"PK\x03\x04", "too short", id="only-a-signature"),
    ],
)
def test_broken_archives_are_refused(archive: bytes, why: str) -> None:
    with pytest.raises(StorageError, match=why) as refused:
        check(archive)
    assert refused.value.reason == "not_a_zip"
    assert not refused.value.retryable


def test_a_self_extracting_stub_is_refused_by_the_tail_alone() -> None:
    """The stub shifts the archive, so the end record's offsets no longer add up."""
    archive = zips.self_extracting()
    with pytest.raises(StorageError, match="central directory does not end where the end record starts"):
        check_zip_tail(archive[-TAIL_BYTES:], len(archive))


def test_a_comment_length_that_overshoots_the_end_is_refused() -> None:
    archive = bytearray(zips.zip_bytes(comment=b"abc"))
    struct.pack_into("<H", archive, len(archive) - 5, 10)
    with pytest.raises(StorageError, match="no end-of-central-directory record"):
        check(bytes(archive))


def test_a_directory_offset_that_misses_the_central_header_is_refused() -> None:
    archive = bytearray(zips.zip_bytes())
    end = archive.rfind(b"PK\x05\x06")
    size, offset = struct.unpack_from("<II", archive, end + 12)
    struct.pack_into("<II", archive, end + 12, size + 1, offset - 1)
    with pytest.raises(StorageError, match="does not point at a central file header"):
        check(bytes(archive))


def test_split_archives_are_refused() -> None:
    archive = bytearray(zips.zip_bytes())
    struct.pack_into("<H", archive, archive.rfind(b"PK\x05\x06") + 4, 1)
    with pytest.raises(StorageError, match="split"):
        check(bytes(archive))


def test_zip64_values_without_a_locator_are_refused() -> None:
    archive = bytearray(zips.zip_bytes())
    struct.pack_into("<I", archive, archive.rfind(b"PK\x05\x06") + 16, 0xFFFFFFFF)
    with pytest.raises(StorageError, match="without a ZIP64"):
        check(bytes(archive))


def test_a_zip64_locator_pointing_elsewhere_is_refused() -> None:
    archive = bytearray(zips.zip64_zip())
    locator = archive.rfind(b"PK\x06\x07")
    (record,) = struct.unpack_from("<Q", archive, locator + 8)
    struct.pack_into("<Q", archive, locator + 8, record - 8)
    with pytest.raises(StorageError, match="ZIP64 end-of-central-directory record"):
        check(bytes(archive))


def test_the_head_accepts_local_headers_and_empty_archives_only() -> None:
    check_zip_head(b"PK\x03\x04")
    check_zip_head(b"PK\x05\x06")
    for head in (b"PK\x01\x02", b"MZ\x90\x00", b"PK", b""):
        with pytest.raises(StorageError):
            check_zip_head(head)


@settings(max_examples=300, deadline=None)
@given(tail=st.binary(max_size=400), extra=st.integers(min_value=0, max_value=1 << 40))
def test_arbitrary_tails_raise_nothing_but_the_typed_error(tail: bytes, extra: int) -> None:
    try:
        check_zip_tail(tail, len(tail) + extra)
    except StorageError as error:
        assert error.reason == "not_a_zip"  # noqa: PT017  either outcome is allowed here; pytest.raises would demand the error


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=200),
    counts=st.tuples(*[st.integers(0, 0xFFFF)] * 4),
    sizes=st.tuples(st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF)),
    comment=st.binary(max_size=30),
    locator=st.booleans(),
)
def test_end_records_with_arbitrary_fields_raise_nothing_but_the_typed_error(
    body: bytes, counts: tuple[int, ...], sizes: tuple[int, int], comment: bytes, locator: bool
) -> None:
    """Hypothesis builds plausible end records (and ZIP64 locators) around arbitrary values."""
    prefix = body + (struct.pack("<4sIQI", b"PK\x06\x07", 0, len(body) // 2, 1) if locator else b"")
    tail = prefix + struct.pack("<4sHHHHIIH", b"PK\x05\x06", *counts, *sizes, len(comment)) + comment
    try:
        check_zip_tail(tail, len(tail))
    except StorageError as error:
        assert error.reason == "not_a_zip"  # noqa: PT017  either outcome is allowed here; pytest.raises would demand the error
