"""Outbound clients for the processors' APIs: MessageBird Personal Data and VoodooSMS GDPR Forget.

Each client turns one documented call into a typed answer or one ``ProviderError``
with a ``reason``; ``transport`` carries the shared HTTP rules (timeouts, retries of
429 and 5xx with backoff that honours ``Retry-After``, bounded JSON answers).

Proxy and CA settings come from the environment (``requests``' ``trust_env``):
provider APIs may sit behind a corporate proxy (``HTTPS_PROXY``/``NO_PROXY``) and a
private CA (``REQUESTS_CA_BUNDLE``). The archive download does the opposite on
purpose (see ``receiver.fetching``): its URL comes from a third party.
"""

from receiver.providers.errors import ProviderError
from receiver.providers.messagebird import MessageBirdClient
from receiver.providers.voodoosms import VoodooSmsClient

__all__ = ["MessageBirdClient", "ProviderError", "VoodooSmsClient"]
