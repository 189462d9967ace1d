"""The evidence pack from a case's page: offered to those who may export, through the API's use case.

The export is recorded in the case's history in the signed-in operator's name with the
pack's SHA-256, as ``GET /api/cases/<id>/evidence`` records it.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from receiver.usecases import cases


def test_an_auditor_downloads_the_pack_and_the_history_records_its_sha256_in_their_name(
    signed_in_as, open_case, services
):
    case = open_case()
    auditor = signed_in_as("audrey", "auditor")
    assert "Download the evidence pack" in auditor.get(f"/ops/cases/{case['id']}").text
    with auditor.post(f"/ops/cases/{case['id']}/evidence", page=f"/ops/cases/{case['id']}") as answer:
        assert answer.status_code == 200 and answer.mimetype == "application/zip"
        pack = answer.get_data()
    with zipfile.ZipFile(io.BytesIO(pack)) as archive:
        assert sorted(archive.namelist()) == [
            "NOT-TIME-STAMPED.txt",
            "chain.json",
            "check_chain.py",
            "evidence.html",
            "evidence.json",
            "manifest.json",
        ]
        assert json.loads(archive.read("evidence.json"))["case"]["id"] == case["id"]
    [exported] = [
        e for e in cases.show_case(services, case["id"]).as_json()["history"] if e["kind"] == "evidence_exported"
    ]
    assert exported["actor"] == "audrey" and hashlib.sha256(pack).hexdigest() in json.dumps(exported)


@pytest.mark.parametrize("role", ["viewer"])
def test_a_role_that_may_not_export_is_not_offered_the_pack_and_is_refused_it(signed_in_as, open_case, services, role):
    case = open_case()
    browser = signed_in_as(f"{role}-1", role)
    assert "Download the evidence pack" not in browser.get(f"/ops/cases/{case['id']}").text
    assert browser.post(f"/ops/cases/{case['id']}/evidence", page=f"/ops/cases/{case['id']}").status_code == 403
    assert not [
        e for e in cases.show_case(services, case["id"]).as_json()["history"] if e["kind"] == "evidence_exported"
    ]


def test_a_pack_asked_without_its_csrf_token_is_not_exported(signed_in, open_case, services):
    case = open_case()
    answer = signed_in.post(f"/ops/cases/{case['id']}/evidence", csrf=False, page=f"/ops/cases/{case['id']}")
    assert answer.status_code == 400
    assert not [
        e for e in cases.show_case(services, case["id"]).as_json()["history"] if e["kind"] == "evidence_exported"
    ]
