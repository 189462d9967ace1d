"""The service's configuration: read once from the environment, validated at start-up.

Every setting is declared once below with its parser and default. ``load_settings``
reads them all, collects every problem, and raises one ``ConfigError`` that names
each missing or malformed setting on its own line. Nothing else in the project
reads ``os.environ`` for its own settings (boto3 reads its standard ``AWS_*``
variables itself).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from limits import parse_many

from deadlines import (
    DEFAULT_NOTIFY_DAYS,
    DEFAULT_PROCESSOR_MARGIN_DAYS,
    DEFAULT_UK_SUBDIVISION,
    Calendar,
    DeadlineError,
)

PROJECT_ROOT = Path(__file__).resolve().parent
INSTANCE_DIR = PROJECT_ROOT / "instance"

JWT_ALLOWED_ALGORITHMS = ("HS256", "HS384", "HS512")
#: The languages the subject's answer page and e-mail are written in.
SUBJECT_LANGUAGES = ("en", "nl")
GIB = 1024**3


class ConfigError(Exception):
    """One or more settings are missing or malformed; ``problems`` lists them."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  {p}" for p in problems))
        self.problems = problems


#: The exit status of every entry point (gunicorn, the ``flask`` commands, the worker) on a bad configuration.
CONFIG_ERROR_EXIT_STATUS = 2
_Built = TypeVar("_Built")


def exit_on_config_error(build: Callable[[], _Built]) -> _Built:
    """``build()``; on ``ConfigError``, one line per problem on stderr and exit status 2, no traceback."""
    try:
        return build()
    except ConfigError as error:
        for problem in error.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        raise SystemExit(CONFIG_ERROR_EXIT_STATUS) from None


# -- parsers: each takes the raw string and returns the value or raises ValueError --


def _text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"must be a whole number, got {raw!r}") from None
        if value < minimum:
            raise ValueError(f"must be at least {minimum}")
        return value

    return parse


def _float_above_zero(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError(f"must be a number, got {raw!r}") from None
    if not value > 0:
        raise ValueError("must be greater than zero")
    return value


def _port(raw: str) -> int:
    value = _int_at_least(1)(raw)
    if value > 65535:
        raise ValueError(f"must be a TCP port, 1 to 65535, got {value}")
    return value


def _listen_address(raw: str) -> str:
    """An IP address to listen on: ``0.0.0.0`` (every IPv4 interface), ``127.0.0.1``, ``::``, ..."""
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        raise ValueError(f"must be an IP address such as 0.0.0.0 or 127.0.0.1, got {raw.strip()!r}") from None


def _proxy_addresses(raw: str) -> tuple[str, ...]:
    """The proxies whose ``X-Forwarded-*`` headers gunicorn believes: IP addresses or networks, or ``*`` (any)."""
    values = tuple(part.strip() for part in raw.split(",") if part.strip())
    for value in values:
        if value == "*":
            continue
        try:
            ipaddress.ip_network(value)
        except ValueError:
            raise ValueError(
                f"must be comma-separated IP addresses or networks such as 10.0.0.0/8, or *; not {value!r}"
            ) from None
    return values


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"must be true or false, got {raw!r}")


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    return parse


def _secret_list(raw: str) -> tuple[str, ...]:
    """A comma-separated list of secrets, newest first (rotation)."""
    values = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not values:
        raise ValueError("must hold at least one value")
    return values


def _strong_secret_list(raw: str) -> tuple[str, ...]:
    values = _secret_list(raw)
    if any(len(value) < 32 for value in values):
        raise ValueError("each key must be at least 32 characters")
    return values


def _token(raw: str) -> str:
    value = raw.strip()
    if len(value) < 16:
        raise ValueError("must be at least 16 characters")
    return value


def _http_base_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"must be an http(s) URL such as https://hooks.example.com, got {value!r}")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query string or fragment")
    return value


def _database_url(raw: str) -> str:
    value = raw.strip()
    if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
        raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
    return value


