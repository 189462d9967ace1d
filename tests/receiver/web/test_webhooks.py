"""The callback endpoint: every answer it gives, and what it records for each."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest
from sqlalchemy import select

from app import create_app
from storage import lifecycle, raw_inputs, registry
from storage.models import Callback, Job, ProcessorRequest, RefusedDelivery, Transition
from tests.conftest import CALLBACK_URL
from tests.receiver.conftest import CALLBACK_PATH, callback_body
from tests.support.databases import Backend
from tests.support.scan import database_dump, occurrences
from verification import HMAC_HEADER, JWT_HEADER


def stored(services, model, **filters):
    with services.database.transaction() as session:
        return session.scalars(select(model).filter_by(**filters).order_by(model.id)).all()


def request_state(services, request_id="req-1") -> str:
    with services.database.transaction() as session:
        return session.get(ProcessorRequest, request_id).state


def samples(services) -> list[RefusedDelivery]:
    services.refusal_samples.flush()  # written in batches: this process's batch, now
    with services.database.transaction() as session:
        return session.scalars(select(RefusedDelivery).order_by(RefusedDelivery.received_at)).all()


def refused_reason(services) -> str:
    """The reason of the one refusal a test made (a fresh app samples its first refusal)."""
    [sample] = samples(services)
    return sample.reason


class TestRawInputs:
    """An accepted delivery keeps exactly what was verified, sealed; nothing else keeps any of it."""

    def test_an_accepted_callback_keeps_its_exact_signed_inputs_sealed(
        self, register, client, messagebird_signer, services
    ):
        register("req-1", "KIND_PERSONAL_GET")
        body = callback_body("req-1", data="https://files.example.test/kept-sealed.zip")
        headers = messagebird_signer(CALLBACK_URL, body)
        assert (
            client.post(CALLBACK_PATH, data=body, headers=headers, content_type="application/json").status_code == 200
        )
        [callback] = stored(services, Callback)
        kept = raw_inputs.unseal(services.secrets, callback.raw_inputs_sealed)
        assert (kept.url, kept.body) == (CALLBACK_URL, body)
        assert (kept.jwt_header, kept.hmac_header) == (headers[JWT_HEADER], headers[HMAC_HEADER])
        # the replay cache keeps the HMAC's v1 value, public and short-lived, by design; never the header
        in_clear = (
            headers[JWT_HEADER],
            headers[JWT_HEADER].rsplit(".", 1)[1],
            headers[HMAC_HEADER],
            "kept-sealed",
            '"requestKind": "KIND_PERSONAL_GET"',
        )
        dump = database_dump(services.settings.database_url)
        assert dump.rows > 0
        assert occurrences(dump.text, in_clear) == dict.fromkeys(in_clear, 0)

    def test_a_newly_signed_duplicate_and_a_refusal_keep_none(self, register, deliver, services):
        register("req-1", "KIND_USER_DELETE")
        assert deliver(callback_body("req-1", "KIND_USER_DELETE")).status_code == 200
        assert deliver(callback_body("req-1", "KIND_USER_DELETE")).json["status"] == "duplicate"
        assert deliver(callback_body("req-1", "KIND_USER_DELETE"), wrong_key=True).status_code == 401
        kept = [(c.verdict, c.raw_inputs_sealed is not None) for c in stored(services, Callback)]
        assert kept == [("accepted", True), ("duplicate", False)]


class TestAccepted:
    def test_a_get_callback_with_an_archive_url_is_recorded_and_queued(self, register, deliver, services):
        register("req-1", "KIND_PERSONAL_GET")
        response = deliver(callback_body("req-1", data="https://files.example.test/a.zip"))
        assert response.status_code == 200
        assert response.json == {"status": "accepted", "requestId": "req-1"}
        assert request_state(services) == "callback_received"
        [job] = stored(services, Job, request_id="req-1")
        [callback] = stored(services, Callback, request_id="req-1")
        assert (job.kind, job.state, job.callback_id) == ("archive", "queued", callback.id)
        assert "files.example.test" not in (job.payload_sealed or "")
        assert (callback.verdict, callback.jwt_verdict, callback.hmac_verdict) == ("accepted", "passed", "passed")
        assert callback.has_archive_url is True

    @pytest.mark.parametrize("kind", ["KIND_PERSONAL_DELETE", "KIND_USER_DELETE"])
    def test_an_erasure_callback_completes_the_request(self, register, deliver, services, kind):
        register("req-1", kind)
        assert deliver(callback_body("req-1", kind)).status_code == 200
        with services.database.transaction() as session:
            request = session.get(ProcessorRequest, "req-1")
            assert (request.state, request.state_reason) == ("completed", "erasure confirmed")
            assert [t.to_state for t in request.transitions] == ["sent", "callback_received", "completed"]
        assert stored(services, Job) == []

    def test_a_get_callback_without_data_completes_with_no_personal_data_held(self, register, deliver, services):
        register("req-1", "KIND_USER_GET")
        assert deliver(callback_body("req-1", "KIND_USER_GET", data="")).status_code == 200
        with services.database.transaction() as session:
            request = session.get(ProcessorRequest, "req-1")
            assert (request.state, request.state_reason) == ("completed", "no personal data held")

    @pytest.mark.parametrize("scheme", ["jwt", "hmac"])
    def test_one_valid_scheme_is_enough_under_the_default_policy(self, register, deliver, services, scheme):
        register("req-1", "KIND_USER_DELETE")
        response = deliver(callback_body("req-1", "KIND_USER_DELETE"), schemes=(scheme,))
        assert response.status_code == 200
        [callback] = stored(services, Callback)
        other = "hmac" if scheme == "jwt" else "jwt"
        assert getattr(callback, f"{scheme}_verdict") == "passed"
        assert getattr(callback, f"{other}_verdict") == "absent"

    def test_the_hmac_key_encoding_that_matched_is_recorded(self, register, deliver, services):
        register("req-1", "KIND_USER_DELETE")
        deliver(callback_body("req-1", "KIND_USER_DELETE"), schemes=("hmac",))
        [callback] = stored(services, Callback)
        assert callback.hmac_key_encoding == "base64"

    def test_the_signed_url_keeps_the_raw_query_string(self, register, deliver):
        register("req-1", "KIND_USER_DELETE")
        response = deliver(callback_body("req-1", "KIND_USER_DELETE"), query="b=2&a=1&a=%20")
        assert response.status_code == 200

    def test_the_host_header_does_not_change_the_signed_url(self, register, client, messagebird_signer):
        register("req-1", "KIND_USER_DELETE")
        body = callback_body("req-1", "KIND_USER_DELETE")
        forged_url = "https://attacker.example/webhooks/messagebird/personal-data"
        headers = messagebird_signer(forged_url, body)
        headers.pop("X-MessageBird-Signature")
        headers.update({"Host": "attacker.example", "X-Forwarded-Host": "attacker.example"})
        response = client.post(CALLBACK_PATH, data=body, headers=headers, content_type="application/json")
        assert response.status_code == 401


class TestDuplicatesAndReplays:
    def test_a_second_genuine_delivery_is_a_duplicate_that_changes_nothing(self, register, deliver, services):
        register("req-1", "KIND_PERSONAL_GET")
        body = callback_body("req-1", data="https://files.example.test/a.zip")
        assert deliver(body).status_code == 200
        second = deliver(body)
        assert second.status_code == 200
        assert second.json["status"] == "duplicate"
        assert len(stored(services, Job)) == 1
        assert [c.verdict for c in stored(services, Callback)] == ["accepted", "duplicate"]
        assert request_state(services) == "callback_received"

    def test_a_duplicate_for_a_completed_request_is_answered_200(self, register, deliver, services):
        register("req-1", "KIND_USER_DELETE")
        body = callback_body("req-1", "KIND_USER_DELETE")
        deliver(body)
        assert deliver(body).json["status"] == "duplicate"
        assert request_state(services) == "completed"

    def test_an_identical_resend_is_a_duplicate_that_writes_nothing(self, register, deliver, services):
        register("req-1", "KIND_USER_DELETE")
        body = callback_body("req-1", "KIND_USER_DELETE")
        assert deliver(body, schemes=("jwt",)).status_code == 200
        resend = deliver(body, schemes=("jwt",), replayed=True)
        assert (resend.status_code, resend.json["status"]) == (200, "duplicate")
        assert [c.verdict for c in stored(services, Callback)] == ["accepted"]
        assert samples(services) == []

    def test_a_resend_stripped_of_its_jwt_is_still_known(self, register, client, messagebird_signer, services):
        register("req-1", "KIND_USER_DELETE")
        body = callback_body("req-1", "KIND_USER_DELETE")
        headers = messagebird_signer(CALLBACK_URL, body)
        assert (
            client.post(CALLBACK_PATH, data=body, headers=headers, content_type="application/json").status_code == 200
        )
        hmac_only = {"X-MessageBird-Signature": headers["X-MessageBird-Signature"]}
        resend = client.post(CALLBACK_PATH, data=body, headers=hmac_only, content_type="application/json")
        assert resend.json["status"] == "duplicate"
        assert len(stored(services, Callback)) == 1

    def test_a_token_refused_for_its_hmac_is_not_burned(self, register, client, deliver, messagebird_signer):
        register("req-1", "KIND_USER_DELETE")
        body = callback_body("req-1", "KIND_USER_DELETE")
        good = messagebird_signer(CALLBACK_URL, body)
        bad_hmac = {**good, "X-MessageBird-Signature": good["X-MessageBird-Signature"].replace("v1=", "v1=00")}
        assert (
            client.post(CALLBACK_PATH, data=body, headers=bad_hmac, content_type="application/json").status_code == 401
        )
        assert client.post(CALLBACK_PATH, data=body, headers=good, content_type="application/json").status_code == 200


class Killed(BaseException):
    """A worker's death (SIGKILL, OOM) between the replay keys and the record: no ``except`` of the service runs."""


