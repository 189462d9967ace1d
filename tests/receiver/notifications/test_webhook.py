"""Notifications as Standard Webhooks to a real loopback HTTPS receiver: signed so that the standardwebhooks
library verifies them, the same id on every attempt, non-2xx answers retryable, and the SSRF rules of archive
downloads (a loopback host not named in the private hosts is never connected to)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import trustme
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from receiver.fetching import FetchPolicy
from receiver.notifications import NotifyError
from receiver.notifications.webhook import WebhookChannel, host_pattern
from storage.notifications import message

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOKEN = "tok-WEBHOOK-7781"
BODY = message(
    "case.due_soon",
    {"caseId": "case-1", "subjectRef": "T-42", "dueOn": "2026-12-10", "daysLeft": 3},
    at=dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC),
)


def channel_to(url: str, ca_bundle: str, *, private: tuple[str, ...] | None = None) -> WebhookChannel:
    pattern = host_pattern(url)
    policy = FetchPolicy(
        allowed_hosts=(pattern,),
        private_hosts=(pattern,) if private is None else private,
        ca_bundle=ca_bundle,
        connect_timeout=2,
        read_timeout=2,
        max_redirects=0,
    )
    return WebhookChannel(url, SECRET, policy)


def send(channel: WebhookChannel) -> None:
    channel.send("msg_0001", "case.due_soon", BODY, now=dt.datetime.now(dt.UTC))


def test_a_delivery_is_signed_so_that_standard_webhooks_verifies_it(https_server):
    url = https_server.route("/hooks/gdpr") + f"?token={TOKEN}"
    send(channel_to(url, https_server.ca_bundle))
    [(path, headers, body)] = https_server.posts
    assert path == f"/hooks/gdpr?token={TOKEN}" and body == BODY.encode()
    assert headers["webhook-id"] == "msg_0001" and headers["Content-Type"] == "application/json"
    assert Webhook(SECRET).verify(body, headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"T-42", b"T-43"), headers)


def test_every_attempt_keeps_the_id_and_body_and_signs_its_own_time(https_server):
    url = https_server.route("/hooks/gdpr")
    channel = channel_to(url, https_server.ca_bundle)
    channel.send("msg_0001", "case.due_soon", BODY, now=dt.datetime(2026, 12, 7, 8, 0, 5, tzinfo=dt.UTC))
    send(channel)
    first, second = (headers for _path, headers, _body in https_server.posts)
    assert first["webhook-id"] == second["webhook-id"] == "msg_0001"
    assert first["webhook-timestamp"] == str(int(dt.datetime(2026, 12, 7, 8, 0, 5, tzinfo=dt.UTC).timestamp()))
    assert first["webhook-signature"] != second["webhook-signature"]


@pytest.mark.parametrize("status", [500, 503, 429, 401, 302])
def test_an_answer_other_than_2xx_fails_retryably_naming_the_origin_only(https_server, status):
    redirect = "https://127.0.0.1:1/elsewhere"
    url = https_server.route("/hooks/gdpr", statuses=[status], location=redirect) + f"?token={TOKEN}"
    with pytest.raises(NotifyError) as failure:
        send(channel_to(url, https_server.ca_bundle))
    origin = f"https://127.0.0.1:{https_server.port}"
    assert (failure.value.reason, failure.value.retryable) == (f"http_{status}", True)
    assert failure.value.message == f"webhook failed: http_{status} at {origin}"
    assert len(https_server.posts) == 1  # a redirect is not followed


def test_a_loopback_receiver_not_named_private_is_refused_without_connecting(https_server):
    url = https_server.route("/hooks/gdpr") + f"?token={TOKEN}"
    with pytest.raises(NotifyError) as failure:
        send(channel_to(url, https_server.ca_bundle, private=()))
    assert (failure.value.reason, failure.value.retryable) == ("address_not_allowed", False)
    origin = f"https://127.0.0.1:{https_server.port}"
    assert failure.value.message == f"webhook failed: address_not_allowed at {origin} (loopback)"
    assert https_server.connections == 0 and TOKEN not in failure.value.message


def test_a_name_resolving_to_loopback_is_refused_too(https_server):
    url = https_server.url("/hooks/gdpr", host="localhost")
    with pytest.raises(NotifyError) as failure:
        send(channel_to(url, https_server.ca_bundle, private=("127.0.0.1:1",)))
    assert failure.value.reason == "address_not_allowed" and https_server.connections == 0


def test_plain_http_is_refused_unless_allowed(http_server):
    url = http_server.route("/hooks/gdpr")
    pattern = host_pattern(url)
    refusing = WebhookChannel(url, SECRET, FetchPolicy(allowed_hosts=(pattern,), private_hosts=(pattern,)))
    with pytest.raises(NotifyError) as failure:
        send(refusing)
    assert (failure.value.reason, http_server.connections) == ("scheme_not_allowed", 0)
    allowing = WebhookChannel(
        url, SECRET, FetchPolicy(allowed_hosts=(pattern,), private_hosts=(pattern,), allow_http=True)
    )
    send(allowing)
    assert len(http_server.posts) == 1


def test_a_receiver_whose_certificate_is_not_trusted_is_a_tls_failure(https_server, tmp_path):
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    with pytest.raises(NotifyError) as failure:
        send(channel_to(https_server.route("/hooks/gdpr"), str(other_ca)))
    assert (failure.value.reason, failure.value.retryable) == ("tls", False)
    assert https_server.posts == []
