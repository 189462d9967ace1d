"""The console's main pages in the browser, as PNGs: sign-in, cases, a case, a request, deliveries, health.

``make screenshots`` runs this with ``CONSOLE_SCREENSHOTS=docs/screenshots`` to refresh
the pictures of the docs' console page (docs/console.md); otherwise they go to a temporary folder and the test checks
that each page rendered what it is for. The data is made the way the service makes
it: cases opened through the use cases, requests sent to the provider simulators,
their signed callbacks verified and archives stored by the worker in a versioned S3
bucket (moto's server), refused deliveries sent to the endpoint. The week of refusals behind
the chart is sampled with its times set back, since a test cannot wait a week.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import pytest
import requests

from receiver.jobs.worker import Worker
from receiver.usecases import cases
from storage import registry
from storage.clock import Clock
from storage.refusals import Refusal, RefusalSamples
from tests.conftest import ADMIN_TOKEN
from tests.receiver.web.console.conftest import days_ago
from tests.receiver.web.console.test_in_the_browser import sign_in
from tests.support.databases import Backend
from tests.support.s3server import S3Endpoint
from tests.support.simulators import eventually

pytestmark = pytest.mark.slow
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def backend(sqlite_url: str) -> Backend:
    return Backend(sqlite_url)


@pytest.fixture
def app_env(app_env: dict[str, str], provider_settings: dict[str, str], moto_s3: S3Endpoint, s3_env) -> dict[str, str]:
    """The service of the other browser tests, its archives in a versioned bucket as in production."""
    s3_env(moto_s3)
    return {**app_env, **provider_settings, "ARCHIVE_STORE_URL": f"s3://{moto_s3.new_bucket(versioned=True)}/evidence"}


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_cases(services) -> dict[str, dict]:
    def open_one(ref: str, right: str, days: int, jurisdiction: str = "UK", actor: str = "olivia") -> dict:
        return cases.open_case(
            services,
            {"subjectRef": ref, "right": right, "receivedOn": days_ago(days), "jurisdiction": jurisdiction},
            actor=actor,
        ).as_json()

    opened = {
        "overdue": open_one("TICKET-1041", "access", 45, "EU"),
        "soon": open_one("TICKET-1077", "erasure", 27, "EU"),
        "paused": open_one("TICKET-1090", "portability", 12, actor="marc"),
        "followed": open_one("TICKET-1102", "access", 4),
        "closed": open_one("TICKET-0999", "objection", 20, "EU", actor="marc"),
    }
    cases.pause(
        services, opened["paused"]["id"], {"reason": "identity to be confirmed", "date": days_ago(2)}, actor="marc"
    )
    cases.close(
        services, opened["closed"]["id"], {"respondedOn": days_ago(1), "deliveredBy": "secure email"}, actor="marc"
    )
    return opened


def send_and_settle(services, case_id: str) -> list[str]:
    """Send the followed case's requests to the simulators and run the worker until each has ended."""
    sent = [
        cases.send_for_case(
            services,
            case_id,
            {"kind": "KIND_PERSONAL_GET", "field": "email", "value": "jane@example.org", "reason": "Art. 15"},
            actor="admin",
        ),
        cases.send_for_case(
            services,
            case_id,
            {"kind": "KIND_PERSONAL_DELETE", "field": "email", "value": "jane@example.org", "reason": "Art. 17"},
            actor="admin",
        ),
        cases.forget_for_case(services, case_id, {"number": "447700900123", "reason": "Art. 17"}, actor="admin"),
    ]
    ids = [s.request.id for s in sent]

    def all_ended() -> bool:
        Worker(services).run(once=True)
        with services.database.transaction() as session:
            return all(registry.get(session, i).state in ("completed", "failed") for i in ids)

    eventually(all_ended, timeout=30)
    return ids


def refuse_some_deliveries(base_url: str, services) -> None:
    """A few refusals through the endpoint (counted and sampled now), and a week of samples set back in time."""
    url = base_url + "/webhooks/messagebird/personal-data"
    for body in (b"{not json", b'{"requestId": "r-1", "requestKind": "KIND_PERSONAL_GET"}'):
        assert requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10).status_code
    samples = RefusalSamples(services.database, cap=services.settings.refusal_sample_cap, per_second=1e9)
    now = Clock().now()
    reasons = ("no_signature", "bad_signature", "malformed_json", "expired", "unknown_request")
    for index in range(120):
        at = now - dt.timedelta(hours=(index * 37) % (24 * 6) + index % 5)
        reason = reasons[(index * index) % 7 % len(reasons)]
        samples.offer(
            lambda at=at, reason=reason, index=index: Refusal(
                at,
                401 if reason != "malformed_json" else 400,
                reason,
                f"198.51.100.{index % 9}",
                hashlib.sha256(b"%d" % index).hexdigest(),
                200 + index,
            )
        )
    assert samples.flush() == 120


PAGES = ("sign-in", "cases", "case", "request", "deliveries", "health")
PROJECT_ROOT = Path(__file__).resolve().parents[4]


def test_the_console_page_of_the_docs_shows_every_page_from_docs_screenshots():
    console_page = (PROJECT_ROOT / "docs" / "console.md").read_text()
    for name in PAGES:
        assert f"](screenshots/{name}.png)" in console_page, name
        assert (PROJECT_ROOT / "docs" / "screenshots" / f"{name}.png").read_bytes().startswith(PNG), name


def shoot(page, shots: Path, name: str, *, full_page: bool = False) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=full_page)
    assert (shots / f"{name}.png").read_bytes().startswith(PNG)


def test_the_main_pages_in_the_browser(browser_page, live_service, services, shots):
    opened = open_cases(services)
    request_ids = send_and_settle(services, opened["followed"]["id"])
    refuse_some_deliveries(live_service.base_url, services)
    Worker(services).run(once=True)
    page, base = browser_page, live_service.base_url
    page.goto(base + "/ops/")
    assert page.get_by_label("API token").is_visible()
    shoot(page, shots, "sign-in")
    sign_in(page, base, ADMIN_TOKEN)

    pages = {  # name: (path, a text the page is for, the whole page rather than the first screen)
        "cases": ("/ops/", "TICKET-1041", False),
        "case": (f"/ops/cases/{opened['followed']['id']}", "How the deadline was computed", True),
        "request": (f"/ops/requests/{request_ids[0]}", "passed", False),
        "deliveries": ("/ops/deliveries", "Newest samples", False),
        "health": ("/ops/health", "Last reconciliation with MessageBird", False),
    }
    for name, (path, expected, whole) in pages.items():
        page.goto(base + path)
        assert expected in page.locator("main").inner_text(), name
        shoot(page, shots, name, full_page=whole)
    assert sorted(path.stem for path in shots.glob("*.png")) == sorted(PAGES)
