"""Notifications by e-mail to a real loopback SMTP server (aiosmtpd): one message to every recipient, STARTTLS
when offered and the password only over it, SMTP answers as retryable or not, and the SSRF rules of archive
downloads for the server's address (a loopback relay must be named in NOTIFY_PRIVATE_HOSTS)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from receiver.fetching import FetchPolicy
from receiver.notifications import NotifyError
from receiver.notifications.mail import MailChannel
from storage.notifications import message
from tests.support.smtp_server import LOGIN, PASSWORD

RECIPIENTS = ("dpo@example.com", "ops@example.com")
DATA = {
    "caseId": "case-1",
    "subjectRef": "T-42",
    "right": "access",
    "dueOn": "2026-12-10",
    "daysLeft": 3,
    "thresholdDays": 3,
}
BODY = message("case.due_soon", DATA, at=dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC))


def channel(smtp_url: str, *, private: tuple[str, ...], environ: dict[str, str] | None = None) -> MailChannel:
    return MailChannel(
        smtp_url,
        sender="gdpr@example.com",
        recipients=RECIPIENTS,
        policy=FetchPolicy(allowed_hosts=(), private_hosts=private),
        timeout=3,
        environ=environ or {},
    )


def send(mail: MailChannel) -> None:
    mail.send("msg_0001", "case.due_soon", BODY, now=dt.datetime(2026, 12, 7, 8, 0, 5, tzinfo=dt.UTC))


def test_one_message_reaches_every_recipient_saying_what_is_due(smtp_server):
    send(channel(f"smtp://{smtp_server.address}", private=(smtp_server.address,)))
    [received] = smtp_server.messages
    assert (received.mail_from, received.rcpt_tos) == ("gdpr@example.com", list(RECIPIENTS))
    email = received.message
    assert email["Subject"] == "[GDPR] Case case-1 (T-42) is due on 2026-12-10: 3 days left"
    assert (email["To"], email["Message-ID"]) == ("dpo@example.com, ops@example.com", "<msg_0001@example.com>")
    text = email.get_content()
    assert "caseId: case-1" in text and "Notification id: msg_0001" in text
    assert json.loads(text.strip().splitlines()[-1]) == json.loads(BODY)
    assert not received.over_tls and not received.authenticated  # no STARTTLS offered, no password set


def test_starttls_is_used_when_offered_and_the_password_goes_over_it(smtp_server_starttls):
    server = smtp_server_starttls
    mail = channel(
        f"smtp://{LOGIN}:{PASSWORD}@{server.address}",
        private=(server.address,),
        environ={"REQUESTS_CA_BUNDLE": server.ca_bundle},
    )
    send(mail)
    [received] = server.messages
    assert (received.over_tls, received.authenticated) == (True, True)


def test_a_wrong_password_is_not_retried(smtp_server_starttls):
    server = smtp_server_starttls
    mail = channel(
        f"smtp://{LOGIN}:wrong@{server.address}",
        private=(server.address,),
        environ={"REQUESTS_CA_BUNDLE": server.ca_bundle},
    )
    with pytest.raises(NotifyError) as failure:
        send(mail)
    assert (failure.value.reason, failure.value.retryable) == ("smtp_auth", False)
    assert "wrong" not in failure.value.message and server.messages == []


def test_an_untrusted_certificate_stops_before_the_password_is_sent(smtp_server_starttls):
    server = smtp_server_starttls
    with pytest.raises(NotifyError) as failure:
        send(channel(f"smtp://{LOGIN}:{PASSWORD}@{server.address}", private=(server.address,)))
    assert (failure.value.reason, failure.value.retryable, server.messages) == ("tls", False, [])


def test_a_password_is_never_sent_without_tls(smtp_server):
    with pytest.raises(NotifyError) as failure:
        send(channel(f"smtp://{LOGIN}:{PASSWORD}@{smtp_server.address}", private=(smtp_server.address,)))
    assert (failure.value.reason, failure.value.retryable) == ("smtp_auth_needs_tls", False)
    assert PASSWORD not in failure.value.message and smtp_server.messages == []


@pytest.mark.parametrize(
    ("answer", "reason", "retryable"),
    [("451 4.3.0 try again later", "smtp_451", True), ("554 5.7.1 rejected", "smtp_554", False)],
)
def test_the_servers_refusal_is_retryable_when_temporary(smtp_server, answer, reason, retryable):
    smtp_server.answer_next(answer)
    with pytest.raises(NotifyError) as failure:
        send(channel(f"smtp://{smtp_server.address}", private=(smtp_server.address,)))
    assert (failure.value.reason, failure.value.retryable) == (reason, retryable)
    assert failure.value.message == f"email failed: {reason} at smtp://127.0.0.1:{smtp_server.port}"


def test_a_loopback_relay_not_named_private_is_refused_without_connecting(smtp_server):
    with pytest.raises(NotifyError) as failure:
        send(channel(f"smtp://{smtp_server.address}", private=()))
    assert (failure.value.reason, failure.value.retryable) == ("address_not_allowed", False)
    origin = f"smtp://127.0.0.1:{smtp_server.port}"
    assert failure.value.message == f"email failed: address_not_allowed at {origin} (loopback)"
    assert smtp_server.connections == 0


def test_a_server_that_is_not_there_is_retried_later(smtp_server):
    port = smtp_server.port
    smtp_server.stop()
    with pytest.raises(NotifyError) as failure:
        send(channel(f"smtp://127.0.0.1:{port}", private=(f"127.0.0.1:{port}",)))
    assert (failure.value.reason, failure.value.retryable) == ("connection", True)
