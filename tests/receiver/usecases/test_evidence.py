"""flask evidence reverify and pack: the verification core run again on the kept inputs; the pack from the shell."""

from __future__ import annotations

import dataclasses
import getpass
import hashlib

from app import create_app
from receiver.usecases import evidence
from storage import audit_chain, raw_inputs
from storage.models import Callback, ProcessorRequest
from tests.receiver.conftest import callback_body
from tests.storage.audit_history import tamper
from verification.testing import new_signing_key


def reverify(app, case_id: str):
    return app.test_cli_runner().invoke(args=["evidence", "reverify", case_id])


def rewrite_kept_inputs(services, **changes) -> None:
    """What someone with the database and the key could do: alter a kept input and seal it again."""
    with services.database.transaction() as session:
        callback = session.query(Callback).one()
        kept = raw_inputs.unseal(services.secrets, callback.raw_inputs_sealed)
        callback.raw_inputs_sealed = raw_inputs.seal(services.secrets, dataclasses.replace(kept, **changes))


def test_genuine_callbacks_verify_again_with_both_schemes(app, answered_case):
    result = reverify(app, answered_case["id"])
    assert result.exit_code == 0, result.output
    assert "callback 1 of req-1, received " in result.output and ": VERIFIED" in result.output
    assert "body: the one recorded (SHA-256 matches)" in result.output
    assert "jwt: recorded passed, checked again: passed" in result.output
    assert "hmac: recorded passed, checked again: passed" in result.output
    assert "1 accepted callbacks, 1 verified again, 0 not" in result.output


def test_a_tampered_stored_body_is_caught_by_both_schemes_and_the_recorded_hash(app, services, answered_case):
    with services.database.transaction() as session:
        body = raw_inputs.unseal(services.secrets, session.query(Callback).one().raw_inputs_sealed).body
    rewrite_kept_inputs(services, body=body.replace(b"Processed", b"Processes"))
    result = reverify(app, answered_case["id"])
    assert result.exit_code == 1
    assert "NOT VERIFIED" in result.output and "body: NOT the one recorded" in result.output
    assert "jwt: recorded passed, checked again: failed (payload_mismatch)" in result.output
    assert "hmac: recorded passed, checked again: failed (bad_signature)" in result.output


def test_a_tampered_url_fails_the_jwt_alone(services, answered_case):
    rewrite_kept_inputs(services, url="https://elsewhere.example.test/webhooks/messagebird/personal-data")
    [recheck] = evidence.reverify_case(services, answered_case["id"])
    assert (recheck.body_matches, recheck.verified) == (True, False)
    assert (recheck.jwt.verdict, recheck.jwt.reason, recheck.hmac.verdict) == ("failed", "url_mismatch", "passed")


def test_erased_inputs_are_said_to_be_erased_and_fail_the_run(app, services, answered_case):
    with services.database.transaction() as session:
        assert raw_inputs.erase_raw_inputs(session, "req-1") == 1
    result = reverify(app, answered_case["id"])
    assert result.exit_code == 1
    assert "NOT VERIFIED" in result.output and "its raw inputs are not kept (erased" in result.output


def test_an_erased_signature_key_leaves_the_jwt_to_prove_it(app, services, answered_case):
    with services.database.transaction() as session:
        session.get(ProcessorRequest, "req-1").signature_key_sealed = None
    result = reverify(app, answered_case["id"])
    assert result.exit_code == 0, result.output
    assert "hmac: recorded passed, checked again: unavailable (signature_key_erased)" in result.output


def test_a_signing_key_no_longer_held_fails_the_jwt(app_env, answered_case):
    rotated = create_app({**app_env, "MESSAGEBIRD_SIGNING_KEY": new_signing_key()})
    try:
        result = reverify(rotated, answered_case["id"])
    finally:
        rotated.extensions["services"].close()
    assert result.exit_code == 1
    assert "jwt: recorded passed, checked again: failed (bad_signature)" in result.output


