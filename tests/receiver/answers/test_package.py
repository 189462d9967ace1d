"""The subject's package: built by the worker from the case's stored archives, byte for byte, with its index."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from sqlalchemy import select

from storage.models import CaseEvent
from tests.receiver.answers.conftest import ARCHIVES, CONTACT, CONTROLLER, run_worker, stored_zip
from tests.receiver.conftest import callback_body


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_an_access_package_holds_every_archive_byte_for_byte_and_an_index(built_package, services):
    case_id, package = built_package("access")
    archive = stored_zip(services, case_id)
    names = [
        "index.html",
        "index.json",
        "messagebird-KIND_PERSONAL_GET-req-a.zip",
        "messagebird-KIND_PERSONAL_GET-req-b.zip",
    ]
    assert archive.namelist() == names
    assert archive.testzip() is None
    for request_id, data in ARCHIVES.items():
        assert archive.read(f"messagebird-KIND_PERSONAL_GET-{request_id}.zip") == data
    files = {file["name"]: file for file in package["files"]}
    assert list(files) == names
    assert files["messagebird-KIND_PERSONAL_GET-req-a.zip"] == {
        "name": "messagebird-KIND_PERSONAL_GET-req-a.zip",
        "requestId": "req-a",
        "bytes": len(ARCHIVES["req-a"]),
        "sha256": sha256(ARCHIVES["req-a"]),
    }
    assert files["index.json"]["sha256"] == sha256(archive.read("index.json"))
    with services.archive_store.open(_uri(services, case_id)) as source:
        whole = source.read()
    assert (package["bytes"], package["sha256"]) == (len(whole), sha256(whole))
    assert package["builtAt"] and package["content"] == "archives"


def test_the_index_says_who_sends_it_what_each_processor_was_asked_and_whom_to_contact(built_package, services):
    case_id, _ = built_package("access")
    archive = stored_zip(services, case_id)
    index = json.loads(archive.read("index.json"))
    assert index["controller"] == {"name": CONTROLLER, "contact": CONTACT}
    assert index["case"] == {"id": case_id, "reference": "TICKET-21", "right": "access", "receivedOn": "2026-12-01"}
    [first, second] = index["processors"]
    assert first["processor"] == "messagebird" and first["requestId"] == "req-a"
    assert first["asked"] == "a copy of the personal data it holds about you"
    assert first["answeredAt"] and first["sha256"] == sha256(ARCHIVES["req-a"])
    assert second["bytes"] == len(ARCHIVES["req-b"])
    page = archive.read("index.html").decode()
    for text in (CONTROLLER, CONTACT, "GDPR Art. 15(3)", sha256(ARCHIVES["req-b"]), "a copy of the personal data"):
        assert text in page


def test_a_portability_package_puts_the_machine_readable_index_first(built_package, services):
    case_id, _ = built_package("portability")
    assert stored_zip(services, case_id).namelist()[:2] == ["index.json", "index.html"]


def test_building_again_replaces_the_package_revokes_its_links_and_says_so(
    built_package, client, admin_headers, services
):
    case_id, first = built_package("access")
    link = client.post(f"/api/cases/{case_id}/package/links", json={}, headers=admin_headers).json
    assert client.post(f"/api/cases/{case_id}/package", headers=admin_headers).status_code == 202
    run_worker(services)
    second = client.get(f"/api/cases/{case_id}/package", headers=admin_headers).json
    assert second["state"] == "ready" and second["id"] != first["id"]
    [old_link] = second["links"]
    assert (old_link["id"], old_link["state"], old_link["revokedReason"]) == (link["id"], "revoked", "package_rebuilt")
    assert client.get(link["url"].removeprefix("https://hooks.example.test")).status_code == 410
    history = client.get(f"/api/cases/{case_id}", headers=admin_headers).json["history"]
    built = [entry for entry in history if entry["kind"] == "package_built"]
    assert [entry["to"] for entry in built] == [first["sha256"], second["sha256"]]
    assert link["id"] in built[-1]["reason"] and "revoked" in built[-1]["reason"]


def test_an_erasure_is_answered_with_a_confirmation_letter_not_data(
    open_case, register, deliver, client, admin_headers, services
):
    case_id = open_case("erasure")
    register("req-del", "KIND_PERSONAL_DELETE", caseId=case_id)
    assert deliver(callback_body("req-del", kind="KIND_PERSONAL_DELETE")).status_code == 200
    run_worker(services)
    assert client.post(f"/api/cases/{case_id}/package", headers=admin_headers).status_code == 202
    run_worker(services)
    package = client.get(f"/api/cases/{case_id}/package", headers=admin_headers).json
    assert (package["state"], package["content"]) == ("ready", "confirmation")
    archive = stored_zip(services, case_id)
    assert archive.namelist() == ["confirmation.html", "confirmation.json"]
    letter = json.loads(archive.read("confirmation.json"))
    [done] = letter["completions"]
    assert (done["processor"], done["requestId"], done["evidence"]) == (
        "messagebird",
        "req-del",
        "its signed callback, verified",
    )
    assert done["asked"] == "to erase the personal data it holds about you" and done["completedAt"]
    assert CONTACT in archive.read("confirmation.html").decode()


def test_a_package_is_refused_while_requests_run_without_archives_or_without_a_controller(
    open_case, register, client, admin_headers, app_env
):
    case_id = open_case("access")
    nothing = client.post(f"/api/cases/{case_id}/package", headers=admin_headers)
    assert nothing.status_code == 409 and "no stored archive" in nothing.json["errors"][0]["description"]
    register("req-run", "KIND_PERSONAL_GET", caseId=case_id)
    running = client.post(f"/api/cases/{case_id}/package", headers=admin_headers)
    assert running.status_code == 409 and "have not ended (req-run)" in running.json["errors"][0]["description"]
    none = client.get(f"/api/cases/{case_id}/package", headers=admin_headers).json
    assert (none["state"], none["id"], none["files"], none["links"]) == ("none", None, [], [])
    assert client.post("/api/cases/case-nope/package", headers=admin_headers).status_code == 404
    assert client.post(f"/api/cases/{case_id}/package/links", json={}, headers=admin_headers).status_code == 409


def test_a_package_larger_than_its_limit_fails_with_the_reason_and_nothing_stored(
    archived_case, client, admin_headers, services, monkeypatch
):
    case_id = archived_case("access")
    monkeypatch.setattr(services, "settings", dataclasses.replace(services.settings, package_max_bytes=1000))
    assert client.post(f"/api/cases/{case_id}/package", headers=admin_headers).status_code == 202
    run_worker(services)
    package = client.get(f"/api/cases/{case_id}/package", headers=admin_headers).json
    assert (package["state"], package["failure"]) == ("failed", "the package is larger than PACKAGE_MAX_BYTES")
    root = services.settings.archive_store_url.removeprefix("file://")
    assert not list(Path(root, "packages").rglob("*.zip"))
    with services.database.transaction() as session:
        kinds = session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case_id)).all()
    assert "package_built" not in kinds


def _uri(services, case_id: str) -> str:
    from storage import answers

    with services.database.transaction() as session:
        return answers.current_package(session, case_id).uri
