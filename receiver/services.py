"""The service's long-lived collaborators, built once per process from the settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from receiver.fetching import FetchPolicy, host_pattern_problems
from receiver.identity.provider import OidcProvider, ProviderConfig
from receiver.notifications import Notifiers, build_notifiers
from receiver.notifications.channels import build_subject_mail
from receiver.notifications.mail import MailChannel
from receiver.providers.clients import ProviderClients, build_provider_clients
from receiver.timestamping import TimeStamper, load_certificates, tsa_policy
from settings import ConfigError, Settings, load_settings
from storage.archives import ArchiveStore, S3Options, open_archive_store
from storage.clock import Clock
from storage.crypto import SecretBox
from storage.db import Database
from storage.errors import StorageError
from storage.refusals import RefusalSamples
from storage.replay import DatabaseReplayCache, RedisReplayCache, open_replay_cache


@dataclass
class Services:
    settings: Settings
    database: Database
    secrets: SecretBox
    replay_cache: DatabaseReplayCache | RedisReplayCache
    archive_store: ArchiveStore
    fetch_policy: FetchPolicy
    providers: ProviderClients
    refusal_samples: RefusalSamples
    #: Where the deadline check's notifications go (none configured: no check runs).
    notifiers: Notifiers = field(default_factory=Notifiers)
    #: The organisation's OpenID Connect provider the console signs people in with (``OIDC_ISSUER``), if any.
    identity: OidcProvider | None = None
    #: Sends the data subject their answer's link (``SMTP_URL`` from ``SUBJECT_EMAIL_FROM``); none when not set.
    subject_mail: MailChannel | None = None
    #: The RFC 3161 authorities that anchor the audit chain (none configured: nothing is anchored).
    timestamper: TimeStamper = field(default_factory=lambda: build_timestamper(None))

    @property
    def clock(self) -> Clock:
        """The service's one clock (``storage.clock``), the one the database stamps rows with: a test stops it at
        a time of its choosing with ``services.clock.set(at)``."""
        return self.database.clock

    def readiness_probes(self) -> dict[str, Callable[[], str | None]]:
        """Each backend serving needs; a probe returns None when ready, else why not, and writes nothing."""
        probes: dict[str, Callable[[], str | None]] = {
            "database": self._database_writable,
            "archive_store": self.archive_store.check,
        }
        if isinstance(self.replay_cache, RedisReplayCache):
            probes["replay_cache"] = self.replay_cache.ping
        return probes

    def _database_writable(self) -> str | None:
        return self.database.write_blocker(min_free_bytes=self.settings.database_min_free_mb * 1024 * 1024)

    def readiness_advisories(self) -> dict[str, Callable[[], str | None]]:
        """What ``/readyz`` reports without counting it against readiness: ``archive_deletion`` says when the
        archive store would refuse the retention policy's deletions (an S3 bucket's default object lock)."""
        return {"archive_deletion": self._deletion_blocked}

    def _deletion_blocked(self) -> str | None:
        blocker = self.archive_store.deletion_blocker()
        return f"blocked: {blocker}" if blocker else None

    def close(self) -> None:
        self.refusal_samples.close()
        self.database.dispose()


def build_services(settings: Settings) -> Services:
    """Every collaborator; a setting that only fails here is reported as a ``ConfigError``."""
    clock = Clock()
    database = Database(settings.database_url, timeout_seconds=settings.database_timeout_seconds, clock=clock)
    try:
        archive_store = open_archive_store(settings.archive_store_url, s3=s3_options(settings), clock=clock)
    except StorageError as error:
        raise ConfigError([f"ARCHIVE_STORE_URL: {error.message}"]) from None
    policy = fetch_policy(settings)
    return Services(
        settings=settings,
        database=database,
        secrets=SecretBox(settings.secret_key),
        replay_cache=open_replay_cache(settings.replay_cache_url, database),
        archive_store=archive_store,
        fetch_policy=policy,
        providers=build_provider_clients(settings, clock=clock),
        refusal_samples=RefusalSamples(database, cap=settings.refusal_sample_cap),
        notifiers=build_notifiers(settings),
        identity=identity_provider(settings, clock),
        subject_mail=build_subject_mail(settings),
        timestamper=build_timestamper(settings),
    )


def build_timestamper(settings: Settings | None) -> TimeStamper:
    """The authorities of ``AUDIT_TSA_URL``, verified against ``AUDIT_TSA_CA_FILE``; none without settings."""
    if settings is None:
        return TimeStamper((), [], [], tsa_policy((), private_hosts=(), allow_http=False, timeout=1.0), 1.0)
    problems = [
        f"AUDIT_TSA_PRIVATE_HOSTS: {problem}" for problem in host_pattern_problems(settings.audit_tsa_private_hosts)
    ]
    try:
        roots, intermediates = load_certificates(settings.audit_tsa_ca_file)
    except ValueError:
        roots, intermediates = [], []
        problems.append("AUDIT_TSA_CA_FILE: not a file of PEM certificates")
    else:
        if settings.audit_tsa_ca_file and not roots:
            problems.append("AUDIT_TSA_CA_FILE: holds no self-signed (root) certificate to verify replies against")
    if problems:
        raise ConfigError(problems)
    timeout = settings.audit_tsa_timeout_seconds
    policy = tsa_policy(
        settings.audit_tsa_url,
        private_hosts=settings.audit_tsa_private_hosts,
        allow_http=settings.audit_tsa_allow_http,
        timeout=timeout,
    )
    return TimeStamper(settings.audit_tsa_url, roots, intermediates, policy, timeout)


def check_configuration(environ: Mapping[str, str]) -> Settings:
    """What ``create_app`` would refuse, checked without serving: ``ConfigError`` naming each problem.

    gunicorn's master runs it before forking, so a bad setting stops the server once,
    instead of every worker failing to boot in turn.
    """
    settings = load_settings(environ)
    build_services(settings).close()
    return settings


def s3_options(settings: Settings) -> S3Options:
    return S3Options(
        chunk_size=settings.archive_s3_chunk_bytes,
        sse=settings.archive_s3_sse,
        kms_key_id=settings.archive_s3_kms_key_id,
        checksum_when_required=settings.archive_s3_checksum_when_required,
        presign_expiry=settings.archive_presign_seconds,
    )


def fetch_policy(settings: Settings) -> FetchPolicy:
    """The archive download's policy; ``ConfigError`` naming every malformed host pattern."""
    problems = [
        f"{name}: {problem}"
        for name, patterns in (
            ("ARCHIVE_ALLOWED_HOSTS", settings.archive_allowed_hosts),
            ("ARCHIVE_PRIVATE_HOSTS", settings.archive_private_hosts),
        )
        for problem in host_pattern_problems(patterns)
    ]
    if problems:
        raise ConfigError(problems)
    return FetchPolicy(
        allowed_hosts=settings.archive_allowed_hosts,
        private_hosts=settings.archive_private_hosts,
        allow_http=settings.archive_allow_http,
        connect_timeout=settings.archive_connect_timeout_seconds,
        read_timeout=settings.archive_read_timeout_seconds,
    )


#: Where the identity provider sends the browser back to: always under ``PUBLIC_URL``, never built from ``Host``.
SIGN_IN_CALLBACK_PATH = "/ops/sign-in/callback"


def identity_provider(settings: Settings, clock: Clock) -> OidcProvider | None:
    """The console's OpenID Connect provider when ``OIDC_ISSUER`` is set; ``ConfigError`` for a malformed host."""
    if not settings.oidc_issuer or not settings.oidc_client_id:
        return None
    problems = [f"OIDC_PRIVATE_HOSTS: {problem}" for problem in host_pattern_problems(settings.oidc_private_hosts)]
    if problems:
        raise ConfigError(problems)
    return OidcProvider(
        ProviderConfig(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            scopes=settings.oidc_scopes,
            redirect_uri=settings.public_url + SIGN_IN_CALLBACK_PATH,
            allow_http=settings.oidc_allow_http,
            private_hosts=settings.oidc_private_hosts,
        ),
        clock=clock.timestamp,
    )
