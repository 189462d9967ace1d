"""The composition root: the archive download's policy comes from the settings, every bad pattern named."""

from __future__ import annotations

import pytest

from receiver.services import build_timestamper, fetch_policy
from settings import ConfigError, load_settings
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
