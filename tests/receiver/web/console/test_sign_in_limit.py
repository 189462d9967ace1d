"""The console's sign-in: each address may be refused ``SIGN_IN_RATE_LIMIT`` sign-ins, then is answered 429."""

from __future__ import annotations

import pytest


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    return {**app_env, "SIGN_IN_RATE_LIMIT": "2 per minute"}


def test_refused_sign_ins_past_the_limit_are_answered_429(console):
    assert console.sign_in("wrong-token-1").status_code == 401
    assert console.sign_in("wrong-token-2").status_code == 401
    limited = console.sign_in()  # even the right token, from this address, until the window ends
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert "Too many attempts" in limited.text
    assert console.get("/ops/sign-in").status_code == 200  # the page itself is not limited


def test_a_signed_in_operator_is_not_counted(console):
    for _ in range(3):
        assert console.sign_in().status_code == 303
