"""The REST router every API function uses: routes by method and path template, binds and validates the
request, and answers API Gateway's proxy format.

Why not Powertools' `APIGatewayRestResolver`: importing `aws_lambda_powertools.event_handler` loads AppSync,
asyncio and every event data class (~75 ms of a cold start), and its OpenAPI validation ~20 ms more, which
alone put an API handler at 1.5x the floor (issue 8). This module keeps the same decorator API
(`@app.get("/orders/<order_id>", status_code=..., summary=...)`) and the same behaviour: path, query and
body parameters bound from the handler's annotations and validated by pydantic (errors located as
`path.x`, `query.x`, `body.x`), the return value validated and serialized by its annotation, exception
handlers looked up by the exception's class, CORS headers and preflight, `multiValueHeaders` answers.

The route table is the one source of the API: `infra/openapi.py` hands it to Powertools at build time (a dev
dependency there) to write docs/openapi.json, and tests/unit/test_router.py proves that every documented
operation routes here and binds the parameters the document names.
"""

import base64
import inspect
import json
import re
import typing
from collections.abc import Callable
from contextvars import ContextVar
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, TypeVar, get_args, get_origin
from urllib.parse import parse_qs

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

F = TypeVar("F", bound=Callable[..., Any])
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
_PLACEHOLDER = re.compile(r"<(\w+)>")
# What a path parameter may hold: the characters API Gateway passes on (as Powertools' REST resolver allows).
_SEGMENT = re.compile(r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+")


class Param:
    """Where a handler's parameter comes from, with pydantic `Field` options (`alias`, `description`, bounds):
    `Annotated[date | None, Query(alias="from")]`. A parameter without one is a path parameter when the rule
    names it, the body when it is a model, else a query parameter."""

    where = ""

    def __init__(self, **options: Any) -> None:
        self.options = options

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"


class Path(Param):
    where = "path"


class Query(Param):
    where = "query"


class Body(Param):
    where = "body"


class RequestInvalid(Exception):
    """The request does not fit the route: pydantic's errors, each located (`("body", "lines", 0)`)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} validation errors")
        self._errors = errors

    def errors(self) -> list[dict[str, Any]]:
        return self._errors


class UnsupportedMediaType(Exception):
    """A body the route would read, sent as neither JSON nor a form."""


class NoRoute(Exception):
    """No route has this method and path."""


class Response:
    """An answer a handler or an exception handler gives as it is: status, body, headers."""

    def __init__(self, status_code: int, content_type: str | None = None, body: Any = None,
                 headers: dict[str, str | list[str]] | None = None) -> None:
        self.status_code = status_code
        self.body = body
        self.headers: dict[str, str | list[str]] = dict(headers or {})
        if content_type:
            self.headers.setdefault("Content-Type", content_type)

    def is_json(self) -> bool:
        content_type = self.headers.get("Content-Type", "")
        return (content_type[0] if isinstance(content_type, list) else content_type).startswith(JSON)


class CORSConfig:
    """The CORS headers every answer carries for a browser's origin (and a preflight's allowed methods)."""

    _REQUIRED_HEADERS = ("Authorization", "Content-Type", "X-Amz-Date", "X-Api-Key", "X-Amz-Security-Token")

    def __init__(self, allow_origin: str = "*", allow_headers: list[str] | None = None,
                 expose_headers: list[str] | None = None) -> None:
        self.allow_origin = allow_origin
        self.allow_headers = sorted({*self._REQUIRED_HEADERS, *(allow_headers or [])})
        self.expose_headers = list(expose_headers or [])

    def allowed_origin(self, origin: str | None) -> str | None:
        if origin is None:
            return None
        return origin if origin == self.allow_origin else "*" if self.allow_origin == "*" else None

    def to_dict(self, origin: str | None) -> dict[str, str]:
        if not origin or (origin != self.allow_origin and self.allow_origin != "*"):
            return {}
        headers = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Headers": ",".join(self.allow_headers)}
        if self.expose_headers:
            headers["Access-Control-Expose-Headers"] = ",".join(self.expose_headers)
        return headers


class Bound:
    """One parameter of a route's handler: where it is read from and how it is validated."""

    __slots__ = ("adapter", "alias", "default", "name", "required", "where")

    def __init__(self, name: str, alias: str, where: str, required: bool, default: Any,
                 adapter: TypeAdapter[Any]) -> None:
        self.name = name  # the handler's argument
        self.alias = alias  # its name in the request
        self.where = where  # path, query or body
        self.required = required
        self.default = default
        self.adapter = adapter


