"""One OpenAPI document for the whole K2K API, generated from the handlers themselves.

Each function with Api events in template.yaml exposes a module-level `app`
(a k2k.router.Router: the one route table its Lambda answers from). Here, at
build time only, its routes are handed to a Powertools APIGatewayRestResolver
(`powertools_app`), whose OpenAPI generator writes each function's schema for
the routes the template gives that function; and all of them are merged into one document with
a bearer JWT (the Cognito ID token) required everywhere except on routes the
template opens with `Auth: {Authorizer: NONE}`. Committed as docs/openapi.json
so a change to the API shows up in review; CI runs --check.

Powertools documents only successes and its own 422; the error responses the
API really answers are added here, by one rule for every operation
(`error_responses`), in the shape k2k.api produces (`Error`) or API Gateway
does (`GatewayMessage`). Operations are grouped by tags from their path's first
segment (`TAGS`).

    python -m infra.openapi            # write docs/openapi.json
    python -m infra.openapi --check    # exit 1, with a summary, if the committed file differs
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from infra.localcloud import functions
from infra.localcloud.template import ApiRoute, FunctionSpec, Template, load

TITLE = "K2K API"
VERSION = "1.0.0"
SECURITY_SCHEME = "bearerAuth"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
WRITES = ("put", "post", "delete", "patch")
REPO = Path(__file__).resolve().parents[1]
REF = "#/components/schemas/"

# The tag of an operation is its path's first segment's, as this table names it.
TAGS: dict[str, tuple[str, ...]] = {
    "network": ("operator", "company", "vendors", "connections", "procurement-connections"),
    "accounts": ("customers", "customer-invoices"),
    "inventory": ("inventory", "products"),
    "availability": ("availability",),
    "carts": ("carts",),
    "prebooks": ("prebooks",),
    "orders": ("orders", "purchase-orders"),
    "staging": ("staging",),
    "invoices": ("invoices",),
    "reconciliation": ("reconciliation",),
    "imports": ("imports", "open-invoices", "pending-boxes"),
    "integrations": ("integrations",),
}
TAG_DESCRIPTIONS = {
    "network": "Companies, their vendors, and the K2K connections between a vendor and its buyers",
    "accounts": "Customers and what they owe: the receivables ledger, statements, payments, customer invoices "
                "(billed from staging, raised by hand, imported)",
    "inventory": "A vendor's open-market boxes, and why each connected buyer does or does not see a line",
    "availability": "A buyer's K2K availability, priced with its landed cost and suggested sale prices",
    "carts": "A buyer's web-shop carts: K2K stock held at once, released when the cart's timer expires",
    "prebooks": "A salesperson's prebooks with K2K lines, and the purchase orders they become",
    "orders": "One K2K deal seen from each side: the vendor's orders (confirm, void, delete lines) "
              "and the buyer's purchase orders",
    "staging": "Boxes a buyer expects and receives, under the vendor's box codes",
    "invoices": "The vendor's invoices to its K2K buyers (numbered without gaps, with a PDF)",
    "reconciliation": "The buyer's purchase orders held against the vendor's invoices: approve, send back, pay",
    "imports": "Data Import: Excel files dropped or uploaded become open invoices, open credits or inventory",
    "integrations": "Partner events: a company's K2K events to its webhook or its AWS account, failed deliveries, "
                    "the event catalogue and schemas, inventory sent in batches by a vendor's own system",
}
TAG_OF = {segment: tag for tag, segments in TAGS.items() for segment in segments}
# Reads that start from the caller's own company, which answers 404 until the operator has set it up.
OWN_COMPANY_READS = ("/company", "/availability")

ERROR_SCHEMAS: dict[str, Any] = {
    "Error": {
        "title": "Error",
        "description": "Every error the K2K functions answer (k2k.api): a stable code and a readable message",
        "type": "object",
        "properties": {"error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "examples": ["forbidden", "not_found", "conflict", "invalid"]},
                "message": {"type": "string"},
                "details": {"type": "array",
                            "items": {"type": "object", "properties": {"field": {"type": "string"},
                                                                       "message": {"type": "string"}}},
                            "description": "What is wrong, one item per problem: for invalid input the field "
                                           "(prefixed with where it was: body, query, path) and a message"},
            },
            "required": ["code", "message"],
            "additionalProperties": False,
        }},
        "required": ["error"],
        "additionalProperties": False,
    },
    "GatewayMessage": {
        "title": "GatewayMessage",
        "description": "An answer from API Gateway itself, before or instead of the function's",
        "type": "object",
        "properties": {"message": {"type": "string", "examples": ["Unauthorized", "Internal server error"]}},
        "required": ["message"],
        "additionalProperties": False,
    },
}


@dataclass
class Built:
    document: dict[str, Any]
    problems: list[str] = field(default_factory=list)  # routes the template and the handlers disagree on
    errors: list[str] = field(default_factory=list)  # handlers that did not load: the document is partial


def build(tpl: Template) -> Built:
    """Merge every API function's schema. Needs the functions' environment (see `function_environment`)."""
    owners: dict[Path, FunctionSpec] = {}
    routes: dict[Path, list[ApiRoute]] = defaultdict(list)
    for fn in tpl.functions.values():
        if fn.api:
            owners.setdefault(fn.module_file, fn)
            routes[fn.module_file] += fn.api
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    problems: list[str] = []
    errors: list[str] = []
    openapi_version = "3.1.0"
    for file, spec in owners.items():
        try:
            module = functions.load_module(spec)
        except Exception as e:
            errors.append(f"{spec.logical_id}: {file} does not load: {e!r}")
            continue
        app: Any = getattr(module, "app", None)
        if hasattr(app, "get_openapi_json_schema"):
            documented = app  # a Powertools REST resolver: the local cloud documents any SAM application's API
        elif hasattr(app, "routes"):
            documented = powertools_app(app.routes)
        else:
            problems.append(f"{spec.logical_id}: {file} has Api events but no module-level `app` "
                            "(a k2k.router Router or a Powertools REST resolver)")
            continue
        doc = json.loads(documented.get_openapi_json_schema(title=TITLE, version=VERSION))
        openapi_version = doc.get("openapi", openapi_version)
        wanted = {(r.path, r.method.lower()): r for r in routes[file]}
        served = set()
        for path, item in (doc.get("paths") or {}).items():
            for method, operation in item.items():
                if method not in HTTP_METHODS:
                    continue
                route = wanted.get((path, method)) or wanted.get((path, "any"))
                if route is None:
                    problems.append(f"{spec.logical_id}: the app serves {method.upper()} {path} "
                                    "but template.yaml routes no such request to it")
                    continue
                served.add((path, method))
                if route.authorizer is None:
                    operation["security"] = []
                paths.setdefault(path, {})[method] = operation
        for (path, method), route in sorted(wanted.items()):
            if method != "any" and (path, method) not in served:
                problems.append(f"{route.function}: template.yaml routes {method.upper()} {path} "
                                "to it but its app has no such route (it would answer 404)")
        for name, schema in ((doc.get("components") or {}).get("schemas") or {}).items():
            if name in schemas and schemas[name] != schema:
                problems.append(f"schema {name} differs between handlers; the document keeps the first")
                continue
            schemas[name] = schema
    problems += describe(paths)
    document: dict[str, Any] = {
        "openapi": openapi_version,
        "info": {"title": TITLE, "version": VERSION,
                 "description": " ".join(str(tpl.raw.get("Description", "")).split())},
        "tags": [{"name": tag, "description": TAG_DESCRIPTIONS[tag]} for tag in TAGS
                 if any(tag in op["tags"] for item in paths.values() for op in item.values())],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": local_times(referenced({**schemas, **ERROR_SCHEMAS}, paths)),
            "securitySchemes": {SECURITY_SCHEME: {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "The Cognito ID token (locally: python -m infra.localcloud.token)",
            }},
        },
        "security": [{SECURITY_SCHEME: []}],
    }
    return Built(document, problems, errors)


def powertools_app(routes: list[Any]) -> Any:
    """A Powertools REST resolver with these k2k.router routes, for its OpenAPI generator only: each handler is
    stood in for by a function of the same name and signature whose k2k.router markers (Path, Query, Body)
    are Powertools' own, so the document says what the router binds and validates."""
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    app = APIGatewayRestResolver(enable_validation=True)
    for route in routes:
        app.route(route.rule, route.method, status_code=route.status_code, **route.openapi)(documented(route.func))
    return app


