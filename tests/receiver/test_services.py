"""The composition root: the archive download's policy comes from the settings, every bad pattern named; one
clock for every collaborator."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from receiver.services import build_timestamper, fetch_policy
from settings import ConfigError, load_settings
from storage import jobs
from storage.archives import ArchiveStream
from tests.support.zips import zip_bytes
from tests.test_settings import REQUIRED


def test_the_fetch_policy_carries_the_allowed_and_the_private_hosts():
    settings = load_settings(
        {
            **REQUIRED,
            "ARCHIVE_ALLOWED_HOSTS": "files.example.com,store.lan:8443",
            "ARCHIVE_PRIVATE_HOSTS": "store.lan:8443",
            "ARCHIVE_CONNECT_TIMEOUT_SECONDS": "3",
        }
    )
    policy = fetch_policy(settings)
    assert (policy.allowed_hosts, policy.private_hosts) == (
        ("files.example.com", "store.lan:8443"),
        ("store.lan:8443",),
    )
    assert (policy.connect_timeout, policy.allow_http) == (3.0, False)


def test_every_malformed_host_pattern_is_named_with_its_setting():
    settings = load_settings(
        {
            **REQUIRED,
            "ARCHIVE_ALLOWED_HOSTS": "files.example.com/a,ok.example.com",
            "ARCHIVE_PRIVATE_HOSTS": "https://store.lan",
        }
    )
    with pytest.raises(ConfigError) as refused:
        fetch_policy(settings)
    assert refused.value.problems == [
        "ARCHIVE_ALLOWED_HOSTS: not a host or host:port pattern: 'files.example.com/a'",
        "ARCHIVE_PRIVATE_HOSTS: not a host or host:port pattern: 'https://store.lan'",
    ]


def test_the_time_stamping_authorities_are_checked_like_every_outbound_host(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate")
    environ = {**REQUIRED, "AUDIT_TSA_URL": "https://tsa.example/tsr", "AUDIT_TSA_CA_FILE": str(ca)}
    with pytest.raises(ConfigError) as refused:
        build_timestamper(load_settings(environ))
    assert refused.value.problems == ["AUDIT_TSA_CA_FILE: not a file of PEM certificates"]
    ca.write_text("")
    with pytest.raises(ConfigError) as refused:
        build_timestamper(load_settings({**environ, "AUDIT_TSA_PRIVATE_HOSTS": "https://tsa.lan"}))
    assert refused.value.problems[0].startswith("AUDIT_TSA_PRIVATE_HOSTS: not a host or host:port pattern")
    assert refused.value.problems[1] == "AUDIT_TSA_CA_FILE: not a file of PEM certificates"
    assert not build_timestamper(load_settings(REQUIRED)).configured


def test_one_clock_reaches_the_database_the_stores_and_the_use_cases(services, client, admin_headers):
    """A test sets the service's clock once: rows, archives and "today" all follow it."""
    stopped_at = dt.datetime(2024, 3, 4, 10, 30, tzinfo=dt.UTC)
    services.clock.set(stopped_at)
    assert services.clock is services.database.clock
    opened = client.post(
        "/api/cases",
        headers=admin_headers,
        json={"subjectRef": "T-1", "right": "access", "jurisdiction": "EU", "receivedOn": "2024-03-05"},
    )
    assert (opened.status_code, opened.json["errors"][0]["parameter"]) == (400, "receivedOn")  # after "today"
    with services.database.transaction() as session:
        assert jobs.enqueue(session, kind=jobs.RECONCILE, request_id=None).created_at == stopped_at
    archive = ArchiveStream(io.BytesIO(zip_bytes({"a.txt": b"a"})), max_bytes=1 << 20)
    stored = services.archive_store.put("clock/a.zip", archive, metadata={})
    assert stored.stored_at == stopped_at
