"""Secrets at rest: sealed and opened across key rotation; personal data values only as keyed hashes."""

from __future__ import annotations

import pytest

from storage.crypto import SecretBox
from storage.errors import StorageError

OLD, NEW = "o" * 40, "n" * 40


def test_a_sealed_secret_opens_and_does_not_show_the_plaintext():
    box = SecretBox([NEW])
    sealed = box.seal("c2lnbmF0dXJlLWtleQ==")
    assert "c2lnbmF0dXJlLWtleQ" not in sealed
    assert box.open(sealed) == "c2lnbmF0dXJlLWtleQ=="


def test_rotation_opens_old_seals_and_reseals_with_the_new_key():
    sealed_with_old = SecretBox([OLD]).seal("key")
    rotating = SecretBox([NEW, OLD])
    assert rotating.open(sealed_with_old) == "key"
    assert SecretBox([NEW]).open(rotating.reseal(sealed_with_old)) == "key"


def test_a_seal_from_an_unknown_key_is_a_clear_error():
    with pytest.raises(StorageError) as error:
        SecretBox([NEW]).open(SecretBox([OLD]).seal("key"))
    assert error.value.reason == "misconfigured"


@pytest.mark.parametrize(
    ("field", "first", "second"),
    [("email", "Jane@Example.org ", "jane@example.org"), ("phone_number", "+31 6 1234 5678", "31612345678")],
)
def test_equal_values_hash_alike_after_normalising(field, first, second):
    box = SecretBox([NEW])
    assert box.value_hash(field, first) == box.value_hash(field, second)


def test_value_hashes_are_keyed_and_field_bound():
    value = "jane@example.org"
    assert SecretBox([NEW]).value_hash("email", value) != SecretBox([OLD]).value_hash("email", value)
    assert SecretBox([NEW]).value_hash("email", value) != SecretBox([NEW]).value_hash("name", value)
    assert value not in SecretBox([NEW]).value_hash("email", value)
