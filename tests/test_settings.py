"""Configuration: read once from the environment, every problem named at start-up."""

from __future__ import annotations

from pathlib import Path

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
    assert (settings.signature_tolerance_seconds, settings.jwt_leeway_seconds, settings.jwt_algorithms) == (
        300,
        1,
        ("HS256",),
    )
    assert (settings.max_callback_bytes, settings.log_format, settings.signature_policy) == (65536, "json", "any")
    assert settings.messagebird_api_url == "https://rest.messagebird.com"
    assert settings.archive_max_bytes == 2 * 1024**3
    assert (settings.archive_allowed_hosts, settings.archive_private_hosts) == ((), ())


def test_private_hosts_are_parsed_like_allowed_hosts():
    settings = load_settings(
        {
            **REQUIRED,
            "ARCHIVE_ALLOWED_HOSTS": " Files.Example.com , store.lan:8443",
            "ARCHIVE_PRIVATE_HOSTS": "STORE.lan:8443,",
        }
    )
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
    settings = load_settings(
        {**REQUIRED, "MESSAGEBIRD_SIGNING_KEY": "new-key, old-key", "JWT_ALGORITHMS": "hs256,HS512"}
    )
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
    for name in (
        "DATABASE_URL",
        "ARCHIVE_STORE_URL",
        "PUBLIC_URL",
        "MESSAGEBIRD_SIGNING_KEY",
        "MESSAGEBIRD_ACCESS_KEY",
        "MESSAGEBIRD_API_URL",
        "ADMIN_TOKEN",
        "SIGNATURE_TOLERANCE_SECONDS",
        "JWT_LEEWAY_SECONDS",
        "JWT_ALGORITHMS",
        "MAX_CALLBACK_BYTES",
        "LOG_FORMAT",
        "SECRET_KEY",
        "SIGNATURE_POLICY",
        "REPLAY_CACHE_URL",
    ):
        assert name in setting_names()


def test_deadline_settings_default_to_england_no_eu_move_and_a_week_for_processors():
    settings = load_settings(REQUIRED)
    assert (
        settings.processor_margin_days,
        settings.deadline_uk_subdivision,
        settings.deadline_eu_next_working_day,
    ) == (7, "ENG", None)
    assert load_settings({**REQUIRED, "DEADLINE_EU_NEXT_WORKING_DAY": "de"}).deadline_eu_next_working_day == "DE"


def test_retention_keeps_archives_30_days_secrets_14_and_runs_hourly():
    settings = load_settings(REQUIRED)
    assert (
        settings.archive_retention_days,
        settings.secrets_retention_days,
        settings.job_retention_days,
        settings.client_address_retention_days,
        settings.retention_interval_seconds,
    ) == (30, 14, 30, 30, 3600)


@pytest.mark.parametrize(
    "name",
    [
        "ARCHIVE_RETENTION_DAYS",
        "SECRETS_RETENTION_DAYS",
        "JOB_RETENTION_DAYS",
        "CLIENT_ADDRESS_RETENTION_DAYS",
        "RETENTION_INTERVAL_SECONDS",
    ],
)
def test_a_retention_period_of_zero_is_named(name):
    with pytest.raises(ConfigError) as raised:
        load_settings({**REQUIRED, name: "0"})
    assert [problem for problem in raised.value.problems if problem.startswith(name)], raised.value.problems


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


WEBHOOK_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # 24 bytes, base64
ALERTS = {
    "NOTIFY_WEBHOOK_URL": "https://alerts.example.com/hooks/gdpr?token=tok-123",
    "NOTIFY_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "SMTP_URL": "smtps://alerts:pw-456@smtp.example.com:465",
    "NOTIFY_EMAIL_TO": "dpo@example.com, ops@example.com",
    "NOTIFY_EMAIL_FROM": "gdpr@example.com",
}


def test_alerts_are_off_by_default_and_remind_7_3_and_1_days_before_every_5_minutes():
    settings = load_settings(REQUIRED)
    assert (settings.deadline_check_interval_seconds, settings.notify_days_before) == (300, (7, 3, 1))
    assert (settings.notify_webhook_url, settings.smtp_url, settings.notify_email_to) == (None, None, ())
    assert (settings.notify_allow_http, settings.notify_private_hosts) == (False, ())


