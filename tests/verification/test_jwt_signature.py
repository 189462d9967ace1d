"""MessageBird-Signature-JWT: algorithms, claims, the time window, key rotation and replay."""

from __future__ import annotations

import json
import string
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from jwt.utils import base64url_encode
from messagebird.request_validator import RequestValidator

from verification import MemoryReplayCache, SignatureError, verify_jwt
from verification.jwt_signature import (
    HMAC_ALGORITHMS,
    MAX_TOKEN_LENGTH,
    REPLAY_MARGIN,
    _parse,
    payload_hash,
    url_hash,
)
from verification.testing import OMIT, new_signing_key, refusal_reason, sign_jwt

NOW = 1_700_000_000
URL = "https://gdpr.example.com/callbacks/messagebird?request=4a2a1b&b=2&a=1"
BODY = b'{"requestId":"4a2a1b","result":"done"}'
KEY = "PlLrKaqvZNRR5zAjm42ZT6q1SQxgbbGd"

any_text = st.text(st.characters(exclude_categories=()), max_size=200)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


TOKEN_CHARACTERS = string.ascii_letters + string.digits + "-_.=+/ "


@st.composite
def mutated_tokens(draw: st.DrawFn) -> str:
    """A signed token with a few characters replaced, inserted or removed."""
    token = list(sign_jwt(KEY, URL, BODY, NOW))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(token)))
        action = draw(st.sampled_from(("replace", "insert", "delete")))
        character = draw(st.sampled_from(TOKEN_CHARACTERS))
        if action == "insert" or at == len(token):
            token.insert(at, character)
        elif action == "replace":
            token[at] = character
        else:
            del token[at]
    return "".join(token)


@st.composite
def crafted_headers(draw: st.DrawFn) -> str:
    """A token whose header is any JSON object: ``kid``, ``crit``, ``b64`` and their odd values, with padding or not."""
    header = draw(
        st.fixed_dictionaries(
            {"alg": st.just("HS256")},
            optional={
                "kid": st.none() | st.integers() | st.text(max_size=4),
                "crit": st.lists(st.sampled_from(["b64", "exp", 5]), max_size=2) | st.just("b64"),
                "b64": st.booleans(),
            },
        )
    )
    payload = draw(st.sampled_from([b"{}", b"", b'{"a":1}']))
    segments = [base64url_encode(json.dumps(header).encode()), base64url_encode(payload), b"c2ln"]
    padded = [segment + b"=" * draw(st.integers(0, 3)) for segment in segments]
    return b".".join(padded).decode()


def verify(token: str, **overrides: Any) -> dict[str, Any]:
    arguments = {"url": URL, "body": BODY, "keys": [KEY], "now": NOW, **overrides}
    return verify_jwt(token, **arguments)


def signed(**overrides: Any) -> str:
    return sign_jwt(KEY, URL, BODY, NOW, **overrides)


def token_with_payload(payload: bytes, key: str = KEY) -> str:
    """A correctly signed HS256 token whose payload is exactly ``payload``."""
    signing_input = base64url_encode(b'{"alg":"HS256","typ":"JWT"}') + b"." + base64url_encode(payload)
    signature = HMAC_ALGORITHMS["HS256"].sign(signing_input, key.encode())
    return (signing_input + b"." + base64url_encode(signature)).decode()


class TestAccepts:
    def test_a_valid_token_returns_its_claims(self) -> None:
        claims = verify(signed(jti="j-1"))
        assert claims["jti"] == "j-1"
        assert claims["iss"] == "MessageBird"
        assert claims["url_hash"] == url_hash(URL)

    def test_a_token_made_by_pyjwt_itself(self) -> None:
        claims = {"iss": "MessageBird", "nbf": NOW, "exp": NOW + 60, "jti": "j", "url_hash": url_hash(URL)}
        token = jwt.encode({**claims, "payload_hash": payload_hash(BODY)}, KEY, algorithm="HS256")
        assert verify(token)["jti"] == "j"

    def test_messagebirds_own_sdk_accepts_what_sign_jwt_makes(self) -> None:
        token = sign_jwt(KEY, URL, BODY)
        assert RequestValidator(KEY).validate_signature(token, URL, BODY)["jti"] == verify(token, now=None)["jti"]

    def test_an_empty_body_without_payload_hash(self) -> None:
        assert "payload_hash" not in verify(sign_jwt(KEY, URL, b"", NOW), body=b"")

    def test_bytes_keys(self) -> None:
        assert verify(signed(), keys=[KEY.encode()])

    def test_extra_claims_and_header_fields_are_tolerated(self) -> None:
        assert verify(signed(headers={"kid": "2024"}, extra="kept"))["extra"] == "kept"


