"""The API contract: a valid OpenAPI 3.1 document of every endpoint, built from the models the service uses."""

from __future__ import annotations

import json
import re

import pytest
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from pydantic import ValidationError

from receiver.usecases import answers, documents, operators
from receiver.web.openapi.document import build_document, documented_rules, openapi_document, undocumented_endpoints
from receiver.web.openapi.operations import OPERATIONS, PUBLIC
from tests.support.contract import contract_problems

METHODS = ("get", "post", "put", "patch", "delete")


def operations_of(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def concrete(path: str) -> str:
    """A documented path with each parameter filled in."""
    return re.sub(r"\{[^}]+\}", "no-such-id", path)


def test_the_document_is_valid_openapi_3_1(app):
    document = build_document(app)
    validate(document)
    assert document["openapi"] == "3.1.0"


def test_the_validator_would_refuse_a_broken_document(app):
    """The check above can fail: a path parameter the operation does not declare is refused."""
    document = build_document(app)
    document["paths"]["/api/cases/{caseId}"]["get"]["parameters"] = []
    with pytest.raises(OpenAPIValidationError, match="caseId"):
        validate(document)


def test_every_reference_names_a_schema_of_the_document(app):
    document = build_document(app)
    named = re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(document))
    assert named and set(named) <= set(document["components"]["schemas"])