def test_a_delivery_whose_worker_died_before_its_record_is_recorded_when_resent(
    register, client, messagebird_signer, services, monkeypatch
):
    """Redis holds a replay key the database never recorded (the process died between the two): the
    identical resend is decided and recorded as new, not answered ``duplicate``; a resend of that is."""
    from storage import deliveries

    register("req-1", "KIND_USER_DELETE")
    body = callback_body("req-1", "KIND_USER_DELETE")
    headers = messagebird_signer(CALLBACK_URL, body)

    def die(*_arguments):
        raise Killed

    monkeypatch.setattr(deliveries, "record", die)
    with pytest.raises(Killed):
        client.post(CALLBACK_PATH, data=body, headers=headers, content_type="application/json")
    monkeypatch.undo()
    resent = client.post(CALLBACK_PATH, data=body, headers=headers, content_type="application/json")
    assert resent.json["status"] == "accepted"
    hmac_only = {"X-MessageBird-Signature": headers["X-MessageBird-Signature"]}
    again = client.post(CALLBACK_PATH, data=body, headers=hmac_only, content_type="application/json")
    assert again.json["status"] == "duplicate"
    assert [c.verdict for c in stored(services, Callback)] == ["accepted"]
    assert request_state(services) == "completed"


def fail_request(services, request_id="req-1", reason="download failed: http_404") -> None:
    with services.database.transaction() as session:
        lifecycle.move(registry.find(session, request_id, for_update=True), lifecycle.FAILED, reason=reason)


