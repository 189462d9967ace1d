"""What MessageBird's listing means for our requests: a state for one awaiting its callback (pure), a new
archive URL for one whose download failed."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from receiver.providers.messagebird import Listed
from receiver.usecases.reconciliation import FAIL, MISSING, WAIT, apply_listing, assess
from storage import jobs, lifecycle, registry
from storage.models import Job

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def listed(state: str, *, updated_ago: float | None = 0) -> Listed:
    updated = None if updated_ago is None else NOW - dt.timedelta(seconds=updated_ago)
    return Listed("r1", "KIND_PERSONAL_GET", state, None, NOW - dt.timedelta(hours=1), updated)


@pytest.mark.parametrize(
    ("state", "updated_ago", "verdict"),
    [
        ("STATE_SENT", 3600, WAIT),
        ("STATE_FAILED", 0, FAIL),
        ("STATE_CALLBACK_OK", 0, MISSING),
        ("STATE_CALLBACK_FAIL", 0, MISSING),
        ("STATE_DONE", 10, WAIT),
        ("STATE_DONE", 300, MISSING),
        ("STATE_DONE", None, MISSING),
        ("STATE_SOMETHING_NEW", 9999, WAIT),
    ],
)
def test_a_state_and_its_age_decide(state, updated_ago, verdict):
    assert assess(listed(state, updated_ago=updated_ago), now=NOW, grace_seconds=300) == verdict


def failed_download(services, request_id: str, url: str) -> None:
    """A GET request whose archive download from ``url`` failed for good."""
    with services.database.transaction() as session:
        request = registry.register(session, registry.NewRequest(request_id, registry.MESSAGEBIRD, "KIND_PERSONAL_GET"))
        lifecycle.move(request, lifecycle.CALLBACK_RECEIVED)
        lifecycle.move(request, lifecycle.FAILED, reason="download failed: http_404 from archive.example")
        payload = services.secrets.seal(json.dumps({"url": url}))
        jobs.enqueue(session, kind=jobs.ARCHIVE, request_id=request_id, payload_sealed=payload).state = jobs.FAILED


def listed_done(request_id: str, url: str) -> Listed:
    return Listed(request_id, "KIND_PERSONAL_GET", "STATE_CALLBACK_OK", url, NOW - dt.timedelta(hours=1), NOW)


def archive_jobs(services, request_id: str) -> list[str]:
    with services.database.transaction() as session:
        return [j.state for j in session.scalars(select(Job).where(Job.request_id == request_id).order_by(Job.id))]


def test_a_failed_download_moves_on_only_for_an_archive_url_other_than_the_one_that_failed(services):
    failed_download(services, "same", "https://archive.example/a.zip")
    failed_download(services, "fresh", "https://archive.example/b.zip")
    listing = [
        listed_done("same", "https://archive.example/a.zip"),
        listed_done("fresh", "https://archive.example/c.zip"),
    ]
    for _ in range(2):
        with services.database.transaction() as session:
            counts = apply_listing(session, services, listing, NOW)
    assert (archive_jobs(services, "same"), archive_jobs(services, "fresh")) == (["failed"], ["failed", "queued"])
    with services.database.transaction() as session:
        fresh, same = registry.get(session, "fresh"), registry.get(session, "same")
        assert (fresh.state, same.state) == ("callback_received", "failed")
        assert [t.to_state for t in fresh.transitions][-2:] == ["failed", "callback_received"]
        newest = session.scalars(select(Job).where(Job.request_id == "fresh").order_by(Job.id.desc())).first()
        assert json.loads(services.secrets.open(newest.payload_sealed)) == {"url": "https://archive.example/c.zip"}
    assert counts["failed_download_same_url"] == 1 and counts["unknown"] == 0
