"""Signing in through the identity provider in a real browser (Debian's Chromium, driven by Playwright).

The service runs on a loopback port, the test provider (``tests/support/oidc_provider.py``)
on another, over HTTPS with a trustme certificate that the browser is told to accept (the
service itself trusts it through ``REQUESTS_CA_BUNDLE``). An operator signs in, acts and
the history names them, then signs out here and at the provider; a viewer is offered no
action; a person in no mapped group is refused; a replayed callback signs nobody in, in
the same browser or another; a rotated signing key still verifies; an ID token with the
wrong audience or nonce is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from receiver.usecases import cases
from tests.receiver.web.console.conftest import days_ago
from tests.support.browser import VIEWPORT
from tests.support.databases import Backend
from tests.support.oidc_provider import TestProvider, User
from tests.support.processes import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def backend(sqlite_url: str) -> Backend:
    """SQLite: the flow's behaviour on every backend is the Flask client tests' business."""
    return Backend(sqlite_url)


@pytest.fixture
def app_env(app_env: dict[str, str], oidc_settings: dict[str, str], oidc_provider: TestProvider) -> dict[str, str]:
    public_url = f"http://127.0.0.1:{free_port()}"
    oidc_provider.redirect_uri = public_url + "/ops/sign-in/callback"
    return {**app_env, **oidc_settings, "PUBLIC_URL": public_url}


@pytest.fixture
def new_browser(chromium: Any) -> Iterator[Callable[[], Page]]:
    """A fresh browser (context) each call, accepting the test provider's certificate."""
    contexts = []

    def new_browser() -> Page:
        context = chromium.new_context(viewport=VIEWPORT, ignore_https_errors=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield new_browser
    for context in contexts:
        context.close()


@pytest.fixture
def case_soon(services: Any) -> dict[str, Any]:
    return cases.open_case(
        services,
        {"subjectRef": "TICKET-SOON", "right": "erasure", "receivedOn": days_ago(20), "jurisdiction": "EU"},
        actor="olivia",
    ).as_json()


def sign_in_with_provider(page: Page, base_url: str) -> None:
    page.goto(base_url + "/ops/")
    assert page.url.startswith(base_url + "/ops/sign-in")
    page.get_by_role("link", name="Sign in with Example SSO").click()


def expect_signed_in(page: Page, base_url: str) -> None:
    page.wait_for_url(base_url + "/ops/")
    expect(page.get_by_role("heading", name="Cases")).to_be_visible()


def expect_refused(page: Page, why: str) -> None:
    expect(page.get_by_role("heading", name="Not signed in")).to_be_visible()
    assert why in page.get_by_role("alert").inner_text()


def test_an_operator_signs_in_acts_is_named_in_the_history_and_signs_out_there_too(
    new_browser, live_service, case_soon, oidc_provider
):
    page, base = new_browser(), live_service.base_url
    sign_in_with_provider(page, base)
    expect_signed_in(page, base)
    assert "Olivia Example (operator)" in page.locator(".who").inner_text()

    page.get_by_role("link", name="TICKET-SOON").click()
    page.get_by_text("Extend the deadline by two months").click()
    page.get_by_label("Reason given to the data subject").fill("Complex request across many systems")
    page.get_by_role("button", name="Extend the deadline").click()
    page.wait_for_url(f"{base}/ops/cases/{case_soon['id']}")
    extended = page.locator("table.history tbody tr", has_text="extended")
    assert re.fullmatch(r"Olivia Example \(operator\) · oidc:[0-9a-f]{12}", extended.locator("th").inner_text())
    history = cases.show_case(live_service.services, case_soon["id"]).as_json()["history"]
    assert history[-1]["actor"].startswith("oidc:")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/ops/sign-in$"))
    assert oidc_provider.logouts == [{"client_id": "gdpr-console", "post_logout_redirect_uri": f"{base}/ops/sign-in"}]
    page.goto(f"{base}/ops/cases/{case_soon['id']}")
    assert "/ops/sign-in" in page.url


def test_a_viewer_is_offered_no_action(new_browser, live_service, case_soon, oidc_provider):
    oidc_provider.user = User(sub="v-1", name="Vera Viewer", groups=["gdpr-viewers", "marketing"])
    page, base = new_browser(), live_service.base_url
    sign_in_with_provider(page, base)
    expect_signed_in(page, base)
    assert page.get_by_role("link", name="Open a case").count() == 0
    page.get_by_role("link", name="TICKET-SOON").click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    assert page.get_by_role("heading", name="Actions").count() == 0
    assert page.locator("main form").count() == 0


def test_a_person_in_no_mapped_group_is_refused(new_browser, live_service, oidc_provider):
    oidc_provider.user = User(sub="m-1", name="Mallory Marketing", groups=["marketing"])
    page, base = new_browser(), live_service.base_url
    sign_in_with_provider(page, base)
    expect_refused(page, "no group you belong to gives access to this console")
    assert "gdpr-" not in page.content()
    page.goto(base + "/ops/")
    assert "/ops/sign-in" in page.url


def test_a_replayed_callback_signs_nobody_in_from_the_same_browser_or_another(new_browser, live_service, oidc_provider):
    oidc_provider.reuse_codes = True  # the provider would take the code again: the service itself must refuse
    page, base = new_browser(), live_service.base_url
    # The first leg through the browser's own HTTP client (its cookie jar), to keep the callback's URL and cookie.
    started = page.context.request.get(base + "/ops/sign-in/provider", max_redirects=0)
    answered = page.context.request.get(started.headers["location"], max_redirects=0, ignore_https_errors=True)
    callback = answered.headers["location"]
    sign_in_cookie = [c for c in page.context.cookies() if c["name"] == "ops_sign_in"]
    assert callback.startswith(base + "/ops/sign-in/callback?") and len(sign_in_cookie) == 1
    page.goto(callback)
    expect_signed_in(page, base)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/ops/sign-in$"))

    page.goto(callback)
    expect_refused(page, "did not start this sign-in")
    other = new_browser()
    other.goto(callback)
    expect_refused(other, "did not start this sign-in")
    other.context.add_cookies(sign_in_cookie)  # the first browser's sign-in cookie, copied
    other.goto(callback)
    expect_refused(other, "already used")
    for browser in (page, other):
        browser.goto(base + "/ops/")
        assert "/ops/sign-in" in browser.url
    assert oidc_provider.tokens_issued == 1


def test_a_rotated_signing_key_still_verifies(new_browser, live_service, oidc_provider):
    base = live_service.base_url
    first = new_browser()
    sign_in_with_provider(first, base)
    expect_signed_in(first, base)
    oidc_provider.rotate()
    second = new_browser()
    sign_in_with_provider(second, base)
    expect_signed_in(second, base)


@pytest.mark.parametrize("changes", [{"aud": "another-client"}, {"nonce": "another-sign-in's-nonce"}])
def test_an_id_token_with_the_wrong_audience_or_nonce_is_refused(new_browser, live_service, oidc_provider, changes):
    oidc_provider.id_token_changes = changes
    page, base = new_browser(), live_service.base_url
    sign_in_with_provider(page, base)
    expect_refused(page, "did not verify")
    page.goto(base + "/ops/")
    assert "/ops/sign-in" in page.url