class TestFailedRequests:
    def test_a_newly_signed_callback_moves_a_failed_request_on(self, register, deliver, services):
        register("req-1", "KIND_PERSONAL_GET")
        deliver(callback_body("req-1", data="https://files.example.test/expired.zip"))
        fail_request(services)
        response = deliver(callback_body("req-1", data="https://files.example.test/fresh.zip"))
        assert (response.status_code, response.json["status"]) == (200, "accepted")
        assert request_state(services) == "callback_received"
        assert [job.state for job in stored(services, Job)] == ["queued", "queued"]
        moves = [(t.from_state, t.to_state) for t in stored(services, Transition, request_id="req-1")]
        assert moves[-1] == ("failed", "callback_received")

    def test_a_resend_of_the_first_callback_cannot_restart_a_failed_request(
        self, register, client, messagebird_signer, services
    ):
        register("req-1", "KIND_PERSONAL_GET")
        body = callback_body("req-1", data="https://files.example.test/expired.zip")
        headers = messagebird_signer(CALLBACK_URL, body)
        assert (
            client.post(CALLBACK_PATH, data=body, headers=headers, content_type="application/json").status_code == 200
        )
        fail_request(services)
        resend = client.post(CALLBACK_PATH, data=body, headers=headers, content_type="application/json")
        assert (resend.status_code, resend.json["status"]) == (200, "duplicate")
        assert request_state(services) == "failed"
        assert len(stored(services, Job)) == 1


