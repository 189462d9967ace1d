"""Signing in and out of the console: tokens, roles, the session cookie, its expiry, CSRF, safe headers."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from receiver.usecases import operators
from storage.models import ConsoleSession
from tests.conftest import ADMIN_TOKEN


def cookie_header(response, name: str) -> str:
    found = [value for value in response.headers.getlist("Set-Cookie") if value.startswith(f"{name}=")]
    assert found, f"no {name} cookie set"
    return found[0]


def test_the_sign_in_page_asks_for_a_token_in_a_password_field_with_a_csrf_token(console):
    page = console.get("/ops/sign-in")
    assert page.status_code == 200
    assert 'type="password"' in page.text and '<label for="token">API token</label>' in page.text
    assert 'name="csrf_token"' in page.text


def test_the_admin_token_signs_in_and_lands_on_the_cases(console):
    answer = console.sign_in(ADMIN_TOKEN)
    assert (answer.status_code, answer.headers["Location"]) == (303, "/ops/")
    home = console.get("/ops/")
    assert home.status_code == 200 and "Signed in as <strong>admin</strong>" in home.text


def test_the_session_cookie_is_httponly_strict_secure_under_https_and_expires(console, services):
    cookie = cookie_header(console.sign_in(ADMIN_TOKEN), "ops_session")
    assert {"HttpOnly", "SameSite=Strict", "Secure", "Path=/ops"} <= {part.strip() for part in cookie.split(";")}
    assert f"Max-Age={services.settings.console_session_minutes * 60}" in cookie


def test_the_session_is_kept_only_as_a_hash(console, services):
    session_id = cookie_header(console.sign_in(ADMIN_TOKEN), "ops_session").split(";")[0].split("=", 1)[1]
    with services.database.transaction() as session:
        stored = session.scalars(select(ConsoleSession)).one()
        assert (stored.operator, stored.role) == ("admin", "operator")
        assert session_id not in stored.id_hash


@pytest.mark.parametrize("public_url", ["http://127.0.0.1:8000"])
def test_cookies_are_not_secure_when_public_url_is_plain_http(app_env, public_url):
    from app import create_app
    from tests.receiver.web.console.conftest import Console

    app = create_app({**app_env, "PUBLIC_URL": public_url})
    try:
        answer = Console(app.test_client()).sign_in(ADMIN_TOKEN)
        for name in ("ops_session", "ops_state"):
            parts = {part.strip() for part in cookie_header(answer, name).split(";")}
            assert "Secure" not in parts and {"HttpOnly", "SameSite=Strict"} <= parts
    finally:
        app.extensions["services"].close()


def test_an_unknown_token_is_refused_on_the_page(console):
    answer = console.sign_in("gdpr_" + "n" * 43)
    assert answer.status_code == 401
    assert "This token is not known, or it was revoked." in answer.text
    assert "Set-Cookie" not in answer.headers or "ops_session=" not in str(answer.headers.getlist("Set-Cookie"))


def test_a_metrics_token_cannot_use_the_console(console, token_of):
    answer = console.sign_in(token_of("scraper", "metrics"))
    assert answer.status_code == 403 and "The metrics role cannot use the console." in answer.text


def test_signing_in_without_the_csrf_token_is_refused(console):
    answer = console.post("/ops/sign-in", {"token": ADMIN_TOKEN}, csrf=False)
    assert answer.status_code == 400 and "Form not accepted" in answer.text
    assert console.get("/ops/").status_code == 303


def test_a_page_without_a_session_leads_to_the_sign_in_and_back(console, open_case):
    case = open_case()
    answer = console.get(f"/ops/cases/{case['id']}")
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/ops/sign-in?next=/ops/cases/{case['id']}"
    landed = console.post("/ops/sign-in", {"token": ADMIN_TOKEN, "next": f"/ops/cases/{case['id']}"})
    assert landed.headers["Location"] == f"/ops/cases/{case['id']}"


@pytest.mark.parametrize("elsewhere", ["https://evil.example/", "//evil.example/ops/", "/api/cases", "/ops\\evil"])
def test_after_signing_in_the_console_never_sends_you_elsewhere(console, elsewhere):
    answer = console.post("/ops/sign-in", {"token": ADMIN_TOKEN, "next": elsewhere})
    assert answer.headers["Location"] == "/ops/"


def test_signing_out_ends_the_session_on_the_server(signed_in, services):
    session_cookie = signed_in.client.get_cookie("ops_session", path="/ops")
    answer = signed_in.post("/ops/sign-out", page="/ops/")
    assert (answer.status_code, answer.headers["Location"]) == (303, "/ops/sign-in")
    assert "ops_session=;" in cookie_header(answer, "ops_session")
    with services.database.transaction() as session:
        assert session.scalars(select(ConsoleSession)).all() == []
    signed_in.client.set_cookie("ops_session", session_cookie.value, path="/ops")  # a copy kept elsewhere
    assert signed_in.get("/ops/").status_code == 303


def test_an_expired_session_leads_to_the_sign_in(signed_in, services):
    with services.database.transaction() as session:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.execute(update(ConsoleSession).values(expires_at=past))
    answer = signed_in.get("/ops/")
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/ops/sign-in")


def test_a_session_lasts_console_session_minutes(app_env):
    from app import create_app
    from tests.receiver.web.console.conftest import Console

    app = create_app({**app_env, "CONSOLE_SESSION_MINUTES": "5"})
    try:
        before = dt.datetime.now(dt.UTC)
        answer = Console(app.test_client()).sign_in(ADMIN_TOKEN)
        assert "Max-Age=300" in cookie_header(answer, "ops_session")
        with app.extensions["services"].database.transaction() as session:
            expires = session.scalars(select(ConsoleSession.expires_at)).one()
        assert dt.timedelta(minutes=4) < expires - before <= dt.timedelta(minutes=5, seconds=5)
    finally:
        app.extensions["services"].close()


def test_revoking_a_token_signs_its_operator_out(signed_in_as, services):
    vera = signed_in_as("vera", "viewer")
    assert vera.get("/ops/").status_code == 200
    operators.revoke_token(services, "vera", actor="admin")
    assert vera.get("/ops/").status_code == 303


def test_the_root_leads_to_the_console(client):
    answer = client.get("/")
    assert (answer.status_code, answer.headers["Location"]) == (302, "/ops/")


def test_pages_forbid_framing_scripts_and_caching(signed_in):
    answer = signed_in.get("/ops/")
    assert "script-src" not in answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert (answer.headers["X-Frame-Options"], answer.headers["Cache-Control"]) == ("DENY", "no-store")


def test_the_stylesheet_is_served_without_a_session(console):
    with console.get("/ops/static/console.css") as answer:
        assert answer.status_code == 200 and answer.mimetype == "text/css"


def test_an_unknown_console_page_is_a_404_page(signed_in):
    answer = signed_in.get("/ops/no-such-page")
    assert answer.status_code == 404 and "There is no such page in the console." in answer.text


def test_the_json_api_and_the_webhook_need_no_csrf_token(client, admin_headers):
    opened = client.post(
        "/api/cases",
        json={"subjectRef": "T-1", "right": "access", "receivedOn": "2024-11-25", "jurisdiction": "UK"},
        headers=admin_headers,
    )
    assert opened.status_code == 201
    refused = client.post("/webhooks/messagebird/personal-data", data=b"{}", content_type="application/json")
    assert refused.status_code in (400, 401)  # refused for what it is, never for a missing CSRF token