class TestAlgorithms:
    @pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
    def test_stronger_hmacs_are_refused_by_default(self, algorithm: str) -> None:
        assert refusal_reason(verify, signed(algorithm=algorithm)) == "alg_not_allowed"

    @pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
    def test_stronger_hmacs_pass_when_configured(self, algorithm: str) -> None:
        assert verify(signed(algorithm=algorithm), algorithms=("HS256", algorithm))

    def test_none_is_refused_even_when_listed(self) -> None:
        token = signed(algorithm="none")
        assert refusal_reason(verify, token, algorithms=("HS256", "none")) == "alg_not_allowed"

    def test_an_asymmetric_algorithm_is_refused_even_when_listed(self) -> None:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        token = sign_jwt(private_key, URL, BODY, NOW, algorithm="RS256")
        assert refusal_reason(verify, token, keys=[public_pem], algorithms=("HS256", "RS256")) == "alg_not_allowed"

    def test_a_header_that_lies_about_the_algorithm(self) -> None:
        token = signed(headers={"alg": "HS512"})  # signed with HS256
        assert refusal_reason(verify, token, algorithms=("HS256", "HS512")) == "bad_signature"

    @pytest.mark.parametrize("alg", [OMIT, None, 256, ["HS256"], "hs256", ""])
    def test_a_missing_or_odd_alg_header(self, alg: Any) -> None:
        token = token_with_header({"typ": "JWT"} if alg is OMIT else {"alg": alg, "typ": "JWT"})
        assert refusal_reason(verify, token) == "alg_not_allowed"


def token_with_header(header: dict[str, Any]) -> str:
    signing_input = base64url_encode(json.dumps(header).encode()) + b"." + base64url_encode(b"{}")
    return (signing_input + b"." + base64url_encode(b"x" * 32)).decode()


class TestClaims:
    @pytest.mark.parametrize("claim", ["iss", "nbf", "exp", "jti", "url_hash"])
    def test_each_required_claim_is_required(self, claim: str) -> None:
        assert refusal_reason(verify, signed(**{claim: OMIT})) == "missing_claim"

    def test_an_empty_jti_counts_as_missing(self) -> None:
        assert refusal_reason(verify, signed(jti="")) == "missing_claim"

    @pytest.mark.parametrize("issuer", ["messagebird", "MessageBird ", "Bird", None, ["MessageBird"]])
    def test_the_issuer_must_be_messagebird(self, issuer: Any) -> None:
        assert refusal_reason(verify, signed(iss=issuer)) == "issuer"

    @pytest.mark.parametrize(
        "claims",
        [
            {"exp": str(NOW + 60)},
            {"exp": True},
            {"exp": None},
            {"nbf": float("nan")},
            {"exp": float("inf")},
            {"exp": 10**30},
            {"nbf": [NOW]},
            {"jti": 7},
            {"jti": None},
            {"url_hash": 12345},
            {"url_hash": None},
            {"payload_hash": 12345},
            {"payload_hash": None},
        ],
        ids=repr,
    )
    def test_a_claim_of_the_wrong_type_is_malformed(self, claims: dict[str, Any]) -> None:
        assert refusal_reason(verify, signed(**claims)) == "malformed"

    @pytest.mark.parametrize("payload", [b"[]", b'"claims"', b"not json", b"\xff\xfe", b"[" * 3000 + b"]" * 3000])
    def test_a_payload_that_is_not_a_json_object_is_malformed(self, payload: bytes) -> None:
        assert refusal_reason(verify, token_with_payload(payload)) == "malformed"

    def test_fractional_times_are_accepted(self) -> None:
        assert verify(signed(nbf=NOW - 0.5, exp=NOW + 0.5))


