"""The console in a real browser (Debian's Chromium, driven by Playwright) against the service on a loopback port.

An operator signs in, finds the overdue case at the top, opens it, sees that its
deadline can no longer be extended and why, extends the next case's deadline, sees
the history name them, and signs out; a viewer is offered no action; a form
posted without its CSRF token changes nothing.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from receiver.usecases import cases
from tests.conftest import ADMIN_TOKEN
from tests.receiver.web.console.conftest import days_ago
from tests.support.databases import Backend
from tests.support.ports import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def backend(sqlite_url: str) -> Backend:
    """SQLite: the pages' behaviour on every backend is the Flask client tests' business."""
    return Backend(sqlite_url)


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    """Served over http on a free loopback port, the ``PUBLIC_URL`` where ``live_service`` serves it."""
    return {**app_env, "PUBLIC_URL": f"http://127.0.0.1:{free_port()}"}


@pytest.fixture
def two_cases(services):
    """An overdue case and one due in a few days, opened by ``olivia`` through the API's use case."""
    overdue = cases.open_case(
        services,
        {"subjectRef": "TICKET-OVERDUE", "right": "access", "receivedOn": days_ago(45), "jurisdiction": "EU"},
        actor="olivia",
    ).as_json()
    soon = cases.open_case(
        services,
        {"subjectRef": "TICKET-SOON", "right": "erasure", "receivedOn": days_ago(20), "jurisdiction": "EU"},
        actor="olivia",
    ).as_json()
    return overdue, soon


def sign_in(page, base_url: str, token: str) -> None:
    page.goto(base_url + "/ops/")
    assert page.url.startswith(base_url + "/ops/sign-in")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base_url + "/ops/")


def test_an_operator_triages_extends_and_signs_out(browser_page, live_service, two_cases):
    page, base = browser_page, live_service.base_url
    overdue, soon = two_cases
    sign_in(page, base, ADMIN_TOKEN)

    first_row = page.locator("table.list tbody tr").first
    assert first_row.locator("th").inner_text() == "TICKET-OVERDUE"
    assert re.fullmatch(r"overdue \d+ days", first_row.locator(".badge").inner_text())
    first_row.get_by_role("link", name="TICKET-OVERDUE").click()
    page.wait_for_url(f"{base}/ops/cases/{overdue['id']}")
    assert page.locator("svg.chart title").first.text_content() == "Timeline of the case"

    page.get_by_text("Extend the deadline by two months").click()
    page.get_by_label("Reason given to the data subject").fill("Complex request across many systems")
    page.get_by_role("button", name="Extend the deadline").click()
    refusal = page.locator("#extend[open]").get_by_role("alert")  # the engine's refusal, above the form kept open
    assert "first deadline" in refusal.inner_text()

    page.get_by_role("link", name="Cases").first.click()
    page.get_by_role("link", name="TICKET-SOON").click()
    page.get_by_text("Extend the deadline by two months").click()
    page.get_by_label("Reason given to the data subject").fill("Complex request across many systems")
    page.get_by_role("button", name="Extend the deadline").click()
    page.wait_for_url(f"{base}/ops/cases/{soon['id']}")
    assert "Deadline extended to" in page.get_by_role("status").inner_text()
    extended = page.locator("table.history tbody tr", has_text="extended")
    assert extended.locator("th").inner_text() == "admin"

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/ops/sign-in$"))
    page.goto(f"{base}/ops/cases/{soon['id']}")
    assert "/ops/sign-in" in page.url


def test_a_viewer_is_offered_no_action(browser_page, live_service, two_cases, token_of):
    page, base = browser_page, live_service.base_url
    sign_in(page, base, token_of("vera", "viewer"))
    assert page.get_by_role("link", name="Open a case").count() == 0
    page.get_by_role("link", name="TICKET-SOON").click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()  # the case's page, loaded
    assert page.get_by_role("heading", name="Actions").count() == 0
    assert page.locator("form[action*='/extend']").count() == 0
    assert page.locator("main form").count() == 0


def test_a_form_posted_without_its_csrf_token_changes_nothing(browser_page, live_service, two_cases, services):
    page, base = browser_page, live_service.base_url
    _, soon = two_cases
    sign_in(page, base, ADMIN_TOKEN)
    page.goto(f"{base}/ops/cases/{soon['id']}")
    page.get_by_text("Extend the deadline by two months").click()
    page.locator("#extend input[name='extend-csrf_token']").evaluate("input => input.remove()")
    page.get_by_label("Reason given to the data subject").fill("Complex request across many systems")
    page.get_by_role("button", name="Extend the deadline").click()
    expect(page.get_by_role("heading", name="Form not accepted")).to_be_visible()
    after = cases.show_case(services, soon["id"]).as_json()
    assert (after["dueOn"], after["extended"]) == (soon["dueOn"], False)
    assert [entry["kind"] for entry in after["history"]] == ["opened"]


def page_fits_the_window(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_long_unbroken_subject_reference_wraps_within_the_window(browser_page, live_service, services):
    long_ref = "TICKET-" + "X" * 193  # the longest subjectRef taken, 200 characters without a space
    opened = cases.open_case(
        services,
        {"subjectRef": long_ref, "right": "access", "receivedOn": days_ago(3), "jurisdiction": "EU"},
        actor="olivia",
    ).as_json()
    page, base = browser_page, live_service.base_url
    sign_in(page, base, ADMIN_TOKEN)
    cell = page.locator("table.list tbody th").first
    assert cell.inner_text().replace("\n", "") == long_ref
    box = cell.bounding_box()
    assert box["x"] + box["width"] <= page.evaluate("window.innerWidth")
    assert page_fits_the_window(page)
    page.goto(f"{base}/ops/cases/{opened['id']}")
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    assert page_fits_the_window(page)