def test_it_is_served_without_a_token(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json == openapi_document(client.application)


def test_every_endpoint_of_the_api_is_documented(app):
    assert undocumented_endpoints(app) == set()
    assert {rule.endpoint for rule, _ in documented_rules(app)} == set(OPERATIONS)


def test_an_endpoint_added_without_its_operation_is_noticed(app):
    app.add_url_rule("/api/undocumented", "admin_extra.undocumented", lambda: "")
    assert undocumented_endpoints(app) == {"admin_extra.undocumented"}


def test_bodies_queries_and_answers_are_the_pydantic_models(app):
    document = build_document(app)
    schemas = document["components"]["schemas"]
    open_case = document["paths"]["/api/cases"]["post"]
    assert open_case["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CaseDocument"
    }
    assert schemas["CaseDocument"]["required"] == ["subjectRef", "right", "receivedOn", "jurisdiction"]
    assert schemas["CaseDocument"]["additionalProperties"] is False
    assert open_case["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CaseDetail"
    }
    listed = document["paths"]["/api/cases"]["get"]["parameters"]
    assert [p["name"] for p in listed] == [f.alias for f in documents.CaseQuery.model_fields.values()]
    assert schemas["RequestRecord"]["properties"]["state"]["enum"] == list(documents.RequestState.__args__)


def test_every_error_answer_has_messagebirds_error_shape(app):
    document = build_document(app)
    for method, path, operation in operations_of(document):
        for status, answer in operation["responses"].items():
            if int(status) >= 400 and path != "/readyz":
                schema = answer["content"]["application/json"]["schema"]
                refs = [s["$ref"] for s in schema.get("anyOf", [schema])]
                assert "#/components/schemas/ErrorAnswer" in refs or refs == ["#/components/schemas/OutcomeUnknown"], (
                    method,
                    path,
                    status,
                )


def test_the_callback_endpoint_documents_its_signatures_and_every_refusal(app):
    callback = build_document(app)["paths"]["/webhooks/messagebird/personal-data"]["post"]
    assert callback["security"] == []
    assert {p["name"] for p in callback["parameters"]} == {"MessageBird-Signature-JWT", "X-MessageBird-Signature"}
    assert set(callback["responses"]) == {"200", "400", "401", "404", "409", "413", "415", "429", "503"}
    assert "Retry-After" in callback["responses"]["429"]["headers"]


@pytest.mark.parametrize("role", operators.ROLES)
def test_the_roles_each_operation_lists_are_the_roles_let_in(app, client, services, role):
    token = operators.create_token(services, f"{role}-1", role, actor="test").token
    document = build_document(app)
    for method, path, operation in operations_of(document):
        if not operation["security"]:
            continue
        listed = operation["security"][0]["operatorToken"]
        status = client.open(
            concrete(path), method=method, json={}, headers={"Authorization": f"Bearer {token}"}
        ).status_code
        assert (status == 403) == (role not in listed), (role, method, path, status)
        assert client.open(concrete(path), method=method, json={}).status_code == 401, (method, path)


def test_only_the_callback_the_probes_and_the_document_need_no_token(app):
    public = {(method, path) for method, path, op in operations_of(build_document(app)) if op["security"] == []}
    assert public == {
        ("POST", "/webhooks/messagebird/personal-data"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/api/openapi.json"),
    }
    assert {name for name, op in OPERATIONS.items() if op.access == PUBLIC} == {
        "webhooks.messagebird_personal_data",
        "health.healthz",
        "health.readyz",
        "openapi.document",
    }


class TestAnswers:
    """A use case builds its answer with ``model_construct`` (checked by mypy); an adapter writes it (``as_json``)."""

    def test_an_answer_is_written_by_its_model(self):
        error = answers.ErrorDetail.model_construct(code=10, description="bad")
        assert answers.ErrorAnswer.model_construct(errors=[error]).as_json() == {
            "errors": [{"code": 10, "description": "bad", "parameter": None}]
        }

    def test_names_go_out_in_camel_case_and_aliases_as_declared(self):
        link = answers.ArchiveLink.model_construct(url="https://store.example/a.zip", expires_in=60)
        assert link.as_json() == {"url": "https://store.example/a.zip", "expiresIn": 60}
        version = answers.DeletedVersion.model_construct(version_id="v1", size=3, delete_marker=False, partial=False)
        assert version.as_json() == {"versionId": "v1", "bytes": 3, "deleteMarker": False, "partial": False}

    def test_a_slip_in_an_answer_costs_no_request(self):
        """Nothing is validated on the way out: the answer goes as built, and the contract tests fail on it."""
        assert answers.Health.model_construct(status="fine").as_json() == {"status": "fine"}

    def test_a_field_its_model_does_not_declare_is_refused_by_the_model(self):
        """An answer off its model is a slip of ours: the model refuses it (and the contract tests see it)."""
        with pytest.raises(ValidationError, match="undeclared"):
            answers.Health.model_validate({"status": "ok", "undeclared": "a value"})

    def test_a_field_its_model_requires_is_refused_when_missing(self):
        with pytest.raises(ValidationError, match="checks"):
            answers.Readiness.model_validate({"status": "ready"})


class TestTheTestSuitesCheck:
    """``tests.support.contract`` holds every answer a test sees to the document; it notices one outside it."""

    @pytest.fixture
    def plain_client(self, app):
        return FlaskClient(app)

    def test_a_body_outside_its_schema(self, app, plain_client):
        app.view_functions["health.healthz"] = lambda: {"status": "fine"}
        [problem] = contract_problems(app, plain_client.get("/healthz"))
        assert problem == "GET /healthz 200: status: 'ok' was expected"

    def test_a_status_the_operation_does_not_list(self, app, plain_client):
        app.view_functions["health.healthz"] = lambda: ({"status": "ok"}, 418)
        [problem] = contract_problems(app, plain_client.get("/healthz"))
        assert problem.startswith("GET /healthz answered 418, which it does not list")

    def test_a_content_type_the_answer_does_not_list(self, app, plain_client):
        app.view_functions["health.healthz"] = lambda: "<p>ok</p>"
        assert contract_problems(app, plain_client.get("/healthz")) == [
            "GET /healthz answered 200 as text/html, not as ['application/json']"
        ]

    def test_a_path_the_document_does_not_describe_is_not_its_business(self, app, plain_client):
        assert contract_problems(app, plain_client.get("/no/such/page")) == []


def test_apps_with_the_same_routes_share_one_document_built_from_them(app, app_env):
    """Built once per process for the same routes (a test run builds thousands of apps), and what it says is what
    building it from this app says."""
    from app import create_app

    other = create_app({**app_env, "LOG_FORMAT": "console"})
    try:
        assert openapi_document(other) is openapi_document(app)
        assert openapi_document(app) == build_document(app)
    finally:
        other.extensions["services"].close()


def test_an_app_with_another_route_gets_its_own_document(app):
    document = openapi_document(app)

    @app.get("/api/extra-probe")
    def extra_probe() -> str:
        return "extra"

    app.extensions.pop("openapi")
    assert openapi_document(app) is not document