class TestRefused:
    @pytest.mark.parametrize(
        ("switch", "reason"),
        [
            ("expired", "jwt_expired"),
            ("wrong_key", "jwt_bad_signature"),
            ("wrong_url", "jwt_url_mismatch"),
            ("tampered_body", "jwt_payload_mismatch"),
            ("wrong_alg", "jwt_alg_not_allowed"),
        ],
    )
    def test_a_bad_token_is_401_with_the_reason_recorded(self, register, deliver, services, switch, reason):
        register("req-1", "KIND_USER_DELETE")
        response = deliver(callback_body("req-1", "KIND_USER_DELETE"), schemes=("jwt",), **{switch: True})
        assert response.status_code == 401
        assert response.json == {
            "errors": [{"code": 2, "description": "Request not allowed (signature or credentials)"}]
        }
        assert stored(services, Callback) == []
        assert refused_reason(services) == reason
        assert request_state(services) == "sent"

    @pytest.mark.parametrize(
        ("switch", "reason"),
        [
            ("expired", "hmac_timestamp_out_of_tolerance"),
            ("wrong_key", "hmac_bad_signature"),
            ("tampered_body", "hmac_bad_signature"),
        ],
    )
    def test_a_bad_hmac_signature_is_401(self, register, deliver, services, switch, reason):
        register("req-1", "KIND_USER_DELETE")
        response = deliver(callback_body("req-1", "KIND_USER_DELETE"), schemes=("hmac",), **{switch: True})
        assert response.status_code == 401
        assert refused_reason(services) == reason

    def test_every_present_scheme_must_pass(self, register, deliver, services):
        register("req-1", "KIND_USER_DELETE")
        body = callback_body("req-1", "KIND_USER_DELETE")
        response = deliver(body, headers={"X-MessageBird-Signature": "t=1,v1=00"})
        assert response.status_code == 401
        assert request_state(services) == "sent"

    def test_no_signature_at_all_is_401(self, register, deliver):
        register("req-1", "KIND_USER_DELETE")
        assert deliver(callback_body("req-1", "KIND_USER_DELETE"), schemes=()).status_code == 401

    def test_unknown_request_id_is_404_once_a_jwt_has_verified(self, deliver, services):
        response = deliver(callback_body("nobody"))
        assert response.status_code == 404
        assert refused_reason(services) == "unknown_request"

    def test_a_bad_token_for_an_unknown_request_is_401_not_404(self, deliver):
        assert deliver(callback_body("nobody"), wrong_key=True).status_code == 401

    def test_an_unverifiable_delivery_gets_the_same_answer_whether_its_request_exists_or_not(
        self, register, client, messagebird_signer
    ):
        """An HMAC forged with a guessed key tells nobody which request ids exist."""
        register("req-1", "KIND_USER_DELETE")
        answers = []
        for request_id in ("req-1", "nobody"):
            body = callback_body(request_id, "KIND_USER_DELETE")
            forged = {
                "X-MessageBird-Signature": messagebird_signer(CALLBACK_URL, body, wrong_key=True)[
                    "X-MessageBird-Signature"
                ]
            }
            response = client.post(CALLBACK_PATH, data=body, headers=forged, content_type="application/json")
            answers.append((response.status_code, response.json))
        assert answers[0] == answers[1]
        assert answers[0][0] == 401

    def test_kind_mismatch_is_409(self, register, deliver, services):
        register("req-1", "KIND_PERSONAL_DELETE")
        response = deliver(callback_body("req-1", "KIND_PERSONAL_GET", data="https://files.example.test/a.zip"))
        assert response.status_code == 409
        assert request_state(services) == "sent"
        assert stored(services, Job) == []

    @pytest.mark.parametrize(
        "body",
        [
            b"{not json",
            b"[1,2]",
            b'"text"',
            b"\xff\xfe\x00",
            b"[" * 30000 + b"]" * 30000,
            b'{"requestKind":"KIND_USER_GET"}',
            b'{"requestId":"r","requestKind":5}',
            b'{"requestId":"r","requestKind":"KIND_USER_GET","data":[]}',
            # what no database stores (found through gunicorn by tests/faults): a lone surrogate, NUL (PostgreSQL)
            b'{"requestId":"\\ud800","requestKind":"KIND_USER_GET"}',
            b'{"requestId":"r\\u0000","requestKind":"KIND_USER_GET"}',
            b'{"requestId":"r","requestKind":"KIND_USER_GET","result":"\\udfff"}',
        ],
    )
    def test_malformed_bodies_are_400(self, client, body):
        response = client.post(CALLBACK_PATH, data=body, content_type="application/json")
        assert response.status_code == 400
        assert response.json["errors"][0]["code"] in (9, 10)

    def test_a_wrong_content_type_is_415(self, client):
        response = client.post(CALLBACK_PATH, data=b"requestId=1", content_type="application/x-www-form-urlencoded")
        assert response.status_code == 415

    def test_a_declared_oversize_body_is_413_before_it_is_read(self, client, services):
        size = services.settings.max_callback_bytes + 1
        response = client.post(CALLBACK_PATH, data=b"{" + b" " * size + b"}", content_type="application/json")
        assert response.status_code == 413

    def test_a_refusal_keeps_a_sample_without_the_senders_text(self, register, client, deliver, services):
        register("req-1", "KIND_USER_DELETE")
        body = callback_body("req-1", "KIND_USER_DELETE", result="sender text jane@example.com")
        deliver(body, wrong_key=True)
        assert stored(services, Callback) == []
        [sample] = samples(services)
        assert (sample.status_code, sample.reason, sample.body_bytes) == (401, "jwt_bad_signature", len(body))
        assert sample.body_sha256 == hashlib.sha256(body).hexdigest()
        assert sample.remote_addr == "127.0.0.1"
        kept = json.dumps([str(value) for value in vars(sample).values()])
        assert "jane@example.com" not in kept and "req-1" not in kept


