"""Signing in through the identity provider, driven with Flask's client against the test provider on loopback.

The browser tests (``test_oidc_in_the_browser.py``) walk the same flows in Chromium;
these pin down the details a browser does not show: the cookies' attributes, each
refusal's reason, the provider's address checks, the CLI.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from receiver.usecases import cases, console_sessions, evidence
from tests.conftest import ADMIN_TOKEN, PUBLIC_URL
from tests.receiver.web.console.conftest import Console, days_ago
from tests.support.oidc_provider import TestProvider, User

CALLBACK = PUBLIC_URL + "/ops/sign-in/callback"


@pytest.fixture
def app_env(app_env: dict[str, str], oidc_settings: dict[str, str], oidc_provider: TestProvider) -> dict[str, str]:
    oidc_provider.redirect_uri = CALLBACK
    return {**app_env, **oidc_settings}


def to_the_provider(client: FlaskClient, provider: TestProvider) -> str:
    """Start a sign-in and let the provider answer: the callback path the browser would be sent to."""
    started = client.get("/ops/sign-in/provider")
    assert started.status_code == 303, started.text
    answer = requests.get(started.location, allow_redirects=False, verify=provider.ca_file, timeout=5)  # type: ignore[attr-defined]
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"].startswith(CALLBACK)
    return answer.headers["Location"].removeprefix(PUBLIC_URL)


def sign_in_through(client: FlaskClient, provider: TestProvider) -> TestResponse:
    return client.get(to_the_provider(client, provider))


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("ops_session", path="/ops")
    return cookie.value if cookie is not None else ""


def set_cookie_named(response: TestResponse, name: str) -> set[str]:
    found = [value for value in response.headers.getlist("Set-Cookie") if value.startswith(f"{name}=")]
    assert found, f"no {name} cookie set"
    return {part.strip() for part in found[0].split(";")}


def test_the_sign_in_page_offers_the_provider_beside_the_token_form(console: Console):
    page = console.get("/ops/sign-in?next=/ops/health")
    assert "Sign in with Example SSO" in page.text
    assert 'href="/ops/sign-in/provider?next=/ops/health"' in page.text
    assert 'type="password"' in page.text


def test_the_authorization_request_uses_pkce_s256_state_and_nonce_and_the_public_callback(client, oidc_provider):
    started = client.get("/ops/sign-in/provider", headers={"Host": "evil.example"})
    query = parse_qs(urlsplit(started.location).query)
    assert query["redirect_uri"] == [CALLBACK]  # from PUBLIC_URL, never from Host
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["response_type"] == ["code"] and query["scope"] == ["openid email profile"]
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32


def test_an_operator_is_signed_in_as_a_person_with_the_role_their_group_gives(client, oidc_provider, services):
    answer = sign_in_through(client, oidc_provider)
    assert answer.status_code == 200
    assert '<meta http-equiv="refresh" content="0; url=/ops/">' in answer.text
    operator = console_sessions.operator_of(services, session_cookie(client))
    assert operator is not None and operator.role == "operator"
    assert operator.name.startswith("oidc:") and len(operator.name) == len("oidc:") + 12
    home = client.get("/ops/")
    assert "Olivia Example (operator) · " + operator.name in home.text


def test_the_sign_in_state_rides_in_a_lax_cookie_of_its_own_and_the_session_stays_strict(client, oidc_provider):
    started = client.get("/ops/sign-in/provider")
    state_cookie = set_cookie_named(started, "ops_sign_in")
    assert {"HttpOnly", "SameSite=Lax", "Path=/ops/sign-in", "Secure", "Max-Age=600"} <= state_cookie
    answer = requests.get(started.location, allow_redirects=False, verify=oidc_provider.ca_file, timeout=5)
    done = client.get(answer.headers["Location"].removeprefix(PUBLIC_URL))
    assert {"HttpOnly", "SameSite=Strict", "Path=/ops", "Secure"} <= set_cookie_named(done, "ops_session")
    assert "Max-Age=0" in set_cookie_named(done, "ops_sign_in") or "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in str(
        set_cookie_named(done, "ops_sign_in")
    )


def test_the_same_person_keeps_one_actor_across_sign_ins_and_a_changed_name(app, oidc_provider, services):
    first = Console(app.test_client())
    sign_in_through(first.client, oidc_provider)
    oidc_provider.user = User(name="Olivia Renamed", email="olivia.new@example.test")
    second = Console(app.test_client())
    sign_in_through(second.client, oidc_provider)
    actors = {console_sessions.operator_of(services, session_cookie(c.client)).name for c in (first, second)}  # type: ignore[union-attr]
    assert len(actors) == 1
    assert "Olivia Renamed" in second.get("/ops/people").text


def test_a_replayed_callback_signs_nobody_in_from_this_browser_or_another(app, client, oidc_provider, services):
    oidc_provider.reuse_codes = True  # the provider would redeem the code again: the service itself must refuse
    callback = to_the_provider(client, oidc_provider)
    sealed = client.get_cookie("ops_sign_in", path="/ops/sign-in").value  # type: ignore[union-attr]
    assert client.get(callback).status_code == 200
    again = client.get(callback)
    assert again.status_code == 403 and "did not start this sign-in" in again.text

    other = app.test_client()
    assert other.get(callback).status_code == 403
    other.set_cookie("ops_sign_in", sealed, path="/ops/sign-in")  # even with the first browser's cookie copied
    copied = other.get(callback)
    assert copied.status_code == 403 and "already used" in copied.text
    assert session_cookie(other) == ""
    assert oidc_provider.tokens_issued == 1


def test_an_answer_for_another_sign_in_is_refused(client, oidc_provider):
    callback = to_the_provider(client, oidc_provider)
    client.get("/ops/sign-in/provider")  # a second sign-in started: the cookie now holds another state
    refused = client.get(callback)
    assert refused.status_code == 403 and "belongs to another sign-in" in refused.text


@pytest.mark.parametrize(
    "changes", [{"aud": "another-client"}, {"nonce": "not-the-nonce"}, {"iss": "https://issuer.example"}]
)
def test_an_id_token_with_a_wrong_audience_nonce_or_issuer_is_refused(client, oidc_provider, services, changes):
    oidc_provider.id_token_changes = changes
    refused = sign_in_through(client, oidc_provider)
    assert refused.status_code == 403 and "did not verify" in refused.text
    assert session_cookie(client) == ""


def test_an_expired_id_token_is_refused(client, oidc_provider):
    oidc_provider.id_token_changes = {"exp": 1_000_000_000, "iat": 999_999_000}
    assert sign_in_through(client, oidc_provider).status_code == 403


def test_a_rotated_signing_key_still_verifies(app, oidc_provider, services):
    assert sign_in_through(app.test_client(), oidc_provider).status_code == 200  # the JWKS is cached now
    oidc_provider.rotate()
    client = app.test_client()
    assert sign_in_through(client, oidc_provider).status_code == 200
    assert console_sessions.operator_of(services, session_cookie(client)) is not None


def test_a_person_in_no_mapped_group_is_refused_without_naming_a_group(client, oidc_provider):
    oidc_provider.user = User(groups=["marketing"])
    refused = sign_in_through(client, oidc_provider)
    assert refused.status_code == 403
    assert "no group you belong to gives access" in refused.text
    assert "gdpr-" not in refused.text and "marketing" not in refused.text
    assert session_cookie(client) == ""


def test_a_token_whose_groups_were_left_out_is_refused_with_why(client, oidc_provider):
    oidc_provider.user = User(
        groups=None,
        extra={"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "https://graph.example"}}},
    )
    refused = sign_in_through(client, oidc_provider)
    assert refused.status_code == 403 and "left your groups out" in refused.text


def test_the_provider_refusing_the_person_is_said(client, oidc_provider):
    oidc_provider.user = None
    refused = sign_in_through(client, oidc_provider)
    assert refused.status_code == 403 and "Example SSO did not sign you in (access_denied)" in refused.text


def test_a_callback_without_a_started_sign_in_is_refused(client, oidc_provider):
    refused = client.get("/ops/sign-in/callback?code=abc&state=def")
    assert refused.status_code == 403 and "did not start this sign-in" in refused.text


def test_the_token_form_can_be_turned_off(app_env, oidc_provider):
    from app import create_app

    app = create_app({**app_env, "CONSOLE_TOKEN_SIGN_IN": "false"})
    console = Console(app.test_client())
    page = console.get("/ops/sign-in")
    assert "Sign in with Example SSO" in page.text and 'type="password"' not in page.text
    refused = console.post(
        "/ops/sign-in", {"token": ADMIN_TOKEN}, csrf=False
    )  # the page offers no form to take it from
    assert refused.status_code in (400, 403) and console.client.get_cookie("ops_session", path="/ops") is None
    app.extensions["services"].close()


def test_a_provider_on_loopback_is_refused_unless_oidc_private_hosts_names_it(app_env, oidc_provider):
    from app import create_app

    app = create_app({**app_env, "OIDC_PRIVATE_HOSTS": ""})
    refused = app.test_client().get("/ops/sign-in/provider")
    assert refused.status_code == 502 and "could not be reached (address_not_allowed)" in refused.text
    app.extensions["services"].close()


def test_signing_out_ends_the_session_here_and_at_the_provider(client, oidc_provider, services):
    sign_in_through(client, oidc_provider)
    console = Console(client)
    signed_out = console.post("/ops/sign-out", page="/ops/")
    assert signed_out.status_code == 200
    logout = parse_qs(urlsplit(signed_out.text.split("url=", 1)[1].split('"', 1)[0].replace("&amp;", "&")).query)
    assert logout == {"client_id": ["gdpr-console"], "post_logout_redirect_uri": [PUBLIC_URL + "/ops/sign-in"]}
    assert client.get("/ops/").status_code == 303


def test_an_operator_ends_a_persons_sessions_from_the_console_and_the_shell(app, oidc_provider, services):
    person = app.test_client()
    sign_in_through(person, oidc_provider)
    actor = console_sessions.operator_of(services, session_cookie(person)).name  # type: ignore[union-attr]
    listed = app.test_cli_runner().invoke(args=["operators", "list"])
    assert listed.exit_code == 0 and f"{actor}\tOlivia Example\toperator\t" in listed.output
    assert "1 open session(s)" in listed.output

    admin = Console(app.test_client())
    admin.sign_in(ADMIN_TOKEN)
    ended = admin.post(f"/ops/people/{actor}/end-sessions", page="/ops/people")
    assert ended.status_code == 303
    assert person.get("/ops/").status_code == 303  # back to the sign-in page

    sign_in_through(person, oidc_provider)
    shell = app.test_cli_runner().invoke(args=["operators", "end-sessions", "Olivia Example"])
    assert shell.exit_code == 0 and f"{actor} (Olivia Example): 1 session(s) ended" in shell.output
    assert console_sessions.operator_of(services, session_cookie(person)) is None


def test_a_viewer_may_not_end_sessions(app, oidc_provider, signed_in_as):
    viewer = signed_in_as("vera", "viewer")
    assert "End sessions" not in viewer.get("/ops/people").text
    refused = viewer.post("/ops/people/oidc:000000000000/end-sessions", page="/ops/people")
    assert refused.status_code == 403


def test_the_evidence_pack_names_the_person_and_their_role_and_no_log_holds_their_email(
    client, oidc_provider, services, capsys
):
    sign_in_through(client, oidc_provider)
    actor = console_sessions.operator_of(services, session_cookie(client)).name  # type: ignore[union-attr]
    case = cases.open_case(
        services,
        {"subjectRef": "TICKET-9", "right": "access", "receivedOn": days_ago(2), "jurisdiction": "UK"},
        actor=actor,
    ).as_json()
    pack = evidence.export_pack(services, case["id"], actor=actor)
    with zipfile.ZipFile(io.BytesIO(pack.data)) as archive:
        document = json.loads(archive.read("evidence.json"))
        page = archive.read("evidence.html").decode()
    [person] = [entry for entry in document["actors"] if entry["name"] == actor]
    assert person["role"] == "operator: Olivia Example (signed in through the identity provider)"
    assert "Olivia Example" in page
    assert "olivia@example.test" not in capsys.readouterr().out


def test_the_history_names_the_role_a_person_held_when_they_acted(app, oidc_provider, services):
    first = app.test_client()
    sign_in_through(first, oidc_provider)
    actor = console_sessions.operator_of(services, session_cookie(first)).name  # type: ignore[union-attr]
    case = cases.open_case(
        services,
        {"subjectRef": "TICKET-7", "right": "access", "receivedOn": days_ago(2), "jurisdiction": "UK"},
        actor=actor,
    ).as_json()
    oidc_provider.user = User(groups=["gdpr-viewers"])  # moved to another group at the provider
    later = app.test_client()
    sign_in_through(later, oidc_provider)
    assert console_sessions.operator_of(services, session_cookie(later)).role == "viewer"  # type: ignore[union-attr]

    page = later.get(f"/ops/cases/{case['id']}").text
    assert f"Olivia Example (operator) · {actor}" in page  # the history: the role held when the case was opened
    assert f"Olivia Example (viewer) · {actor}" in page  # the header: the role now
    pack = evidence.export_pack(services, case["id"], actor="admin")
    with zipfile.ZipFile(io.BytesIO(pack.data)) as archive:
        [person] = [a for a in json.loads(archive.read("evidence.json"))["actors"] if a["name"] == actor]
    assert re.fullmatch(
        r"operator since [\d-]+ [\d:]+, viewer since [\d-]+ [\d:]+: Olivia Example \(.*\)", person["role"]
    )
