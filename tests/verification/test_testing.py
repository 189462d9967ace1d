"""The signing plugin: helpers that mirror the verifiers, and a signer that breaks one rule on request."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest

from verification import MemoryReplayCache, verify_hmac_signature, verify_jwt
from verification.testing import (
    EXPIRED_BY,
    JWT_TTL,
    OMIT,
    MessageBirdSigner,
    new_signature_key,
    new_signing_key,
    refusal_reason,
    sign_hmac,
    sign_jwt,
)

REPO = Path(__file__).resolve().parents[2]
URL = "https://gdpr.example.com/callbacks/messagebird?request=1"
BODY = b'{"requestId":"1","result":"deleted"}'
NOW = 1_700_000_000


def unverified_claims(token: str) -> dict[str, Any]:
    return pyjwt.decode(token, options={"verify_signature": False})


class TestSignHmac:
    def test_the_key_is_read_as_base64_by_default(self) -> None:
        key = new_signature_key()
        verified = verify_hmac_signature(sign_hmac(key, BODY, NOW), body=BODY, key=key, now=NOW)
        assert verified.key_encoding == "base64"

    def test_the_key_can_be_used_raw(self) -> None:
        key = new_signature_key()
        header = sign_hmac(key, BODY, NOW, key_encoding="raw")
        assert verify_hmac_signature(header, body=BODY, key=key, now=NOW).key_encoding == "raw"

    def test_the_header_has_messagebirds_shape(self) -> None:
        t, v1 = sign_hmac(new_signature_key(), BODY, NOW).split(",")
        assert t == f"t={NOW}"
        assert v1.startswith("v1=") and len(v1) == 3 + 64

    def test_t_defaults_to_now(self) -> None:
        key = new_signature_key()
        assert verify_hmac_signature(sign_hmac(key, BODY), body=BODY, key=key, tolerance=5)

    def test_a_key_that_cannot_be_read_as_asked_is_refused_like_the_verifier_would(self) -> None:
        assert refusal_reason(sign_hmac, "not base64!", BODY) == "no_key"


class TestSignJwt:
    def test_the_claims_are_messagebirds(self) -> None:
        claims = unverified_claims(sign_jwt("k", URL, BODY, NOW))
        assert set(claims) == {"iss", "nbf", "exp", "jti", "url_hash", "payload_hash"}
        assert (claims["iss"], claims["nbf"], claims["exp"]) == ("MessageBird", NOW, NOW + JWT_TTL)

    def test_an_empty_body_gets_no_payload_hash(self) -> None:
        assert "payload_hash" not in unverified_claims(sign_jwt("k", URL, b"", NOW))

    def test_each_token_gets_a_fresh_jti(self) -> None:
        assert unverified_claims(sign_jwt("k", URL, BODY))["jti"] != unverified_claims(sign_jwt("k", URL, BODY))["jti"]

    def test_overrides_replace_add_or_omit_claims(self) -> None:
        claims = unverified_claims(sign_jwt("k", URL, BODY, NOW, jti="mine", url_hash=OMIT, extra=1))
        assert claims["jti"] == "mine" and claims["extra"] == 1 and "url_hash" not in claims

    def test_headers_are_merged_and_algorithm_signs(self) -> None:
        token = sign_jwt("k", URL, BODY, NOW, algorithm="HS512", headers={"kid": "2024"})
        assert pyjwt.get_unverified_header(token) == {"alg": "HS512", "typ": "JWT", "kid": "2024"}
        assert verify_jwt(token, url=URL, body=BODY, keys=["k"], now=NOW, algorithms=["HS512"])

    def test_a_short_key_signs_without_warnings(self) -> None:
        assert verify_jwt(sign_jwt("k", URL, BODY, NOW), url=URL, body=BODY, keys=["k"], now=NOW)


class TestMessageBirdSigner:
    def test_it_returns_both_headers_signed_with_its_keys(self, messagebird_signer: MessageBirdSigner) -> None:
        headers = messagebird_signer(URL, BODY)
        assert set(headers) == {"MessageBird-Signature-JWT", "X-MessageBird-Signature"}
        verify_jwt(headers["MessageBird-Signature-JWT"], url=URL, body=BODY, keys=[messagebird_signer.signing_key])
        verify_hmac_signature(headers["X-MessageBird-Signature"], body=BODY, key=messagebird_signer.signature_key)

    @pytest.mark.parametrize(
        ("switch", "jwt_reason", "hmac_reason"),
        [
            ("expired", "expired", "timestamp_out_of_tolerance"),
            ("wrong_key", "bad_signature", "bad_signature"),
            ("wrong_url", "url_mismatch", None),
            ("tampered_body", "payload_mismatch", "bad_signature"),
            ("wrong_alg", "alg_not_allowed", None),
        ],
    )
    def test_each_switch_breaks_its_rule(
        self, messagebird_signer: MessageBirdSigner, switch: str, jwt_reason: str, hmac_reason: str | None
    ) -> None:
        headers = messagebird_signer(URL, BODY, now=NOW, **{switch: True})
        token, signature = headers["MessageBird-Signature-JWT"], headers["X-MessageBird-Signature"]
        keys, key = [messagebird_signer.signing_key], messagebird_signer.signature_key
        assert refusal_reason(verify_jwt, token, url=URL, body=BODY, keys=keys, now=NOW) == jwt_reason
        if hmac_reason is None:
            assert verify_hmac_signature(signature, body=BODY, key=key, now=NOW)
        else:
            assert refusal_reason(verify_hmac_signature, signature, body=BODY, key=key, now=NOW) == hmac_reason

    def test_expired_signs_expired_by_seconds_ago(self, messagebird_signer: MessageBirdSigner) -> None:
        headers = messagebird_signer(URL, BODY, now=NOW, expired=True)
        assert headers["X-MessageBird-Signature"].startswith(f"t={NOW - EXPIRED_BY},")

    def test_tampering_an_empty_body_makes_the_hash_unexpected(self, messagebird_signer: MessageBirdSigner) -> None:
        token = messagebird_signer(URL, b"", now=NOW, tampered_body=True)["MessageBird-Signature-JWT"]
        keys = [messagebird_signer.signing_key]
        assert refusal_reason(verify_jwt, token, url=URL, body=b"", keys=keys, now=NOW) == "payload_unexpected"

    def test_replayed_reuses_the_previous_jti_and_timestamp(self, messagebird_signer: MessageBirdSigner) -> None:
        cache = MemoryReplayCache()
        keys = [messagebird_signer.signing_key]
        first = messagebird_signer(URL, BODY)
        again = messagebird_signer(URL, BODY, replayed=True)
        verify_jwt(first["MessageBird-Signature-JWT"], url=URL, body=BODY, keys=keys, replay_cache=cache)
        token = again["MessageBird-Signature-JWT"]
        assert refusal_reason(verify_jwt, token, url=URL, body=BODY, keys=keys, replay_cache=cache) == "replayed"
        assert again["X-MessageBird-Signature"] == first["X-MessageBird-Signature"]

    def test_replayed_needs_an_earlier_request(self, messagebird_signer: MessageBirdSigner) -> None:
        with pytest.raises(ValueError, match="needs an earlier signed request"):
            messagebird_signer(URL, BODY, replayed=True)

    def test_the_clock_is_injectable(self) -> None:
        signer = MessageBirdSigner(new_signing_key(), new_signature_key(), clock=lambda: NOW)
        assert signer(URL, BODY)["X-MessageBird-Signature"].startswith(f"t={NOW},")

    def test_raw_key_encoding(self) -> None:
        signer = MessageBirdSigner(new_signing_key(), new_signature_key(), key_encoding="raw")
        header = signer(URL, BODY)["X-MessageBird-Signature"]
        assert verify_hmac_signature(header, body=BODY, key=signer.signature_key).key_encoding == "raw"


class TestKeyFixturesCanBeOverridden:
    @pytest.fixture
    def messagebird_signing_key(self) -> str:
        return "the-key-the-app-is-configured-with"

    @pytest.fixture
    def messagebird_signature_key(self) -> str:
        return "c2lnbmF0dXJlS2V5"

    def test_the_signer_uses_the_overriding_keys(self, messagebird_signer: MessageBirdSigner) -> None:
        headers = messagebird_signer(URL, BODY)
        token = headers["MessageBird-Signature-JWT"]
        verify_jwt(token, url=URL, body=BODY, keys=["the-key-the-app-is-configured-with"])
        verify_hmac_signature(headers["X-MessageBird-Signature"], body=BODY, key="c2lnbmF0dXJlS2V5")


def test_an_integrator_loads_it_with_pytest_plugins(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["verification.testing"]\n')
    (tmp_path / "test_integrator.py").write_text(
        textwrap.dedent(
            """
            from verification import verify_jwt

            def test_signed(messagebird_signer):
                headers = messagebird_signer("https://app.example/cb", b"{}")
                verify_jwt(headers["MessageBird-Signature-JWT"], url="https://app.example/cb",
                           body=b"{}", keys=[messagebird_signer.signing_key])
            """
        )
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", str(tmp_path)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
