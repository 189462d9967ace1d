"""The subject's pages are limited per address (SUBJECT_RATE_LIMIT): guessing is slow, other addresses unhurt."""

from __future__ import annotations

import pytest


@pytest.fixture
def app_env(app_env):
    return {**app_env, "SUBJECT_RATE_LIMIT": "3 per minute"}


def test_an_address_past_its_limit_is_answered_429_and_another_address_is_not(client):
    guesses = [client.get("/answer/" + "A" * 43, environ_base={"REMOTE_ADDR": "198.51.100.7"}) for _ in range(4)]
    assert [guess.status_code for guess in guesses] == [404, 404, 404, 429]
    assert int(guesses[-1].headers["Retry-After"]) >= 1 and guesses[-1].headers["Cache-Control"] == "no-store"
    assert "Too many requests" in guesses[-1].get_data(as_text=True)
    other = client.get("/answer/" + "A" * 43 + "/download", environ_base={"REMOTE_ADDR": "198.51.100.8"})
    assert other.status_code == 404
    assert client.get("/healthz").status_code == 200
