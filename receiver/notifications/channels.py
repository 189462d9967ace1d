"""The channels the settings configure, built once per process (``receiver.services``)."""

from __future__ import annotations

from dataclasses import dataclass

from receiver.fetching import FetchPolicy, host_pattern_problems
from receiver.notifications.mail import MailChannel
from receiver.notifications.webhook import WebhookChannel, host_pattern
from settings import ConfigError, Settings


@dataclass(frozen=True)
class Notifiers:
    """The configured channels; none when no notification setting is given."""

    webhook: WebhookChannel | None = None
    mail: MailChannel | None = None

    @property
    def channels(self) -> tuple[str, ...]:
        """The names of the configured channels, in the order deliveries are queued."""
        return tuple(channel.name for channel in (self.webhook, self.mail) if channel is not None)

    def channel(self, name: str) -> WebhookChannel | MailChannel | None:
        return {channel.name: channel for channel in (self.webhook, self.mail) if channel is not None}.get(name)


def build_notifiers(settings: Settings) -> Notifiers:
    """The channels ``settings`` configure; ``ConfigError`` naming each setting that cannot be used."""
    problems = [f"NOTIFY_PRIVATE_HOSTS: {problem}" for problem in host_pattern_problems(settings.notify_private_hosts)]
    webhook = None
    if settings.notify_webhook_url and not problems:
        try:
            webhook = WebhookChannel(
                settings.notify_webhook_url,
                settings.notify_webhook_secret or "",
                _policy(settings, (host_pattern(settings.notify_webhook_url),)),
            )
        except ValueError:
            problems.append("NOTIFY_WEBHOOK_URL: its host is not a host name or IP address")
    if problems:
        raise ConfigError(problems)
    mail = None
    if settings.smtp_url and settings.notify_email_to and settings.notify_email_from:
        mail = MailChannel(
            settings.smtp_url,
            sender=settings.notify_email_from,
            recipients=settings.notify_email_to,
            policy=_policy(settings, ()),
            timeout=settings.notify_timeout_seconds,
        )
    return Notifiers(webhook, mail)


def build_subject_mail(settings: Settings) -> MailChannel | None:
    """The channel that e-mails the data subject their answer's link, when ``SMTP_URL`` and ``SUBJECT_EMAIL_FROM``
    are set (the same relay and checks as notifications, ``NOTIFY_PRIVATE_HOSTS`` and ``NOTIFY_TIMEOUT_SECONDS``)."""
    if not (settings.smtp_url and settings.subject_email_from):
        return None
    return MailChannel(
        settings.smtp_url,
        sender=settings.subject_email_from,
        recipients=(),
        policy=_policy(settings, ()),
        timeout=settings.notify_timeout_seconds,
    )


def _policy(settings: Settings, allowed_hosts: tuple[str, ...]) -> FetchPolicy:
    timeout = settings.notify_timeout_seconds
    return FetchPolicy(
        allowed_hosts=allowed_hosts,
        private_hosts=settings.notify_private_hosts,
        allow_http=settings.notify_allow_http,
        connect_timeout=timeout,
        read_timeout=timeout,
        max_redirects=0,
    )
