"""PostgreSQL restarted as a standby (in recovery): ``/readyz`` says so, a callback is told to retry.

A private cluster (``tests.faults.servers``), migrated, then stopped cleanly and started again
with a ``standby.signal`` file: it answers reads and refuses every write, as a replica does
(or a primary a failover demoted).
"""

from __future__ import annotations

import pytest

from app import create_app
from tests.conftest import CALLBACK_URL
from tests.faults.servers import PrivatePostgres
from tests.support.databases import Backend
from tests.support.load import CALLBACK_PATH, DELETE_KIND, callback_json, register_requests

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def backend(private_postgres: PrivatePostgres) -> Backend:
    return Backend(private_postgres.url)


def test_a_server_in_recovery_is_not_ready_and_callbacks_are_503(
    private_postgres, app_env, messagebird_signer, messagebird_signature_key, report
):
    """Invariant: with the database in recovery ``/readyz`` is 503 naming ``recovering`` and a callback is 503,
    never 200 nor 500; the request is still ``sent`` afterwards."""
    register_requests(
        private_postgres.url,
        secret_key=app_env["SECRET_KEY"],
        signature_key=messagebird_signature_key,
        kinds={"sb-1": DELETE_KIND},
    )
    ready_before = create_app(app_env)
    try:
        assert ready_before.test_client().get("/readyz").status_code == 200
    finally:
        ready_before.extensions["services"].close()
    private_postgres.restart_as_standby()
    app = create_app(app_env)
    client = app.test_client()
    body = callback_json("sb-1", DELETE_KIND)
    try:
        ready = client.get("/readyz")
        refused = client.post(
            CALLBACK_PATH, data=body, headers=messagebird_signer(CALLBACK_URL, body), content_type="application/json"
        )
    finally:
        app.extensions["services"].close()
    counts = report(readyz=f"{ready.status_code} {ready.json['checks']['database']}", callback=refused.status_code)
    assert ready.status_code == 503 and ready.json["checks"]["database"].startswith("recovering: "), counts
    assert refused.status_code == 503, counts
