"""GET /metrics: Prometheus text, behind the admin token, counting callbacks and reading states."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN_TOKEN, CALLBACK_URL
from tests.receiver.conftest import CALLBACK_PATH, callback_body


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_need_the_admin_token(client):
    assert client.get("/metrics").status_code == 401


def test_metrics_read_request_states_and_the_job_queue(register, deliver, client, admin_headers):
    register("a", "KIND_USER_DELETE")
    register("b", "KIND_PERSONAL_GET")
    deliver(callback_body("a", "KIND_USER_DELETE"))
    deliver(callback_body("b", data="https://files.example.test/b.zip"))
    response = client.get("/metrics", headers=admin_headers)
    assert response.status_code == 200
    found = samples(response.get_data(as_text=True))
    assert found[("receiver_requests", (("provider", "messagebird"), ("state", "completed")))] == 1
    assert found[("receiver_requests", (("provider", "messagebird"), ("state", "callback_received")))] == 1
    assert found[("receiver_job_queue_depth", ())] == 1
    assert found[("receiver_job_oldest_age_seconds", ())] >= 0
    assert found[("receiver_callbacks_total", (("reason", "ok"), ("verdict", "accepted")))] >= 2


def test_counters_add_up_across_gunicorn_workers(launcher, app_env, messagebird_signer):
    server = launcher.start_web(app_env, workers=3)
    body = callback_body("nobody", "KIND_USER_DELETE")
    for _ in range(12):
        requests.post(
            f"{server.base_url}{CALLBACK_PATH}",
            data=body,
            timeout=10,
            headers={**messagebird_signer(CALLBACK_URL, body), "Content-Type": "application/json"},
        )
    text = requests.get(
        f"{server.base_url}/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
    ).text
    assert samples(text)[("receiver_callbacks_total", (("reason", "unknown_request"), ("verdict", "rejected")))] == 12
