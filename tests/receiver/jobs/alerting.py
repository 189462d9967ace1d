"""What the deadline check and notify job tests share: an environment with both channels on loopback receivers,
cases stored with deadlines relative to today, and what the receivers got."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

from sqlalchemy import select
from standardwebhooks import Webhook

from receiver.jobs.worker import Worker
from receiver.observability.logs import configure_logging
from storage import lifecycle, registry
from storage.clock import Clock
from storage.models import Case, Job, NotificationDelivery
from tests.support.smtp_server import SmtpServer

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOKEN = "tok-HOOK-5519"
SIGNATURE = "sig-HOOK-7283"
#: What a case's free-text notes may hold, and no notification, e-mail or log line may.
PERSONAL = ("Jane Roe", "jane.roe@example.org", "+447700900461")


def alerts_env(
    app_env: dict[str, str], https_server, smtp_server: SmtpServer, *, private: str | None = None
) -> dict[str, str]:
    """Both channels, on loopback receivers named private (unless ``private`` says otherwise)."""
    url = https_server.route("/hooks/gdpr/" + TOKEN) + f"?signature={SIGNATURE}"
    webhook_host = f"127.0.0.1:{https_server.port}"
    return {
        **app_env,
        "NOTIFY_WEBHOOK_URL": url,
        "NOTIFY_WEBHOOK_SECRET": SECRET,
        "NOTIFY_PRIVATE_HOSTS": f"{webhook_host},{smtp_server.address}" if private is None else private,
        "SMTP_URL": f"smtp://{smtp_server.address}",
        "NOTIFY_EMAIL_TO": "dpo@example.com,ops@example.com",
        "NOTIFY_EMAIL_FROM": "gdpr@example.com",
        "NOTIFY_TIMEOUT_SECONDS": "3",
    }


def today() -> dt.date:
    return Clock().now().date()


def add_case(
    services, case_id: str, *, due_in: int, paused: bool = False, closed: bool = False, requests: tuple[str, ...] = ()
) -> str:
    """A case due ``due_in`` days from today (received a month before), its notes holding personal data, and
    requests in the states given."""
    due_on = today() + dt.timedelta(days=due_in)
    with services.database.transaction() as session:
        session.add(
            Case(
                id=case_id,
                subject_ref=f"T-{case_id}",
                right="access",
                jurisdiction="EU",
                received_on=due_on - dt.timedelta(days=30),
                due_on=due_on,
                original_due_on=due_on,
                paused_since=today() if paused else None,
                notes="called by " + ", ".join(PERSONAL),
                created_by="test",
            )
        )
        session.flush()
        for n, state in enumerate(requests):
            request = registry.register(
                session,
                registry.NewRequest(
                    id=f"{case_id}-r{n}", provider=registry.MESSAGEBIRD, kind="KIND_PERSONAL_GET", case_id=case_id
                ),
            )
            if state != lifecycle.SENT:
                lifecycle.move(request, state, reason="the provider failed it" if state == lifecycle.FAILED else None)
        if closed:
            session.get(Case, case_id).responded_on = today()
    return case_id


def run_worker(services) -> int:
    return Worker(services).run(once=True)


def verified_posts(https_server) -> list[dict]:
    """Every POST the receiver got, verified as Standard Webhooks, with its ``webhook-id`` beside the message."""
    found = []
    for path, headers, body in https_server.posts:
        assert path == f"/hooks/gdpr/{TOKEN}?signature={SIGNATURE}"
        found.append({"id": headers["webhook-id"], **Webhook(SECRET).verify(body, headers)})
    return found


def notify_jobs(services) -> list[Job]:
    with services.database.transaction() as session:
        return list(
            session.scalars(
                select(Job).join(NotificationDelivery, NotificationDelivery.job_id == Job.id).order_by(Job.id)
            )
        )


class LogCapture:
    """Every log line at DEBUG while it is open, as text (to search for what must never be there)."""

    def __enter__(self) -> LogCapture:
        self._buffer = io.StringIO()
        configure_logging("json", "DEBUG", stream=self._buffer)
        return self

    def __exit__(self, *exc: object) -> None:
        configure_logging("json", "INFO")

    @property
    def text(self) -> str:
        return self._buffer.getvalue()

    def events(self, name: str) -> list[dict]:
        return [line for line in map(json.loads, self.text.splitlines()) if line.get("event") == name]


def leaks(text: str) -> list[str]:
    """The secrets and personal data found in ``text``: the webhook URL's path and query, the secret, the notes."""
    secret_key = SECRET.removeprefix("whsec_")
    return [
        found for found in (TOKEN, SIGNATURE, "/hooks/gdpr", secret_key, *PERSONAL) if re.search(re.escape(found), text)
    ]