class TestPolicyBoth:
    @pytest.fixture
    def app_env(self, app_env):
        return {**app_env, "SIGNATURE_POLICY": "both"}

    def test_one_scheme_alone_is_refused(self, register, deliver, services):
        register("req-1", "KIND_USER_DELETE")
        response = deliver(callback_body("req-1", "KIND_USER_DELETE"), schemes=("jwt",))
        assert response.status_code == 401
        assert refused_reason(services) == "signature_missing"

    def test_both_schemes_pass(self, register, deliver):
        register("req-1", "KIND_USER_DELETE")
        assert deliver(callback_body("req-1", "KIND_USER_DELETE")).status_code == 200


class TestStorageUnavailable:
    @pytest.fixture
    def backend(self, sqlite_url):
        """Locking the database file is SQLite's way of being unavailable; PostgreSQL's is below."""
        return Backend(sqlite_url)

    def test_a_locked_sqlite_database_answers_503_and_records_nothing(self, register, deliver, services, app_env):
        register("req-1", "KIND_USER_DELETE")
        locker = sqlite3.connect(app_env["DATABASE_URL"].removeprefix("sqlite:///"), isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            response = deliver(callback_body("req-1", "KIND_USER_DELETE"))
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert response.status_code == 503
        assert response.json["errors"][0]["code"] == 100
        assert request_state(services) == "sent"
        assert stored(services, Callback) == []

    def test_an_unreachable_database_answers_503(self, app_env, messagebird_signer):
        app = create_app({**app_env, "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none"})
        body = callback_body("req-1", "KIND_USER_DELETE")
        response = app.test_client().post(
            CALLBACK_PATH, data=body, headers=messagebird_signer(CALLBACK_URL, body), content_type="application/json"
        )
        assert response.status_code == 503
        assert b"Traceback" not in response.data
        app.extensions["services"].close()

    def test_the_token_is_not_burned_when_the_database_fails(self, register, client, messagebird_signer, app_env):
        register("req-1", "KIND_USER_DELETE")
        body = callback_body("req-1", "KIND_USER_DELETE")
        headers = messagebird_signer(CALLBACK_URL, body)
        locker = sqlite3.connect(app_env["DATABASE_URL"].removeprefix("sqlite:///"), isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            assert (
                client.post(CALLBACK_PATH, data=body, headers=headers, content_type="application/json").status_code
                == 503
            )
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert (
            client.post(CALLBACK_PATH, data=body, headers=headers, content_type="application/json").status_code == 200
        )


class TestReplayCacheUnavailable:
    @pytest.fixture
    def app_env(self, app_env):
        return {**app_env, "REPLAY_CACHE_URL": "redis://127.0.0.1:9/0"}

    def test_an_unreachable_redis_answers_503_never_an_unchecked_200(self, register, deliver, services):
        register("req-1", "KIND_USER_DELETE")
        response = deliver(callback_body("req-1", "KIND_USER_DELETE"))
        assert response.status_code == 503
        assert request_state(services) == "sent"
        assert stored(services, Callback) == []


def test_a_request_that_keeps_moving_under_a_delivery_answers_503_and_burns_nothing(
    register, client, messagebird_signer, services, monkeypatch
):
    """Each read sees a state the request has left by the time the record is written (a race, made
    certain here by reading a stale state): after a few reads the sender is told to retry, and its
    retry of the very same delivery (same token, same HMAC) is accepted: the database kept no replay
    key, and a key Redis kept is not taken for a record the database does not hold."""
    from dataclasses import replace

    from storage import deliveries

    register("req-1", "KIND_USER_DELETE")
    body = callback_body("req-1", "KIND_USER_DELETE")
    headers = messagebird_signer(CALLBACK_URL, body)
    reads = []
    read_request = deliveries.read_request

    def stale_read(database, request_id):
        reads.append(request_id)
        return replace(read_request(database, request_id), state=lifecycle.FAILED)

    monkeypatch.setattr(deliveries, "read_request", stale_read)
    response = client.post(CALLBACK_PATH, data=body, headers=headers, content_type="application/json")
    assert response.status_code == 503
    assert len(reads) == 5
    assert request_state(services) == "sent"
    assert stored(services, Callback) == []
    monkeypatch.undo()
    retried = client.post(CALLBACK_PATH, data=body, headers=headers, content_type="application/json")
    assert retried.json["status"] == "accepted"


def test_every_answer_is_json_without_a_traceback(client):
    for method, path in (("GET", CALLBACK_PATH), ("PUT", CALLBACK_PATH), ("GET", "/nowhere")):
        response = client.open(path, method=method)
        assert response.status_code in (404, 405)
        assert json.loads(response.data)["errors"][0]["description"]
