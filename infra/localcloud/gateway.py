"""The local API Gateway: HTTP requests in, REST proxy (v1) events to the owning function, responses out.

Routes and their authorizers come from the template's Api events. Like the REST
API with its Cognito authorizer it answers 401 `{"message": "Unauthorized"}`
for a missing or bad token without calling the function, 413 `{"message":
"Request Too Long"}` for a body over its 10 MB payload limit (the REQUEST_TOO_LARGE
gateway response, which API Gateway does not let anyone customise), and 502 when
the function fails. Unlike it, a path that is no route answers 404 and a route
asked with a method it does not have answers 405 (with Allow), both in the
project's error shape naming what was asked: API Gateway's 403 "Missing
Authentication Token" for both sends everyone looking for a token problem.
It also serves the Swagger UI at /docs (assets bundled with Powertools, no
CDN), the OpenAPI document at /openapi.json, and whatever `helpers` answers
under /_local/ (infra/localcloud/devtools.py: never part of the template).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from infra.localcloud import tokens
from infra.localcloud.faults import SimulatedCrash
from infra.localcloud.template import ACCOUNT_ID, ApiRoute

log = logging.getLogger("localcloud.gateway")

ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
CORS_ALLOW_HEADERS = ("Authorization,Content-Type,X-Amz-Date,X-Api-Key,X-Amz-Security-Token,X-Correlation-Id,"
                      "Idempotency-Key")
SWAGGER_ASSETS = ("swagger-ui-bundle.min.js", "swagger-ui.min.css")
LOCAL_PREFIX = "/_local/"  # no product route starts with an underscore
# API Gateway (REST) takes request payloads up to 10 MB and answers 413 past that, before routing.
MAX_PAYLOAD_BYTES = 10 * 2**20
# Cognito claims that API Gateway renders as dates rather than numbers.
DATE_CLAIMS = ("exp", "iat", "auth_time")

Invoke = Callable[[str, dict[str, Any]], Any]
Helpers = Callable[[Request], Response]


@dataclass(frozen=True)
class _Resource:
    """One API Gateway resource path and the routes (one per method) on it."""

    path: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    rank: tuple[int, ...]  # per segment: 0 literal, 1 {param}, 2 {proxy+}; lower is more specific
    routes: dict[str, ApiRoute]

    def params(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        return None if found is None else dict(zip(self.names, found.groups(), strict=True))

    def route(self, method: str) -> ApiRoute | None:
        return self.routes.get(method) or self.routes.get("ANY")

    def methods(self) -> list[str]:
        return sorted(set(ALL_METHODS) if "ANY" in self.routes else {*self.routes, "OPTIONS"})


def compile_resources(routes: Iterable[ApiRoute]) -> list[_Resource]:
    by_path: dict[str, dict[str, ApiRoute]] = {}
    for route in routes:
        by_path.setdefault(route.path, {})[route.method] = route
    resources = []
    for path, methods in by_path.items():
        parts, names, rank = [], [], []
        for segment in [s for s in path.split("/") if s]:
            greedy = re.fullmatch(r"\{(.+)\+\}", segment)
            param = re.fullmatch(r"\{(.+)\}", segment)
            if greedy:
                parts.append("(.+)")
                names.append(greedy.group(1))
                rank.append(2)
            elif param:
                parts.append("([^/]+)")
                names.append(param.group(1))
                rank.append(1)
            else:
                parts.append(re.escape(segment))
                rank.append(0)
        pattern = re.compile("/" + "/".join(parts))
        resources.append(_Resource(path, pattern, tuple(names), tuple(rank), methods))
    return resources


class Gateway:
    """A WSGI app for the template's API, and the thread that serves it."""

    def __init__(self, routes: Iterable[ApiRoute], invoke: Invoke, *, stage: str,
                 openapi: Callable[[], dict[str, Any] | None] = lambda: None,
                 binary_media_types: Iterable[str] = ()) -> None:
        self.resources = compile_resources(routes)
        self.invoke = invoke
        self.stage = stage
        self.openapi = openapi
        self.binary_media_types = tuple(binary_media_types)
        self.base_url = ""
        self.helpers: Helpers | None = None  # answers every request under LOCAL_PREFIX when set
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- serving
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = make_server(host, port, self, threaded=True, request_handler=_QuietHandler)
        self.base_url = f"http://{host}:{self._server.server_port}"
        # A short poll interval: shutdown() waits for it, and tests start and stop a gateway each.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="localcloud-gateway", daemon=True)
        self._thread.start()
        return self.base_url

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.handle(Request(environ))(environ, start_response)

    # -- routing
    def match(self, path: str) -> tuple[_Resource, dict[str, str]] | None:
        found = [(r, p) for r in self.resources if (p := r.params(path)) is not None]
        return min(found, key=lambda rp: rp[0].rank) if found else None

    def handle(self, request: Request) -> Response:
        if self.helpers is not None and request.path.startswith(LOCAL_PREFIX):
            return self.helpers(request)
        local = self._local(request)
        if local is not None:
            return local
        if _too_long(request):
            return _gateway_error(413, "Request Too Long")
        matched = self.match(request.path)
        method = request.method.upper()
        if matched is None:
            return not_found(method, request.path)
        route = matched[0].route(method)
        if route is None and method == "OPTIONS":
            return self._preflight(request, matched[0])
        if route is None:
            return method_not_allowed(method, request.path, matched[0].methods())
        claims = None
        if route.authorizer is not None:
            claims = self._authorize(request)
            if claims is None:
                return _gateway_error(401, "Unauthorized", "UnauthorizedException")
        event = self.event(request, route, matched[1], claims)
        try:
            result = self.invoke(route.function, event)
        except (Exception, SimulatedCrash) as e:  # any function failure is a 502, as in API Gateway
            log.warning("%s failed on %s %s: %r", route.function, method, request.path, e,
                        exc_info=not isinstance(e, SimulatedCrash))
            return _gateway_error(502, "Internal server error")
        return self._response(route, result)

    def _authorize(self, request: Request) -> dict[str, str] | None:
        header = request.headers.get("Authorization", "").strip()
        token = header[7:].strip() if header.lower().startswith("bearer ") else header
        if not token:
            return None
        try:
            return api_gateway_claims(tokens.verify(token))
        except tokens.InvalidToken as e:
            log.info("rejected token: %s", e)
            return None

    # -- the proxy event
    def event(self, request: Request, route: ApiRoute, params: dict[str, str],
              claims: dict[str, str] | None) -> dict[str, Any]:
        headers = {k: v for k, v in request.headers.items()}
        multi_headers: dict[str, list[str]] = {}
        for key, value in request.headers.items():
            multi_headers.setdefault(key, []).append(value)
        query = {k: request.args.getlist(k)[-1] for k in request.args}
        multi_query = {k: request.args.getlist(k) for k in request.args}
        raw = request.get_data()
        body, is_b64 = self._body(raw, request.content_type or "")
        now = time.time()
        request_id = str(uuid.uuid4())
        context: dict[str, Any] = {
            "accountId": ACCOUNT_ID,
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": route.path,
            "httpMethod": request.method.upper(),
            "path": f"/{self.stage}{request.path}",
            "stage": self.stage,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now * 1000),
            "domainName": request.host,
            "identity": {"sourceIp": request.remote_addr or "127.0.0.1",
                         "userAgent": request.headers.get("User-Agent")},
            # Open routes carry no claims; an empty authorizer lets a handler refuse them cleanly.
            "authorizer": {"claims": claims} if claims is not None else {},
        }
        return {
            "resource": route.path,
            "path": request.path,
            "httpMethod": request.method.upper(),
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": context,
            "body": body,
            "isBase64Encoded": is_b64,
        }

    def _body(self, raw: bytes, content_type: str) -> tuple[str | None, bool]:
        if not raw:
            return None, False
        mime = content_type.split(";")[0].strip().lower()
        binary = any(_mime_matches(t, mime) for t in self.binary_media_types)
        if not binary:
            try:
                return raw.decode("utf-8"), False
            except UnicodeDecodeError:
                pass
        return base64.b64encode(raw).decode(), True

    def _response(self, route: ApiRoute, result: Any) -> Response:
        if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
            log.error("%s returned no proxy response (statusCode, headers, body): %r", route.function, result)
            return _gateway_error(502, "Internal server error")
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        headers = Headers()
        for key, value in (result.get("headers") or {}).items():
            headers[key] = str(value)
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers.remove(key)
            for value in values:
                headers.add(key, str(value))
        headers.setdefault("Content-Type", "application/json")
        return Response(data, status=result["statusCode"], headers=headers)

    def _preflight(self, request: Request, resource: _Resource) -> Response:
        response = Response(b"", status=200)
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Methods"] = ",".join(resource.methods())
        response.headers["Access-Control-Allow-Headers"] = (
            request.headers.get("Access-Control-Request-Headers") or CORS_ALLOW_HEADERS)
        response.headers["Access-Control-Max-Age"] = "600"
        return response

    # -- /docs and /openapi.json
    def _local(self, request: Request) -> Response | None:
        if request.method != "GET":
            return None
        wants_json = request.path == "/docs" and request.args.get("format") == "json"  # Swagger UI asks so
        if request.path == "/openapi.json" or wants_json:
            spec = self._spec()
            if spec is None:
                return _json(404, {"message": "no OpenAPI document: run python -m infra.openapi"})
            return _json(200, spec)
        if request.path == "/docs":
            return Response(self._docs_html(), content_type="text/html; charset=utf-8")
        asset = request.path.removeprefix("/docs/")
        if request.path.startswith("/docs/") and asset in SWAGGER_ASSETS:
            folder = swagger_ui_folder()
            if folder is None:
                return _json(404, {"message": "aws_lambda_powertools' swagger UI is not installed"})
            kind = "application/javascript" if asset.endswith(".js") else "text/css"
            return Response((folder / asset).read_bytes(), content_type=f"{kind}; charset=utf-8")
        return None

    def _spec(self) -> dict[str, Any] | None:
        spec = self.openapi()
        if spec is None:
            return None
        return {**spec, "servers": [{"url": self.base_url, "description": "local cloud"}]}

    def _docs_html(self) -> str:
        spec = json.dumps(self._spec() or {"openapi": "3.0.3", "info": {"title": "K2K API", "version": "-"},
                                            "paths": {}})
        if swagger_ui_folder() is None:
            return "<p>No Swagger UI here; the document is at <a href='/openapi.json'>/openapi.json</a></p>"
        from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

        return generate_swagger_html(spec, f"/docs/{SWAGGER_ASSETS[0]}", f"/docs/{SWAGGER_ASSETS[1]}",
                                     "/docs", None, persist_authorization=True)


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to the localcloud.gateway logger (shown by `make run`, captured by pytest)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.info('%s "%s" %s', self.address_string(), self.requestline, code)

    def log(self, type: str, message: str, *args: Any) -> None:
        getattr(log, type if type in ("info", "warning", "error") else "info")(message, *args)


