"""The test client's contract check: a response the OpenAPI document does not describe fails the test."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import openapi
from infra.localcloud.contract import Contract, ContractViolation, committed

JSON = "application/json"
ERROR = {"content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}, "description": "an error"}
DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {
        "/things/{thing_id}": {
            "get": {"responses": {
                "200": {"description": "the thing",
                        "content": {JSON: {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                "404": ERROR,
            }},
            "delete": {"responses": {"204": {"description": "gone"}}},
        },
        "/things/special": {"get": {"responses": {
            "200": {"description": "a list", "content": {JSON: {"schema": {
                "type": "array", "items": {"$ref": "#/components/schemas/Thing"}}}}}}}},
    },
    "components": {"schemas": {
        "Thing": {"type": "object", "properties": {"name": {"type": "string"}, "made": {"format": "date",
                                                                                     "type": "string"}},
                  "required": ["name"]},
        "Error": openapi.ERROR_SCHEMAS["Error"],
    }},
}


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


@pytest.fixture
def contract() -> Contract:
    return Contract(DOCUMENT)


def test_a_documented_status_with_a_matching_body_passes(contract: Contract) -> None:
    contract.check("GET", "/things/t1", 200, JSON, body({"name": "rose", "made": "2026-12-02"}))
    contract.check("GET", "/things/t1?expand=all", 404, JSON, body({"error": {"code": "not_found",
                                                                               "message": "no such thing"}}))
    contract.check("DELETE", "/things/t1", 204, None, b"")
    contract.check("GET", "/things/special", 200, "application/json; charset=utf-8", body([{"name": "a"}]))


def test_an_undocumented_status_is_refused_naming_the_request_and_what_is_documented(contract: Contract) -> None:
    with pytest.raises(ContractViolation) as refused:
        contract.check("GET", "/things/t1", 409, JSON, body({"error": {"code": "conflict", "message": "x"}}))
    assert str(refused.value) == ("GET /things/t1 answered 409: 409 is not documented for GET /things/{thing_id} "
                                  "(documented: 200, 404)")


def test_a_body_that_does_not_match_its_schema_is_refused_naming_where(contract: Contract) -> None:
    with pytest.raises(ContractViolation, match=r"GET /things/t1 answered 200: the body does not match the schema "
                                                r"documented for GET /things/\{thing_id\} 200: at \['name'\]: "
                                                r"1 is not of type 'string'"):
        contract.check("GET", "/things/t1", 200, JSON, body({"name": 1}))
    with pytest.raises(ContractViolation, match=r"at \[0\]: 'name' is a required property"):
        contract.check("GET", "/things/special", 200, JSON, body([{}]))
    with pytest.raises(ContractViolation, match="is not a 'date'"):
        contract.check("GET", "/things/t1", 200, JSON, body({"name": "rose", "made": "yesterday"}))
    # Powertools' default 422 shape is not the API's error shape.
    with pytest.raises(ContractViolation, match="Additional properties are not allowed"):
        contract.check("GET", "/things/t1", 404, JSON, body({"error": {"code": "x", "message": "y"}, "detail": []}))


def test_a_missing_or_unexpected_body_is_refused(contract: Contract) -> None:
    with pytest.raises(ContractViolation, match="no body, but application/json is documented"):
        contract.check("GET", "/things/t1", 200, JSON, b"")
    with pytest.raises(ContractViolation, match="a application/json body, but no body is documented"):
        contract.check("DELETE", "/things/t1", 204, JSON, b"null")
    with pytest.raises(ContractViolation, match="the body is not JSON"):
        contract.check("GET", "/things/t1", 200, JSON, b"<html>")


def test_outside_the_operations_only_the_gateway_s_404_and_405_are_right(contract: Contract) -> None:
    not_found = body({"error": {"code": "not_found", "message": "no route GET /nothing"}})
    contract.check("GET", "/nothing", 404, JSON, not_found)
    contract.check("PUT", "/things/t1", 405, JSON, body({"error": {"code": "method_not_allowed",
                                                                   "message": "GET, DELETE"}}))
    with pytest.raises(ContractViolation, match=r"GET /nothing answered 200: no operation in openapi\.json serves it"):
        contract.check("GET", "/nothing", 200, JSON, body({}))
    with pytest.raises(ContractViolation, match="the body does not match"):
        contract.check("GET", "/nothing", 404, JSON, body({"message": "Missing Authentication Token"}))


def test_the_local_cloud_s_own_pages_and_preflights_are_not_the_api(contract: Contract) -> None:
    contract.check("GET", "/docs", 200, "text/html", b"<html>")
    contract.check("GET", "/openapi.json", 200, JSON, body({}))
    contract.check("GET", "/_local/emails", 200, JSON, body([]))
    contract.check("OPTIONS", "/things/t1", 200, None, b"")


def test_the_committed_document_refuses_what_the_api_must_not_answer() -> None:
    api = committed()
    assert api is committed()  # loaded once per process
    conflict = body({"error": {"code": "conflict", "message": "the order is VOID, not PENDING"}})
    api.check("POST", "/orders/o1/confirm", 409, JSON, conflict)
    api.check("GET", "/company", 401, JSON, body({"message": "Unauthorized"}))  # API Gateway's
    api.check("GET", "/company", 401, JSON, body({"error": {"code": "unauthorized",  # the function's
                                                             "message": "the token names no company"}}))
    with pytest.raises(ContractViolation, match="409 is not documented for GET /availability"):
        api.check("GET", "/availability", 409, JSON, conflict)
    with pytest.raises(ContractViolation, match="the body does not match"):
        api.check("PATCH", "/inventory/l1", 422, JSON, body({"detail": [{"loc": ["body"], "msg": "x",
                                                                          "type": "missing"}]}))
