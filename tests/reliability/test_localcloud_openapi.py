"""The OpenAPI document: merged from the handlers' own resolvers, checked against the template."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from infra import openapi
from infra.localcloud.client import ApiClient
from infra.localcloud.contract import committed
from infra.localcloud.runtime import LocalCloud
from infra.localcloud.template import load

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "localcloud" / "template.yaml"


@pytest.fixture(scope="module")
def built() -> openapi.Built:
    tpl = load(FIXTURE)
    with openapi.function_environment(tpl):
        return openapi.build(tpl)


def test_every_routed_operation_is_documented_once_with_its_schemas(built: openapi.Built) -> None:
    doc = built.document
    assert doc["info"]["title"] == "K2K API"
    assert doc["paths"]["/things"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewThing"}
    assert {"NewThing", "Thing"} <= doc["components"]["schemas"].keys()
    assert set(doc["paths"]) == {"/things", "/things/special", "/things/{thing_id}",
                                 "/things/{thing_id}/copies", "/whoami", "/public", "/boom"}


def test_a_bearer_jwt_is_required_except_where_the_template_opens_the_route(built: openapi.Built) -> None:
    doc = built.document
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "The Cognito ID token (locally: python -m infra.localcloud.token)"}
    assert doc["security"] == [{"bearerAuth": []}]
    assert doc["paths"]["/public"]["get"]["security"] == []
    assert "security" not in doc["paths"]["/things/{thing_id}"]["get"]


def test_disagreements_between_template_and_handlers_are_reported(built: openapi.Built) -> None:
    unguarded = [p for p in built.problems if p.startswith("no roles for ")]
    assert sorted(p.split(":")[0] for p in unguarded) == [  # the fixture's routes are not K2K's: no row in
        "no roles for GET /boom", "no roles for GET /public", "no roles for GET /things/special",  # k2k.access
        "no roles for GET /things/{thing_id}", "no roles for GET /whoami", "no roles for POST /things",
        "no roles for POST /things/{thing_id}/copies"]
    assert [p for p in built.problems if p not in unguarded] == [
        "ApiFunction: the app serves GET /hidden but template.yaml routes no such request to it",
        f"EchoFunction: {FIXTURE.parent / 'functions/api/echo.py'} has Api events but no module-level "
        "`app` (a k2k.router Router or a Powertools REST resolver)",
        "no tag for /things: add it to TAGS",
        "no tag for /whoami: add it to TAGS",
        "no tag for /public: add it to TAGS",
        "no tag for /boom: add it to TAGS",
    ]
    assert "/hidden" not in built.document["paths"]
    assert built.errors == []


def test_errors_are_documented_by_route_kind_in_the_api_s_own_shapes(built: openapi.Built) -> None:
    paths = built.document["paths"]
    statuses = {f"{m.upper()} {p}": sorted(op["responses"]) for p, item in paths.items() for m, op in item.items()}
    # 413: every route's body is measured before it is read (k2k.api.handle), whatever its method;
    # 415: a route that reads a body refuses one that is neither JSON nor a form.
    assert statuses["GET /whoami"] == ["200", "401", "403", "413", "422", "502"]
    assert statuses["GET /things/{thing_id}"] == ["200", "401", "403", "404", "413", "422", "502"]
    assert statuses["POST /things"] == ["200", "401", "403", "404", "409", "413", "415", "422", "502"]
    assert statuses["GET /public"] == ["200", "401", "403", "413", "422", "502"]
    unauthorized = {p: item["get"]["responses"]["401"]["content"]["application/json"]["schema"]
                    for p, item in paths.items() if p in ("/public", "/whoami")}
    assert unauthorized == {  # an open route: only the function's 401, never API Gateway's
        "/public": {"$ref": "#/components/schemas/Error"},
        "/whoami": {"anyOf": [{"$ref": "#/components/schemas/GatewayMessage"}, {"$ref": "#/components/schemas/Error"}]},
    }
    not_found = paths["/things/{thing_id}"]["get"]["responses"]["404"]["content"]["application/json"]["schema"]
    assert not_found == {"$ref": "#/components/schemas/Error"}
    schemas = built.document["components"]["schemas"]
    assert {"Error", "GatewayMessage"} <= schemas.keys() and "HTTPValidationError" not in schemas
    assert paths["/things"]["post"]["tags"] == ["things"] and built.document["tags"] == []


def test_check_passes_on_a_fresh_file_and_fails_with_a_summary_after_a_change(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "openapi.json"
    args = ["--template", str(FIXTURE), "--output", str(output)]
    assert openapi.main(args) == 0
    written = output.read_text()
    assert written == json.dumps(json.loads(written), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert openapi.main([*args, "--check"]) == 0
    assert openapi.main([*args, "--check", "--strict"]) == 1  # the fixture's deliberate disagreements

    stale = json.loads(written)
    del stale["paths"]["/boom"]
    stale["paths"]["/gone"] = {"get": {"responses": {}}}
    stale["components"]["schemas"]["Thing"]["title"] = "Old"
    output.write_text(json.dumps(stale))
    capsys.readouterr()
    assert openapi.main([*args, "--check"]) == 1
    err = capsys.readouterr().err
    assert "is out of date" in err
    assert "+ GET /boom" in err and "- GET /gone" in err and "~ schema Thing" in err


def test_the_application_documents_itself_offline_with_the_committed_document(cloud: LocalCloud) -> None:
    anonymous = ApiClient(cloud.base_url)
    page = anonymous.get("/docs")
    assert page.status == 200 and "/docs/swagger-ui-bundle.min.js" in page.text and "cdn" not in page.text.lower()
    assert anonymous.get("/docs/swagger-ui-bundle.min.js").status == 200
    assert anonymous.get("/docs/swagger-ui.min.css").status == 200
    served = anonymous.get("/openapi.json").json()
    assert served == {**committed().document, "servers": [{"url": cloud.base_url, "description": "local cloud"}]}


def test_errors_reach_a_client_in_the_shapes_the_document_gives_them(api: Callable[..., ApiClient]) -> None:
    # The client checks each answer against docs/openapi.json: a status or a shape the document does
    # not give would raise here, before any assert.
    nobody_id = f"nobody-{uuid.uuid4().hex[:6]}"  # a company no one has set up
    nobody = api(nobody_id, "Admin")
    assert nobody.get("/company").json()["error"]["code"] == "not_found"
    assert nobody.get("/inventory/no-such-line").status == 404
    assert api(nobody_id, "Salesperson").post("/inventory/resync", json={}).json()["error"]["code"] == "forbidden"
    invalid = nobody.patch("/inventory/no-such-line", json={"price": "a lot"}).json()["error"]
    assert (invalid["code"], invalid["details"][0]["field"]) == ("invalid", "body.price")
    assert nobody.delete("/company").status == 405
    assert ApiClient(nobody.base_url, "not a token").get("/company").json() == {"message": "Unauthorized"}
