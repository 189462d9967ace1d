"""The admin API: bearer token, import, list with filters and cursor, one record in full."""

from __future__ import annotations

import pytest

from tests.receiver.conftest import callback_body


class TestToken:
    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Bearer wrong-token-of-some-length"},
            {"Authorization": "Basic abc"},
            {"Authorization": "Bearer"},
        ],
    )
    def test_every_route_needs_the_admin_token(self, client, headers):
        for method, path in (("GET", "/api/requests"), ("GET", "/api/requests/x"), ("POST", "/api/requests/import")):
            response = client.open(path, method=method, headers=headers, json={})
            assert response.status_code == 401
            assert response.json["errors"][0]["code"] == 2


class TestImport:
    def test_an_imported_request_is_sent_and_never_shows_its_key(
        self, client, admin_headers, messagebird_signature_key
    ):
        document = {
            "id": "abc-1",
            "signatureKey": messagebird_signature_key,
            "kind": "KIND_PERSONAL_GET",
            "field": "email",
            "reason": "Art. 15 request",
            "subjectRef": "TICKET-9",
        }
        response = client.post("/api/requests/import", json=document, headers=admin_headers)
        assert response.status_code == 201
        assert (response.json["id"], response.json["state"], response.json["subjectRef"]) == (
            "abc-1",
            "sent",
            "TICKET-9",
        )
        shown = client.get("/api/requests/abc-1", headers=admin_headers)
        assert messagebird_signature_key not in shown.get_data(as_text=True)
        assert messagebird_signature_key not in response.get_data(as_text=True)

    def test_importing_the_same_id_twice_is_409(self, register, client, admin_headers):
        register("abc-1")
        response = client.post(
            "/api/requests/import",
            json={"id": "abc-1", "signatureKey": "k", "kind": "KIND_USER_GET"},
            headers=admin_headers,
        )
        assert response.status_code == 409

    @pytest.mark.parametrize(
        ("document", "parameter"),
        [
            ({"signatureKey": "k", "kind": "KIND_USER_GET"}, "id"),
            ({"id": "a", "kind": "KIND_USER_GET"}, "signatureKey"),
            ({"id": "a", "signatureKey": "k", "kind": "KIND_OTHER"}, "kind"),
            ({"id": "a", "signatureKey": "k", "kind": "KIND_USER_GET", "field": "shoe_size"}, "field"),
            ({"id": "../etc", "signatureKey": "k", "kind": "KIND_USER_GET"}, "id"),
            ({"id": "a", "signatureKey": 5, "kind": "KIND_USER_GET"}, "signatureKey"),
        ],
    )
    def test_an_invalid_import_is_400_naming_the_parameter(self, client, admin_headers, document, parameter):
        response = client.post("/api/requests/import", json=document, headers=admin_headers)
        assert response.status_code == 400
        assert response.json["errors"][0]["parameter"] == parameter

    @pytest.mark.parametrize("body", [b"[]", b"{", b"[" * 20000 + b"]" * 20000])
    def test_a_body_that_is_not_an_object_is_400(self, client, admin_headers, body):
        response = client.post(
            "/api/requests/import", data=body, headers=admin_headers, content_type="application/json"
        )
        assert response.status_code == 400

    def test_a_non_json_import_is_415(self, client, admin_headers):
        response = client.post(
            "/api/requests/import", data="id=1", headers=admin_headers, content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 415


class TestList:
    def test_filters_by_state_and_kind(self, register, deliver, client, admin_headers):
        register("a", "KIND_USER_DELETE")
        register("b", "KIND_USER_GET")
        deliver(callback_body("a", "KIND_USER_DELETE"))
        completed = client.get("/api/requests?state=completed", headers=admin_headers).json["requests"]
        assert [r["id"] for r in completed] == ["a"]
        gets = client.get("/api/requests?kind=KIND_USER_GET", headers=admin_headers).json["requests"]
        assert [r["id"] for r in gets] == ["b"]

    def test_the_cursor_walks_every_request_once(self, register, client, admin_headers):
        for index in range(7):
            register(f"r{index}", "KIND_USER_GET")
        seen, cursor = [], None
        while True:
            query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
            page = client.get(f"/api/requests?{query}", headers=admin_headers).json
            seen += [r["id"] for r in page["requests"]]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert sorted(seen) == [f"r{i}" for i in range(7)]
        assert len(seen) == 7

    @pytest.mark.parametrize("query", ["limit=0", "limit=abc", "limit=1000", "state=lost", "kind=x", "cursor=%%%"])
    def test_bad_query_values_are_400(self, client, admin_headers, query):
        assert client.get(f"/api/requests?{query}", headers=admin_headers).status_code == 400


class TestShow:
    def test_the_record_holds_the_history_and_every_verified_callback(self, register, deliver, client, admin_headers):
        register("a", "KIND_USER_DELETE")
        deliver(callback_body("a", "KIND_USER_DELETE"), wrong_key=True)  # refused: nothing attached to the request
        deliver(callback_body("a", "KIND_USER_DELETE"))
        record = client.get("/api/requests/a", headers=admin_headers).json
        assert record["state"] == "completed"
        assert [t["to"] for t in record["transitions"]] == ["sent", "callback_received", "completed"]
        assert [c["verdict"] for c in record["callbacks"]] == ["accepted"]
        assert record["authorisingCallbackId"] == record["callbacks"][0]["id"]
        assert record["transitions"][2]["callbackId"] == record["callbacks"][0]["id"]
        assert record["callbacks"][0]["jwt"]["verdict"] == "passed"
        assert record["completedAt"] is not None

    def test_an_unknown_id_is_404(self, client, admin_headers):
        response = client.get("/api/requests/none", headers=admin_headers)
        assert response.status_code == 404
        assert response.json["errors"][0]["code"] == 20