def swagger_ui_folder() -> Path | None:
    found = importlib.util.find_spec("aws_lambda_powertools")
    if found is None or not found.submodule_search_locations:
        return None
    folder = Path(next(iter(found.submodule_search_locations))) / "event_handler/openapi/swagger_ui"
    return folder if all((folder / a).is_file() for a in SWAGGER_ASSETS) else None


def api_gateway_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as the REST API's Cognito authorizer passes them: all strings, groups comma-joined."""
    out = {}
    for key, value in claims.items():
        if isinstance(value, list):
            out[key] = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif key in DATE_CLAIMS and isinstance(value, int | float):
            out[key] = datetime.fromtimestamp(value, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
        else:
            out[key] = str(value)
    return out


def _too_long(request: Request) -> bool:
    """Whether the body is past API Gateway's payload limit: by its Content-Length, never read, or (a
    chunked body) as soon as reading passes the limit."""
    request.max_content_length = MAX_PAYLOAD_BYTES
    try:
        request.get_data()  # kept: the event reads it again
    except RequestEntityTooLarge:
        return True
    return False


def _mime_matches(pattern: str, mime: str) -> bool:
    pattern = pattern.replace("~1", "/").lower()
    return pattern == "*/*" or pattern == mime or (pattern.endswith("/*") and mime.startswith(pattern[:-1]))


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def error(status: int, code: str, message: str) -> Response:
    """A local answer in the project's error shape (k2k.api)."""
    return _json(status, {"error": {"code": code, "message": message}})


def not_found(method: str, path: str) -> Response:
    return error(404, "not_found", f"no route {method} {path}: the API's routes are at /docs")


def method_not_allowed(method: str, path: str, allowed: Iterable[str]) -> Response:
    allow = ", ".join(allowed)
    response = error(405, "method_not_allowed", f"{path} does not take {method}; it takes {allow}")
    response.headers["Allow"] = allow
    return response


def _gateway_error(status: int, message: str, error_type: str | None = None) -> Response:
    response = _json(status, {"message": message})
    if error_type:
        response.headers["x-amzn-ErrorType"] = error_type
    return response