def documented(func: Any) -> Any:
    """A stand-in for `func` with Powertools' parameter markers in its signature (never called)."""
    import inspect
    import typing

    from aws_lambda_powertools.event_handler.openapi import params

    from k2k import router

    kinds = {router.Path: params.Path, router.Query: params.Query, router.Body: params.Body}
    hints = typing.get_type_hints(func, include_extras=True)

    def powertools(annotation: Any) -> Any:
        if typing.get_origin(annotation) is not typing.Annotated:
            return annotation
        base, *metadata = typing.get_args(annotation)
        return typing.Annotated[(base, *(kinds[type(m)](**m.options) if isinstance(m, router.Param) else m
                                         for m in metadata))]

    signature = inspect.signature(func)
    parameters = [p.replace(annotation=powertools(hints.get(p.name, p.annotation)))
                  for p in signature.parameters.values()]

    def stand_in(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("documentation only")

    stand_in.__name__, stand_in.__qualname__, stand_in.__doc__ = func.__name__, func.__qualname__, func.__doc__
    stand_in.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=hints.get("return", signature.return_annotation))
    return stand_in


def describe(paths: dict[str, dict[str, Any]]) -> list[str]:
    """Give every operation its tag, the roles that may call it and its error responses; say which path
    segments no tag names and which operations k2k.access names no roles for."""
    untagged: list[str] = []
    unguarded: list[str] = []
    access: ModuleType | None = None
    try:
        access = importlib.import_module("k2k.access")  # the layer, on the path in function_environment
    except ImportError:
        unguarded.append("k2k.access is not importable: no operation names its roles")
    idempotency = importlib.import_module("k2k.idempotency")  # the Idempotency-Key header on creates and commands
    for path, item in paths.items():
        segment = path.split("/")[1]
        if segment not in TAG_OF and segment not in untagged:
            untagged.append(segment)
        for method, operation in item.items():
            operation["tags"] = [TAG_OF.get(segment, segment)]
            roles = access.roles_for(method, path) if access else None
            if roles is not None:
                names = sorted(r.value for r in roles)
                operation["x-k2k-roles"] = names
                said = operation.get("description")
                operation["description"] = (f"{said}\n\n" if said else "") + f"Roles: {', '.join(names)}."
            elif access:
                unguarded.append(f"no roles for {method.upper()} {path}: add it to k2k.access.ROUTES "
                                 "(until then it answers 403 to everyone)")
            if idempotency.applies(method):  # creates and commands: a retry with the same key is safe
                operation["parameters"] = [*operation.get("parameters", []), idempotency.OPENAPI_PARAMETER]
            operation["responses"] = {**operation["responses"], **error_responses(path, method, operation)}
            operation["responses"].get("204", {}).pop("content", None)  # Powertools gives it a JSON null
    return [f"no tag for /{segment}: add it to TAGS" for segment in untagged] + unguarded


