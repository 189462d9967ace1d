"""An accepted callback's raw signed inputs: sealed in its row, opened again whole, re-sealed on rotation, erased."""

from __future__ import annotations

import datetime as dt

import pytest

from storage import raw_inputs
from storage.crypto import SecretBox, reseal_all
from storage.errors import StorageError
from storage.models import Callback, ProcessorRequest
from storage.raw_inputs import RawInputs

OLD, NEW = "o" * 40, "n" * 40
RAW = RawInputs(
    url="https://hooks.example.test/webhooks/messagebird/personal-data",
    jwt_header="eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJ4In0.c2ln",
    hmac_header="t=1700000000,v1=abc123",
    body=b'{"requestId":"r-1","data":"https://archives.example.test/secret-link"}\xff',
    verified_at=1700000000.25,
)


def test_sealed_inputs_open_whole_and_show_nothing_in_clear():
    box = SecretBox([NEW])
    sealed = raw_inputs.seal(box, RAW)
    for clear in ("archives.example.test", "t=1700000000", "eyJhbGciOiJIUzI1NiJ9", "hooks.example.test"):
        assert clear not in sealed
    assert raw_inputs.unseal(box, sealed) == RAW
    assert "secret-link" not in repr(RAW)


def test_inputs_sealed_under_another_key_are_a_clear_error():
    with pytest.raises(StorageError) as error:
        raw_inputs.unseal(SecretBox([NEW]), raw_inputs.seal(SecretBox([OLD]), RAW))
    assert error.value.reason == "misconfigured"


def test_a_sealed_value_that_is_not_raw_inputs_is_refused():
    box = SecretBox([NEW])
    with pytest.raises(StorageError, match="not in a known form"):
        raw_inputs.unseal(box, box.seal('{"url": "x"}'))


def _callback(request_id: str, sealed: str | None) -> Callback:
    return Callback(
        provider="messagebird",
        request_id=request_id,
        verdict="accepted",
        status_code=200,
        jwt_verdict="passed",
        hmac_verdict="passed",
        raw_inputs_sealed=sealed,
    )


def _request(request_id: str) -> ProcessorRequest:
    return ProcessorRequest(
        id=request_id,
        provider="messagebird",
        kind="KIND_PERSONAL_GET",
        state="completed",
        created_at=dt.datetime.now(dt.UTC),
    )


def test_erasing_a_requests_raw_inputs_leaves_other_requests_and_the_callbacks_records(database):
    box = SecretBox([NEW])
    with database.transaction() as session:
        session.add_all([_request("r-1"), _request("r-2")])
        session.add_all(
            [
                _callback("r-1", raw_inputs.seal(box, RAW)),
                _callback("r-1", None),
                _callback("r-2", raw_inputs.seal(box, RAW)),
            ]
        )
    with database.transaction() as session:
        assert raw_inputs.erase_raw_inputs(session, "r-1") == 1
    with database.transaction() as session:
        assert raw_inputs.erase_raw_inputs(session, "r-1") == 0
        kept = {(c.request_id, c.raw_inputs_sealed is not None) for c in session.query(Callback)}
    assert kept == {("r-1", False), ("r-2", True)}


def test_rotation_reseals_the_raw_inputs_with_the_newest_key(database):
    with database.transaction() as session:
        session.add(_request("r-1"))
        session.add(_callback("r-1", raw_inputs.seal(SecretBox([OLD]), RAW)))
    with database.transaction() as session:
        assert reseal_all(session, SecretBox([NEW, OLD])) == 1
    with database.transaction() as session:
        sealed = session.query(Callback).one().raw_inputs_sealed
    assert raw_inputs.unseal(SecretBox([NEW]), sealed) == RAW