def test_an_unknown_case_is_refused(app):
    for command in (["evidence", "reverify", "case-nope"], ["evidence", "pack", "case-nope", "-o", "-"]):
        result = app.test_cli_runner().invoke(args=command)
        assert result.exit_code == 1 and "no case with this id" in result.output


def test_the_pack_from_the_shell_is_recorded_under_the_shell_user(app, services, answered_case, tmp_path):
    target = tmp_path / "pack.zip"
    result = app.test_cli_runner().invoke(args=["evidence", "pack", answered_case["id"], "-o", str(target)])
    assert result.exit_code == 0, result.output
    sha256 = hashlib.sha256(target.read_bytes()).hexdigest()
    assert f"SHA-256 {sha256}" in result.output
    shown = app.test_cli_runner().invoke(args=["cases", "show", answered_case["id"]]).output
    assert f'"to": "{sha256}"' in shown and f'"actor": "cli:{getpass.getuser()}"' in shown


def test_an_export_seals_the_audit_chain_before_it_reads(services, answered_case):
    """Every transition and event written before the export is chained when the pack is read."""
    from storage import audit_chain

    with services.database.reading() as connection:
        assert audit_chain.pending_count(connection) > 0
    evidence.export_pack(services, answered_case["id"], actor="auditor")
    with services.database.reading() as connection:
        pending = audit_chain.pending_count(connection)
    assert pending == 1  # only the export's own ``evidence_exported`` event, written after the pack was read


# -- the kept inputs bound to their record -------------------------------------------------------


def test_inputs_copied_onto_another_requests_callback_are_named(app, services, answered_case, register, deliver):
    """Same signing key, a genuine callback for req-1 copied onto req-2's row: every scheme passes, nothing binds."""
    register("req-2", "KIND_PERSONAL_GET")
    assert deliver(callback_body("req-2", data="https://files.example.test/other.zip")).status_code == 200
    with services.database.transaction() as session:  # the case is closed: join it as a migration would
        session.get(ProcessorRequest, "req-2").case_id = answered_case["id"]
    audit_chain.seal(services.database)
    tamper(
        services.database,
        "UPDATE callbacks SET raw_inputs_sealed = (SELECT raw_inputs_sealed FROM callbacks WHERE request_id = 'req-1'),"
        " body_sha256 = (SELECT body_sha256 FROM callbacks WHERE request_id = 'req-1') WHERE request_id = 'req-2'",
    )
    result = reverify(app, answered_case["id"])
    assert result.exit_code == 1
    copied = result.output.split("of req-2")[1]
    assert "NOT VERIFIED" in copied and "jwt: recorded passed, checked again: passed" in copied
    for reason in ("record_not_sealed", "request_id_differs", "jti_differs"):
        assert f"NOT BOUND ({reason})" in copied, copied
    assert "1 verified again, 1 not" in result.output


def test_each_binding_is_a_named_failure(services, answered_case):
    with services.database.transaction() as session:
        callback = session.query(Callback).one()
        raw = raw_inputs.unseal(services.secrets, callback.raw_inputs_sealed)
        keys = evidence.Keys(services.settings.messagebird_signing_key, None, ("HS256",), 0, 300)
        route = services.settings.public_url + "/webhooks/messagebird/personal-data"
        bound = evidence.recheck(raw, callback, keys, evidence.Record("req-1", "KIND_PERSONAL_GET", route, True))
        assert bound.mismatches == () and bound.verified
        elsewhere = evidence.Record("req-9", "KIND_PERSONAL_DELETE", "https://other.example.test/hook", False)
        named = {m.reason for m in evidence.recheck(raw, callback, keys, elsewhere).mismatches}
        assert named == {
            "request_id_differs",
            "request_kind_differs",
            "url_not_the_callback_route",
            "record_not_sealed",
        }
        callback.jwt_id = "another-token"
        assert {m.reason for m in evidence.recheck(raw, callback, keys, bound_record()).mismatches} == {"jti_differs"}
        session.rollback()


def bound_record() -> evidence.Record:
    return evidence.Record(
        "req-1", "KIND_PERSONAL_GET", "https://hooks.example.test/webhooks/messagebird/personal-data", None
    )
