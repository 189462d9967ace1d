"""Both provider clients, built once per process from the settings (``Services.providers``)."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from receiver.providers.messagebird import MessageBirdClient, access_key_headers
from receiver.providers.transport import JsonTransport, RetryPolicy
from receiver.providers.voodoosms import VoodooSmsClient, bearer_headers
from settings import Settings
from storage.clock import Clock


@dataclass
class ProviderClients:
    messagebird: MessageBirdClient
    voodoosms: VoodooSmsClient


def build_provider_clients(
    settings: Settings, *, session: requests.Session | None = None, clock: Clock | None = None
) -> ProviderClients:
    """The clients; one without its key configured refuses every call with ``not_configured``."""
    session, clock = session or requests.Session(), clock or Clock()
    retry = RetryPolicy(max_retries=settings.provider_max_retries, max_wait=settings.provider_retry_max_wait_seconds)

    def transport(provider: str, base_url: str, headers: dict[str, str]) -> JsonTransport:
        return JsonTransport(
            provider,
            base_url,
            headers,
            timeout=settings.provider_timeout_seconds,
            retry=retry,
            session=session,
            clock=clock,
        )

    messagebird = voodoosms = None
    if settings.messagebird_access_key:
        messagebird = transport(
            "messagebird", settings.messagebird_api_url, access_key_headers(settings.messagebird_access_key)
        )
    if settings.voodoosms_api_key:
        voodoosms = transport("voodoosms", settings.voodoosms_api_url, bearer_headers(settings.voodoosms_api_key))
    return ProviderClients(MessageBirdClient(messagebird), VoodooSmsClient(voodoosms))
