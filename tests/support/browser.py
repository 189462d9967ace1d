"""Debian's Chromium, driven by Playwright for Python (pytest plugin).

Playwright's own browser builds cannot be downloaded here, so it drives the
distribution's Chromium (``/usr/bin/chromium``, ``apt-get install chromium``;
``.ci/run`` installs it when missing). Where it is missing the browser tests skip
with one line saying why, unless ``REQUIRE_SERVICES=1`` (CI), which turns the skip
into a failure, as for PostgreSQL and Redis.

``chromium`` is one headless browser for the whole session (it starts in about a
second; Playwright's sync API leaves an event loop running in the test process, so the
load tests run theirs in a thread apart, ``tests.support.load.run_apart``); ``browser_page``
a fresh context, with its own cookies, per test.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import skip_or_fail

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}


def chromium_missing() -> str | None:
    """None when Debian's Chromium is installed, else why the browser tests cannot run."""
    if CHROMIUM.exists() or shutil.which("chromium"):
        return None
    return f"Chromium not installed at {CHROMIUM} (apt-get install chromium)"


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    missing = chromium_missing()
    if missing:
        skip_or_fail(missing)
    from playwright.sync_api import sync_playwright

    executable = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium) -> Iterator[object]:
    """A page in a fresh browser context (no cookies shared with any other test)."""
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
