"""GET /api/cases/<id>/evidence: the evidence pack, for auditors and operators, recorded as it is handed out."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile

import pytest

from receiver.usecases import operators
from tests.receiver.conftest import ARCHIVE_LINK, SUBJECT_EMAIL


@pytest.fixture
def bearer(services):
    def bearer(name: str, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {operators.create_token(services, name, role, actor='test').token}"}

    return bearer


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {entry.filename: archive.read(entry) for entry in archive.infolist()}


def test_an_auditor_gets_a_zip_whose_manifest_and_recorded_sha256_match(client, bearer, answered_case):
    auditor = bearer("audrey", "auditor")
    response = client.get(f"/api/cases/{answered_case['id']}/evidence", headers=auditor)
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == f"attachment; filename={answered_case['id']}-evidence.zip"
    files = unzip(response.data)
    listed = ["evidence.json", "evidence.html", "chain.json", "check_chain.py"]
    assert list(files) == [*listed, "manifest.json", "NOT-TIME-STAMPED.txt"]  # no AUDIT_TSA_URL here
    manifest = json.loads(files["manifest.json"])
    assert manifest == {"files": {name: hashlib.sha256(files[name]).hexdigest() for name in listed}}
    sha256 = hashlib.sha256(response.data).hexdigest()
    assert response.headers["Content-Digest"] == f"sha-256=:{base64.b64encode(bytes.fromhex(sha256)).decode()}:"
    history = client.get(f"/api/cases/{answered_case['id']}", headers=auditor).json["history"]
    [exported] = [event for event in history if event["kind"] == "evidence_exported"]
    assert (exported["actor"], exported["to"]) == ("audrey", sha256)


def test_the_same_data_gives_the_same_pack_and_each_export_is_recorded(client, bearer, answered_case):
    operator = bearer("oscar", "operator")
    first = client.get(f"/api/cases/{answered_case['id']}/evidence", headers=operator)
    second = client.get(f"/api/cases/{answered_case['id']}/evidence", headers=operator)
    assert first.status_code == second.status_code == 200
    assert first.data == second.data
    with zipfile.ZipFile(io.BytesIO(first.data)) as archive:
        assert {entry.date_time for entry in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    history = client.get(f"/api/cases/{answered_case['id']}", headers=operator).json["history"]
    assert [e["actor"] for e in history if e["kind"] == "evidence_exported"] == ["oscar", "oscar"]


@pytest.mark.parametrize(("role", "status"), [("auditor", 200), ("operator", 200), ("viewer", 403), ("metrics", 403)])
def test_only_auditors_and_operators_may_export(client, bearer, answered_case, role, status):
    response = client.get(f"/api/cases/{answered_case['id']}/evidence", headers=bearer(f"{role}-1", role))
    assert response.status_code == status
    if status == 403:
        assert response.json["errors"][0]["description"].startswith("Request not allowed")


def test_a_refused_export_records_nothing(client, bearer, answered_case):
    assert client.get(f"/api/cases/{answered_case['id']}/evidence", headers=bearer("vera", "viewer")).status_code == 403
    assert client.get(f"/api/cases/{answered_case['id']}/evidence").status_code == 401
    history = client.get(f"/api/cases/{answered_case['id']}", headers=bearer("vic", "viewer")).json["history"]
    assert [e for e in history if e["kind"] == "evidence_exported"] == []


def test_an_unknown_case_is_404(client, bearer):
    response = client.get("/api/cases/case-000000000000000000000000/evidence", headers=bearer("audrey", "auditor"))
    assert response.status_code == 404
    assert response.json["errors"][0]["description"] == "no case with this id"


def test_a_cases_life_from_receipt_to_the_answer_reads_from_the_pack_alone(client, bearer, answered_case):
    files = unzip(client.get(f"/api/cases/{answered_case['id']}/evidence", headers=bearer("audrey", "auditor")).data)
    document = json.loads(files["evidence.json"])
    kinds = [entry["kind"] for entry in document["timeline"]]
    assert kinds == [
        "received",
        "opened",
        "extended",
        "request_sent",
        "callback_verified",
        "archive_stored",
        "request_completed",
        "answer_sent",
        "first_deadline",
        "deadline",
    ]
    assert document["verdict"] == {"answered": True, "inTime": True, "daysLate": 0, "text": document["verdict"]["text"]}
    assert document["verdict"]["text"].startswith("answered within the deadline")
    [request] = document["requests"]
    [callback] = request["callbacks"]
    assert (callback["jwt"]["verdict"], callback["hmac"]["verdict"], callback["rawInputsKept"]) == (
        "passed",
        "passed",
        True,
    )
    assert (request["archive"]["bytes"], request["archive"]["sha256"], request["archive"]["versionId"]) == (
        2048,
        "ab" * 32,
        "v-0001",
    )
    assert request["archive"]["storedAt"] and request["archiveDeletion"] is None
    assert document["case"]["dueOn"] == answered_case["dueOn"] and document["case"]["extended"] is True
    assert {a["name"]: a["role"] for a in document["actors"]} == {
        "admin": "operator (ADMIN_TOKEN)",
        "olivia": "operator",
    }
    page = files["evidence.html"].decode()
    for entry in document["timeline"]:
        assert entry["label"].replace("'", "&#39;") in page
    assert "answered within the deadline" in page


def test_the_page_is_self_contained_and_the_pack_holds_no_personal_data_or_secret(
    client,
    bearer,
    services,
    answered_case,
    messagebird_signature_key,
):
    data = client.get(f"/api/cases/{answered_case['id']}/evidence", headers=bearer("audrey", "auditor")).data
    files = unzip(data)
    page = files["evidence.html"].decode().lower()
    assert "<style>" in page
    for fetched in ("<script", "<link", "src=", "url(", "@import", "http://", "https://"):
        assert fetched not in page
    text = b"\n".join(files.values()).decode()
    value_hash = services.secrets.value_hash("email", SUBJECT_EMAIL)
    for secret in (SUBJECT_EMAIL, value_hash, ARCHIVE_LINK, "archive-link-4711", messagebird_signature_key):
        assert secret not in text
    assert "TICKET-7" in text