def error_responses(path: str, method: str, operation: dict[str, Any]) -> dict[str, Any]:
    """The errors an operation can answer, by kind of route (a route may never answer one its kind can).

    Every route: 401 for a missing or bad token (API Gateway's, unless the route is open) or one that
    names no company (the function's), 403 for roles that do not allow it, 422 for invalid input or a
    broken business rule, API Gateway's 502 when the function fails. A route with a path parameter can
    name what does not exist (404, which is also what another company's ids answer); a write can refer
    to what does not exist (404) and find its document changed or in another state (409); a few reads
    need the caller's company set up (404). Any request whose body is past the API's limit is refused
    before it is read (413, k2k.api.handle; past 10 MB, API Gateway's own 413); a route that reads a body
    refuses one of another type (415). A path parameter past its bound is a 422 like any invalid input.
    """
    write = method in WRITES
    lookup = "{" in path or write or path in OWN_COMPANY_READS
    error, gateway = {"$ref": REF + "Error"}, {"$ref": REF + "GatewayMessage"}
    unauthorized = (
        (error, "The token names no company") if operation.get("security") == [] else
        ({"anyOf": [gateway, error]}, "No token, or one that is not valid (API Gateway's Cognito authorizer: "
                                      "`message`); or a token that names no company (the function: `error`)"))
    found = [
        (401, *unauthorized, True),
        (403, error, "The caller's roles do not allow this", True),
        (404, error, "Not found, or owned by another company (never told apart)", lookup),
        (409, error, "Changed since it was read, or not in a state that allows this; read it again", write),
        (413, {"anyOf": [error, gateway]}, "The request body is too large (256 KB; a vendor invoice upload carries "
                                             "its PDF, up to 4 MB); refused before it is read. Past 10 MB, API "
                                             "Gateway refuses it itself (`message`)", True),
        (415, error, "The body is neither JSON nor a form", "requestBody" in operation),
        (422, error, "Invalid input, or a business rule refuses it; `details` names the fields", True),
        (502, gateway, "The function failed (API Gateway's answer)", True),
    ]
    return {str(status): {"description": description, "content": {"application/json": {"schema": schema}}}
            for status, schema, description, applies in found if applies}