def test_smtp_may_send_only_the_subjects_links():
    settings = load_settings({**REQUIRED, "SMTP_URL": "smtp://smtp.example.com", "SUBJECT_EMAIL_FROM": "a@example.com"})
    assert (settings.smtp_url, settings.subject_email_from, settings.notify_email_to) == (
        "smtp://smtp.example.com",
        "a@example.com",
        (),
    )
    assert (settings.subject_default_language, settings.package_max_bytes) == ("en", 4 * 1024**3)


def test_alert_channels_are_read_whole_and_their_secrets_never_shown():
    settings = load_settings(
        {**REQUIRED, **ALERTS, "NOTIFY_DAYS_BEFORE": "1, 14,3,3", "NOTIFY_PRIVATE_HOSTS": "Hooks.LAN:8443"}
    )
    assert settings.notify_webhook_url == ALERTS["NOTIFY_WEBHOOK_URL"]
    assert settings.notify_email_to == ("dpo@example.com", "ops@example.com")
    assert (settings.notify_days_before, settings.notify_private_hosts) == ((14, 3, 1), ("hooks.lan:8443",))
    shown = str(settings.redacted())
    for secret in ("tok-123", "hooks/gdpr", WEBHOOK_SECRET, "pw-456"):
        assert secret not in shown


@pytest.mark.parametrize(
    ("environ", "problems"),
    [
        (
            {"NOTIFY_WEBHOOK_URL": "https://alerts.example.com/h"},
            ["NOTIFY_WEBHOOK_SECRET: required when NOTIFY_WEBHOOK_URL is set (whsec_...)"],
        ),
        (
            {"NOTIFY_WEBHOOK_URL": "https://alerts.example.com/h", "NOTIFY_WEBHOOK_SECRET": "MfKQ9r8GKYqrTwjUPD8I"},
            ["NOTIFY_WEBHOOK_SECRET: must start with whsec_ (a Standard Webhooks secret)"],
        ),
        (
            {"NOTIFY_WEBHOOK_URL": "https://alerts.example.com/h", "NOTIFY_WEBHOOK_SECRET": "whsec_not base64!"},
            ["NOTIFY_WEBHOOK_SECRET: must be whsec_ followed by base64"],
        ),
        (
            {"NOTIFY_WEBHOOK_URL": "https://alerts.example.com/h", "NOTIFY_WEBHOOK_SECRET": "whsec_c2hvcnQ="},
            ["NOTIFY_WEBHOOK_SECRET: must hold 24 to 64 bytes after whsec_, got 5"],
        ),
        (
            {"NOTIFY_WEBHOOK_URL": "http://alerts.example.com/h", "NOTIFY_WEBHOOK_SECRET": WEBHOOK_SECRET},
            ["NOTIFY_WEBHOOK_URL: must be https (plain http only with NOTIFY_ALLOW_HTTP)"],
        ),
        (
            {"NOTIFY_WEBHOOK_URL": "https://user:pw@alerts.example.com/h", "NOTIFY_WEBHOOK_SECRET": WEBHOOK_SECRET},
            ["NOTIFY_WEBHOOK_URL: must carry no credentials and no fragment (put a token in the path or query)"],
        ),
        (
            {"NOTIFY_EMAIL_TO": "dpo@example.com"},
            [
                "SMTP_URL: required when NOTIFY_EMAIL_TO is set",
                "NOTIFY_EMAIL_FROM: required when NOTIFY_EMAIL_TO is set",
            ],
        ),
        (
            {"SMTP_URL": "smtp://smtp.example.com"},
            ["NOTIFY_EMAIL_TO: required when SMTP_URL is set (whom to send notifications to)"],
        ),
        (
            {"SUBJECT_EMAIL_FROM": "answers@example.com"},
            ["SMTP_URL: required when SUBJECT_EMAIL_FROM is set"],
        ),
        (
            {"SUBJECT_DEFAULT_LANGUAGE": "de", "SUBJECT_RATE_LIMIT": "often"},
            [
                "SUBJECT_DEFAULT_LANGUAGE: must be one of en, nl, got 'de'",
                "SUBJECT_RATE_LIMIT: must be a rate such as '120 per minute', got 'often'",
            ],
        ),
        (
            {"SMTP_URL": "imap://smtp.example.com", "NOTIFY_EMAIL_TO": "dpo", "NOTIFY_EMAIL_FROM": "gdpr@example.com"},
            [
                "SMTP_URL: must be smtp://[user:password@]host[:port] or smtps://...",
                "NOTIFY_EMAIL_TO: must be comma-separated e-mail addresses; not one: 'dpo'",
            ],
        ),
        (
            {
                "SMTP_URL": "smtp://alerts@smtp.example.com",
                "NOTIFY_EMAIL_TO": "dpo@example.com",
                "NOTIFY_EMAIL_FROM": "gdpr@example.com",
            },
            ["SMTP_URL: must carry both a user and a password, or neither"],
        ),
        (
            {"NOTIFY_DAYS_BEFORE": "7,three"},
            ["NOTIFY_DAYS_BEFORE: must be comma-separated whole numbers of days such as 7,3,1, got '7,three'"],
        ),
        ({"NOTIFY_DAYS_BEFORE": "7,-1"}, ["NOTIFY_DAYS_BEFORE: must hold at least one number of days, none negative"]),
        (
            {"NOTIFY_PRIVATE_HOSTS": "hooks.*.lan"},
            ["NOTIFY_PRIVATE_HOSTS: 'hooks.*.lan': a wildcard may only stand first, as in *.example.com"],
        ),
    ],
)
def test_every_alert_setting_problem_is_named_once(environ, problems):
    with pytest.raises(ConfigError) as error:
        load_settings({**REQUIRED, **environ})
    assert error.value.problems == problems


