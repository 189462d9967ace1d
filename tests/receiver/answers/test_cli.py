"""The subject's answer from the shell: the same use cases, the operator named cli:<user>."""

from __future__ import annotations

import json

import pytest

from tests.receiver.answers.conftest import run_worker
from tests.support.databases import Backend


@pytest.fixture
def backend(sqlite_url: str) -> Backend:
    return Backend(sqlite_url)


def test_build_link_and_revoke_from_the_shell(app, archived_case, services, client):
    case_id = archived_case("access")
    runner = app.test_cli_runner()
    built = runner.invoke(args=["cases", "package", case_id, "--build"])
    assert built.exit_code == 0 and json.loads(built.output)["state"] == "building"
    run_worker(services)
    shown = json.loads(runner.invoke(args=["cases", "package", case_id]).output)
    assert shown["state"] == "ready" and shown["requestedBy"].startswith("cli:")
    made = runner.invoke(args=["cases", "link", case_id], input='{"maxDownloads": 2}')
    link = json.loads(made.output)
    assert made.exit_code == 0 and link["url"].startswith("https://hooks.example.test/answer/")
    revoked = runner.invoke(args=["cases", "revoke-link", case_id, link["id"]])
    assert revoked.exit_code == 0 and json.loads(revoked.output)["links"][0]["state"] == "revoked"
    refused = runner.invoke(args=["cases", "link", case_id], input='{"maxDownloads": 99}')
    assert refused.exit_code == 1 and "maxDownloads" in refused.output
