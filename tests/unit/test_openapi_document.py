"""The committed OpenAPI document (docs/openapi.json, served at /docs) is the API the handlers serve."""

import json
from typing import Any

from infra import openapi


def test_the_committed_openapi_document_matches_the_handlers_and_the_template():
    # --strict: a route in the template the handlers don't serve (or the reverse), or two models
    # with one name, fails too.
    assert openapi.main(["--check", "--strict"]) == 0, "run `make openapi` and commit docs/openapi.json"


def committed() -> dict[str, Any]:
    return json.loads((openapi.REPO / "docs" / "openapi.json").read_text())


def operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{method.upper()} {path}": op for path, item in doc["paths"].items() for method, op in item.items()}


def test_every_operation_has_a_described_tag_from_its_path() -> None:
    doc = committed()
    described = {tag["name"] for tag in doc["tags"]}
    assert described == set(openapi.TAGS) and all(tag["description"] for tag in doc["tags"])
    tags = {name: op["tags"] for name, op in operations(doc).items()}
    assert set(map(tuple, tags.values())) == {(tag,) for tag in described}  # every tag used
    assert tags["GET /availability"] == ["availability"]
    assert tags["POST /connections/{connection_id}/accept"] == ["network"]
    assert tags["GET /purchase-orders/{po_id}"] == tags["POST /orders/{order_id}/confirm"] == ["orders"]


def test_every_operation_documents_the_errors_in_the_shape_the_api_answers_them() -> None:
    doc = committed()
    error, gateway = doc["components"]["schemas"]["Error"], doc["components"]["schemas"]["GatewayMessage"]
    assert error["required"] == ["error"] and error["properties"]["error"]["required"] == ["code", "message"]
    assert gateway["required"] == ["message"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]  # Powertools' default 422 is not ours

    def schema(op: dict[str, Any], status: str) -> Any:
        return op["responses"][status]["content"]["application/json"]["schema"]

    error_ref, gateway_ref = {"$ref": "#/components/schemas/Error"}, {"$ref": "#/components/schemas/GatewayMessage"}
    ops = operations(doc)
    for name, op in ops.items():
        # 401: API Gateway's for a missing or bad token, the function's for a token that names no company.
        assert schema(op, "401") == {"anyOf": [gateway_ref, error_ref]}, name
        assert schema(op, "403") == schema(op, "422") == error_ref, name
        assert schema(op, "502") == gateway_ref, name
    assert {"404", "409"} <= ops["PATCH /inventory/{line_id}"]["responses"].keys()
    assert "404" in ops["GET /orders/{order_id}"]["responses"] and "409" not in ops["GET /orders/{order_id}"][
        "responses"]
    assert not {"404", "409"} & ops["GET /inventory"]["responses"].keys()
    assert "404" in ops["GET /availability"]["responses"]  # the caller's company may not be set up
    assert "content" not in ops["DELETE /inventory/{line_id}"]["responses"]["204"]