def test_plain_http_notifications_need_the_explicit_setting():
    settings = load_settings(
        {
            **REQUIRED,
            "NOTIFY_WEBHOOK_URL": "http://127.0.0.1:8080/h",
            "NOTIFY_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "NOTIFY_ALLOW_HTTP": "true",
        }
    )
    assert settings.notify_webhook_url == "http://127.0.0.1:8080/h"


def test_the_web_server_listens_everywhere_on_8000_with_2_processes_of_4_threads_by_default():
    settings = load_settings(REQUIRED)
    assert (settings.web_host, settings.port, settings.web_concurrency, settings.web_threads) == ("0.0.0.0", 8000, 2, 4)
    assert settings.web_read_timeout == 10.0


def test_only_a_proxy_on_this_machine_is_believed_by_default():
    assert load_settings(REQUIRED).forwarded_allow_ips == ("127.0.0.1", "::1")


def test_web_server_settings_are_read_and_normalised():
    settings = load_settings(
        {
            **REQUIRED,
            "PORT": "5000",
            "WEB_HOST": " ::1 ",
            "WEB_CONCURRENCY": "3",
            "WEB_THREADS": "8",
            "WEB_READ_TIMEOUT": "2.5",
            "FORWARDED_ALLOW_IPS": "10.0.0.0/8, 192.168.1.7,fd00::/8",
        }
    )
    assert (settings.port, settings.web_host, settings.web_concurrency, settings.web_threads) == (5000, "::1", 3, 8)
    assert settings.web_read_timeout == 2.5
    assert settings.forwarded_allow_ips == ("10.0.0.0/8", "192.168.1.7", "fd00::/8")


