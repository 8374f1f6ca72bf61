"""The REST router (k2k.router): what it answers, and that it serves exactly the committed OpenAPI document.

The document is generated from the routers' own route tables (infra/openapi.py hands them to Powertools at
build time), so the two cannot list different routes; what could drift is the runtime side: the path matching
and the parameters each route binds. Those are checked here against docs/openapi.json."""

import json
import re
from typing import Annotated, Any

import pytest

from infra import openapi
from infra.localcloud import functions
from infra.localcloud.template import load
from k2k import bounds
from k2k.api import CORS, IdPath, Limit, NextToken, create_resolver, handle
from k2k.models import Model
from k2k.router import Body, Query, Response, Router

DOCUMENT = json.loads((openapi.REPO / "docs" / "openapi.json").read_text())
TEMPLATE = load(openapi.REPO / "template.yaml")


@pytest.fixture(scope="module")
def routers() -> dict[tuple[str, str], Router]:
    """Each API function's router, by the (method, path) the template sends to it."""
    out = {}
    with openapi.function_environment(TEMPLATE):
        for fn in TEMPLATE.functions.values():
            if fn.api:
                app = functions.load_module(fn).app
                out.update({(r.method.upper(), r.path): app for r in fn.api})
    return out


def documented() -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in DOCUMENT["paths"].items() for method, op in item.items()]


def test_every_documented_operation_routes_and_binds_the_parameters_it_documents(routers) -> None:
    for method, path, operation in documented():
        concrete = re.sub(r"\{(\w+)\}", lambda m: f"x-{m[1]}", path)  # a value for each path parameter
        found = routers[(method, path)].match(method, concrete)
        assert found is not None, f"{method} {path} is documented but its function's router does not route it"
        route, args = found
        assert route.path == path and set(args) == set(re.findall(r"\{(\w+)\}", path))
        bound = {(p.where, p.alias, p.required) for p in route.params if p.where != "body"}
        said = {(p["in"], p["name"], p.get("required", False)) for p in operation.get("parameters", [])
                if p["in"] != "header"}  # the Idempotency-Key header is k2k.idempotency's, before the route
        assert bound == said, f"{method} {path}"
        body = [p.required for p in route.params if p.where == "body"]
        request_body = operation.get("requestBody")
        assert body == ([request_body.get("required", False)] if request_body else []), f"{method} {path}"


def test_every_route_of_every_router_is_documented(routers) -> None:
    operations = {(method, path) for method, path, _ in documented()}
    for app in set(routers.values()):
        for route in app.routes:
            assert (route.method, route.path) in operations, f"{route.method} {route.path} is not documented"


# -- what the router answers ---------------------------------------------------------------------

class Thing(bounds.Input):
    name: bounds.Code
    boxes: int


def things() -> Router:
    app = create_resolver()

    @app.post("/things/<thing_id>", status_code=201)
    def make(thing_id: IdPath, body: Thing, limit: Limit = 50, next_token: NextToken = None,
             when: Annotated[str | None, Query(alias="from", max_length=3)] = None) -> dict[str, Any]:
        return {"id": thing_id, "name": body.name, "limit": limit, "from": when}

    @app.put("/things/<thing_id>/note")
    def note(thing_id: IdPath, body: Annotated[Thing | None, Body()] = None) -> Model:
        return Model()

    @app.delete("/things/<thing_id>", status_code=204)
    def remove(thing_id: IdPath) -> None:
        return None

    @app.get("/teapot")
    def teapot() -> Response:
        return Response(418, "text/plain", "short and stout")

    return app


def call(app: Router, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, list[str]]]:
    event = {"httpMethod": method, "path": path, "resource": path, "headers": headers or {},
             "queryStringParameters": query,
             "body": body if isinstance(body, str) or body is None else json.dumps(body),
             "requestContext": {"requestId": "r1", "authorizer": {"claims": {
                 "sub": "u1", "custom:company_id": "bloom", "cognito:groups": "Admin"}}}}
    out = app.resolve(event, None)
    text = out["body"]
    return out["statusCode"], json.loads(text) if text and text[0] in "{[n" else text, out["multiValueHeaders"]


def test_a_route_binds_path_query_and_body_validated() -> None:
    status, body, headers = call(things(), "POST", "/things/t1/", {"name": "FR50", "boxes": 2}, {"from": "abc"})
    assert status == 201 and body == {"id": "t1", "name": "FR50", "limit": 50, "from": "abc"}
    assert headers["Content-Type"] == ["application/json"]


def test_every_invalid_part_is_named_where_it_is_in_one_422() -> None:
    status, body, _ = call(things(), "POST", "/things/" + "x" * 200, {"name": "FR50", "boxes": "two", "extra": 1},
                           {"limit": "0", "from": "abcd"})
    assert status == 422 and body["error"]["code"] == "invalid"
    assert [d["field"] for d in body["error"]["details"]] == [
        "path.thing_id", "query.limit", "query.from", "body.boxes", "body.extra"]
    assert call(things(), "POST", "/things/t1", None)[1]["error"]["details"] == [
        {"field": "body", "message": "required"}]
    assert call(things(), "POST", "/things/t1", "{not json")[1]["error"]["details"] == [
        {"field": "body", "message": "is not valid JSON"}]


def test_an_optional_body_may_be_left_out_and_a_body_of_another_type_is_415() -> None:
    assert call(things(), "PUT", "/things/t1/note")[0] == 200
    status, body, _ = call(things(), "POST", "/things/t1", "name: FR50", headers={"Content-Type": "text/plain"})
    assert status == 415 and body["error"]["code"] == "unsupported_media_type"


def test_an_unknown_route_or_method_is_the_api_s_404_and_a_preflight_is_answered() -> None:
    for method, path in (("GET", "/nothing"), ("GET", "/things/t1"), ("POST", "/things/a/b"),
                         ("DELETE", "/things/a#b")):  # a character no path parameter takes
        status, body, _ = call(things(), method, path)
        assert (status, body) == (404, {"error": {"code": "not_found", "message": "not found"}})
    status, body, headers = call(things(), "OPTIONS", "/things/t1", headers={"Origin": "https://shop.example"})
    assert status == 204 and body == ""
    assert headers["Access-Control-Allow-Methods"] == ["DELETE,GET,OPTIONS,POST,PUT"]
    assert headers["Access-Control-Allow-Origin"] == ["*"]
    assert idempotency_header_allowed(headers)


def idempotency_header_allowed(headers: dict[str, list[str]]) -> bool:
    return "Idempotency-Key" in headers["Access-Control-Allow-Headers"][0].split(",")


def test_answers_are_serialized_by_their_annotation_or_given_as_they_are() -> None:
    status, body, _ = call(things(), "DELETE", "/things/t1")
    assert (status, body) == (204, None)
    status, body, headers = call(things(), "GET", "/teapot", headers={"origin": "https://shop.example"})
    assert (status, body, headers["Content-Type"]) == (418, "short and stout", ["text/plain"])
    assert headers["Access-Control-Expose-Headers"] == [",".join(CORS.expose_headers)]


def test_a_route_declared_twice_is_refused_at_import() -> None:
    app = things()
    with pytest.raises(ValueError, match="declared twice"):
        app.get("/teapot")(lambda: None)


def test_handle_answers_through_the_router_with_the_roles_checked_first() -> None:
    app = things()
    event = {"httpMethod": "GET", "path": "/staging", "resource": "/staging", "headers": {}, "body": None,
             "requestContext": {"requestId": "r1", "authorizer": {"claims": {"sub": "u1"}}}}
    assert handle(app, event, None)["statusCode"] == 401  # no company: refused before routing
