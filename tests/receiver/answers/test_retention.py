"""The package and its links go with the case's archives: same period, same legal hold, a receipt."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select, update

from receiver.usecases.retention import run_retention
from storage.models import AnswerDownload, Case
from tests.conftest import PUBLIC_URL


def close_long_ago(client, admin_headers, services, case_id: str) -> None:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    closed = client.post(
        f"/api/cases/{case_id}/close",
        json={"respondedOn": today, "deliveredBy": "download link"},
        headers=admin_headers,
    )
    assert closed.status_code == 200, closed.json
    with services.database.transaction() as session:
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=31)
        session.execute(update(Case).where(Case.id == case_id).values(closed_at=long_ago))
        session.execute(update(AnswerDownload).values(at=long_ago))


def package_files(services) -> list[Path]:
    root = Path(services.settings.archive_store_url.removeprefix("file://"), "packages")
    return sorted(path for path in root.rglob("*.zip"))


def test_retention_deletes_the_package_with_a_receipt_and_its_links_answer_410(
    built_package, client, admin_headers, services
):
    case_id, package = built_package("access")
    path = client.post(f"/api/cases/{case_id}/package/links", json={}, headers=admin_headers).json["url"]
    path = path.removeprefix(PUBLIC_URL)
    with client.get(path + "/download") as download:
        assert download.get_data()
    kept = run_retention(services, actor="retention")
    assert [c.kept for c in kept.classes if c.name == "answers to subjects"] == [{"case open": 1}]
    close_long_ago(client, admin_headers, services, case_id)
    assert package_files(services)
    report = run_retention(services, actor="retention")
    [answers] = [c for c in report.classes if c.name == "answers to subjects"]
    assert answers.done["deleted"] == 1 and answers.done["download addresses cleared"] == 1
    assert package_files(services) == []
    shown = client.get(f"/api/cases/{case_id}/package", headers=admin_headers).json
    assert shown["state"] == "deleted" and shown["sha256"] == package["sha256"]
    receipt = shown["deletionReceipt"]
    assert receipt["deletedBy"] == "retention" and receipt["policy"].startswith("ARCHIVE_RETENTION_DAYS=30")
    assert receipt["sha256"] == package["sha256"] and receipt["versions"][0]["bytes"] == package["bytes"]
    assert [link["state"] for link in shown["links"]] == ["revoked"]
    assert client.get(path).status_code == 410 and client.get(path + "/download").status_code == 410
    history = client.get(f"/api/cases/{case_id}", headers=admin_headers).json["history"]
    assert [entry["from"] for entry in history if entry["kind"] == "package_deleted"] == [package["sha256"]]
    with services.database.transaction() as session:
        assert session.scalars(select(AnswerDownload.client_address)).all() == [None]


def test_a_legal_hold_keeps_the_package(built_package, client, admin_headers, services):
    case_id, _ = built_package("access")
    held = client.post(f"/api/cases/{case_id}/legal-hold", json={"reason": "litigation"}, headers=admin_headers)
    assert held.status_code == 200, held.json
    close_long_ago(client, admin_headers, services, case_id)
    report = run_retention(services, actor="retention")
    [answers] = [c for c in report.classes if c.name == "answers to subjects"]
    assert answers.kept == {"legal hold": 1} and answers.done["deleted"] == 0
    assert client.get(f"/api/cases/{case_id}/package", headers=admin_headers).json["state"] == "ready"
