"""A small OpenID Connect provider on loopback over HTTPS with a trustme CA, for the console's sign-in (pytest plugin).

It serves what the service uses of a real provider: the discovery document, the JWKS
(``rotate()`` signs with a new key from then on, and drops the old one from the set
unless told to keep it), an authorization endpoint that signs in ``user`` at once and
redirects back with a code (or ``error=access_denied`` when ``user`` is None), a
token endpoint that checks the client's secret, the redirect URI and the PKCE
verifier before issuing an RS256 ID token, and an ``end_session_endpoint`` that
records who was signed out and redirects to ``post_logout_redirect_uri``.

Knobs for the refusals: ``id_token_changes`` overrides claims of the ID tokens it
issues (a wrong ``aud`` or ``nonce``), ``reuse_codes`` lets a code be redeemed again
(so a replay is refused by the service itself, not here).

Fixtures: ``oidc_provider`` (one server per test session, reset for each test, its CA
named by ``REQUESTS_CA_BUNDLE`` for the test) and ``oidc_settings``, the settings that
point the service at it; merge them into ``app_env``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask, Response, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from simulators.serving import Server

CLIENT_ID = "gdpr-console"
CLIENT_SECRET = "console-client-" + "secret-for-tests"


@dataclass
class User:
    sub: str = "c0ffee-0001"
    name: str = "Olivia Example"
    email: str = "olivia@example.test"
    groups: list[str] | None = field(default_factory=lambda: ["gdpr-operators"])
    extra: dict[str, Any] = field(default_factory=dict)


class TestProvider:
    """The provider's state: keys, the user who signs in, codes issued, sign-outs seen."""

    __test__ = False

    def __init__(self) -> None:
        self.base_url = ""
        self.redirect_uri = ""
        self.keys: list[RSAKey] = []
        self.reset()

    def reset(self) -> None:
        self.keys = [_new_key()]
        self.user: User | None = User()
        self.codes: dict[str, dict[str, Any]] = {}
        self.reuse_codes = False
        self.id_token_changes: dict[str, Any] = {}
        self.logouts: list[dict[str, str]] = []
        self.tokens_issued = 0
        self.jwks_served = 0

    def rotate(self, *, keep_old: bool = False) -> str:
        """Sign with a new key from now on; the old one leaves the JWKS unless ``keep_old``. The new ``kid``."""
        self.keys = [*self.keys, _new_key()] if keep_old else [_new_key()]
        return self.keys[-1].kid or ""

    @property
    def issuer(self) -> str:
        return self.base_url

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.base_url + "/authorize",
            "token_endpoint": self.base_url + "/token",
            "jwks_uri": self.base_url + "/jwks",
            "end_session_endpoint": self.base_url + "/logout",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def id_token(self, user: User, *, nonce: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user.sub,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "name": user.name,
            "email": user.email,
            **user.extra,
        }
        if user.groups is not None:
            claims["groups"] = user.groups
        claims.update(self.id_token_changes)
        key = self.keys[-1]
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def _new_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(4)})


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def provider_app(provider: TestProvider) -> Flask:
    app = Flask("test-oidc-provider")

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Response:
        return jsonify(provider.discovery())

    @app.get("/jwks")
    def jwks() -> Response:
        provider.jwks_served += 1
        return jsonify(KeySet(provider.keys).as_dict(private=False))

    @app.get("/authorize")
    def authorize() -> Response | tuple[str, int]:
        args = request.args
        if args.get("client_id") != CLIENT_ID or args.get("redirect_uri") != provider.redirect_uri:
            return "unknown client or redirect_uri", 400
        if args.get("response_type") != "code" or args.get("code_challenge_method") != "S256":
            return "code flow with PKCE S256 only", 400
        if not args.get("state") or not args.get("nonce") or "openid" not in args.get("scope", "").split():
            return "state, nonce and the openid scope are required", 400
        if provider.user is None:
            return redirect(f"{provider.redirect_uri}?{urlencode({'error': 'access_denied', 'state': args['state']})}")
        code = secrets.token_urlsafe(16)
        provider.codes[code] = {"challenge": args["code_challenge"], "nonce": args["nonce"], "user": provider.user}
        return redirect(f"{provider.redirect_uri}?{urlencode({'code': code, 'state': args['state']})}")

    @app.post("/token")
    def token() -> Response | tuple[Response, int]:
        auth = request.authorization
        if auth is None or (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET):
            return jsonify(error="invalid_client"), 401
        form = request.form
        grant = provider.codes.get(form.get("code", "")) if form.get("grant_type") == "authorization_code" else None
        if grant is None or form.get("redirect_uri") != provider.redirect_uri:
            return jsonify(error="invalid_grant"), 400
        if _s256(form.get("code_verifier", "")) != grant["challenge"]:
            return jsonify(error="invalid_grant", error_description="PKCE verification failed"), 400
        if not provider.reuse_codes:
            del provider.codes[form["code"]]
        provider.tokens_issued += 1
        return jsonify(
            access_token=secrets.token_urlsafe(24),
            token_type="Bearer",
            expires_in=300,
            id_token=provider.id_token(grant["user"], nonce=grant["nonce"]),
        )

    @app.get("/logout")
    def logout() -> Response | tuple[str, int]:
        provider.logouts.append(dict(request.args))
        target = request.args.get("post_logout_redirect_uri")
        return redirect(target) if target else ("signed out", 200)

    return app


@pytest.fixture(scope="session")
def oidc_provider_session() -> Iterator[TestProvider]:
    provider = TestProvider()
    with tempfile.TemporaryDirectory() as folder:
        server = Server(provider_app(provider), ca_file=Path(folder) / "oidc-ca.pem").start()
        provider.base_url = server.url
        provider.ca_file = server.ca_file  # type: ignore[attr-defined]
        yield provider
        server.close()


@pytest.fixture
def oidc_provider(oidc_provider_session: TestProvider, monkeypatch: pytest.MonkeyPatch) -> TestProvider:
    oidc_provider_session.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(oidc_provider_session.ca_file))  # type: ignore[attr-defined]
    return oidc_provider_session


@pytest.fixture
def oidc_settings(oidc_provider: TestProvider) -> dict[str, str]:
    """The service's settings for the test provider (merge into ``app_env``; ``PUBLIC_URL`` must be known first)."""
    return {
        "OIDC_ISSUER": oidc_provider.issuer,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_PROVIDER_NAME": "Example SSO",
        "OIDC_ROLE_MAP": "gdpr-operators=operator,gdpr-auditors=auditor,gdpr-viewers=viewer",
        "OIDC_PRIVATE_HOSTS": oidc_provider.issuer.removeprefix("https://"),  # it runs on loopback
    }
