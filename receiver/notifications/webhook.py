"""Notifications as Standard Webhooks: a signed JSON POST to ``NOTIFY_WEBHOOK_URL``.

Each attempt carries ``webhook-id`` (the notification's id, the same on every attempt,
so a receiver deduplicates on it), ``webhook-timestamp`` (the attempt's time, in
seconds) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of id.timestamp.body>``
under the ``whsec_`` secret, by the ``standardwebhooks`` library); the body is the
stored message, byte for byte the same on every attempt. A 2xx answer is a delivery;
any other answer, a redirect included (none is followed), is a failure tried again
later, as are timeouts and lost connections. A URL the SSRF rules refuse is not.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from receiver.fetching import FetchError, FetchPolicy, post_checked
from receiver.notifications.errors import NotifyError
from receiver.observability.redaction import describe_url

WEBHOOK = "webhook"


def signed_headers(webhook: Webhook, message_id: str, body: str, *, at: dt.datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt at ``at`` (whole seconds, UTC)."""
    at = at.astimezone(dt.UTC).replace(microsecond=0)
    return {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": webhook.sign(message_id, at, body),
    }


def host_pattern(url: str) -> str:
    """``host:port`` of ``url`` as a ``FetchPolicy`` host pattern: the one host a webhook policy allows."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class WebhookChannel:
    """Posts signed messages to one URL under one policy (only that URL's host, its address checked)."""

    name = WEBHOOK

    def __init__(self, url: str, secret: str, policy: FetchPolicy) -> None:
        self._url = url
        self._webhook = Webhook(secret)
        self._policy = policy
        self.origin = describe_url(url)

    def send(self, message_id: str, message_type: str, body: str, *, now: dt.datetime) -> None:
        """Deliver ``body`` once; ``NotifyError`` unless the receiver answered 2xx."""
        headers = signed_headers(self._webhook, message_id, body, at=now)
        try:
            status = post_checked(self._url, body.encode(), headers, self._policy)
        except FetchError as error:
            raise NotifyError(error.reason, f"webhook failed: {error.message}", retryable=error.retryable) from None
        if not 200 <= status < 300:
            raise NotifyError(f"http_{status}", f"webhook failed: http_{status} at {self.origin}", retryable=True)
