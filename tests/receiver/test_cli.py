"""The ``flask`` commands ops use: import, list, show, retry, secrets rotate, cases, tokens, retention."""

from __future__ import annotations

import datetime as dt
import getpass
import json

from app import create_app
from storage.crypto import SecretBox
from storage.errors import StorageError
from storage.models import ProcessorRequest
from tests.support.retention import add_case, archive_file, stored_request


def test_import_list_show(app, tmp_path, messagebird_signature_key):
    runner = app.test_cli_runner()
    document = tmp_path / "request.json"
    document.write_text(json.dumps({"id": "cli-1", "signatureKey": messagebird_signature_key, "kind": "KIND_USER_GET"}))
    imported = runner.invoke(args=["requests", "import", str(document)])
    assert imported.exit_code == 0, imported.output
    assert messagebird_signature_key not in imported.output
    listed = runner.invoke(args=["requests", "list"])
    assert "cli-1\tmessagebird\tKIND_USER_GET\tsent" in listed.output
    shown = runner.invoke(args=["requests", "show", "cli-1"])
    assert json.loads(shown.output)["state"] == "sent"


def test_show_and_retry_of_an_unknown_request_fail_cleanly(app):
    runner = app.test_cli_runner()
    for command in (["requests", "show", "nope"], ["requests", "retry", "nope"]):
        result = runner.invoke(args=command)
        assert result.exit_code == 1 and "no request with this id" in result.output


def test_an_invalid_import_fails_with_the_reason(app, tmp_path):
    document = tmp_path / "request.json"
    document.write_text('{"id": "x", "kind": "KIND_USER_GET"}')
    result = app.test_cli_runner().invoke(args=["requests", "import", str(document)])
    assert result.exit_code == 1 and "signatureKey is required" in result.output


def test_a_case_received_before_the_gdpr_applied_fails_with_the_reason(app):
    document = '{"subjectRef": "T-OLD", "right": "access", "receivedOn": "2018-05-24", "jurisdiction": "EU"}'
    result = app.test_cli_runner().invoke(args=["cases", "create"], input=document)
    assert result.exit_code == 1
    assert "receivedOn cannot be before 2018-05-25, the day the GDPR applied (Art. 99(2))" in result.output


def test_secrets_rotate_reseals_with_the_new_key(app_env, register, services, messagebird_signature_key):
    register("req-1", "KIND_USER_GET")
    rotated_env = {**app_env, "SECRET_KEY": "n" * 40 + "," + app_env["SECRET_KEY"]}
    rotated = create_app(rotated_env)
    result = rotated.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert result.exit_code == 0 and "re-sealed 1 secrets" in result.output
    with services.database.transaction() as session:
        sealed = session.get(ProcessorRequest, "req-1").signature_key_sealed
    assert SecretBox(["n" * 40]).open(sealed) == messagebird_signature_key
    rotated.extensions["services"].close()


def test_cases_from_the_shell_open_list_show_change_and_close(app, tmp_path):
    runner = app.test_cli_runner()
    document = tmp_path / "case.json"
    document.write_text(
        json.dumps({"subjectRef": "TICKET-42", "right": "erasure", "receivedOn": "2024-11-25", "jurisdiction": "UK"})
    )
    opened = runner.invoke(args=["cases", "create", str(document)])
    assert opened.exit_code == 0, opened.output
    case = json.loads(opened.output)
    assert (case["dueOn"], case["history"][0]["actor"]) == ("2024-12-27", f"cli:{getpass.getuser()}")
    listed = runner.invoke(args=["cases", "list", "--overdue"])
    days_left = (dt.date(2024, 12, 27) - dt.datetime.now(dt.UTC).date()).days
    assert listed.output.split("\t")[:5] == [case["id"], "open", "2024-12-27", f"{days_left:+d}d", "overdue"]
    assert json.loads(runner.invoke(args=["cases", "show", case["id"]]).output)["id"] == case["id"]
    refused = runner.invoke(
        args=["cases", "extend", case["id"]], input='{"reason": "late", "informedOn": "2024-12-20"}'
    )
    assert refused.exit_code == 1 and "first deadline has passed" in refused.output
    closed = runner.invoke(
        args=["cases", "close", case["id"]], input='{"respondedOn": "2024-12-20", "deliveredBy": "secure email"}'
    )
    assert closed.exit_code == 0 and json.loads(closed.output)["state"] == "closed"
    assert runner.invoke(args=["cases", "list", "--overdue"]).output == ""


def test_a_case_command_with_a_bad_document_fails_with_the_reason(app):
    result = app.test_cli_runner().invoke(args=["cases", "create"], input='{"right": "access"}')
    assert result.exit_code == 1 and "subjectRef is required" in result.output


def test_tokens_are_made_shown_once_listed_and_revoked(app, client):
    runner = app.test_cli_runner()
    made = runner.invoke(args=["tokens", "create", "olivia", "--role", "viewer"])
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/cases", headers=headers).status_code == 200
    assert client.post("/api/cases", json={}, headers=headers).status_code == 403
    listed = runner.invoke(args=["tokens", "list"]).output
    assert listed.startswith("olivia\tviewer\t") and token not in listed and "active" in listed
    assert runner.invoke(args=["tokens", "revoke", "olivia"]).exit_code == 0
    assert client.get("/api/cases", headers=headers).status_code == 401
    assert "revoked" in runner.invoke(args=["tokens", "list"]).output
    again = runner.invoke(args=["tokens", "create", "olivia", "--role", "operator"])
    assert again.exit_code == 1 and "never reused" in again.output


def test_retention_run_applies_the_policy_at_once_and_prints_what_it_did_and_kept(app, services):
    due = stored_request(services, completed_days_ago=31)
    held_case = add_case(services, closed_days_ago=40)
    stored_request(services, completed_days_ago=45, case_id=held_case)
    runner = app.test_cli_runner()
    held = runner.invoke(args=["retention", "hold", held_case, "-"], input='{"reason": "claim 17"}')
    assert held.exit_code == 0 and json.loads(held.output)["legalHold"]["by"] == f"cli:{getpass.getuser()}"
    result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"retention run by cli:{getpass.getuser()} at ")
    assert lines[1].startswith(
        "archives (30 days after the case closed, or the request completed outside a case: "
        "ARCHIVE_RETENTION_DAYS): deleted 1, versions 1, bytes "
    )
    assert lines[1].endswith("; kept 1: legal hold 1")
    assert lines[2] == f"  legal hold on {held_case}: 1 archive(s) kept"
    assert not archive_file(services, due).exists()
    released = runner.invoke(args=["retention", "release", held_case, "--reason", "settled"])
    assert released.exit_code == 0 and json.loads(released.output)["legalHold"] is None
    assert "deleted 1" in runner.invoke(args=["retention", "run"]).output


def test_retention_run_exits_non_zero_when_part_of_the_policy_could_not_be_applied(app, services, monkeypatch):
    stored_request(services, completed_days_ago=31)

    def unavailable(uri: str):
        raise StorageError("unavailable", "archive file delete failed: Input/output error")

    monkeypatch.setattr(services.archive_store, "delete_all_versions", unavailable)
    result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert result.exit_code == 1
    assert "deleted 0, versions 0, bytes 0, failed 1" in result.output
    assert "some of the policy could not be applied" in result.output
