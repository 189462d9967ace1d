"""The simulator puts each archive's token in the URL's path, as real processors do: we keep none of it.

Three archives end three ways (downloaded after the callback, downloaded from the
listing's ``dataArchiveUrl`` when no callback came, and gone: 404); then the log (at
DEBUG), the admin API, the CLI and every value in the database are searched for the
tokens.
"""

from __future__ import annotations

import io

import pytest

from receiver.observability.logs import configure_logging
from tests.simulators.conftest import configure, reconcile_now, settle
from tests.support.scan import database_dump, occurrences
from tests.support.simulators import eventually

PERSONAL_GET = {
    "kind": "KIND_PERSONAL_GET",
    "field": "email",
    "value": "jane.doe.private@example.org",
    "reason": "Art. 15 request",
    "subjectRef": "TICKET-9",
}


@pytest.fixture
def log_text():
    buffer = io.StringIO()
    configure_logging("json", "DEBUG", stream=buffer)
    yield buffer.getvalue
    configure_logging("json", "INFO")


def called_back(simulator, request_id: str) -> None:
    eventually(lambda: simulator.requests[request_id].deliveries == [200])


def test_no_archive_token_is_kept_or_logged_whichever_way_the_download_ends(
    api, app, services, messagebird_simulator, log_text
):
    stored = api("POST", "/api/requests", json=PERSONAL_GET).json()["id"]
    called_back(messagebird_simulator, stored)
    gone = api("POST", "/api/requests", json=PERSONAL_GET).json()["id"]
    called_back(messagebird_simulator, gone)
    messagebird_simulator.requests[gone].archive = None  # the simulator now answers 404 for it
    messagebird_simulator.knobs.update({"callback": "none", "callback_delay": 0.05})
    configure(services, callback_grace_seconds=0)
    listed = api("POST", "/api/requests", json=PERSONAL_GET).json()["id"]
    eventually(lambda: messagebird_simulator.requests[listed].state == "STATE_DONE")
    reconcile_now(services)
    settle(services, stored, "completed")
    assert settle(services, listed, "completed")["callbackMissing"] is True  # its URL came from the listing
    failed = settle(services, gone, "failed")
    assert failed["stateReason"] == f"download failed: http_404 at {messagebird_simulator.base_url}"

    tokens = tuple(messagebird_simulator.requests[rid].archive_token for rid in (stored, gone, listed))
    assert all(tokens)
    answers = [api("GET", "/api/requests").text] + [
        api("GET", f"/api/requests/{rid}").text for rid in (stored, gone, listed)
    ]
    runner = app.test_cli_runner()
    shown = [runner.invoke(args=["requests", "show", rid]).output for rid in (stored, gone, listed)]
    places = {
        "log": log_text(),
        "api": "\n".join(answers),
        "cli": "\n".join(shown),
        "database": database_dump(services.settings.database_url).text,
    }
    found = {where: occurrences(text, tokens) for where, text in places.items()}
    assert all(n == 0 for counts in found.values() for n in counts.values()), found
    assert "archive.stored" in places["log"] and stored in places["cli"]
