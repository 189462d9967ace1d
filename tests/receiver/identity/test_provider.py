"""The provider client against the test provider on loopback: discovery, the outbound checks, the ID token's checks."""

from __future__ import annotations

import base64
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from receiver.identity.errors import IdentityError
from receiver.identity.provider import OidcProvider, ProviderConfig
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, TestProvider, User

NONCE = "the-nonce-of-this-sign-in"


def client_for(provider: TestProvider, **changes: object) -> OidcProvider:
    settings: dict[str, object] = {
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scopes": ("openid", "email", "profile"),
        "redirect_uri": "https://hooks.example.test/ops/sign-in/callback",
        "private_hosts": (provider.issuer.removeprefix("https://"),),
        **changes,
    }
    return OidcProvider(ProviderConfig(**settings))  # type: ignore[arg-type]


def refused_reason(call) -> str:
    with pytest.raises(IdentityError) as refused:
        call()
    return refused.value.reason


def test_discovery_is_read_from_the_issuer_and_cached(oidc_provider):
    client = client_for(oidc_provider)
    assert client.metadata()["token_endpoint"] == oidc_provider.issuer + "/token"
    assert client.metadata() is client.metadata()


def test_a_provider_on_loopback_is_refused_unless_named_as_a_private_host(oidc_provider):
    assert refused_reason(client_for(oidc_provider, private_hosts=()).metadata) == "provider_unavailable"


def test_plain_http_is_refused_unless_allowed(oidc_provider):
    http_issuer = oidc_provider.issuer.replace("https://", "http://")
    assert refused_reason(client_for(oidc_provider, issuer=http_issuer).metadata) == "provider_unavailable"


def test_a_discovery_document_naming_another_issuer_is_refused(oidc_provider):
    other_name = oidc_provider.issuer.replace("127.0.0.1", "localhost")
    client = client_for(oidc_provider, issuer=other_name, private_hosts=(other_name.removeprefix("https://"),))
    assert refused_reason(client.metadata) == "issuer_mismatch"


def test_a_valid_id_token_verifies_and_the_keys_are_fetched_once(oidc_provider):
    client = client_for(oidc_provider)
    for _ in range(3):
        claims = client.verify_id_token(oidc_provider.id_token(User(), nonce=NONCE), nonce=NONCE)
    assert (claims["sub"], claims["aud"]) == ("c0ffee-0001", CLIENT_ID)
    assert oidc_provider.jwks_served == 1


def test_a_token_signed_with_a_new_key_makes_the_keys_be_fetched_again_once(oidc_provider):
    client = client_for(oidc_provider)
    client.verify_id_token(oidc_provider.id_token(User(), nonce=NONCE), nonce=NONCE)
    oidc_provider.rotate()
    for _ in range(2):
        client.verify_id_token(oidc_provider.id_token(User(), nonce=NONCE), nonce=NONCE)
    assert oidc_provider.jwks_served == 2


def test_a_token_signed_by_a_stranger_under_a_known_key_id_is_refused(oidc_provider):
    client = client_for(oidc_provider)
    client.metadata()
    stranger = RSAKey.generate_key(2048, parameters={"kid": oidc_provider.keys[-1].kid})
    claims = {"iss": oidc_provider.issuer, "sub": "x", "aud": CLIENT_ID, "iat": int(time.time()), "nonce": NONCE}
    forged = jwt.encode({"alg": "RS256", "kid": stranger.kid}, {**claims, "exp": int(time.time()) + 60}, stranger)
    assert refused_reason(lambda: client.verify_id_token(forged, nonce=NONCE)) == "invalid_id_token"


def test_a_token_with_no_signature_or_a_mac_is_refused(oidc_provider):
    client = client_for(oidc_provider)
    now = int(time.time())
    claims = {"iss": oidc_provider.issuer, "sub": "x", "aud": CLIENT_ID, "iat": now, "exp": now + 60, "nonce": NONCE}

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    unsigned = f"{part({'alg': 'none'})}.{part(claims)}."
    mac = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(CLIENT_SECRET.encode() * 2))
    for token in (unsigned, mac):
        assert refused_reason(lambda token=token: client.verify_id_token(token, nonce=NONCE)) == "invalid_id_token"


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "another-client"},
        {"iss": "https://another.example"},
        {"exp": 1_000_000_000},
        {"iat": int(time.time()) + 3600},
        {"nonce": "another-nonce"},
        {"azp": "another-client"},
    ],
)
def test_each_claim_is_checked(oidc_provider, changes):
    oidc_provider.id_token_changes = changes
    client = client_for(oidc_provider)
    token = oidc_provider.id_token(User(), nonce=NONCE)
    assert refused_reason(lambda: client.verify_id_token(token, nonce=NONCE)) == "invalid_id_token"


def test_the_end_session_url_names_the_client_and_where_to_come_back(oidc_provider):
    url = client_for(oidc_provider).end_session_url(post_logout_redirect_uri="https://hooks.example.test/ops/sign-in")
    assert url == (
        f"{oidc_provider.issuer}/logout?client_id={CLIENT_ID}"
        "&post_logout_redirect_uri=https%3A%2F%2Fhooks.example.test%2Fops%2Fsign-in"
    )
