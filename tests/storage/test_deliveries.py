"""A delivery is recorded with its replay keys and all it causes: together, or not at all.

Nothing is written when the deciding replay key is live (a resend: None) or when the
request left the state it was read in (``RequestMoved``: read again, decide again).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from sqlalchemy import func, select

from storage import deliveries, jobs, lifecycle, registry
from storage.db import Database
from storage.deliveries import ArchiveDownload
from storage.models import Callback, Job, ProcessorRequest, ReplayKey, Transition
from storage.replay import DeliveryKeys

GET = "KIND_PERSONAL_GET"


@pytest.fixture
def request_id(database: Database) -> str:
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    with database.transaction() as session:
        registry.register(
            session, registry.NewRequest(request_id, registry.MESSAGEBIRD, GET, signature_key_sealed="sealed")
        )
    return request_id


def keys(deciding: str, *others: str, lifetime: float = 600.0) -> DeliveryKeys:
    now = time.time()
    return DeliveryKeys((deciding, now + lifetime), tuple((key, now + lifetime) for key in others), now=now)


def other_request(database: Database) -> str:
    other = f"req-{uuid.uuid4().hex[:12]}"
    with database.transaction() as session:
        registry.register(session, registry.NewRequest(other, registry.MESSAGEBIRD, GET, signature_key_sealed="s"))
    return other


def row(request_id: str, verdict: str = "accepted") -> dict[str, object]:
    return {
        "provider": registry.MESSAGEBIRD,
        "request_id": request_id,
        "request_kind": GET,
        "received_at": dt.datetime.now(dt.UTC),
        "remote_addr": None,
        "http_request_id": "h-1",
        "body_sha256": "0" * 64,
        "body_bytes": 10,
        "verdict": verdict,
        "reason": None,
        "status_code": 200,
        "jwt_verdict": "passed",
        "jwt_reason": None,
        "jwt_id": "j-1",
        "hmac_verdict": "unchecked",
        "hmac_reason": None,
        "hmac_key_encoding": None,
        "hmac_timestamp": None,
        "has_archive_url": True,
        "result": "Processed",
    }


def accept(
    database: Database, request_id: str, replay: DeliveryKeys | None, request: deliveries.RequestHead | None = None
) -> int | None:
    """Record an accepted GET callback that queues its archive download."""
    request = request or deliveries.read_request(database, request_id)
    assert request is not None
    moves = [lifecycle.Move(lifecycle.CALLBACK_RECEIVED, "Processed")]
    return deliveries.record(
        database,
        deliveries.NewDelivery(
            request,
            row(request_id),
            dt.datetime.now(dt.UTC),
            moves=moves,
            result="Processed",
            download=ArchiveDownload("sealed-url"),
            replay=replay,
        ),
    )


def duplicate(database: Database, request_id: str, replay: DeliveryKeys | None) -> int | None:
    """Record a duplicate delivery (its request does not move)."""
    request = deliveries.read_request(database, request_id)
    assert request is not None
    return deliveries.record(
        database, deliveries.NewDelivery(request, row(request_id, "duplicate"), dt.datetime.now(dt.UTC), replay=replay)
    )


def counts(database: Database, request_id: str) -> dict[str, object]:
    with database.transaction() as session:
        return {
            "callbacks": session.scalar(
                select(func.count()).select_from(Callback).where(Callback.request_id == request_id)
            ),
            "transitions": session.scalar(
                select(func.count())
                .select_from(Transition)
                .where(Transition.request_id == request_id, Transition.callback_id.is_not(None))
            ),
            "jobs": session.scalar(
                select(func.count()).select_from(Job).where(Job.request_id == request_id, Job.kind == jobs.ARCHIVE)
            ),
            "state": session.get(ProcessorRequest, request_id).state,
        }


def stored_keys(database: Database, *names: str) -> set[str]:
    with database.transaction() as session:
        return set(session.scalars(select(ReplayKey.key).where(ReplayKey.key.in_(names))))


def test_an_accepted_delivery_writes_its_keys_its_row_and_all_it_causes(database, request_id):
    jti, signature = f"jwt:{uuid.uuid4()}", f"hmac:{uuid.uuid4()}"
    callback_id = accept(database, request_id, keys(jti, signature))
    assert isinstance(callback_id, int)
    assert counts(database, request_id) == {
        "callbacks": 1,
        "transitions": 1,
        "jobs": 1,
        "state": lifecycle.CALLBACK_RECEIVED,
    }
    assert stored_keys(database, jti, signature) == {jti, signature}


def test_a_live_deciding_key_writes_nothing_of_the_delivery_but_its_other_keys(database, request_id):
    jti = f"jwt:{uuid.uuid4()}"
    assert duplicate(database, other_request(database), keys(jti)) is not None
    signature = f"hmac:{uuid.uuid4()}"
    assert accept(database, request_id, keys(jti, signature)) is None
    assert counts(database, request_id) == {"callbacks": 0, "transitions": 0, "jobs": 0, "state": lifecycle.SENT}
    assert stored_keys(database, signature) == {signature}


def test_a_live_key_that_does_not_decide_does_not_stop_the_delivery(database, request_id):
    signature = f"hmac:{uuid.uuid4()}"
    assert duplicate(database, other_request(database), keys(f"jwt:{uuid.uuid4()}", signature)) is not None
    assert accept(database, request_id, keys(f"jwt:{uuid.uuid4()}", signature)) is not None
    assert counts(database, request_id)["callbacks"] == 1


def test_an_expired_deciding_key_is_taken_over(database, request_id):
    jti = f"jwt:{uuid.uuid4()}"
    assert duplicate(database, other_request(database), keys(jti, lifetime=-1)) is not None
    assert accept(database, request_id, keys(jti)) is not None
    assert counts(database, request_id)["state"] == lifecycle.CALLBACK_RECEIVED


def test_a_duplicate_delivery_with_a_live_deciding_key_is_not_recorded(database, request_id):
    jti = f"jwt:{uuid.uuid4()}"
    first = duplicate(database, request_id, keys(jti))
    second = duplicate(database, request_id, keys(jti))
    assert isinstance(first, int) and second is None
    assert counts(database, request_id)["callbacks"] == 1


def test_a_request_that_moved_since_it_was_read_gets_nothing_written(database, request_id):
    read_before = deliveries.read_request(database, request_id)
    assert accept(database, request_id, keys(f"jwt:{uuid.uuid4()}")) is not None  # a concurrent delivery won
    jti, signature = f"jwt:{uuid.uuid4()}", f"hmac:{uuid.uuid4()}"
    with pytest.raises(deliveries.RequestMoved):
        accept(database, request_id, keys(jti, signature), request=read_before)
    assert counts(database, request_id) == {
        "callbacks": 1,
        "transitions": 1,
        "jobs": 1,
        "state": lifecycle.CALLBACK_RECEIVED,
    }
    assert stored_keys(database, jti, signature) == set()


def test_without_replay_keys_the_state_is_still_checked(database, request_id):
    read_before = deliveries.read_request(database, request_id)
    assert accept(database, request_id, None) is not None
    with pytest.raises(deliveries.RequestMoved):
        accept(database, request_id, None, request=read_before)
    assert counts(database, request_id)["callbacks"] == 1


def test_the_request_is_read_without_a_lock(database, request_id):
    head = deliveries.read_request(database, request_id)
    assert head == deliveries.RequestHead(request_id, registry.MESSAGEBIRD, GET, lifecycle.SENT, "sealed")
    assert deliveries.read_request(database, "no-such-request") is None


def test_what_is_written_reads_back_through_the_models_unchanged(database, request_id):
    at = dt.datetime(2026, 12, 6, 10, 30, 15, 123456, tzinfo=dt.UTC)
    request = deliveries.read_request(database, request_id)
    moves = [lifecycle.Move(lifecycle.CALLBACK_RECEIVED, "Processed")]
    callback_id = deliveries.record(
        database,
        deliveries.NewDelivery(
            request,
            {**row(request_id), "received_at": at},
            at,
            moves=moves,
            result="Processed",
            download=ArchiveDownload("sealed-url"),
            replay=keys(f"jwt:{uuid.uuid4()}"),
        ),
    )
    with database.transaction() as session:
        callback = session.get(Callback, callback_id)
        moved = session.get(ProcessorRequest, request_id)
        transition = session.scalars(select(Transition).where(Transition.callback_id == callback_id)).one()
        job = session.scalars(select(Job).where(Job.callback_id == callback_id)).one()
    assert (callback.received_at, callback.has_archive_url, callback.jwt_verdict) == (at, True, "passed")
    assert (moved.state, moved.result, moved.authorising_callback_id, moved.updated_at) == (
        lifecycle.CALLBACK_RECEIVED,
        "Processed",
        callback_id,
        at,
    )
    assert (transition.from_state, transition.to_state, transition.at) == (
        lifecycle.SENT,
        lifecycle.CALLBACK_RECEIVED,
        at,
    )
    assert (job.kind, job.state, job.run_after, job.payload_sealed) == (jobs.ARCHIVE, jobs.QUEUED, at, "sealed-url")


class TestHolds:
    """``holds``: whether a delivery is recorded, asked only when Redis already knew its key."""

    def test_a_recorded_delivery_is_held_by_its_jwt_id_and_body(self, database: Database, request_id: str) -> None:
        accept(database, request_id, None)
        held = deliveries.DeliveryIdentity(request_id, "0" * 64, jwt_id="j-1")
        assert deliveries.holds(database, held)
        assert not deliveries.holds(database, deliveries.DeliveryIdentity(request_id, "0" * 64, jwt_id="j-2"))
        assert not deliveries.holds(database, deliveries.DeliveryIdentity(request_id, "1" * 64, jwt_id="j-1"))
        assert not deliveries.holds(database, deliveries.DeliveryIdentity(other_request(database), "0" * 64, "j-1"))

    def test_a_delivery_without_a_jwt_is_held_by_its_hmac_timestamp(self, database: Database, request_id: str) -> None:
        request = deliveries.read_request(database, request_id)
        assert request is not None
        hmac_row = {**row(request_id, "duplicate"), "jwt_verdict": "absent", "jwt_id": None, "hmac_timestamp": 1700}
        deliveries.record(database, deliveries.NewDelivery(request, hmac_row, dt.datetime.now(dt.UTC)))
        assert deliveries.holds(database, deliveries.DeliveryIdentity(request_id, "0" * 64, hmac_timestamp=1700))
        assert not deliveries.holds(database, deliveries.DeliveryIdentity(request_id, "0" * 64, hmac_timestamp=1701))

    def test_a_delivery_named_by_neither_scheme_is_a_programming_error(self, database: Database) -> None:
        with pytest.raises(ValueError, match="JWT"):
            deliveries.holds(database, deliveries.DeliveryIdentity("req-x", "0" * 64))