class TestTimeWindow:
    """Both ends are inclusive, as in MessageBird's Go SDK: exactly ``leeway`` past ``exp`` passes."""

    def test_exactly_leeway_before_nbf_passes(self) -> None:
        assert verify(signed(nbf=NOW + 1, exp=NOW + 60))

    def test_one_second_more_before_nbf_is_not_yet_valid(self) -> None:
        assert refusal_reason(verify, signed(nbf=NOW + 2, exp=NOW + 60)) == "not_yet_valid"

    def test_exactly_leeway_after_exp_passes(self) -> None:
        assert verify(signed(nbf=NOW - 60, exp=NOW - 1))

    def test_one_second_more_after_exp_is_expired(self) -> None:
        assert refusal_reason(verify, signed(nbf=NOW - 60, exp=NOW - 2)) == "expired"

    def test_a_fraction_past_the_boundary_is_expired(self) -> None:
        assert refusal_reason(verify, signed(nbf=NOW - 60, exp=NOW - 1), now=NOW + 0.5) == "expired"

    def test_the_leeway_is_configurable(self) -> None:
        token = signed(nbf=NOW - 60, exp=NOW - 10)
        assert verify(token, leeway=10)
        assert refusal_reason(verify, token, leeway=9) == "expired"

    def test_now_defaults_to_the_wall_clock(self) -> None:
        assert refusal_reason(verify, signed(), now=None) == "expired"
        assert verify(sign_jwt(KEY, URL, BODY), now=None)


class TestUrl:
    @pytest.mark.parametrize(
        "received",
        [
            "https://gdpr.example.com/callbacks/messagebird?request=4a2a1b&a=1&b=2",  # query re-sorted
            "http://gdpr.example.com/callbacks/messagebird?request=4a2a1b&b=2&a=1",
            "https://gdpr.example.com:443/callbacks/messagebird?request=4a2a1b&b=2&a=1",
            "https://gdpr.example.com/callbacks/messagebird/?request=4a2a1b&b=2&a=1",
            "https://gdpr.example.com/callbacks/messagebird",
            "https://GDPR.example.com/callbacks/messagebird?request=4a2a1b&b=2&a=1",
        ],
    )
    def test_only_the_exact_url_as_sent_matches(self, received: str) -> None:
        assert refusal_reason(verify, signed(), url=received) == "url_mismatch"

    def test_the_hash_is_compared_as_lowercase_hex(self) -> None:
        assert refusal_reason(verify, signed(url_hash=url_hash(URL).upper())) == "url_mismatch"

    def test_a_non_ascii_hash_does_not_break_the_comparison(self) -> None:
        assert refusal_reason(verify, signed(url_hash="é" * 64)) == "url_mismatch"

    @pytest.mark.parametrize("url", [None, URL.encode(), "https://example.com/\ud800"])
    def test_a_url_that_is_not_encodable_text_is_malformed(self, url: Any) -> None:
        assert refusal_reason(verify, signed(), url=url) == "malformed"


class TestPayload:
    def test_a_tampered_body_is_a_mismatch(self) -> None:
        assert refusal_reason(verify, signed(), body=BODY + b" ") == "payload_mismatch"

    def test_a_body_without_payload_hash_is_refused(self) -> None:
        assert refusal_reason(verify, signed(payload_hash=OMIT)) == "payload_missing"

    def test_an_empty_body_with_a_payload_hash_is_refused(self) -> None:
        assert refusal_reason(verify, signed(), body=b"") == "payload_unexpected"

    def test_an_empty_body_with_an_empty_payload_hash_is_refused(self) -> None:
        token = sign_jwt(KEY, URL, b"", NOW, payload_hash="")
        assert refusal_reason(verify, token, body=b"") == "payload_unexpected"

    def test_a_body_given_as_text_is_malformed(self) -> None:
        assert refusal_reason(verify, signed(), body=BODY.decode()) == "malformed"


class TestKeys:
    def test_any_key_of_a_rotation_verifies(self) -> None:
        old, new = new_signing_key(), new_signing_key()
        for key in (old, new):
            assert verify(sign_jwt(key, URL, BODY, NOW), keys=[old, new])

    def test_a_key_outside_the_rotation_is_refused(self) -> None:
        token = sign_jwt(new_signing_key(), URL, BODY, NOW)
        assert refusal_reason(verify, token, keys=[new_signing_key(), new_signing_key()]) == "bad_signature"

    @pytest.mark.parametrize(
        "keys",
        [[], (), KEY, KEY.encode(), None, [""], [b""], [KEY, None], ["\ud800"], iter([KEY]), {KEY}],
        ids=[
            "empty-list",
            "empty-tuple",
            "bare-str",
            "bare-bytes",
            "None",
            "empty-str",
            "empty-bytes",
            "None-in-list",
            "unencodable",
            "iterator",
            "set",
        ],
    )
    def test_no_usable_key_list_is_no_key(self, keys: Any) -> None:
        assert refusal_reason(verify, signed(), keys=keys) == "no_key"