def referenced(schemas: dict[str, Any], paths: dict[str, Any]) -> dict[str, Any]:
    """The schemas the operations use, directly or through each other (Powertools' own 422 ones are not)."""
    wanted: set[str] = set()
    todo = [paths]
    while todo:
        text = json.dumps(todo.pop())
        for name in re.findall(r'"' + re.escape(REF) + r'([^"]+)"', text):
            if name not in wanted and name in schemas:
                wanted.add(name)
                todo.append(schemas[name])
    return {name: schema for name, schema in schemas.items() if name in wanted}


def local_times(node: Any) -> Any:
    """pydantic says `format: time` for a time of day, which it writes without an offset ("14:00:00"):
    that is RFC 3339's partial-time, not the `time` format of JSON Schema (which requires one)."""
    if isinstance(node, dict):
        out = {k: local_times(v) for k, v in node.items()}
        if out.get("format") == "time":
            out["format"] = "partial-time"
        return out
    if isinstance(node, list):
        return [local_times(v) for v in node]
    return node


@contextmanager
def function_environment(tpl: Template) -> Iterator[None]:
    """The environment handlers import under: the template's variables and a fake AWS identity."""
    from infra.localcloud.runtime import FAKE_AWS_ENV

    values = {**FAKE_AWS_ENV, **functions.shared_environment(tpl)}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    functions.add_to_path(tpl.layer_paths)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed, as a reviewer would say it: operations and schemas added, removed or changed."""
    out = []

    def operations(doc: dict[str, Any]) -> dict[str, Any]:
        return {f"{m.upper()} {p}": op for p, item in (doc.get("paths") or {}).items()
                for m, op in item.items() if m in HTTP_METHODS}

    def schemas(doc: dict[str, Any]) -> dict[str, Any]:
        return {f"schema {k}": v for k, v in ((doc.get("components") or {}).get("schemas") or {}).items()}

    for pick in (operations, schemas):
        before, after = pick(old), pick(new)
        out += [f"+ {k}" for k in sorted(after.keys() - before.keys())]
        out += [f"- {k}" for k in sorted(before.keys() - after.keys())]
        out += [f"~ {k}" for k in sorted(before.keys() & after.keys()) if before[k] != after[k]]
    rest = sorted(k for k in old.keys() | new.keys()
                  if k not in ("paths", "components") and old.get(k) != new.get(k))
    out += [f"~ {k}" for k in rest]
    if not out and old != new:
        out.append("~ components")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.openapi", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed file instead of writing it")
    parser.add_argument("--strict", action="store_true", help="also fail when template and handlers disagree")
    parser.add_argument("--template", default=str(REPO / "template.yaml"))
    parser.add_argument("--output", help="default: docs/openapi.json next to the template")
    args = parser.parse_args(argv)
    tpl = load(args.template)
    output = Path(args.output) if args.output else tpl.root / "docs" / "openapi.json"
    with function_environment(tpl):
        built = build(tpl)
    for problem in built.problems:
        print(f"warning: {problem}", file=sys.stderr)
    for error in built.errors:
        print(f"error: {error}", file=sys.stderr)
    failed = bool(built.errors) or (bool(built.problems) and args.strict)
    if args.check:
        committed = json.loads(output.read_text()) if output.is_file() else {}
        if render(committed) != render(built.document):
            print(f"{output} is out of date; run `python -m infra.openapi` and commit it:", file=sys.stderr)
            for line in differences(committed, built.document):
                print(f"  {line}", file=sys.stderr)
            return 1
        print(f"{output} is up to date")
        return 1 if failed else 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(built.document))
    print(f"wrote {output} ({sum(len(v) for v in built.document['paths'].values())} operations)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
