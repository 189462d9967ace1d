"""The ``flask`` commands ops use: import, list, show, retry, secrets rotate."""

from __future__ import annotations

import json

from app import create_app
from storage.crypto import SecretBox
from storage.models import ProcessorRequest


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
