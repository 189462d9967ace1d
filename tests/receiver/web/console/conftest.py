"""Driving the console as a browser would: pages, their forms' CSRF tokens, a signed-in operator."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from receiver.services import Services
from receiver.usecases import cases, operators
from tests.conftest import ADMIN_TOKEN

CSRF_FIELD = re.compile(r'name="(?:\w+-)?csrf_token"[^>]*?value="([^"]+)"|value="([^"]+)"[^>]*?name="csrf_token"')
TODAY = dt.datetime.now(dt.UTC).date()


def days_ago(days: int) -> str:
    return (TODAY - dt.timedelta(days=days)).isoformat()


class Console:
    """A browser on the console: it keeps its cookies, and posts forms with the CSRF token a page gave it."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, **kwargs)

    def csrf_token(self, page: str = "/ops/sign-in") -> str:
        found = CSRF_FIELD.search(self.client.get(page).text)
        assert found, f"no CSRF token on {page}"
        return found.group(1) or found.group(2)

    def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        csrf: bool = True,
        page: str = "/ops/sign-in",
        **kwargs: Any,
    ) -> TestResponse:
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.csrf_token(page)
        return self.client.post(path, data=form, **kwargs)

    def sign_in(self, token: str = ADMIN_TOKEN) -> TestResponse:
        return self.post("/ops/sign-in", {"token": token})


@pytest.fixture
def console(client: FlaskClient) -> Console:
    return Console(client)


@pytest.fixture
def signed_in(console: Console) -> Console:
    """The console, signed in as ``admin`` (``ADMIN_TOKEN``: an operator)."""
    assert console.sign_in().status_code == 303
    return console


@pytest.fixture
def token_of(services: Services) -> Callable[[str, str], str]:
    """A new API token named ``name`` with ``role``."""

    def token_of(name: str, role: str) -> str:
        return operators.create_token(services, name, role, actor="test").token

    return token_of


@pytest.fixture
def signed_in_as(app, token_of) -> Callable[[str, str], Console]:
    """Another browser, signed in with a new token named ``name`` with ``role``."""

    def signed_in_as(name: str, role: str) -> Console:
        browser = Console(app.test_client())
        assert browser.sign_in(token_of(name, role)).status_code == 303
        return browser

    return signed_in_as


@pytest.fixture
def open_case(services: Services) -> Callable[..., dict[str, Any]]:
    """Open a case through the use case the API calls (as ``olivia``); its detail."""

    def open_case(**changes: Any) -> dict[str, Any]:
        document = {
            "subjectRef": "TICKET-1",
            "right": "access",
            "receivedOn": days_ago(3),
            "jurisdiction": "UK",
            **changes,
        }
        return cases.open_case(services, document, actor="olivia").as_json()

    return open_case
