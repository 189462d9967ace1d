"""The service against the simulators: app settings pointing at them, and helpers to drive it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import requests
from sqlalchemy import update

from receiver.jobs.worker import Worker
from receiver.providers.clients import build_provider_clients
from receiver.services import Services
from receiver.usecases import records
from storage import jobs
from storage.models import Job, ProcessorRequest
from tests.conftest import ADMIN_TOKEN
from tests.support.databases import Backend
from tests.support.simulators import eventually

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def backend(database_url: str) -> Backend:
    """SQLite and PostgreSQL; the Redis replay cache adds nothing the provider flows exercise."""
    return Backend(database_url)


@pytest.fixture
def app_env(app_env: dict[str, str], provider_settings: dict[str, str]) -> dict[str, str]:
    return {**app_env, **provider_settings}


@pytest.fixture
def api(live_service) -> Callable[..., requests.Response]:
    """Call the live service's admin API over HTTP: ``api("POST", "/api/requests", json=...)``."""

    def api(method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, live_service.base_url + path, headers=ADMIN, timeout=30, **kwargs)

    return api


def configure(services: Services, **changes: Any) -> None:
    """Change settings of a running test app (a test's own knob, as an operator would set it)."""
    services.settings = dataclasses.replace(services.settings, **changes)


def record(services: Services, request_id: str) -> dict[str, Any]:
    with services.database.transaction() as session:
        request = session.get(ProcessorRequest, request_id)
        assert request is not None
        return {
            **records.request_record(request).as_json(),
            "transitions": [t.to_state for t in request.transitions],
            "valueHash": request.value_hash,
        }


def run_jobs(services: Services) -> int:
    return Worker(services).run(once=True)


def first_reconciliation_done(services: Services) -> None:
    """Run the jobs a worker queues at start, the first reconciliation among them, before the test sends
    anything: the next reconciliation is then an interval away, as on a service that has been up a while.
    A test that waits for a request to fail where reconciliation would move it on needs this, or that first
    look can move it on within the same worker run that failed it."""
    run_jobs(services)


def callback_in(services: Services, request_id: str) -> None:
    """Wait, running no job, until the request's callback has been accepted: its archive job is then queued
    beside whatever else is due, so one worker run meets them all."""

    def received() -> bool:
        return record(services, request_id)["state"] == "callback_received"

    received.__doc__ = f"the callback for {request_id} is accepted"
    eventually(received)


def settle(services: Services, request_id: str, state: str, *, timeout: float = 15) -> dict[str, Any]:
    """Run the worker until the request reaches ``state``; its record then."""

    def reached() -> dict[str, Any] | None:
        run_jobs(services)
        found = record(services, request_id)
        return found if found["state"] == state else None

    reached.__doc__ = f"{request_id} reaches {state}"
    return eventually(reached, timeout=timeout)  # type: ignore[return-value]


def make_due(services: Services, kind: str) -> None:
    """Make every queued job of ``kind`` due now (time passing, without the wait)."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with services.database.transaction() as session:
        session.execute(update(Job).where(Job.kind == kind, Job.state == jobs.QUEUED).values(run_after=past))


def reconcile_now(services: Services) -> None:
    """Run a reconciliation now (queued at worker start, due again only after the interval)."""
    run_jobs(services)
    make_due(services, jobs.RECONCILE)
    run_jobs(services)


def provider_timeout(services: Services, seconds: float) -> None:
    """Give up on a provider's answer after ``seconds`` (the clients are rebuilt, as at start-up)."""
    configure(services, provider_timeout_seconds=seconds)
    services.providers = build_provider_clients(services.settings)


def backdate(services: Services, request_id: str, seconds: float) -> None:
    """Make a request ``seconds`` older (time passing, without the wait)."""
    with services.database.transaction() as session:
        request = session.get(ProcessorRequest, request_id)
        assert request is not None
        request.created_at -= dt.timedelta(seconds=seconds)
