"""schemathesis against the live service: every operation of the document, inputs generated from it, and every
answer held to it (no server error, a listed status, content type and headers, a body that fits its schema).

The service runs as in production (gunicorn), pointed at the provider simulators so that sends are really
answered, with a named operator's token; callbacks are signed as MessageBird signs them
(``tests.support.schemathesis_hooks``), so they reach past the signature check. The run is seeded and bounded
(``MAX_EXAMPLES`` per operation), so it is the same run each time and takes seconds.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from app import create_app
from receiver.usecases import operators
from tests.support.processes import process_env

pytestmark = pytest.mark.slow

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
MAX_EXAMPLES = 20
SEED = 13
HOOKS = "tests.support.schemathesis_hooks"


def operator_token(env: dict[str, str]) -> str:
    """A new named operator's token, made the way ``flask tokens create`` makes one."""
    app = create_app(env)
    try:
        return operators.create_token(
            app.extensions["services"], "schemathesis", operators.OPERATOR, actor="test"
        ).token
    finally:
        app.extensions["services"].close()


def run_schemathesis(
    document: Path, base_url: str, token: str, env: dict[str, str], workdir: Path
) -> subprocess.CompletedProcess[str]:
    command = [
        str(SCHEMATHESIS),
        "run",
        str(document),
        "--url",
        base_url,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
    ]
    signing = {
        "SCHEMATHESIS_HOOKS": HOOKS,
        "PUBLIC_URL": env["PUBLIC_URL"],
        "MESSAGEBIRD_SIGNING_KEY": env["MESSAGEBIRD_SIGNING_KEY"],
    }
    return subprocess.run(
        command, cwd=workdir, env=process_env(signing), capture_output=True, text=True, timeout=300, check=False
    )


def counts_of(output: str) -> dict[str, int]:
    """What the run's summary says it did: operations tested, test cases generated, failures found."""
    tested = re.search(r"Tested:\s+(\d+)", output)
    generated = re.search(r"(\d+) generated", output)
    failures = re.search(r"(\d+) found (\d+) unique failures", output)
    return {
        "operations": int(tested[1]) if tested else 0,
        "test_cases": int(generated[1]) if generated else 0,
        "unique_failures": int(failures[2]) if failures else 0,
    }


def past_the_signatures(log: str) -> int:
    """Callbacks whose JWT verified: answered, or refused for what they say rather than for how they are signed."""
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return sum(event.get("event", "").startswith("callback.") and event.get("jwt") == "passed" for event in events)


def operations_in(document: dict) -> int:
    return sum(
        method in {"get", "post", "put", "patch", "delete"} for item in document["paths"].values() for method in item
    )


# PostgreSQL, as in production: the stricter of the two backends (it refuses a NUL in text, for one), and one run
# keeps the test within a minute; the test suite's ContractClient holds both backends' answers to the document.
@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_schemathesis_finds_no_answer_outside_the_contract(
    launcher, app_env, provider_settings, tmp_path, record_property
):
    # Every unsigned delivery is a refusal: a high limit keeps the signed ones from being answered 429 instead.
    env = {**app_env, **provider_settings, "REFUSAL_RATE_LIMIT": "100000 per minute"}
    token = operator_token(env)
    web = launcher.start_web(env, workers=1, port=int(env["PUBLIC_URL"].rsplit(":", 1)[1]))
    # The document the service serves, from a file: loaded from its URL, schemathesis leaves out that operation.
    served = requests.get(f"{web.base_url}/api/openapi.json", timeout=5)
    document = tmp_path / "openapi.json"
    document.write_bytes(served.content)
    run = run_schemathesis(document, web.base_url, token, env, tmp_path)
    counts = {**counts_of(run.stdout), "signed_callbacks_verified": past_the_signatures(web.log())}
    for name, value in counts.items():
        record_property(name, value)
    print("counts: " + " ".join(f"{name}={value}" for name, value in counts.items()))
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    documented = operations_in(served.json())
    assert counts["operations"] == documented and counts["test_cases"] > documented * MAX_EXAMPLES, run.stdout[-3000:]
    assert "Traceback" not in web.log()
    assert counts["signed_callbacks_verified"] > 0, "no generated callback got past its signature check"
