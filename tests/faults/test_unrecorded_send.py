"""Nothing sent is lost: MessageBird created the request but its answer never reached the registry.

Two ways it happens, each for real over HTTP through gunicorn: the database (a private
PostgreSQL cluster) stops right after MessageBird created the requests and before its
answers arrive; MessageBird creates the requests and answers only after our timeout. The
intents were recorded first, so a real ``flask worker`` finds each request in MessageBird's
listing (its ``signatureKey`` with it), and the genuine callback that follows verifies:
MessageBird holds each request until the worker has recorded them all, then finishes it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select

from storage.crypto import SecretBox
from storage.db import Database
from storage.models import ProcessorRequest
from tests.conftest import ADMIN_TOKEN
from tests.faults.conftest import wait_until
from tests.support.databases import Backend

pytestmark = pytest.mark.slow

SENDS = 4


def documents() -> list[dict]:
    personal = [
        {
            "kind": "KIND_PERSONAL_GET",
            "field": "email",
            "value": f"subject-{n}@example.org",
            "reason": "Art. 15",
            "subjectRef": f"T-{n}",
        }
        for n in range(SENDS - 1)
    ]
    return [*personal, {"kind": "KIND_USER_DELETE", "reason": "account closed", "subjectRef": "T-all"}]


def send_all(base_url: str) -> list[requests.Response]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with ThreadPoolExecutor(SENDS) as pool:
        return list(
            pool.map(
                lambda d: requests.post(f"{base_url}/api/requests", json=d, headers=headers, timeout=60), documents()
            )
        )


def service_env(app_env: dict, provider_settings: dict, **changes: str) -> dict[str, str]:
    return {**app_env, **provider_settings, "RECONCILE_INTERVAL_SECONDS": "1", "WORKER_POLL_SECONDS": "0.1", **changes}


def port_of(env: dict[str, str]) -> int:
    return int(env["PUBLIC_URL"].rsplit(":", 1)[1])


def registry_view(env: dict[str, str]) -> dict[str, ProcessorRequest]:
    database = Database(env["DATABASE_URL"])
    try:
        with database.transaction() as session:
            return {r.id: r for r in session.scalars(select(ProcessorRequest))}
    finally:
        database.dispose()


def resolution(env: dict[str, str], simulator, answers: list[requests.Response]) -> dict[str, int]:
    """What became of the sends: each MessageBird request once in the registry, under its own id, with its key."""
    stored, box = registry_view(env), SecretBox(env["SECRET_KEY"].split(","))
    created = dict(simulator.requests)
    intents = {a.json().get("request", a.json())["id"] for a in answers}
    resolved = [r for r in stored.values() if r.id in created and r.intent_id in intents]
    return {
        "sent": len(answers),
        "created_at_messagebird": len(created),
        "create_calls": sum(1 for call in simulator.seen if call["method"] == "POST"),
        "resolved": len(resolved),
        "keys_match": sum(
            1
            for r in resolved
            if r.signature_key_sealed and box.open(r.signature_key_sealed) == created[r.id].signature_key
        ),
        "completed_by_callback": sum(1 for r in resolved if r.state == "completed" and r.authorising_callback_id),
        "callbacks_accepted": sum(1 for r in created.values() if r.deliveries[-1:] == [200]),
        "left_sending": sum(1 for r in stored.values() if r.state == "sending"),
    }


#: What ``resolution`` counts when nothing was lost and nothing sent twice.
EVERY_SEND_RESOLVED = {
    "sent": SENDS,
    "created_at_messagebird": SENDS,
    "create_calls": SENDS,
    "resolved": SENDS,
    "keys_match": SENDS,
    "completed_by_callback": SENDS,
    "callbacks_accepted": SENDS,
    "left_sending": 0,
}


def callbacks_after_recording(env: dict[str, str], simulator) -> None:
    """Once the worker has recorded every request MessageBird created, let MessageBird finish them: the
    callbacks then name requests the registry knows only from the listing."""
    wait_until(
        lambda: set(simulator.requests) <= set(registry_view(env)),
        timeout=60,
        what="the worker recording every request from the listing",
    )
    assert simulator.release_held() == SENDS


def all_completed(env: dict[str, str], simulator) -> bool:
    stored = registry_view(env)
    return all(stored.get(i) is not None and stored[i].state == "completed" for i in simulator.requests)


def warm(base_url: str) -> None:
    """Let every gunicorn worker find its pooled connections broken by the restart and open new ones."""
    wait_until(
        lambda: all(requests.get(f"{base_url}/readyz", timeout=5).status_code == 200 for _ in range(8)),
        timeout=30,
        interval=0.3,
        what="readyz answering 200 after the restart",
    )


@pytest.mark.postgres
class TestTheDatabaseStopsAfterMessageBirdAnswered:
    @pytest.fixture
    def backend(self, private_postgres) -> Backend:
        return Backend(private_postgres.url)

    def test_every_request_is_recorded_from_the_listing_with_its_key(
        self, launcher, app_env, provider_settings, messagebird_simulator, private_postgres, report
    ):
        """Invariant: PostgreSQL stops after MessageBird created the requests and before its answers
        arrive; each send is answered 202 (sent, recording pending), none is sent twice, and once the
        database is back the worker records each from the listing with its signature key, so the
        genuine callbacks verify and every request completes."""
        env = service_env(app_env, provider_settings, PROVIDER_TIMEOUT_SECONDS="15")
        web = launcher.start_web(env, workers=2, port=port_of(env))
        messagebird_simulator.knobs.update({"stall_after_create": 3.0, "hold": True})

        def stop_once_all_created() -> None:
            wait_until(
                lambda: len(messagebird_simulator.requests) == SENDS,
                timeout=30,
                interval=0.02,
                what="MessageBird creating every request",
            )
            private_postgres.stop()

        stopper = threading.Thread(target=stop_once_all_created)
        stopper.start()
        answers = send_all(web.base_url)
        stopper.join(timeout=60)
        private_postgres.start()
        warm(web.base_url)
        launcher.start_worker(env)
        callbacks_after_recording(env, messagebird_simulator)
        wait_until(lambda: all_completed(env, messagebird_simulator), timeout=60, what="every request completed")

        statuses = Counter(a.status_code for a in answers)
        resolved = resolution(env, messagebird_simulator, answers)
        counts = report(**resolved, answered_202=statuses[202], statuses=sorted(statuses))
        assert statuses == {202: SENDS}, counts
        assert all("recording its answer failed" in a.json()["description"] for a in answers), counts
        assert resolved == EVERY_SEND_RESOLVED, counts


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Backend:
    return Backend(request.getfixturevalue(f"{request.param}_url"))


def test_sends_that_time_out_after_creation_are_found_in_the_listing(
    launcher, app_env, provider_settings, messagebird_simulator, report
):
    """Invariant: MessageBird creates each request and answers after our timeout; each send is answered
    504 (the intent is kept), none is sent twice, and the worker records each from the listing with its
    signature key, so the genuine callbacks verify and every request completes."""
    env = service_env(app_env, provider_settings, PROVIDER_TIMEOUT_SECONDS="1")
    web = launcher.start_web(env, workers=2, port=port_of(env))
    messagebird_simulator.knobs.update({"stall_after_create": 3.0, "hold": True})
    started = time.monotonic()
    answers = send_all(web.base_url)
    answered_within = time.monotonic() - started
    launcher.start_worker(env)
    callbacks_after_recording(env, messagebird_simulator)
    wait_until(lambda: all_completed(env, messagebird_simulator), timeout=60, what="every request completed")

    statuses = Counter(a.status_code for a in answers)
    resolved = resolution(env, messagebird_simulator, answers)
    counts = report(**resolved, answered_504=statuses[504], answered_within_s=round(answered_within, 1))
    assert statuses == {504: SENDS}, counts
    assert all("may have created the request" in a.json()["errors"][0]["description"] for a in answers), counts
    assert resolved == EVERY_SEND_RESOLVED, counts
