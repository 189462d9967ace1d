"""Links to the subject's package and the subject's side: the page, the download, ranges, limits, the proof."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import pytest
from sqlalchemy import update

from storage.models import AnswerLink
from tests.conftest import PUBLIC_URL
from tests.receiver.answers.conftest import CONTACT, CONTROLLER
from tests.support.scan import database_dump, occurrences


@pytest.fixture
def ready(built_package):
    return built_package("access")


@pytest.fixture
def make_link(client, admin_headers, ready):
    case_id, _ = ready

    def make_link(**document) -> tuple[dict, str]:
        response = client.post(f"/api/cases/{case_id}/package/links", json=document, headers=admin_headers)
        assert response.status_code == 201, response.json
        assert response.headers["Cache-Control"] == "no-store"
        return response.json, response.json["url"].removeprefix(PUBLIC_URL)

    return make_link


def package_of(client, admin_headers, case_id):
    return client.get(f"/api/cases/{case_id}/package", headers=admin_headers).json


def test_a_link_carries_a_secret_of_256_bits_that_is_shown_once_and_kept_only_hashed(
    log_text, make_link, client, admin_headers, ready, backend
):
    case_id, _ = ready
    link, path = make_link(maxDownloads=2, expiresInDays=7)
    secret = path.removeprefix("/answer/")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret)  # 32 random bytes
    assert link["maxDownloads"] == 2 and link["url"] == f"{PUBLIC_URL}/answer/{secret}"
    expires = dt.datetime.fromisoformat(link["expiresAt"].replace("Z", "+00:00"))
    assert dt.timedelta(days=6, hours=23) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=7)
    assert client.get(path).status_code == 200
    with client.get(path + "/download") as download:
        assert download.status_code == 200 and download.get_data()
    shown = package_of(client, admin_headers, case_id)
    [listed] = shown["links"]
    assert listed["id"] == link["id"] and listed["completeDownloads"] == 1
    assert secret not in str(shown) and secret not in str(
        client.get(f"/api/cases/{case_id}", headers=admin_headers).json
    )
    logs = log_text()
    assert occurrences(logs, (secret,)) == {secret: 0}
    assert "/answer/<secret>/download" in logs and link["id"] in logs and "package.built" in logs
    dump = database_dump(backend.database_url)
    assert dump.cells > 100 and occurrences(dump.text, (secret,)) == {secret: 0}


def test_the_subjects_page_says_what_it_is_who_sends_it_the_files_and_until_when(make_link, client, ready):
    _, package = ready
    _, path = make_link(expiresInDays=3)
    page = client.get(path)
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    for expected in (
        CONTROLLER,
        CONTACT,
        "messagebird-KIND_PERSONAL_GET-req-a.zip",
        "index.html",
        "Download",
        package["sha256"],
    ):
        assert expected in text
    assert f'href="{path}/download"' in text
    assert (page.headers["Cache-Control"], page.headers["Referrer-Policy"]) == ("no-store", "no-referrer")
    assert (
        "noindex" in page.headers["X-Robots-Tag"]
        and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    )


def test_the_download_is_the_package_with_its_etag_name_and_no_caching(make_link, client, ready):
    _, package = ready
    _, path = make_link()
    with client.get(path + "/download") as download:
        data = download.get_data()
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert hashlib.sha256(data).hexdigest() == package["sha256"] and len(data) == package["bytes"]
    assert download.headers["ETag"] == f'"{package["sha256"]}"'
    assert download.headers["Accept-Ranges"] == "bytes"
    assert download.headers["Content-Disposition"].startswith("attachment; filename=answer-")
    assert (download.headers["Cache-Control"], download.headers["Referrer-Policy"]) == ("no-store", "no-referrer")
    head = client.head(path + "/download")
    assert head.status_code == 200 and head.headers["Content-Length"] == str(package["bytes"]) and head.data == b""


def test_a_download_resumed_with_range_completes_with_its_last_range_and_is_proven_once(
    make_link, client, admin_headers, ready
):
    case_id, package = ready
    link, path = make_link(maxDownloads=1)
    total = package["bytes"]
    with client.get(path + "/download", headers={"Range": "bytes=0-999"}) as first:
        head = first.get_data()
    assert first.status_code == 206 and first.headers["Content-Range"] == f"bytes 0-999/{total}" and len(head) == 1000
    etag = first.headers["ETag"]
    with client.get(path + "/download", headers={"Range": "bytes=1000-", "If-Range": etag}) as rest:
        tail = rest.get_data()
    assert rest.status_code == 206 and rest.headers["Content-Range"] == f"bytes 1000-{total - 1}/{total}"
    assert hashlib.sha256(head + tail).hexdigest() == package["sha256"]
    shown = package_of(client, admin_headers, case_id)
    [listed] = shown["links"]
    assert [(d["firstByte"], d["bytesSent"], d["complete"]) for d in listed["downloads"]] == [
        (0, 1000, False),
        (1000, total - 1000, True),
    ]
    assert listed["state"] == "used_up" and listed["downloads"][1]["packageSha256"] == package["sha256"]
    history = client.get(f"/api/cases/{case_id}", headers=admin_headers).json["history"]
    [proof] = [entry for entry in history if entry["kind"] == "answer_downloaded"]
    assert proof["to"] == package["sha256"] and str(total) in proof["reason"] and link["id"] in proof["reason"]
    proposal = shown["closingProposal"]
    assert proposal["deliveredBy"] == "download link" and proposal["linkId"] == link["id"]
    assert proposal["respondedOn"] == listed["createdAt"][:10]
    gone = client.get(path + "/download")
    assert gone.status_code == 410 and CONTACT in gone.get_data(as_text=True)


def test_a_range_past_the_end_is_416_and_several_ranges_get_the_whole_package(make_link, client, ready):
    _, package = ready
    _, path = make_link()
    past = client.get(path + "/download", headers={"Range": f"bytes={package['bytes']}-"})
    assert past.status_code == 416 and past.headers["Content-Range"] == f"bytes */{package['bytes']}"
    with client.get(path + "/download", headers={"Range": "bytes=0-1,5-9"}) as several:
        assert several.status_code == 200 and len(several.get_data()) == package["bytes"]
    with client.get(path + "/download", headers={"Range": "bytes=0-9", "If-Range": '"other"'}) as changed:
        assert changed.status_code == 200 and len(changed.get_data()) == package["bytes"]


def test_revoked_and_expired_links_answer_410_with_whom_to_contact_and_unknown_ones_404(
    make_link, client, admin_headers, services, ready
):
    case_id, _ = ready
    revoked, revoked_path = make_link()
    expired, expired_path = make_link()
    answer = client.delete(f"/api/cases/{case_id}/package/links/{revoked['id']}", headers=admin_headers)
    assert answer.status_code == 200
    assert {link["id"]: link["state"] for link in answer.json["links"]}[revoked["id"]] == "revoked"
    with services.database.transaction() as session:
        session.execute(
            update(AnswerLink)
            .where(AnswerLink.id == expired["id"])
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    for path in (revoked_path, expired_path):
        for url in (path, path + "/download"):
            gone = client.get(url)
            assert gone.status_code == 410 and CONTACT in gone.get_data(as_text=True), url
    unknown = client.get("/answer/" + "A" * 43)
    assert unknown.status_code == 404 and client.get("/answer/short/download").status_code == 404
    assert client.delete(f"/api/cases/{case_id}/package/links/lnk-nope", headers=admin_headers).status_code == 404
    history = client.get(f"/api/cases/{case_id}", headers=admin_headers).json["history"]
    assert [entry["from"] for entry in history if entry["kind"] == "link_revoked"] == [revoked["id"]]


@pytest.mark.parametrize(
    ("document", "parameter"),
    [
        ({"maxDownloads": 0}, "maxDownloads"),
        ({"maxDownloads": 21}, "maxDownloads"),
        ({"expiresInDays": 91}, "expiresInDays"),
        ({"language": "de"}, "language"),
        ({"email": "not an address"}, "email"),
        ({"secret": "mine"}, "secret"),
    ],
)
def test_a_link_document_out_of_range_is_refused_naming_its_parameter(client, admin_headers, document, parameter):
    refused = client.post("/api/cases/case-any/package/links", json=document, headers=admin_headers)
    assert refused.status_code == 400 and refused.json["errors"][0]["parameter"] == parameter


def test_an_email_without_smtp_configured_is_refused(client, admin_headers, ready):
    case_id, _ = ready
    refused = client.post(
        f"/api/cases/{case_id}/package/links", json={"email": "jane@example.org"}, headers=admin_headers
    )
    assert refused.status_code == 409 and "SUBJECT_EMAIL_FROM" in refused.json["errors"][0]["description"]


def test_a_dutch_link_shows_its_page_and_its_end_in_dutch(make_link, client, admin_headers, ready):
    case_id, _ = ready
    link, path = make_link(language="nl")
    page = client.get(path).get_data(as_text=True)
    assert f"Uw antwoord van {CONTROLLER}" in page and 'lang="nl"' in page and "Downloaden (" in page
    client.delete(f"/api/cases/{case_id}/package/links/{link['id']}", headers=admin_headers)
    gone = client.get(path).get_data(as_text=True)
    assert "Deze link werkt niet meer" in gone and CONTACT in gone


def test_a_package_gone_from_the_store_is_410_not_a_broken_download(make_link, client, services):
    _, path = make_link()
    for stored in Path(services.settings.archive_store_url.removeprefix("file://"), "packages").rglob("*.zip"):
        stored.unlink()
    gone = client.get(path + "/download")
    assert gone.status_code == 410 and CONTACT in gone.get_data(as_text=True)