class TestMalformedTokens:
    @pytest.mark.parametrize(
        "token",
        [
            "",
            "abc",
            "a.b",
            "a.b.c",
            "..",
            "é.é.é",
            "x" * (MAX_TOKEN_LENGTH + 1),
            None,
            b"a.b.c",
            base64url_encode(b"[1]").decode() + ".e30.",
            base64url_encode(b'{"alg":"HS256","kid":5}').decode() + ".e30.",
            base64url_encode(b'{"alg":"HS256","crit":["exp"]}').decode() + ".e30.",
            base64url_encode(b'{"alg":"HS256","b64":false,"crit":["b64"]}').decode() + "..",
        ],
    )
    def test_a_token_that_does_not_parse(self, token: Any) -> None:
        assert refusal_reason(verify, token) == "malformed"

    @settings(max_examples=300)
    @given(data=st.data())
    def test_the_compact_form_is_parsed_as_pyjwt_parses_it(self, data: st.DataObject) -> None:
        """Our parser (one regular expression for the alphabet) accepts what PyJWT's does, with the same parts."""
        junk = st.text(alphabet=TOKEN_CHARACTERS, max_size=60)
        token = data.draw(st.one_of(mutated_tokens(), junk, crafted_headers()))
        try:
            ours: Any = _parse(token)
        except SignatureError as error:
            ours = error.reason
        try:
            parts = jwt.api_jws.PyJWS().decode_complete(token, options={"verify_signature": False})
            theirs: Any = (parts["header"], parts["payload"], token.rsplit(".", 1)[0].encode(), parts["signature"])
        except jwt.InvalidTokenError:
            theirs = "malformed"
        assert ours == theirs

    def test_a_tampered_signature(self) -> None:
        header, payload, signature = signed().split(".")
        forged = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
        assert refusal_reason(verify, f"{header}.{payload}.{forged}") == "bad_signature"


class TestReplay:
    def test_the_second_use_of_a_jti_is_replayed(self) -> None:
        cache = MemoryReplayCache(clock=lambda: NOW)
        token = signed()
        verify(token, replay_cache=cache)
        assert refusal_reason(verify, token, replay_cache=cache) == "replayed"

    def test_a_fresh_token_with_the_same_jti_is_replayed_too(self) -> None:
        cache = MemoryReplayCache(clock=lambda: NOW)
        verify(signed(jti="same"), replay_cache=cache)
        assert refusal_reason(verify, signed(jti="same"), replay_cache=cache) == "replayed"

    @pytest.mark.parametrize(
        "forgery",
        [
            {"token": sign_jwt("attacker", URL, BODY, NOW, jti="real")},
            {"token": sign_jwt(KEY, URL, BODY, NOW - 3600, jti="real")},
            {"token": sign_jwt(KEY, "https://elsewhere.example/", BODY, NOW, jti="real")},
            {"token": sign_jwt(KEY, URL, b"other", NOW, jti="real")},
        ],
        ids=["wrong-key", "expired", "wrong-url", "wrong-body"],
    )
    def test_a_refused_token_does_not_burn_the_jti(self, forgery: dict[str, str]) -> None:
        cache = MemoryReplayCache(clock=lambda: NOW)
        with pytest.raises(SignatureError):
            verify(forgery["token"], replay_cache=cache)
        assert verify(signed(jti="real"), replay_cache=cache)["jti"] == "real"

    def test_the_jti_is_namespaced_and_kept_past_exp_plus_leeway(self) -> None:
        recorded: list[tuple[str, float]] = []

        class RecordingCache:
            def add(self, key: str, expires_at: float) -> bool:
                recorded.append((key, expires_at))
                return True

        verify(signed(jti="j-9", exp=NOW + 30), replay_cache=RecordingCache(), leeway=2)
        assert recorded == [("jwt:j-9", NOW + 30 + 2 + REPLAY_MARGIN)]

    def test_a_failing_cache_is_not_disguised_as_a_signature_error(self) -> None:
        class UnreachableCache:
            def add(self, key: str, expires_at: float) -> bool:
                raise ConnectionError("cache is down")

        with pytest.raises(ConnectionError):
            verify(signed(), replay_cache=UnreachableCache())