# Plain classes, not dataclasses: making a dataclass execs generated code, ~1 ms of every cold start each.
class Route:
    def __init__(self, method: str, rule: str, func: Callable[..., Any], status_code: int,
                 openapi: dict[str, Any]) -> None:
        self.method = method
        self.rule = rule  # /orders/<order_id>
        self.func = func
        self.status_code = status_code
        self.openapi = openapi  # summary, description, ...: for the document only
        self.segments = rule.strip("/").split("/")  # matched segment by segment: no regex to compile per route

    def arguments(self, parts: list[str]) -> dict[str, str] | None:
        """The path parameters, if the path's segments fit this rule."""
        if len(parts) != len(self.segments):
            return None
        found = {}
        for want, got in zip(self.segments, parts, strict=True):
            if want[:1] == "<":
                if not _SEGMENT.fullmatch(got):
                    return None
                found[want[1:-1]] = got
            elif want != got:
                return None
        return found

    @property
    def path(self) -> str:
        """The rule as OpenAPI and API Gateway write it: /orders/{order_id}."""
        return _PLACEHOLDER.sub(r"{\1}", self.rule)

    @cached_property
    def params(self) -> list[Bound]:
        """Built at the route's first request, not at init: a cold start pays only for the route it serves."""
        hints = typing.get_type_hints(self.func, include_extras=True)
        in_rule = set(_PLACEHOLDER.findall(self.rule))
        bound = []
        for p in inspect.signature(self.func).parameters.values():
            annotation = hints.get(p.name, Any)
            marker, bare = split(annotation)
            where = marker.where if marker else "path" if p.name in in_rule else "body" if _is_model(bare) else "query"
            options = dict(marker.options) if marker else {}
            alias = options.pop("alias", None) or p.name
            options.pop("description", None)
            if options:
                bare = Annotated[(bare, Field(**options))]  # type: ignore[assignment]
            required = p.default is inspect.Parameter.empty
            bound.append(Bound(p.name, alias, where, required, None if required else p.default, TypeAdapter(bare)))
        if sum(b.where == "body" for b in bound) > 1:
            raise TypeError(f"{self.method} {self.rule}: a route reads one body")
        return bound

    @cached_property
    def returns(self) -> TypeAdapter[Any] | None:
        hints = typing.get_type_hints(self.func, include_extras=True)
        return TypeAdapter(hints["return"]) if "return" in hints else None


def split(annotation: Any) -> tuple[Param | None, Any]:
    """The `Param` marker of an annotation, and the annotation without it."""
    if get_origin(annotation) is not Annotated:
        return None, annotation
    base, *metadata = get_args(annotation)
    markers = [m for m in metadata if isinstance(m, Param)]
    rest = [m for m in metadata if not isinstance(m, Param)]
    return (markers[-1] if markers else None), (Annotated[(base, *rest)] if rest else base)