def test_any_proxy_is_believed_only_when_said_with_a_star():
    assert load_settings({**REQUIRED, "FORWARDED_ALLOW_IPS": "*"}).forwarded_allow_ips == ("*",)


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("PORT", "eighty", "PORT: must be a whole number, got 'eighty'"),
        ("PORT", "70000", "PORT: must be a TCP port, 1 to 65535, got 70000"),
        (
            "WEB_HOST",
            "localhost:80",
            "WEB_HOST: must be an IP address such as 0.0.0.0 or 127.0.0.1, got 'localhost:80'",
        ),
        ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY: must be at least 1"),
        ("WEB_THREADS", "abc", "WEB_THREADS: must be a whole number, got 'abc'"),
        ("WEB_READ_TIMEOUT", "soon", "WEB_READ_TIMEOUT: must be a number, got 'soon'"),
        (
            "FORWARDED_ALLOW_IPS",
            "127.0.0.1,proxy.internal",
            "FORWARDED_ALLOW_IPS: must be comma-separated IP "
            "addresses or networks such as 10.0.0.0/8, or *; not 'proxy.internal'",
        ),
        (
            "FORWARDED_ALLOW_IPS",
            "10.0.0.1/8",
            "FORWARDED_ALLOW_IPS: must be comma-separated IP addresses or "
            "networks such as 10.0.0.0/8, or *; not '10.0.0.1/8'",
        ),
    ],
)
def test_a_malformed_web_server_setting_is_named_with_what_is_wrong(name, value, problem):
    with pytest.raises(ConfigError) as error:
        load_settings({**REQUIRED, name: value})
    assert error.value.problems == [problem]


def test_every_setting_the_service_reads_is_documented_in_the_configuration_reference():
    reference = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    table_rows = "\n".join(line for line in reference.splitlines() if line.startswith("| `"))
    assert [name for name in setting_names() if f"`{name}`" not in table_rows] == []


OIDC = {
    **REQUIRED,
    "OIDC_ISSUER": "https://keycloak.example.com/realms/ops/",
    "OIDC_CLIENT_ID": "gdpr-console",
    "OIDC_CLIENT_SECRET": "client-secret-value",
    "OIDC_ROLE_MAP": "/gdpr/operators=operator, 6f1b1c7e-0d5a-4b39-9a51-3c0d8f1e2a10=viewer,a=b=auditor",
}


def test_signing_in_through_a_provider_is_off_and_the_token_form_on_by_default():
    settings = load_settings(REQUIRED)
    assert (settings.oidc_issuer, settings.console_token_sign_in) == (None, True)
    assert settings.oidc_scopes == ("openid", "email", "profile") and settings.oidc_roles_claim == "groups"


def test_the_provider_settings_are_read_and_the_client_secret_never_shown():
    settings = load_settings({**OIDC, "OIDC_SCOPES": "openid email groups", "OIDC_PRIVATE_HOSTS": "KC.lan:8443"})
    assert settings.oidc_issuer == "https://keycloak.example.com/realms/ops"
    assert settings.oidc_role_map == (
        ("/gdpr/operators", "operator"),
        ("6f1b1c7e-0d5a-4b39-9a51-3c0d8f1e2a10", "viewer"),
        ("a=b", "auditor"),
    )
    assert settings.oidc_scopes == ("openid", "email", "groups") and settings.oidc_private_hosts == ("kc.lan:8443",)
    assert settings.redacted()["oidc_client_secret"] == "<set>"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"OIDC_ISSUER": "keycloak.example.com"}, "OIDC_ISSUER: must be the provider's issuer URL"),
        ({"OIDC_ISSUER": "https://kc.example.com/realms/ops?x=1"}, "OIDC_ISSUER: must not carry"),
        ({"OIDC_ISSUER": "http://kc.example.com"}, "OIDC_ISSUER: must be https (plain http only with OIDC_ALLOW_HTTP)"),
        ({"OIDC_CLIENT_ID": ""}, "OIDC_CLIENT_ID: required when OIDC_ISSUER is set"),
        ({"OIDC_ROLE_MAP": ""}, "OIDC_ROLE_MAP: required when OIDC_ISSUER is set"),
        (
            {"OIDC_ROLE_MAP": "ops=admin"},
            "OIDC_ROLE_MAP: 'ops=admin': the role must be one of viewer, operator, auditor",
        ),
        ({"OIDC_ROLE_MAP": "ops=metrics"}, "the role must be one of viewer, operator, auditor"),
        ({"OIDC_ROLE_MAP": "operators"}, "OIDC_ROLE_MAP: must be comma-separated group=role pairs"),
        ({"OIDC_SCOPES": "email profile"}, "OIDC_SCOPES: must include openid"),
        ({"OIDC_PRIVATE_HOSTS": "k*c.lan"}, "OIDC_PRIVATE_HOSTS: 'k*c.lan': a wildcard may only stand first"),
    ],
)
def test_a_malformed_or_incomplete_provider_setting_is_named(changes, problem):
    with pytest.raises(ConfigError) as error:
        load_settings({**OIDC, **changes})
    assert [p for p in error.value.problems if problem in p], error.value.problems