class TestProperties:
    @settings(max_examples=100, deadline=None)
    @given(body=st.binary(max_size=256))
    def test_any_other_body_is_refused(self, body: bytes) -> None:
        assume(body != BODY)
        assert refusal_reason(verify, signed(), body=body) in {"payload_mismatch", "payload_unexpected"}

    @settings(max_examples=100, deadline=None)
    @given(url=st.text(max_size=120))
    def test_any_other_url_is_refused(self, url: str) -> None:
        assume(url != URL)
        assert refusal_reason(verify, signed(), url=url) == "url_mismatch"

    @settings(max_examples=100, deadline=None)
    @given(key=st.one_of(st.text(min_size=1, max_size=64), st.binary(min_size=1, max_size=64)))
    def test_any_other_key_is_refused(self, key: str | bytes) -> None:
        assume(key not in (KEY, KEY.encode()))
        assert refusal_reason(verify, signed(), keys=[key]) == "bad_signature"

    @settings(max_examples=200, deadline=None)
    @given(data=st.data())
    def test_any_change_to_the_token_is_refused(self, data: st.DataObject) -> None:
        token = signed()
        position = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
        replacement = data.draw(st.text(string.ascii_letters + string.digits + "-_.=", min_size=0, max_size=2))
        mutated = token[:position] + replacement + token[position + 1 :]
        assume(mutated != token)
        with pytest.raises(SignatureError):
            verify(mutated)

    @settings(max_examples=300, deadline=None)
    @given(token=any_text, url=any_text, body=st.binary(max_size=64))
    def test_arbitrary_text_only_ever_raises_signature_error(self, token: str, url: str, body: bytes) -> None:
        with pytest.raises(SignatureError):
            verify(token, url=url, body=body)

    @settings(max_examples=300, deadline=None)
    @given(
        header=st.dictionaries(st.sampled_from(["alg", "typ", "kid", "crit", "b64", "x"]), json_values, max_size=4),
        segments=st.lists(st.text(string.ascii_letters + string.digits + "-_=", max_size=30), min_size=2, max_size=2),
    )
    def test_arbitrary_headers_only_ever_raise_signature_error(
        self, header: dict[str, Any], segments: list[str]
    ) -> None:
        token = base64url_encode(json.dumps(header).encode()).decode() + "." + ".".join(segments)
        with pytest.raises(SignatureError):
            verify(token)

    @settings(max_examples=300, deadline=None)
    @given(
        claims=st.fixed_dictionaries(
            {},
            optional={
                name: st.one_of(json_values, st.just(value))
                for name, value in {
                    "iss": "MessageBird",
                    "nbf": NOW,
                    "exp": NOW + 60,
                    "jti": "j",
                    "url_hash": url_hash(URL),
                    "payload_hash": payload_hash(BODY),
                }.items()
            },
        ),
        body=st.sampled_from([BODY, b""]),
    )
    def test_arbitrary_signed_claims_are_verified_or_refused_with_signature_error(
        self, claims: dict[str, Any], body: bytes
    ) -> None:
        token = token_with_payload(json.dumps(claims).encode())
        try:
            verify(token, body=body, replay_cache=MemoryReplayCache(clock=lambda: NOW))
        except SignatureError as refused:
            assert refused.reason not in {"bad_signature", "alg_not_allowed", "no_key"}  # noqa: PT017  either outcome is allowed here; pytest.raises would demand the error


def test_a_tokens_replay_key_is_its_jti_kept_for_as_long_as_the_token_could_still_verify():
    from verification import MemoryReplayCache, jti_replay_key, record_jti
    from verification.jwt_signature import REPLAY_MARGIN

    claims = {"jti": "abc-123", "exp": 1_800_000_000}
    key, expires_at = jti_replay_key(claims, leeway=5)
    assert (key, expires_at) == ("jwt:abc-123", 1_800_000_005 + REPLAY_MARGIN)
    cache = MemoryReplayCache()
    record_jti(cache, claims, leeway=5)
    assert cache.add(key, expires_at) is False  # record_jti wrote the very same key
