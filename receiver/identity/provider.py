"""The OpenID Connect provider, as the service speaks to it: discovery, the authorization URL, the code, the ID token.

Every request to the provider goes through ``receiver.fetching``'s checks: https
only (plain http with ``OIDC_ALLOW_HTTP``), only to the issuer's host and the hosts
its discovery document names for the token endpoint and the JWKS, each host
resolved once, checked and pinned, a loopback or private address only for a host
``OIDC_PRIVATE_HOSTS`` names, no redirect followed, no proxy from the environment.

Authlib's OAuth 2.0 client builds the authorization URL (code flow, PKCE S256,
``state``, ``nonce``) and redeems the code; the ID token's signature is checked by
joserfc against the provider's JWKS (cached; fetched again when a token names a key
it does not hold, so a rotated signing key verifies at once), with a pinned list of
asymmetric algorithms, and its claims (``iss``, ``aud``, ``exp``, ``iat``, ``nonce``,
``azp``, ``at_hash``) by Authlib's ``CodeIDToken``.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.common.urls import add_params_to_uri
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from receiver.fetching import FetchError, FetchPolicy, ca_bundle, check_destination, fetch_error, mount_pinned_adapters
from receiver.identity.errors import IdentityError
from receiver.observability.logs import get_logger
from storage.clock import Clock

log = get_logger(__name__)

#: Asymmetric algorithms only: never ``none``, never a MAC keyed with the client secret.
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
#: The discovery document is fetched again after this long, so a changed endpoint is seen without a restart.
METADATA_SECONDS = 3600
MAX_DOCUMENT_BYTES = 1024 * 1024
DISCOVERY_PATH = "/.well-known/openid-configuration"
_DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class ProviderConfig:
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: tuple[str, ...]
    redirect_uri: str
    allow_http: bool = False
    private_hosts: tuple[str, ...] = ()
    leeway_seconds: int = 60
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class Authorization:
    """Where to send the browser, and what must come back with it (kept for the callback, never in a log)."""

    url: str
    state: str
    nonce: str
    code_verifier: str


class OidcProvider:
    """One configured provider; safe to share between threads."""

    def __init__(
        self,
        config: ProviderConfig,
        *,
        clock: Callable[[], float] | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.config = config
        self._clock = clock or Clock().timestamp  # Unix time: the ID token's iat and exp
        self._environ = environ
        self._lock = threading.RLock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None

    # -- the authorization request and the code ------------------------------------------

    def begin(self) -> Authorization:
        """A new authorization request: fresh ``state``, ``nonce`` and PKCE verifier, and the URL carrying them."""
        metadata = self.metadata()
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        with self._client(metadata) as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
            )
        return Authorization(url, state, nonce, verifier)

    def redeem(self, code: str, *, code_verifier: str) -> dict[str, Any]:
        """The token endpoint's answer for ``code``; ``IdentityError`` when it refuses it or cannot be reached."""
        metadata = self.metadata()
        with self._client(metadata) as client:
            try:
                token = client.fetch_token(
                    metadata["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                )
            except OAuthError as refused:
                raise IdentityError(
                    "code_refused",
                    "The identity provider refused to complete this sign-in "
                    f"({_word(refused.error)}). Start again from the sign-in page.",
                ) from None
            except ValueError:
                raise IdentityError(
                    "provider_bad_answer", "The identity provider's answer could not be read."
                ) from None
        if not isinstance(token.get("id_token"), str):
            raise IdentityError(
                "no_id_token", "The identity provider answered without an ID token (is 'openid' asked?)."
            )
        return dict(token)

    # -- the ID token -----------------------------------------------------------------------

    def verify_id_token(self, id_token: str, *, nonce: str, access_token: str | None = None) -> dict[str, Any]:
        """The ID token's claims once its signature and claims hold; ``IdentityError`` ``invalid_id_token`` if not."""
        try:
            try:
                token = self._decode(id_token, self._key_set())
            except InvalidKeyIdError:
                token = self._decode(id_token, self._key_set(refresh=True))  # the provider may have rotated its key
            params: dict[str, Any] = {"nonce": nonce, "client_id": self.config.client_id}
            if access_token:
                params["access_token"] = access_token
            options: dict[str, Any] = {
                "iss": {"essential": True, "value": self.config.issuer},
                "aud": {"essential": True, "value": self.config.client_id},
            }
            claims = CodeIDToken(token.claims, token.header, options, params)
            claims.validate(now=int(self._clock()), leeway=self.config.leeway_seconds)
        except (JoseError, ValueError) as error:
            detail = getattr(error, "description", None) or type(error).__name__
            log.info("identity.id_token_refused", reason=_word(getattr(error, "error", "invalid")), detail=str(detail))
            raise IdentityError(
                "invalid_id_token",
                "The identity provider's answer did not verify, so you are not signed in. "
                "Start again from the sign-in page; if it happens again, tell whoever runs the console.",
            ) from None
        return dict(claims)

    def _decode(self, id_token: str, keys: KeySet) -> jwt.Token:
        advertised = self.metadata().get("id_token_signing_alg_values_supported")
        algorithms = [a for a in ID_TOKEN_ALGORITHMS if not isinstance(advertised, list) or a in advertised]
        return jwt.decode(id_token, keys, algorithms=algorithms or list(ID_TOKEN_ALGORITHMS))

    def _key_set(self, *, refresh: bool = False) -> KeySet:
        """The provider's keys, fetched once and again only when a token names a key the set lacks.

        An unknown key id makes one request to the JWKS: the callback reaches this only
        with a ``state`` it issued and had not seen used, so a stranger cannot make it fetch.
        """
        with self._lock:
            if self._keys is None or refresh:
                metadata = self.metadata()
                document = self._get_json(metadata["jwks_uri"], policy=self._policy(metadata))
                try:
                    self._keys = KeySet.import_key_set(document)
                except (JoseError, ValueError, TypeError, KeyError):
                    raise IdentityError(
                        "provider_bad_answer", "The identity provider's keys could not be read."
                    ) from None
            return self._keys

    # -- sign-out ---------------------------------------------------------------------------

    def end_session_url(self, *, post_logout_redirect_uri: str) -> str | None:
        """Where to send the browser to end the session at the provider too (RP-initiated logout), if it offers it."""
        try:
            endpoint = self.metadata().get("end_session_endpoint")
        except IdentityError:
            return None
        if not isinstance(endpoint, str) or urlsplit(endpoint).scheme not in self._schemes():
            return None
        params = [("client_id", self.config.client_id), ("post_logout_redirect_uri", post_logout_redirect_uri)]
        return str(add_params_to_uri(endpoint, params))

    # -- discovery and HTTP -----------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (cached ``METADATA_SECONDS``), checked against the configured issuer."""
        with self._lock:
            if self._metadata is None or self._clock() - self._metadata_at > METADATA_SECONDS:
                self._metadata = self._discover()
                self._metadata_at = self._clock()
            return self._metadata

    def _discover(self) -> dict[str, Any]:
        document = self._get_json(self.config.issuer + DISCOVERY_PATH, policy=self._policy(None))
        if not isinstance(document, dict) or document.get("issuer") != self.config.issuer:
            raise IdentityError(
                "issuer_mismatch", "The identity provider's discovery document names another issuer than OIDC_ISSUER."
            )
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            endpoint = document.get(name)
            if not isinstance(endpoint, str) or urlsplit(endpoint).scheme not in self._schemes():
                raise IdentityError(
                    "provider_misconfigured", f"The identity provider's {name} is missing or not https."
                )
        return document

    def _policy(self, metadata: Mapping[str, Any] | None) -> FetchPolicy:
        """The issuer's host, and the hosts of the endpoints the service itself calls."""
        urls = [self.config.issuer]
        if metadata is not None:
            urls += [metadata["token_endpoint"], metadata["jwks_uri"]]
        return FetchPolicy(
            allowed_hosts=tuple(dict.fromkeys(_host_pattern(url) for url in urls)),
            private_hosts=self.config.private_hosts,
            allow_http=self.config.allow_http,
            connect_timeout=self.config.timeout_seconds,
            read_timeout=self.config.timeout_seconds,
        )

    def _schemes(self) -> tuple[str, ...]:
        return ("https", "http") if self.config.allow_http else ("https",)

    def _client(self, metadata: Mapping[str, Any]) -> _CheckedOAuth2Session:
        return _CheckedOAuth2Session(
            self._policy(metadata),
            verify=ca_bundle(self._policy(metadata), self._environ),
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            token_endpoint_auth_method="client_secret_basic" if self.config.client_secret else "none",
            scope=" ".join(self.config.scopes),
            redirect_uri=self.config.redirect_uri,
            code_challenge_method="S256",
        )

    def _get_json(self, url: str, *, policy: FetchPolicy) -> Any:
        """GET a JSON document of at most ``MAX_DOCUMENT_BYTES`` from the provider."""
        session = _CheckedOAuth2Session(policy, verify=ca_bundle(policy, self._environ))
        with (
            session,
            session.get(url, withhold_token=True, stream=True, headers={"Accept": "application/json"}) as answer,
        ):
            if answer.status_code != 200:
                raise _unavailable(FetchError(f"http_{answer.status_code}", url, retryable=True))
            body = _read_bounded(answer, url)
        try:
            return json.loads(body)
        except ValueError:
            raise IdentityError("provider_bad_answer", "The identity provider's answer is not JSON.") from None


class _CheckedOAuth2Session(OAuth2Session):  # Authlib ships no type hints: its base is Any
    """Authlib's requests session, sending only where the policy allows, to the address it checked."""

    def __init__(self, policy: FetchPolicy, *, verify: str | bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._policy = policy
        self.verify = verify
        mount_pinned_adapters(self, policy)

    def request(
        self, method: str, url: str, withhold_token: bool = False, auth: Any = None, **kwargs: Any
    ) -> requests.Response:
        try:
            check_destination(url, self._policy)
            kwargs.setdefault("timeout", (self._policy.connect_timeout, self._policy.read_timeout))
            kwargs["allow_redirects"] = False
            answer: requests.Response = super().request(method, url, withhold_token=withhold_token, auth=auth, **kwargs)
            return answer
        except FetchError as refused:
            raise _unavailable(refused) from None
        except requests.RequestException as error:
            raise _unavailable(fetch_error(error, url)) from None


def _read_bounded(answer: requests.Response, url: str) -> bytes:
    """The body, refused past ``MAX_DOCUMENT_BYTES``; a connection failing mid-body is ``provider_unavailable``."""
    body = b""
    try:
        for chunk in answer.iter_content(64 * 1024):
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise IdentityError("provider_bad_answer", "The identity provider's answer is too large.")
    except requests.RequestException as error:
        raise _unavailable(fetch_error(error, url)) from None
    return body


def _unavailable(error: FetchError) -> IdentityError:
    log.warning("identity.provider_unavailable", reason=error.reason, error=error.message)
    return IdentityError(
        "provider_unavailable",
        f"The identity provider could not be reached ({error.reason}). Try again in a moment; "
        "if it goes on, tell whoever runs the console.",
    )


def _host_pattern(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port or _DEFAULT_PORTS.get(parts.scheme, 443)}"


def _word(value: object) -> str:
    text = str(value or "")
    return text if text.replace("_", "").isalnum() and len(text) <= 40 else "unexpected"
