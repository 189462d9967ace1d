"""Configuration: read once from the environment, every problem named at start-up."""

from __future__ import annotations

import pytest

from settings import ConfigError, load_settings, setting_names

REQUIRED = {
    "PUBLIC_URL": "https://hooks.example.com",
    "SECRET_KEY": "s" * 40,
    "ADMIN_TOKEN": "a" * 20,
    "MESSAGEBIRD_SIGNING_KEY": "signing-key",
}


def test_defaults_fill_everything_optional():
    settings = load_settings(REQUIRED)
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("instance/receiver.db")
    assert settings.archive_store_url.startswith("file:///")
    assert (settings.signature_tolerance_seconds, settings.jwt_leeway_seconds, settings.jwt_algorithms) == (300, 1, ("HS256",))
    assert (settings.max_callback_bytes, settings.log_format, settings.signature_policy) == (65536, "json", "any")
    assert settings.messagebird_api_url == "https://rest.messagebird.com"
    assert settings.archive_max_bytes == 2 * 1024**3
    assert (settings.archive_allowed_hosts, settings.archive_private_hosts) == ((), ())


def test_private_hosts_are_parsed_like_allowed_hosts():
    settings = load_settings({**REQUIRED, "ARCHIVE_ALLOWED_HOSTS": " Files.Example.com , store.lan:8443",
                              "ARCHIVE_PRIVATE_HOSTS": "STORE.lan:8443,"})
    assert settings.archive_allowed_hosts == ("files.example.com", "store.lan:8443")
    assert settings.archive_private_hosts == ("store.lan:8443",)


def test_every_missing_required_setting_is_named_on_its_own_line():
    with pytest.raises(ConfigError) as error:
        load_settings({})
    assert error.value.problems == [f"{name}: required but not set" for name in REQUIRED]
    assert str(error.value).count("\n") == len(REQUIRED)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PUBLIC_URL", "hooks.example.com", "http(s) URL"),
        ("PUBLIC_URL", "https://hooks.example.com/?a=1", "query string"),
        ("SECRET_KEY", "short", "at least 32"),
        ("ADMIN_TOKEN", "short", "at least 16"),
        ("SIGNATURE_TOLERANCE_SECONDS", "five", "whole number"),
        ("JWT_ALGORITHMS", "HS256,RS256", "subset"),
        ("JWT_ALGORITHMS", "none", "subset"),
        ("LOG_FORMAT", "xml", "one of"),
        ("DATABASE_URL", "mysql://x", "sqlite"),
        ("ARCHIVE_STORE_URL", "ftp://x", "file:///"),
        ("ARCHIVE_ALLOWED_HOSTS", "files.*.example.com", "wildcard"),
        ("ARCHIVE_PRIVATE_HOSTS", "files.*.example.com", "wildcard"),
        ("SIGNATURE_POLICY", "either", "one of"),
        ("REPLAY_CACHE_URL", "http://redis", "redis://"),
        ("ARCHIVE_ALLOW_HTTP", "maybe", "true or false"),
    ],
)
def test_a_malformed_setting_is_named_with_what_is_wrong(name, value, message):
    with pytest.raises(ConfigError) as error:
        load_settings({**REQUIRED, name: value})
    [problem] = error.value.problems
    assert problem.startswith(f"{name}: ") and message in problem


def test_comma_separated_keys_allow_rotation():
    settings = load_settings({**REQUIRED, "MESSAGEBIRD_SIGNING_KEY": "new-key, old-key", "JWT_ALGORITHMS": "hs256,HS512"})
    assert settings.messagebird_signing_key == ("new-key", "old-key")
    assert settings.jwt_algorithms == ("HS256", "HS512")


def test_kms_encryption_needs_a_key_id():
    with pytest.raises(ConfigError, match="ARCHIVE_S3_KMS_KEY_ID"):
        load_settings({**REQUIRED, "ARCHIVE_S3_SSE": "aws:kms"})


def test_redacted_settings_hide_every_secret():
    shown = str(load_settings({**REQUIRED, "MESSAGEBIRD_ACCESS_KEY": "live_abc"}).redacted())
    for secret in ("s" * 40, "a" * 20, "signing-key", "live_abc"):
        assert secret not in shown


def test_the_documented_names_are_the_ones_read():
    for name in ("DATABASE_URL", "ARCHIVE_STORE_URL", "PUBLIC_URL", "MESSAGEBIRD_SIGNING_KEY", "MESSAGEBIRD_ACCESS_KEY",
                 "MESSAGEBIRD_API_URL", "ADMIN_TOKEN", "SIGNATURE_TOLERANCE_SECONDS", "JWT_LEEWAY_SECONDS",
                 "JWT_ALGORITHMS", "MAX_CALLBACK_BYTES", "LOG_FORMAT", "SECRET_KEY", "SIGNATURE_POLICY", "REPLAY_CACHE_URL"):
        assert name in setting_names()


def test_deadline_settings_default_to_england_no_eu_move_and_a_week_for_processors():
    settings = load_settings(REQUIRED)
    assert (settings.processor_margin_days, settings.deadline_uk_subdivision,
            settings.deadline_eu_next_working_day) == (7, "ENG", None)
    assert load_settings({**REQUIRED, "DEADLINE_EU_NEXT_WORKING_DAY": "de"}).deadline_eu_next_working_day == "DE"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PROCESSOR_MARGIN_DAYS", "-1", "at least 0"),
        ("PROCESSOR_MARGIN_DAYS", "a week", "whole number"),
        ("DEADLINE_UK_SUBDIVISION", "Scotland", "one of ENG, SCT, NIR"),
        ("DEADLINE_EU_NEXT_WORKING_DAY", "GB", "EU/EEA country code"),
        ("DEADLINE_EU_NEXT_WORKING_DAY", "Germany", "EU/EEA country code"),
    ],
)
def test_a_malformed_deadline_setting_is_named(name, value, message):
    with pytest.raises(ConfigError) as error:
        load_settings({**REQUIRED, name: value})
    [problem] = error.value.problems
    assert problem.startswith(f"{name}: ") and message in problem
