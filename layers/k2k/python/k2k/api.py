"""The REST router every API function uses (k2k.router): one error map, validation, the caller.

Handlers stay thin: a route parses its input with pydantic, takes the caller
from `caller()`, calls one domain function and returns a model.
"""

import json
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import ValidationError

from k2k import access, bounds, idempotency
from k2k.auth import Caller, caller_from_claims
from k2k.errors import DomainError, TooLarge
from k2k.observability import logger, set_correlation_id
from k2k.router import CORSConfig, NoRoute, Path, Query, RequestInvalid, Response, Router, UnsupportedMediaType

# The two query parameters of every list route (k2k.paging reads the page; k2k.bounds bounds them). They live
# here, with the REST router, so that queue consumers that page nothing never import it.
Limit = Annotated[bounds.PageSize, Query()]
NextToken = Annotated[bounds.PageToken | None, Query()]

# Every path parameter is one of these: bounded (k2k.bounds), so an absurd one is a 422 naming path.<name>
# and never becomes a key (tests/unit/test_input_bounds.py refuses an unbounded one in the document).
IdPath = Annotated[bounds.Id, Path()]
CodePath = Annotated[bounds.Code, Path()]
ConnectionIdPath = Annotated[bounds.ConnectionId, Path()]
DocumentNoPath = Annotated[bounds.DocumentNo, Path()]
LineNoPath = Annotated[bounds.LineNo, Path()]
InvoiceNoPath = Annotated[bounds.InvoiceNo, Path()]

CORRELATION_HEADER = "X-Correlation-Id"
# A browser may send the Idempotency-Key and read whether an answer was replayed (k2k.idempotency).
CORS = CORSConfig(allow_origin="*", allow_headers=[idempotency.HEADER, CORRELATION_HEADER],
                  expose_headers=[idempotency.REPLAYED_HEADER, "Retry-After"])


def _error(status: int, code: str, message: str, details: Any = None) -> Response:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    return Response(status_code=status, content_type="application/json", body=body)


def create_resolver() -> Router:
    app = Router(cors=CORS)

    @app.exception_handler(DomainError)
    def domain_error(e: DomainError) -> Response:
        if e.status >= 500:
            logger.exception("domain error")
        return _error(e.status, e.code, e.message, e.details)

    @app.exception_handler(RequestInvalid)
    def invalid_request(e: RequestInvalid) -> Response:
        # k2k.router prefixes each field with body/query/path: it tells the client where to look.
        return _invalid(bounds.problems(list(e.errors())))

    @app.exception_handler(ValidationError)
    def invalid_model(e: ValidationError) -> Response:
        # A model built from the request's values inside a use case (a patched line validated whole).
        return _invalid(bounds.problems(e))

    @app.not_found
    def no_route(e: NoRoute) -> Response:
        # A path API Gateway routed here that no route matches (a line id with a character no route
        # allows): the API's 404.
        return _error(404, "not_found", "not found")

    @app.exception_handler(UnsupportedMediaType)
    def unsupported_body(e: UnsupportedMediaType) -> Response:
        return _error(415, "unsupported_media_type", "send the body as application/json",
                      [{"field": "body", "message": "must be application/json"}])

    @app.exception_handler(RecursionError)
    def nested_too_deeply(e: RecursionError) -> Response:
        # json.loads gives up on a body nested thousands deep (`[[[[...`): the body is what is wrong.
        logger.info("request refused: %s", e)
        return _invalid([{"field": "body", "message": "is nested too deeply"}])

    @app.exception_handler(ValueError)
    def bad_value(e: ValueError) -> Response:
        # A ValueError nothing turned into a DomainError or a validation error comes from a library or from
        # our own code (a decode, a conversion), in its words: they are logged here and never sent.
        logger.exception("unexpected ValueError answered 422")
        return _error(422, "invalid", "a value in the request cannot be used here")

    return app


def _invalid(details: list[dict[str, str]]) -> Response:
    names = ", ".join(dict.fromkeys(d["field"] for d in details)) or "request"
    return _error(422, "invalid", f"invalid input: {names}", details)


def caller(app: Router) -> Caller:
    """The verified caller. The company comes only from the authorizer's claims."""
    context = app.current_event.get("requestContext") or {}
    return caller_from_claims((context.get("authorizer") or {}).get("claims"))


def handle(app: Router, event: dict[str, Any], context: Any,
           body_limits: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Answer one API Gateway proxy event. `body_limits` raises the body limit of a few routes
    (by resource path, e.g. an upload) above `bounds.MAX_BODY_BYTES`."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    request_id = (event.get("requestContext") or {}).get("requestId")
    set_correlation_id(headers.get(CORRELATION_HEADER.lower()) or request_id)
    try:
        _check_size(event, (body_limits or {}).get(event.get("resource") or "", bounds.MAX_BODY_BYTES))
        access.check_request(event)  # the route's roles (k2k.access), before the request is even read
    except DomainError as e:
        return {"statusCode": e.status, "isBase64Encoded": False,
                "headers": {"Content-Type": "application/json", **CORS.to_dict(headers.get("origin"))},
                "body": json.dumps({"error": {"code": e.code, "message": e.message}})}
    return idempotency.resolve(app, event, context, CORS)  # Idempotency-Key on POSTs (k2k.idempotency)


def _check_size(event: dict[str, Any], limit: int) -> None:
    """Refuse a body past the limit before anything parses it (a 1 MB cart, a 500 KB address)."""
    body = event.get("body") or ""
    size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise TooLarge(f"the request body is {size:,} bytes; at most {limit:,} are accepted here")