def test_plain_http_provider_needs_the_explicit_setting():
    settings = load_settings({**OIDC, "OIDC_ISSUER": "http://127.0.0.1:8080/realms/t", "OIDC_ALLOW_HTTP": "true"})
    assert settings.oidc_issuer == "http://127.0.0.1:8080/realms/t"


def test_the_token_form_may_go_only_when_a_provider_signs_people_in():
    with pytest.raises(ConfigError) as error:
        load_settings({**REQUIRED, "CONSOLE_TOKEN_SIGN_IN": "false"})
    assert error.value.problems == [
        "CONSOLE_TOKEN_SIGN_IN: false needs OIDC_ISSUER, or nobody could sign in to the console"
    ]
    assert load_settings({**OIDC, "CONSOLE_TOKEN_SIGN_IN": "false"}).console_token_sign_in is False


def test_no_time_stamping_authority_by_default_and_hourly_anchors_when_one_is_named(tmp_path):
    settings = load_settings(REQUIRED)
    assert (settings.audit_tsa_url, settings.audit_tsa_ca_file, settings.audit_anchor_interval_seconds) == (
        (),
        None,
        3600,
    )
    assert (settings.audit_tsa_private_hosts, settings.audit_tsa_allow_http, settings.audit_tsa_timeout_seconds) == (
        (),
        False,
        10.0,
    )
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    named = load_settings(
        {
            **REQUIRED,
            "AUDIT_TSA_URL": "http://tsa.lan/tsr, https://freetsa.example/tsr",
            "AUDIT_TSA_CA_FILE": str(ca),
            "AUDIT_TSA_ALLOW_HTTP": "true",
            "AUDIT_TSA_PRIVATE_HOSTS": "tsa.lan",
        }
    )
    assert named.audit_tsa_url == ("http://tsa.lan/tsr", "https://freetsa.example/tsr")
    assert (named.audit_tsa_ca_file, named.audit_tsa_private_hosts) == (str(ca), ("tsa.lan",))


@pytest.mark.parametrize(
    ("environ", "problems"),
    [
        (
            {"AUDIT_TSA_URL": "https://tsa.example/tsr"},
            ["AUDIT_TSA_CA_FILE: required when AUDIT_TSA_URL is set (what the replies are verified against)"],
        ),
        (
            {"AUDIT_TSA_URL": "ftp://tsa.example"},
            ["AUDIT_TSA_URL: must be comma-separated http(s) URLs without credentials; not one: 'ftp://tsa.example'"],
        ),
        ({"AUDIT_TSA_CA_FILE": "/nowhere/ca.pem"}, ["AUDIT_TSA_CA_FILE: no such file: '/nowhere/ca.pem'"]),
        ({"AUDIT_ANCHOR_INTERVAL_SECONDS": "0"}, ["AUDIT_ANCHOR_INTERVAL_SECONDS: must be at least 1"]),
    ],
)
def test_every_anchor_setting_problem_is_named(environ, problems):
    with pytest.raises(ConfigError) as error:
        load_settings({**REQUIRED, **environ})
    assert error.value.problems == problems


def test_a_plain_http_authority_needs_the_explicit_setting(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    with pytest.raises(ConfigError) as error:
        load_settings({**REQUIRED, "AUDIT_TSA_URL": "http://tsa.lan/tsr", "AUDIT_TSA_CA_FILE": str(ca)})
    assert error.value.problems == ["AUDIT_TSA_URL: must be https (plain http only with AUDIT_TSA_ALLOW_HTTP)"]
