"""A delivery is recorded with its replay keys: written together, or (deciding key live) not at all."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from storage import deliveries, jobs, lifecycle, registry
from storage.db import Database
from storage.deliveries import ArchiveDownload
from storage.models import Callback, Job, ProcessorRequest, ReplayKey, Transition
from storage.replay import DeliveryKeys

GET = "KIND_PERSONAL_GET"


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def request_id(database: Database) -> str:
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    with database.transaction() as session:
        registry.register(session, registry.NewRequest(request_id, registry.MESSAGEBIRD, GET,
                                                       signature_key_sealed="sealed"))
    return request_id


def keys(deciding: str, *others: str, lifetime: float = 600.0) -> DeliveryKeys:
    now = time.time()
    return DeliveryKeys((deciding, now + lifetime), tuple((key, now + lifetime) for key in others), now=now)


def row(request_id: str, verdict: str = "accepted") -> dict[str, object]:
    return dict(provider=registry.MESSAGEBIRD, request_id=request_id, request_kind=GET,
                received_at=dt.datetime.now(dt.UTC), remote_addr=None, http_request_id="h-1", body_sha256="0" * 64,
                body_bytes=10, verdict=verdict, reason=None, status_code=200, jwt_verdict="passed", jwt_reason=None,
                jwt_id="j-1", hmac_verdict="unchecked", hmac_reason=None, hmac_key_encoding=None,
                hmac_timestamp=None, has_archive_url=True, result="Processed")


def accept(database: Database, request_id: str, replay: DeliveryKeys) -> int | None:
    """Record an accepted GET callback that queues its archive download."""
    with database.connection() as connection:
        request = deliveries.lock_request(connection, request_id)
        assert request is not None
        moves = [lifecycle.Move(lifecycle.CALLBACK_RECEIVED, "Processed")]
        return deliveries.record_accepted(connection, request, row(request_id), moves, at=dt.datetime.now(dt.UTC),
                                          result="Processed", download=ArchiveDownload("sealed-url"), replay=replay)


def counts(database: Database, request_id: str) -> dict[str, object]:
    with database.transaction() as session:
        return {
            "callbacks": session.scalar(select(func.count()).select_from(Callback).where(Callback.request_id == request_id)),
            "transitions": session.scalar(select(func.count()).select_from(Transition)
                                          .where(Transition.request_id == request_id, Transition.callback_id.is_not(None))),
            "jobs": session.scalar(select(func.count()).select_from(Job)
                                   .where(Job.request_id == request_id, Job.kind == jobs.ARCHIVE)),
            "state": session.get(ProcessorRequest, request_id).state,
        }


def stored_keys(database: Database, *names: str) -> set[str]:
    with database.transaction() as session:
        return set(session.scalars(select(ReplayKey.key).where(ReplayKey.key.in_(names))))


def test_an_accepted_delivery_writes_its_keys_its_row_and_all_it_causes(database, request_id):
    jti, signature = f"jwt:{uuid.uuid4()}", f"hmac:{uuid.uuid4()}"
    callback_id = accept(database, request_id, keys(jti, signature))
    assert isinstance(callback_id, int)
    assert counts(database, request_id) == {"callbacks": 1, "transitions": 1, "jobs": 1,
                                            "state": lifecycle.CALLBACK_RECEIVED}
    assert stored_keys(database, jti, signature) == {jti, signature}


def test_a_live_deciding_key_writes_nothing_of_the_delivery_but_its_other_keys(database, request_id):
    jti = f"jwt:{uuid.uuid4()}"
    with database.connection() as connection:
        assert deliveries.record_delivery(connection, row("other", "duplicate"), keys(jti)) is not None
    signature = f"hmac:{uuid.uuid4()}"
    assert accept(database, request_id, keys(jti, signature)) is None
    assert counts(database, request_id) == {"callbacks": 0, "transitions": 0, "jobs": 0, "state": lifecycle.SENT}
    assert stored_keys(database, signature) == {signature}


def test_a_live_key_that_does_not_decide_does_not_stop_the_delivery(database, request_id):
    signature = f"hmac:{uuid.uuid4()}"
    with database.connection() as connection:
        assert deliveries.record_delivery(connection, row("other", "duplicate"), keys(f"jwt:{uuid.uuid4()}",
                                                                                         signature)) is not None
    assert accept(database, request_id, keys(f"jwt:{uuid.uuid4()}", signature)) is not None
    assert counts(database, request_id)["callbacks"] == 1


def test_an_expired_deciding_key_is_taken_over(database, request_id):
    jti = f"jwt:{uuid.uuid4()}"
    with database.connection() as connection:
        assert deliveries.record_delivery(connection, row("other", "duplicate"), keys(jti, lifetime=-1)) is not None
    assert accept(database, request_id, keys(jti)) is not None
    assert counts(database, request_id)["state"] == lifecycle.CALLBACK_RECEIVED


def test_a_duplicate_delivery_with_a_live_deciding_key_is_not_recorded(database, request_id):
    jti = f"jwt:{uuid.uuid4()}"
    with database.connection() as connection:
        first = deliveries.record_delivery(connection, row(request_id, "duplicate"), keys(jti))
        second = deliveries.record_delivery(connection, row(request_id, "duplicate"), keys(jti))
    assert isinstance(first, int) and second is None
    assert counts(database, request_id)["callbacks"] == 1


def test_a_delivery_rolled_back_leaves_no_key(database, request_id):
    jti = f"jwt:{uuid.uuid4()}"
    with pytest.raises(RuntimeError):
        with database.connection() as connection:
            assert deliveries.record_delivery(connection, row(request_id, "duplicate"), keys(jti)) is not None
            raise RuntimeError("the answer could not be recorded")
    assert stored_keys(database, jti) == set()
    assert accept(database, request_id, keys(jti)) is not None