def _archive_store_url(raw: str) -> str:
    value = raw.strip()
    parts = urlsplit(value)
    if parts.scheme == "file" and parts.path.startswith("/") and not parts.netloc:
        return value
    if parts.scheme == "s3" and parts.netloc:
        return value
    raise ValueError("must be file:///absolute/path or s3://bucket/prefix")


def _optional_redis_url(raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
        raise ValueError("must be a redis:// or rediss:// URL")
    return value


def _jwt_algorithms(raw: str) -> tuple[str, ...]:
    values = tuple(part.strip().upper() for part in raw.split(",") if part.strip())
    unknown = [v for v in values if v not in JWT_ALLOWED_ALGORITHMS]
    if not values or unknown:
        raise ValueError(f"must be a comma-separated subset of {', '.join(JWT_ALLOWED_ALGORITHMS)}")
    return values


def _host_patterns(raw: str) -> tuple[str, ...]:
    values = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    for value in values:
        host = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
        if "*" in host and not (host.startswith("*.") and "*" not in host[2:]):
            raise ValueError(f"{value!r}: a wildcard may only stand first, as in *.example.com")
    return values


def _rate_limit(raw: str) -> str:
    """A rate in Flask-Limiter's syntax, e.g. ``120 per minute`` or ``10/second;500/hour``."""
    value = raw.strip()
    try:
        parse_many(value)
    except ValueError:
        raise ValueError(f"must be a rate such as '120 per minute', got {value!r}") from None
    return value


#: The EU and EEA states, whose public holidays Regulation 1182/71's working-day move may follow.
EU_EEA_COUNTRIES = (
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "HU",
    "IE",
    "IS",
    "IT",
    "LI",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "NO",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
)


def _eu_working_day_country(raw: str) -> str | None:
    """Empty (EU deadlines never move), or the EU/EEA country whose public holidays move them."""
    value = raw.strip().upper()
    if not value:
        return None
    if value not in EU_EEA_COUNTRIES:
        raise ValueError(f"must be empty or an EU/EEA country code such as DE or FR, got {raw.strip()!r}")
    try:
        Calendar.for_jurisdiction("EU", eu_country=value)
    except DeadlineError:
        raise ValueError(f"no public holidays are known for {value}") from None
    return value


def _optional_issuer_url(raw: str) -> str | None:
    """An OpenID Connect issuer: an http(s) URL without query or fragment, as the provider names itself."""
    value = raw.strip().rstrip("/")
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(
            f"must be the provider's issuer URL such as https://login.example.com/realms/ops, got {value!r}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("must not carry credentials, a query string or a fragment")
    return value


def _scopes(raw: str) -> tuple[str, ...]:
    values = tuple(dict.fromkeys(raw.split()))
    if "openid" not in values:
        raise ValueError(f"must include openid (space-separated scopes), got {raw.strip()!r}")
    return values


#: The roles a person signed in through the identity provider may be given (``metrics`` cannot use the console).
OIDC_ROLES = ("viewer", "operator", "auditor")


def _role_map(raw: str) -> tuple[tuple[str, str], ...]:
    """``group=role,...``: a group's name or object id, and the console role its members get."""
    pairs = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        group, equals, role = entry.rpartition("=")
        if not equals or not group.strip():
            raise ValueError(f"must be comma-separated group=role pairs, not {entry!r}")
        if role.strip() not in OIDC_ROLES:
            raise ValueError(f"{entry!r}: the role must be one of {', '.join(OIDC_ROLES)}")
        pairs.append((group.strip(), role.strip()))
    return tuple(pairs)


def _optional_text(raw: str) -> str | None:
    return raw.strip() or None


def _days_before(raw: str) -> tuple[int, ...]:
    """Comma-separated whole days before a deadline (``7,3,1``), largest first, each once."""
    try:
        values = {int(part) for part in raw.split(",") if part.strip()}
    except ValueError:
        raise ValueError(f"must be comma-separated whole numbers of days such as 7,3,1, got {raw.strip()!r}") from None
    if not values or min(values) < 0:
        raise ValueError("must hold at least one number of days, none negative")
    return tuple(sorted(values, reverse=True))


def _optional_notify_url(raw: str) -> str | None:
    """Empty, or the http(s) URL notifications are posted to (its path and query kept: they may hold a token)."""
    value = raw.strip()
    if not value:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError("must be an http(s) URL with a valid port") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("must be an http(s) URL such as https://alerts.example.com/hooks/gdpr")
    if parts.username or parts.password or parts.fragment:
        raise ValueError("must carry no credentials and no fragment (put a token in the path or query)")
    return value


#: Standard Webhooks: a secret is ``whsec_`` and the base64 of 24 to 64 random bytes.
WEBHOOK_SECRET_PREFIX = "whsec_"


def _webhook_secret(raw: str) -> str:
    value = raw.strip()
    if not value.startswith(WEBHOOK_SECRET_PREFIX):
        raise ValueError("must start with whsec_ (a Standard Webhooks secret)")
    try:
        encoded = value.removeprefix(WEBHOOK_SECRET_PREFIX)
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)  # padding optional
    except (binascii.Error, ValueError):
        raise ValueError("must be whsec_ followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"must hold 24 to 64 bytes after whsec_, got {len(key)}")
    return value


def _optional_smtp_url(raw: str) -> str | None:
    """Empty, or ``smtp://[user:password@]host[:port]`` (STARTTLS when offered) or ``smtps://`` (TLS from the start)."""
    value = raw.strip()
    if not value:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError("must be smtp://host[:port] or smtps://host[:port] with a valid port") from None
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ValueError("must be smtp://[user:password@]host[:port] or smtps://...")
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise ValueError("must carry no path, query or fragment")
    if (parts.username is None) != (parts.password is None):
        raise ValueError("must carry both a user and a password, or neither")
    return value


_EMAIL_ADDRESS = re.compile(r"[^@\s,<>\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _email_address(raw: str) -> str:
    value = raw.strip()
    if not _EMAIL_ADDRESS.fullmatch(value):
        raise ValueError(f"must be one e-mail address such as alerts@example.com, got {value!r}")
    return value


def _tsa_urls(raw: str) -> tuple[str, ...]:
    """Comma-separated http(s) URLs of RFC 3161 time-stamping authorities, tried in order."""
    values = tuple(part.strip() for part in raw.split(",") if part.strip())
    for value in values:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.username or parts.fragment:
            raise ValueError(f"must be comma-separated http(s) URLs without credentials; not one: {value!r}")
    return values


def _readable_file(raw: str) -> str | None:
    value = raw.strip()
    if value and not os.path.isfile(value):
        raise ValueError(f"no such file: {value!r}")
    return value or None


def _email_addresses(raw: str) -> tuple[str, ...]:
    values = tuple(part.strip() for part in raw.split(",") if part.strip())
    bad = [value for value in values if not _EMAIL_ADDRESS.fullmatch(value)]
    if bad:
        raise ValueError(f"must be comma-separated e-mail addresses; not one: {bad[0]!r}")
    return values


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated configuration. Field names are the environment names in lower case."""

    public_url: str
    secret_key: tuple[str, ...]
    admin_token: str
    messagebird_signing_key: tuple[str, ...]
    database_url: str
    archive_store_url: str
    messagebird_access_key: str | None
    messagebird_api_url: str
    signature_policy: str
    signature_tolerance_seconds: int
    jwt_leeway_seconds: int
    jwt_algorithms: tuple[str, ...]
    max_callback_bytes: int
    trusted_proxies: int
    refusal_rate_limit: str
    refusal_sample_cap: int
    refusal_sample_retention_days: int
    archive_retention_days: int
    secrets_retention_days: int
    job_retention_days: int
    client_address_retention_days: int
    retention_interval_seconds: int
    log_format: str
    log_level: str
    database_timeout_seconds: float
    database_min_free_mb: int
    replay_cache_url: str | None
    archive_allowed_hosts: tuple[str, ...]
    archive_private_hosts: tuple[str, ...]
    archive_allow_http: bool
    archive_max_bytes: int
    archive_connect_timeout_seconds: float
    archive_read_timeout_seconds: float
    archive_download_max_seconds: float
    archive_s3_sse: Literal["AES256", "aws:kms"] | None  # ARCHIVE_S3_SSE's choices, a blank one None
    archive_s3_kms_key_id: str | None
    archive_s3_checksum_when_required: bool
    archive_s3_chunk_bytes: int
    archive_presign_seconds: int
    worker_poll_seconds: float
    worker_lease_seconds: int
    worker_max_attempts: int
    worker_max_age_seconds: int
    voodoosms_api_url: str
    voodoosms_api_key: str | None
    provider_timeout_seconds: float
    provider_max_retries: int
    provider_retry_max_wait_seconds: float
    reconcile_interval_seconds: int
    callback_grace_seconds: int
    send_resolution_max_seconds: int
    voodoosms_poll_interval_seconds: int
    voodoosms_poll_max_interval_seconds: int
    voodoosms_poll_max_age_seconds: int
    processor_margin_days: int
    deadline_uk_subdivision: str
    deadline_eu_next_working_day: str | None
    deadline_check_interval_seconds: int
    audit_seal_interval_seconds: int
    audit_tsa_url: tuple[str, ...]
    audit_tsa_ca_file: str | None
    audit_anchor_interval_seconds: int
    audit_tsa_private_hosts: tuple[str, ...]
    audit_tsa_allow_http: bool
    audit_tsa_timeout_seconds: float
    notify_days_before: tuple[int, ...]
    notify_webhook_url: str | None
    notify_webhook_secret: str | None
    notify_allow_http: bool
    notify_private_hosts: tuple[str, ...]
    notify_timeout_seconds: float
    smtp_url: str | None
    notify_email_to: tuple[str, ...]
    notify_email_from: str | None
    console_session_minutes: int
    console_token_sign_in: bool
    sign_in_rate_limit: str
    oidc_issuer: str | None
    oidc_client_id: str | None
    oidc_client_secret: str | None
    oidc_scopes: tuple[str, ...]
    oidc_provider_name: str
    oidc_roles_claim: str
    oidc_role_map: tuple[tuple[str, str], ...]
    oidc_allow_http: bool
    oidc_private_hosts: tuple[str, ...]
    controller_name: str | None
    controller_contact: str | None
    package_max_bytes: int
    subject_default_language: str
    subject_rate_limit: str
    subject_email_from: str | None
    port: int
    web_host: str
    web_concurrency: int
    web_threads: int
    web_read_timeout: float
    forwarded_allow_ips: tuple[str, ...]

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with every secret replaced, fit for a log line."""
        secret = {
            "secret_key",
            "admin_token",
            "messagebird_signing_key",
            "messagebird_access_key",
            "voodoosms_api_key",
            "notify_webhook_url",
            "notify_webhook_secret",
            "smtp_url",
            "oidc_client_secret",
        }
        return {
            field.name: ("<set>" if getattr(self, field.name) else "<unset>")
            if field.name in secret
            else getattr(self, field.name)
            for field in dataclasses.fields(self)
        }


REQUIRED = object()


@dataclasses.dataclass(frozen=True)
class _Setting:
    parse: Callable[[str], Any]
    default: Any = REQUIRED


def _declared() -> dict[str, _Setting]:
    return {
        "PUBLIC_URL": _Setting(_http_base_url),
        "SECRET_KEY": _Setting(_strong_secret_list),
        "ADMIN_TOKEN": _Setting(_token),
        "MESSAGEBIRD_SIGNING_KEY": _Setting(_secret_list),
        "DATABASE_URL": _Setting(_database_url, f"sqlite:///{INSTANCE_DIR / 'receiver.db'}"),
        "ARCHIVE_STORE_URL": _Setting(_archive_store_url, f"file://{INSTANCE_DIR / 'archives'}"),
        "MESSAGEBIRD_ACCESS_KEY": _Setting(_optional_text, None),
        "MESSAGEBIRD_API_URL": _Setting(_http_base_url, "https://rest.messagebird.com"),
        "SIGNATURE_POLICY": _Setting(_choice("any", "both"), "any"),
        "SIGNATURE_TOLERANCE_SECONDS": _Setting(_int_at_least(0), 300),
        "JWT_LEEWAY_SECONDS": _Setting(_int_at_least(0), 1),
        "JWT_ALGORITHMS": _Setting(_jwt_algorithms, ("HS256",)),
        "MAX_CALLBACK_BYTES": _Setting(_int_at_least(1024), 65536),
        # Refused deliveries: the client address through this many proxies (werkzeug's ProxyFix; 0: the
        # peer itself), refusals allowed per address (Flask-Limiter syntax), the sample kept of them.
        "TRUSTED_PROXIES": _Setting(_int_at_least(0), 0),
        "REFUSAL_RATE_LIMIT": _Setting(_rate_limit, "120 per minute"),
        "REFUSAL_SAMPLE_CAP": _Setting(_int_at_least(0), 1000),
        "REFUSAL_SAMPLE_RETENTION_DAYS": _Setting(_int_at_least(1), 7),
        # Retention (receiver/usecases/retention.py): how long each class of data is kept, and how often the
        # worker applies the policy. Archives count from their case's closing (or the request's completion).
        "ARCHIVE_RETENTION_DAYS": _Setting(_int_at_least(1), 30),
        "SECRETS_RETENTION_DAYS": _Setting(_int_at_least(1), 14),
        "JOB_RETENTION_DAYS": _Setting(_int_at_least(1), 30),
        "CLIENT_ADDRESS_RETENTION_DAYS": _Setting(_int_at_least(1), 30),
        "RETENTION_INTERVAL_SECONDS": _Setting(_int_at_least(1), 3600),
        "LOG_FORMAT": _Setting(_choice("json", "console"), "json"),
        "LOG_LEVEL": _Setting(_choice("DEBUG", "INFO", "WARNING", "ERROR"), "INFO"),
        "DATABASE_TIMEOUT_SECONDS": _Setting(_float_above_zero, 5.0),
        # SQLite: /readyz reports not ready below this much free space on the database's file system.
        "DATABASE_MIN_FREE_MB": _Setting(_int_at_least(0), 64),
        "REPLAY_CACHE_URL": _Setting(_optional_redis_url, None),
        "ARCHIVE_ALLOWED_HOSTS": _Setting(_host_patterns, ()),
        # Allowed hosts that may resolve to loopback or private addresses; never implies allowed.
        "ARCHIVE_PRIVATE_HOSTS": _Setting(_host_patterns, ()),
        "ARCHIVE_ALLOW_HTTP": _Setting(_bool, False),
        "ARCHIVE_MAX_BYTES": _Setting(_int_at_least(1), 2 * GIB),
        "ARCHIVE_CONNECT_TIMEOUT_SECONDS": _Setting(_float_above_zero, 10.0),
        "ARCHIVE_READ_TIMEOUT_SECONDS": _Setting(_float_above_zero, 60.0),
        "ARCHIVE_DOWNLOAD_MAX_SECONDS": _Setting(_float_above_zero, 3600.0),
        "ARCHIVE_S3_SSE": _Setting(_choice("", "AES256", "aws:kms"), None),
        "ARCHIVE_S3_KMS_KEY_ID": _Setting(_optional_text, None),
        "ARCHIVE_S3_CHECKSUM_WHEN_REQUIRED": _Setting(_bool, False),
        "ARCHIVE_S3_CHUNK_BYTES": _Setting(_int_at_least(5 * 1024 * 1024), 8 * 1024 * 1024),
        "ARCHIVE_PRESIGN_SECONDS": _Setting(_int_at_least(1), 300),
        "WORKER_POLL_SECONDS": _Setting(_float_above_zero, 1.0),
        "WORKER_LEASE_SECONDS": _Setting(_int_at_least(5), 300),
        "WORKER_MAX_ATTEMPTS": _Setting(_int_at_least(1), 8),
        "WORKER_MAX_AGE_SECONDS": _Setting(_int_at_least(60), 6 * 3600),
        # Outbound provider APIs (receiver/providers): timeouts and retries of one call.
        "VOODOOSMS_API_URL": _Setting(_http_base_url, "https://api.voodoosms.com"),
        "VOODOOSMS_API_KEY": _Setting(_optional_text, None),
        "PROVIDER_TIMEOUT_SECONDS": _Setting(_float_above_zero, 10.0),
        "PROVIDER_MAX_RETRIES": _Setting(_int_at_least(0), 2),
        "PROVIDER_RETRY_MAX_WAIT_SECONDS": _Setting(_float_above_zero, 5.0),
        # MessageBird reconciliation: how often, and how long a STATE_DONE may wait for its callback.
        "RECONCILE_INTERVAL_SECONDS": _Setting(_int_at_least(1), 600),
        "CALLBACK_GRACE_SECONDS": _Setting(_int_at_least(0), 900),
        # A request sent whose answer was lost (a timeout, a database failure) is looked for in the
        # provider's records for this long after it was sent; then it is failed as never created.
        "SEND_RESOLUTION_MAX_SECONDS": _Setting(_int_at_least(0), 3600),
        # VoodooSMS status polling: first interval, doubling up to the cap, given up after the age
        # (the docs say removal takes up to 24 h).
        "VOODOOSMS_POLL_INTERVAL_SECONDS": _Setting(_int_at_least(1), 900),
        "VOODOOSMS_POLL_MAX_INTERVAL_SECONDS": _Setting(_int_at_least(1), 4 * 3600),
        "VOODOOSMS_POLL_MAX_AGE_SECONDS": _Setting(_int_at_least(60), 3 * 24 * 3600),
        # Cases' deadlines (deadlines/): the processors' margin, the UK's bank holidays, the EU's working-day move.
        "PROCESSOR_MARGIN_DAYS": _Setting(_int_at_least(0), DEFAULT_PROCESSOR_MARGIN_DAYS),
        "DEADLINE_UK_SUBDIVISION": _Setting(_choice("ENG", "SCT", "NIR"), DEFAULT_UK_SUBDIVISION),
        "DEADLINE_EU_NEXT_WORKING_DAY": _Setting(_eu_working_day_country, None),
        # Alerts before it is late (receiver/jobs/deadline_check.py, receiver/notifications): how often the
        # deadlines are checked, the reminders' days before a deadline, and where notifications go.
        "DEADLINE_CHECK_INTERVAL_SECONDS": _Setting(_int_at_least(1), 300),
        "NOTIFY_DAYS_BEFORE": _Setting(_days_before, DEFAULT_NOTIFY_DAYS),
        "NOTIFY_WEBHOOK_URL": _Setting(_optional_notify_url, None),
        "NOTIFY_WEBHOOK_SECRET": _Setting(_webhook_secret, None),
        "NOTIFY_ALLOW_HTTP": _Setting(_bool, False),
        # Hosts (same patterns as ARCHIVE_PRIVATE_HOSTS) a notification may reach on a loopback or private address.
        "NOTIFY_PRIVATE_HOSTS": _Setting(_host_patterns, ()),
        "NOTIFY_TIMEOUT_SECONDS": _Setting(_float_above_zero, 10.0),
        "SMTP_URL": _Setting(_optional_smtp_url, None),
        "NOTIFY_EMAIL_TO": _Setting(_email_addresses, ()),
        "NOTIFY_EMAIL_FROM": _Setting(_email_address, None),
        # The tamper-evident history (storage/audit_chain.py): how often the worker seals new rows into the chain.
        "AUDIT_SEAL_INTERVAL_SECONDS": _Setting(_int_at_least(1), 300),
        # Anchors (receiver/usecases/anchoring.py): the chain's head time-stamped by RFC 3161 authorities (none by
        # default: no network), what their replies are verified against, how often, and how they may be reached.
        "AUDIT_TSA_URL": _Setting(_tsa_urls, ()),
        "AUDIT_TSA_CA_FILE": _Setting(_readable_file, None),
        "AUDIT_ANCHOR_INTERVAL_SECONDS": _Setting(_int_at_least(1), 3600),
        "AUDIT_TSA_PRIVATE_HOSTS": _Setting(_host_patterns, ()),
        "AUDIT_TSA_ALLOW_HTTP": _Setting(_bool, False),
        "AUDIT_TSA_TIMEOUT_SECONDS": _Setting(_float_above_zero, 10.0),
        # The ops console (receiver/web/console): how long a sign-in lasts before the operator signs in again.
        "CONSOLE_SESSION_MINUTES": _Setting(_int_at_least(1), 60),
        # Signing in to the console (receiver/identity, receiver/web/console/signing_in.py): the token form, and the
        # organisation's OpenID Connect provider, whose groups map to the console's roles.
        "CONSOLE_TOKEN_SIGN_IN": _Setting(_bool, True),
        "SIGN_IN_RATE_LIMIT": _Setting(_rate_limit, "10 per minute"),
        "OIDC_ISSUER": _Setting(_optional_issuer_url, None),
        "OIDC_CLIENT_ID": _Setting(_optional_text, None),
        "OIDC_CLIENT_SECRET": _Setting(_optional_text, None),
        "OIDC_SCOPES": _Setting(_scopes, ("openid", "email", "profile")),
        "OIDC_PROVIDER_NAME": _Setting(_text, "your identity provider"),
        "OIDC_ROLES_CLAIM": _Setting(_text, "groups"),
        "OIDC_ROLE_MAP": _Setting(_role_map, ()),
        "OIDC_ALLOW_HTTP": _Setting(_bool, False),
        # Hosts (same patterns as ARCHIVE_PRIVATE_HOSTS) the provider may answer at on a loopback or private address.
        "OIDC_PRIVATE_HOSTS": _Setting(_host_patterns, ()),
        # Answering the data subject (receiver/usecases/subject_answers.py): who the Controller is and whom the
        # subject contacts (both needed to build a package), the package's size limit, the language of a link's
        # page and e-mail unless the link names one, the requests an address may make to /answer/, and the sender
        # of the link's e-mail (through SMTP_URL).
        "CONTROLLER_NAME": _Setting(_optional_text, None),
        "CONTROLLER_CONTACT": _Setting(_optional_text, None),
        "PACKAGE_MAX_BYTES": _Setting(_int_at_least(1), 4 * GIB),
        "SUBJECT_DEFAULT_LANGUAGE": _Setting(_choice(*SUBJECT_LANGUAGES), "en"),
        "SUBJECT_RATE_LIMIT": _Setting(_rate_limit, "30 per minute"),
        "SUBJECT_EMAIL_FROM": _Setting(_email_address, None),
        # The web server (gunicorn.conf.py): where it listens, its processes and threads, how long a client may
        # stall mid-request, which proxies it believes. PORT and WEB_CONCURRENCY are the names platforms set;
        # FORWARDED_ALLOW_IPS is gunicorn's own name, with gunicorn's default.
        "PORT": _Setting(_port, 8000),
        "WEB_HOST": _Setting(_listen_address, "0.0.0.0"),
        "WEB_CONCURRENCY": _Setting(_int_at_least(1), 2),
        "WEB_THREADS": _Setting(_int_at_least(1), 4),
        "WEB_READ_TIMEOUT": _Setting(_float_above_zero, 10.0),
        "FORWARDED_ALLOW_IPS": _Setting(_proxy_addresses, ("127.0.0.1", "::1")),
    }


def setting_names() -> list[str]:
    """Every environment name the service reads, in declaration order."""
    return list(_declared())


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Parse and validate every setting; raise ``ConfigError`` naming each problem."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, setting in _declared().items():
        raw = environ.get(name)
        if raw is None or (raw.strip() == "" and setting.default is not REQUIRED):
            if setting.default is REQUIRED:
                problems.append(f"{name}: required but not set")
            values[name.lower()] = setting.default
            continue
        try:
            values[name.lower()] = setting.parse(raw)
        except ValueError as error:
            problems.append(f"{name}: {error}")
    problems.extend(_cross_checks(values))
    if problems:
        raise ConfigError(problems)
    values["archive_s3_sse"] = values["archive_s3_sse"] or None
    return Settings(**values)


def _cross_checks(values: Mapping[str, Any]) -> list[str]:
    problems = []
    if values.get("archive_s3_sse") == "aws:kms" and not values.get("archive_s3_kms_key_id"):
        problems.append("ARCHIVE_S3_KMS_KEY_ID: required when ARCHIVE_S3_SSE is aws:kms")
    return problems + _notification_problems(values) + _sign_in_problems(values) + _tsa_problems(values)


def _tsa_problems(values: Mapping[str, Any]) -> list[str]:
    problems = []
    urls = values.get("audit_tsa_url") or ()
    if urls and not values.get("audit_tsa_ca_file") and "audit_tsa_ca_file" in values:
        problems.append("AUDIT_TSA_CA_FILE: required when AUDIT_TSA_URL is set (what the replies are verified against)")
    if any(urlsplit(url).scheme == "http" for url in urls) and values.get("audit_tsa_allow_http") is False:
        problems.append("AUDIT_TSA_URL: must be https (plain http only with AUDIT_TSA_ALLOW_HTTP)")
    return problems


def _notification_problems(values: Mapping[str, Any]) -> list[str]:
    """The notification settings that only make sense together (a malformed one is reported once, by its parser)."""

    def unset(name: str) -> bool:
        return name in values and not values[name]

    problems = []
    url = values.get("notify_webhook_url")
    if url and unset("notify_webhook_secret"):
        problems.append("NOTIFY_WEBHOOK_SECRET: required when NOTIFY_WEBHOOK_URL is set (whsec_...)")
    if url and urlsplit(url).scheme == "http" and unset("notify_allow_http"):
        problems.append("NOTIFY_WEBHOOK_URL: must be https (plain http only with NOTIFY_ALLOW_HTTP)")
    if values.get("notify_email_to") and unset("smtp_url"):
        problems.append("SMTP_URL: required when NOTIFY_EMAIL_TO is set")
    if values.get("notify_email_to") and unset("notify_email_from"):
        problems.append("NOTIFY_EMAIL_FROM: required when NOTIFY_EMAIL_TO is set")
    if values.get("smtp_url") and unset("notify_email_to") and unset("subject_email_from"):
        problems.append("NOTIFY_EMAIL_TO: required when SMTP_URL is set (whom to send notifications to)")
    if values.get("subject_email_from") and unset("smtp_url"):
        problems.append("SMTP_URL: required when SUBJECT_EMAIL_FROM is set")
    return problems


def _sign_in_problems(values: Mapping[str, Any]) -> list[str]:
    """The console's sign-in settings that only make sense together."""
    issuer = values.get("oidc_issuer")
    problems = []
    if values.get("console_token_sign_in") is False and "oidc_issuer" in values and not issuer:
        problems.append("CONSOLE_TOKEN_SIGN_IN: false needs OIDC_ISSUER, or nobody could sign in to the console")
    if not issuer:
        return problems
    if not values.get("oidc_client_id"):
        problems.append("OIDC_CLIENT_ID: required when OIDC_ISSUER is set")
    if "oidc_role_map" in values and not values["oidc_role_map"]:
        problems.append("OIDC_ROLE_MAP: required when OIDC_ISSUER is set (group=role,...), or nobody gets a role")
    if urlsplit(issuer).scheme == "http" and not values.get("oidc_allow_http"):
        problems.append("OIDC_ISSUER: must be https (plain http only with OIDC_ALLOW_HTTP)")
    return problems
