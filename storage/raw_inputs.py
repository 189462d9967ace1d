"""An accepted callback's raw signed inputs, kept sealed so that its verification can be run again.

What MessageBird signed is exactly what was verified: the ``MessageBird-Signature-JWT``
and ``X-MessageBird-Signature`` headers as they came, the URL the JWT's ``url_hash`` was
checked against, the body's bytes, and the moment they were checked (``now``). They are
one sealed blob (``SecretBox``, so ``flask secrets rotate`` re-seals it) in the
accepted delivery's own ``callbacks`` row, written by the same statement as the row:
nothing is kept in clear, and the callback's hot path gains no round trip. A refused
delivery keeps none of it.

They hold the archive URL (the body's ``data``), so they go when the archive goes:
``erase_raw_inputs`` is the retention run's one call.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from storage.crypto import SecretBox
from storage.db import rows_changed
from storage.errors import StorageError
from storage.models import Callback

#: The version of the sealed form, so that a later one can still read what was kept before it.
FORM = 1


@dataclass(frozen=True)
class RawInputs:
    """What one delivery's verification read: headers, URL, body, and when it ran (seconds since the epoch)."""

    url: str
    jwt_header: str | None
    hmac_header: str | None
    body: bytes
    verified_at: float

    def __repr__(self) -> str:  # the body holds an archive URL, the headers bearer-like tokens
        return f"RawInputs(url=..., body={len(self.body)} bytes, verified_at={self.verified_at})"


def seal(box: SecretBox, raw: RawInputs) -> str:
    """The sealed blob of ``raw``: one Fernet token over a small JSON document."""
    document = {
        "v": FORM,
        "url": raw.url,
        "jwt": raw.jwt_header,
        "hmac": raw.hmac_header,
        "body": base64.b64encode(raw.body).decode("ascii"),
        "at": raw.verified_at,
    }
    return box.seal(json.dumps(document, separators=(",", ":")))


def unseal(box: SecretBox, sealed: str) -> RawInputs:
    """The inputs sealed in ``sealed``; ``StorageError`` when they do not open or are not in a known form."""
    try:
        document = json.loads(box.open(sealed))
        if document["v"] != FORM:
            raise ValueError(document["v"])
        return RawInputs(
            url=str(document["url"]),
            jwt_header=document["jwt"],
            hmac_header=document["hmac"],
            body=base64.b64decode(document["body"], validate=True),
            verified_at=float(document["at"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise StorageError("misconfigured", "sealed raw inputs are not in a known form") from error


def erase_raw_inputs(session: Session, request_id: str) -> int:
    """Erase the kept raw inputs of every callback of ``request_id``; how many were erased (idempotent)."""
    statement = (
        update(Callback)
        .where(Callback.request_id == request_id, Callback.raw_inputs_sealed.is_not(None))
        .values(raw_inputs_sealed=None)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(session, statement)
