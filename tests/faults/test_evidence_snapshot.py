"""An evidence pack raced by a callback's commit, on PostgreSQL: the pack is one snapshot.

The pack reads the case and its requests, then each request's callbacks. A genuine callback
for the case's request is delivered and committed (through the app, from another thread) at the
moment the pack first reads the ``callbacks`` table: between two of its queries. At READ
COMMITTED the pack showed the request ``sent`` beside an accepted callback.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile

import pytest
from sqlalchemy import event

from receiver.usecases import evidence
from tests.conftest import ADMIN_TOKEN, CALLBACK_URL
from tests.support.databases import Backend
from tests.support.load import CALLBACK_PATH, DELETE_KIND, callback_json

pytestmark = pytest.mark.postgres


@pytest.fixture
def backend(postgres_url: str) -> Backend:
    return Backend(postgres_url)


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def open_case(client) -> str:
    opened = client.post(
        "/api/cases",
        headers=ADMIN,
        json={"subjectRef": "T-1", "right": "erasure", "jurisdiction": "EU", "receivedOn": "2026-11-30"},
    )
    assert opened.status_code == 201, opened.json
    return opened.json["id"]


def pack_document(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return json.loads(archive.read("evidence.json"))


def test_a_callback_committed_between_the_packs_queries_is_in_all_of_it_or_none(
    services, client, messagebird_signer, messagebird_signature_key, report
):
    """Invariant: the pack's request state, its callbacks and its transitions agree with each other."""
    case_id = open_case(client)
    document = {"id": "race-1", "signatureKey": messagebird_signature_key, "kind": DELETE_KIND, "caseId": case_id}
    assert client.post("/api/requests/import", json=document, headers=ADMIN).status_code == 201
    body = callback_json("race-1", DELETE_KIND)
    headers = messagebird_signer(CALLBACK_URL, body)
    answers: list[int] = []

    def deliver() -> None:
        answer = client.post(CALLBACK_PATH, data=body, headers=headers, content_type="application/json")
        answers.append(answer.status_code)

    def commit_a_callback_now(_connection, _cursor, statement: str, *_rest: object) -> None:
        if answers or "FROM callbacks" not in statement:
            return
        delivery = threading.Thread(target=deliver)
        delivery.start()
        delivery.join(timeout=30)

    event.listen(services.database.engine, "before_cursor_execute", commit_a_callback_now)
    try:
        pack = evidence.export_pack(services, case_id, actor="auditor")
    finally:
        event.remove(services.database.engine, "before_cursor_execute", commit_a_callback_now)

    request = next(r for r in pack_document(pack.data)["requests"] if r["id"] == "race-1")
    accepted = [c for c in request["callbacks"] if c["verdict"] == "accepted"]
    moved_to = [t["to"] for t in request["transitions"]]
    counts = report(
        callback_answer=answers,
        pack_state=request["state"],
        pack_accepted_callbacks=len(accepted),
        pack_transitions=moved_to,
    )
    assert answers == [200], counts  # the race happened: the callback committed during the export
    assert (request["state"], len(accepted), "completed" in moved_to) in (
        ("sent", 0, False),
        ("completed", 1, True),
    ), counts
    assert client.get("/api/requests/race-1", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json["state"] == (
        "completed"
    )
