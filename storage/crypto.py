"""Secrets at rest: signature keys and archive URLs sealed with MultiFernet, values hashed.

``SECRET_KEY`` is a comma-separated list, newest first. Each entry derives (HKDF)
one Fernet key for sealing and one HMAC key for hashing personal data values, so
an operator can add a new key in front, keep the old one behind it while
``flask secrets rotate`` re-seals the stored keys, then drop the old one.
Value hashes use the newest key only: after a rotation, duplicates are found
among requests hashed with the same key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.errors import StorageError
from storage.models import Callback, Job, ProcessorRequest


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret.encode())


class SecretBox:
    """Seals and opens short secrets, and hashes personal data values with a server key."""

    def __init__(self, secret_keys: Sequence[str]) -> None:
        if not secret_keys:
            raise StorageError("misconfigured", "at least one secret key is needed")
        fernets = [Fernet(base64.urlsafe_b64encode(_derive(k, b"seal/v1"))) for k in secret_keys]
        self._fernet = MultiFernet(fernets)
        self._hash_key = _derive(secret_keys[0], b"value-hash/v1")
        self._token_keys = tuple(_derive(k, b"api-token/v1") for k in secret_keys)

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as error:
            raise StorageError("misconfigured", "a sealed value does not open with any SECRET_KEY") from error

    def reseal(self, token: str) -> str:
        """The same secret sealed with the newest key (for key rotation)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken as error:
            raise StorageError("misconfigured", "a sealed value does not open with any SECRET_KEY") from error

    def value_hash(self, field: str, value: str) -> str:
        """A keyed hash of a personal data value: equal inputs match, the value is not kept."""
        message = f"{field}\x00{normalise_value(field, value)}".encode()
        return hmac.new(self._hash_key, message, hashlib.sha256).hexdigest()

    def token_hashes(self, token: str) -> tuple[str, ...]:
        """The keyed hash of an API token under each key, newest first: a token made before a rotation still matches.

        Tokens are long random strings, so one fast HMAC-SHA256 is right (no slow
        password hash is needed for what cannot be guessed).
        """
        return tuple(hmac.new(key, token.encode(), hashlib.sha256).hexdigest() for key in self._token_keys)


def reseal_all(session: Session, box: SecretBox) -> int:
    """Re-seal every signature key, job payload and callback's raw inputs with the newest key; returns how many."""
    count = 0
    sealed_columns = (
        (ProcessorRequest, "signature_key_sealed"),
        (Job, "payload_sealed"),
        (Callback, "raw_inputs_sealed"),
    )
    for model, column in sealed_columns:
        for row in session.scalars(select(model).where(getattr(model, column).is_not(None))):
            setattr(row, column, box.reseal(getattr(row, column)))
            count += 1
    return count


def normalise_value(field: str, value: str) -> str:
    """The form in which two spellings of the same value hash alike."""
    value = value.strip()
    if field == "email":
        return value.lower()
    if field == "phone_number":
        return "".join(ch for ch in value if ch.isdigit())
    return value
