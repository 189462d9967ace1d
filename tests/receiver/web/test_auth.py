"""Named operators: each role may do what it is for and is refused the rest (403); unknown tokens are 401."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from app import create_app
from receiver.usecases import operators
from receiver.usecases.errors import UseCaseError
from storage import jobs, lifecycle, registry
from storage.models import ApiToken, Job, ProcessorRequest

READ_REQUESTS = ("GET", "/api/requests")
IMPORT = ("POST", "/api/requests/import")
READ_CASES = ("GET", "/api/cases")
OPEN_CASE = ("POST", "/api/cases")
RETRY = ("POST", "/api/requests/r-1/retry")
DOWNLOAD = ("GET", "/api/requests/r-1/archive")
METRICS = ("GET", "/metrics")
REFUSED_DELIVERIES = ("GET", "/api/deliveries/refused")
EVERY_ROUTE = (READ_REQUESTS, IMPORT, READ_CASES, OPEN_CASE, RETRY, DOWNLOAD, METRICS, REFUSED_DELIVERIES)

MAY = {
    "viewer": {READ_REQUESTS, READ_CASES, REFUSED_DELIVERIES},
    "operator": set(EVERY_ROUTE),
    "auditor": {READ_REQUESTS, READ_CASES, REFUSED_DELIVERIES, DOWNLOAD},
    "metrics": {METRICS},
}


@pytest.fixture
def bearer(services) -> Callable[[str, str], dict[str, str]]:
    """The Authorization header of a new token named ``name`` with ``role``."""

    def bearer(name: str, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {operators.create_token(services, name, role, actor='test').token}"}

    return bearer


def call(client: FlaskClient, route: tuple[str, str], headers: dict[str, str]) -> int:
    method, path = route
    return client.open(path, method=method, headers=headers, json={}).status_code


@pytest.mark.parametrize("role", operators.ROLES)
def test_each_role_may_do_what_it_is_for_and_nothing_else(client, bearer, role):
    headers = bearer(f"{role}-1", role)
    for route in EVERY_ROUTE:
        status = call(client, route, headers)
        if route in MAY[role]:
            assert status not in (401, 403), (role, route, status)
        else:
            assert status == 403, (role, route, status)


def test_a_wrong_role_is_403_in_messagebirds_shape(client, bearer):
    response = client.post("/api/cases", json={}, headers=bearer("victor", "viewer"))
    assert response.status_code == 403
    assert response.json["errors"][0]["code"] == 2
    assert "viewer" in response.json["errors"][0]["description"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer gdpr_not-a-token-we-ever-made"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer " + "x" * 5000},
    ],
)
def test_no_token_or_an_unknown_one_is_401_everywhere(client, headers):
    for route in EVERY_ROUTE:
        assert call(client, route, headers) == 401, route


def test_a_revoked_token_is_401_at_once(client, services, bearer):
    headers = bearer("olivia", "operator")
    assert client.get("/api/cases", headers=headers).status_code == 200
    operators.revoke_token(services, "olivia", actor="admin")
    assert client.get("/api/cases", headers=headers).status_code == 401


def test_only_a_keyed_hash_of_a_token_is_stored(services):
    made = operators.create_token(services, "olivia", "operator", actor="admin")
    with services.database.transaction() as session:
        [stored] = session.query(ApiToken).all()
        assert made.token not in (stored.token_hash, stored.name)
        assert stored.token_hash == services.secrets.token_hashes(made.token)[0]
        assert (stored.role, stored.created_by) == ("operator", "admin")


def test_a_token_made_before_a_key_rotation_still_works_and_is_rehashed(app_env, services, client):
    made = operators.create_token(services, "olivia", "viewer", actor="admin")
    rotated = create_app({**app_env, "SECRET_KEY": "n" * 40 + "," + app_env["SECRET_KEY"]})
    try:
        rotated_services = rotated.extensions["services"]
        response = rotated.test_client().get("/api/cases", headers={"Authorization": f"Bearer {made.token}"})
        assert response.status_code == 200
        with rotated_services.database.transaction() as session:
            assert session.query(ApiToken).one().token_hash == rotated_services.secrets.token_hashes(made.token)[0]
    finally:
        rotated.extensions["services"].close()


def test_the_admin_token_is_the_operator_named_admin(client, admin_headers, services):
    document = {"id": "r-1", "signatureKey": "k", "kind": "KIND_USER_GET"}
    assert client.post("/api/requests/import", json=document, headers=admin_headers).status_code == 201
    assert client.get("/api/requests/r-1", headers=admin_headers).json["transitions"][0]["actor"] == "admin"


@pytest.mark.parametrize(
    ("name", "role", "kind"),
    [
        ("admin", "operator", "conflict"),
        ("Olivia", "operator", "invalid"),
        ("o" * 65, "operator", "invalid"),
        ("olivia", "root", "invalid"),
    ],
)
def test_token_names_and_roles_are_checked(services, name, role, kind):
    with pytest.raises(UseCaseError) as refused:
        operators.create_token(services, name, role, actor="admin")
    assert refused.value.kind == kind


def test_a_name_is_never_given_to_a_second_token(services):
    operators.create_token(services, "olivia", "viewer", actor="admin")
    operators.revoke_token(services, "olivia", actor="admin")
    with pytest.raises(UseCaseError) as refused:
        operators.create_token(services, "olivia", "operator", actor="admin")
    assert refused.value.reason == "name_taken"


class TestActors:
    """Every action names its operator in the history of the request or case it changed."""

    def test_an_import_and_a_retry_name_their_operator(self, client, services, bearer):
        headers = bearer("olivia", "operator")
        client.post(
            "/api/requests/import", json={"id": "r-1", "signatureKey": "k", "kind": "KIND_USER_GET"}, headers=headers
        )
        failed_download(services, "r-1")
        assert client.post("/api/requests/r-1/retry", headers=headers).status_code == 202
        transitions = client.get("/api/requests/r-1", headers=headers).json["transitions"]
        assert [(t["to"], t["actor"]) for t in transitions] == [
            ("sent", "olivia"),
            ("callback_received", None),
            ("failed", None),
            ("callback_received", "olivia"),
        ]

    def test_an_archive_download_is_an_audit_event_of_the_request(self, client, services, bearer):
        client.post(
            "/api/requests/import",
            json={"id": "r-1", "signatureKey": "k", "kind": "KIND_USER_GET"},
            headers=bearer("olivia", "operator"),
        )
        stored_archive(services, "r-1", b"PK\x05\x06" + b"\x00" * 18)
        auditor = bearer("audrey", "auditor")
        with client.get("/api/requests/r-1/archive", headers=auditor) as download:
            assert download.status_code == 200
        [event] = client.get("/api/requests/r-1", headers=auditor).json["events"]
        assert (event["kind"], event["actor"]) == ("archive_downloaded", "audrey")
        assert event["note"] == "archive handed out as the file, from the file store"


def failed_download(services, request_id: str) -> None:
    """The request's callback came and its archive download failed, as the worker would leave it."""
    with services.database.transaction() as session:
        request = registry.find(session, request_id)
        lifecycle.move(request, lifecycle.CALLBACK_RECEIVED)
        jobs.enqueue(session, kind=jobs.ARCHIVE, request_id=request_id)
        session.flush()
        job = session.query(Job).filter_by(request_id=request_id).one()
        job.state = jobs.FAILED
        lifecycle.move(request, lifecycle.FAILED, reason="download failed")


def stored_archive(services, request_id: str, content: bytes) -> None:
    root = Path(services.settings.archive_store_url.removeprefix("file://"))
    (root / f"{request_id}.zip").write_bytes(content)
    with services.database.transaction() as session:
        request = session.get(ProcessorRequest, request_id)
        request.archive_uri = f"file://{root / f'{request_id}.zip'}"
        lifecycle.move(request, lifecycle.COMPLETED)