def _is_model(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        return _is_model(get_args(annotation)[0])
    if isinstance(annotation, type):
        return issubclass(annotation, BaseModel)
    return any(_is_model(a) for a in get_args(annotation))


_current: ContextVar[dict[str, Any]] = ContextVar("k2k_router_event")


class Router:
    """Routes registered with `@app.get(rule, status_code=..., summary=...)` (and put, post, patch, delete),
    answered by `app.resolve(event, context)`."""

    def __init__(self, cors: CORSConfig | None = None) -> None:
        self.cors = cors
        self.routes: list[Route] = []
        self._handlers: dict[type[BaseException], Callable[[Any], Response]] = {}

    # -- the table ------------------------------------------------------------------------------

    def route(self, rule: str, method: str, status_code: int = 200, **openapi: Any) -> Callable[[F], F]:
        def register(func: F) -> F:
            if any(r.method == method and r.rule == rule for r in self.routes):
                raise ValueError(f"{method} {rule} is declared twice")
            self.routes.append(Route(method, rule, func, status_code, openapi))
            return func

        return register

    def get(self, rule: str, status_code: int = 200, **openapi: Any) -> Callable[[F], F]:
        return self.route(rule, "GET", status_code, **openapi)

    def post(self, rule: str, status_code: int = 200, **openapi: Any) -> Callable[[F], F]:
        return self.route(rule, "POST", status_code, **openapi)

    def put(self, rule: str, status_code: int = 200, **openapi: Any) -> Callable[[F], F]:
        return self.route(rule, "PUT", status_code, **openapi)

    def patch(self, rule: str, status_code: int = 200, **openapi: Any) -> Callable[[F], F]:
        return self.route(rule, "PATCH", status_code, **openapi)

    def delete(self, rule: str, status_code: int = 200, **openapi: Any) -> Callable[[F], F]:
        return self.route(rule, "DELETE", status_code, **openapi)

    def exception_handler(self, exc_class: type[BaseException]) -> Callable[[Callable[[Any], Response]],
                                                                            Callable[[Any], Response]]:
        def register(handler: Callable[[Any], Response]) -> Callable[[Any], Response]:
            self._handlers[exc_class] = handler
            return handler

        return register

    def not_found(self, handler: Callable[[Any], Response]) -> Callable[[Any], Response]:
        return self.exception_handler(NoRoute)(handler)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route for this request, with its path parameters. Trailing slashes do not count."""
        if not path.startswith("/"):
            return None
        parts = path.rstrip("/")[1:].split("/")
        for route in self.routes:
            if route.method == method and (found := route.arguments(parts)) is not None:
                return route, found
        return None

    # -- a request ------------------------------------------------------------------------------

    @property
    def current_event(self) -> dict[str, Any]:
        """The proxy event being answered (one per thread: the local cloud answers requests concurrently)."""
        return _current.get()

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        token = _current.set(event)
        try:
            response = self._answer(event)
        finally:
            _current.reset(token)
        return self._build(event, response)

    def _answer(self, event: dict[str, Any]) -> Response:
        method = str(event.get("httpMethod") or "").upper()
        found = self.match(method, str(event.get("path") or "/"))
        try:
            if found is None:
                if self.cors and method == "OPTIONS":  # a browser's preflight
                    methods = ",".join(sorted({"OPTIONS", *(r.method for r in self.routes)}))
                    return Response(204, None, "", {"Access-Control-Allow-Methods": methods})
                raise NoRoute(f"{method} {event.get('path')}")
            route, path_args = found
            result = route.func(**bind(route, event, path_args))
            return result if isinstance(result, Response) else Response(route.status_code, JSON, _dump(route, result))
        except Exception as e:
            handler = next((self._handlers[c] for c in type(e).__mro__ if c in self._handlers), None)
            if handler is None:
                raise
            return handler(e)

    def _build(self, event: dict[str, Any], response: Response) -> dict[str, Any]:
        body = response.body
        if response.is_json() and not isinstance(body, str):
            body = json.dumps(body, separators=(",", ":"), default=_json_default)
        headers = dict(response.headers)
        if self.cors:
            headers.update(self.cors.to_dict(self.cors.allowed_origin(header(event, "origin"))))
        encoded = isinstance(body, bytes)
        if encoded:
            body = base64.b64encode(body).decode()
        return {"statusCode": response.status_code, "body": body, "isBase64Encoded": encoded,
                "multiValueHeaders": {k: list(v) if isinstance(v, list) else [v] for k, v in headers.items()}}


_ORDER = {"path": 0, "query": 1, "body": 2}


def bind(route: Route, event: dict[str, Any], path_args: dict[str, str]) -> dict[str, Any]:
    """The handler's arguments, validated; every problem at once (RequestInvalid) or none."""
    values: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    query: dict[str, Any] | None = None
    for p in sorted(route.params, key=lambda b: _ORDER[b.where]):  # as Powertools reported them: path first
        if p.where == "path":
            raw: Any = path_args.get(p.alias)
            loc: tuple[Any, ...] = ("path", p.alias)
        elif p.where == "query":
            query = _query(event) if query is None else query
            raw, loc = query.get(p.alias), ("query", p.alias)
        else:
            raw, loc = _body(event), ("body",)
        if raw is None:
            if p.required:
                errors.append({"type": "missing", "loc": loc, "msg": "Field required", "input": None})
            else:
                values[p.name] = p.default
            continue
        try:
            values[p.name] = p.adapter.validate_python(raw, from_attributes=True)
        except ValidationError as e:
            errors += [{**error, "loc": loc + tuple(error["loc"])} for error in e.errors()]
    if errors:
        raise RequestInvalid(errors)
    return values


def _dump(route: Route, result: Any) -> Any:
    """The handler's result as JSON values, checked against its return annotation."""
    if route.returns is None:
        return result
    try:
        value = route.returns.validate_python(result, from_attributes=True)
    except ValidationError as e:
        raise RequestInvalid([{**error, "loc": ("response", *error["loc"])} for error in e.errors()]) from e
    return route.returns.dump_python(value, mode="json", by_alias=True)


def _query(event: dict[str, Any]) -> dict[str, Any]:
    """One value per name; a name given more than once keeps its list (and a scalar parameter refuses it)."""
    single = event.get("queryStringParameters") or {}
    multi = event.get("multiValueQueryStringParameters") or {}
    out: dict[str, Any] = dict(single)
    for name, values in multi.items():
        out[name] = values[0] if isinstance(values, list) and len(values) == 1 else values
    return out


def _body(event: dict[str, Any]) -> Any:
    """The body as JSON (or a form's fields); None when there is none."""
    raw = event.get("body")
    text = base64.b64decode(raw.encode()).decode() if raw and event.get("isBase64Encoded") else raw
    content_type = (header(event, "content-type") or "").strip()
    if not content_type or content_type.startswith(JSON):
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise RequestInvalid([{"type": "json_invalid", "loc": ("body", e.pos), "msg": "JSON decode error",
                                   "input": {}, "ctx": {"error": e.msg}}]) from e
    if content_type.startswith(FORM):
        return parse_qs(text or "", keep_blank_values=True)
    raise UnsupportedMediaType(content_type)


def header(event: dict[str, Any], name: str) -> str | None:
    wanted = name.lower()
    for key, value in ((event.get("multiValueHeaders") or event.get("headers") or {}).items()):
        if key.lower() == wanted:
            return str(value[0]) if isinstance(value, list) else str(value)
    return None


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
