"""The MessageBird simulator's own controls, over HTTPS as a test or ``make simulators`` user drives them."""

from __future__ import annotations

import time

import requests

from tests.support.simulators import ACCESS_KEY, eventually

CREATE = {"kind": "KIND_USER_DELETE", "reason": "account closed", "callback": {"http": "http://127.0.0.1:9/cb"}}


def post(simulator, path: str, document: dict) -> requests.Response:
    return requests.post(
        simulator.base_url + path, json=document, timeout=10, headers={"Authorization": f"AccessKey {ACCESS_KEY}"}
    )


def states(simulator) -> list[str]:
    return [
        r["state"] for r in requests.get(simulator.base_url + "/_simulator/requests", timeout=10).json()["requests"]
    ]


def test_a_held_request_stays_sent_until_released_then_finishes(messagebird_simulator):
    assert post(
        messagebird_simulator, "/_simulator/knobs", {"hold": True, "callback": "none", "callback_delay": 0.0}
    ).json()["hold"]
    assert post(messagebird_simulator, "/personaldata/requests", CREATE).status_code == 201
    assert post(messagebird_simulator, "/personaldata/requests", CREATE).status_code == 201
    time.sleep(0.3)  # unheld, they would be done by now
    assert states(messagebird_simulator) == ["STATE_SENT", "STATE_SENT"]

    assert post(messagebird_simulator, "/_simulator/release", {}).json() == {"released": 2}
    eventually(lambda: states(messagebird_simulator) == ["STATE_DONE", "STATE_DONE"])
    assert post(messagebird_simulator, "/_simulator/release", {}).json() == {"released": 0}


def test_a_request_created_without_hold_finishes_on_its_own(messagebird_simulator):
    post(messagebird_simulator, "/_simulator/knobs", {"callback": "none", "callback_delay": 0.0})
    post(messagebird_simulator, "/personaldata/requests", CREATE)
    eventually(lambda: states(messagebird_simulator) == ["STATE_DONE"])


def test_hold_takes_only_true_or_false(messagebird_simulator):
    refused = post(messagebird_simulator, "/_simulator/knobs", {"hold": "false"})
    assert (refused.status_code, refused.json()) == (400, {"error": "hold must be true or false"})
    assert messagebird_simulator.knobs.hold is False
