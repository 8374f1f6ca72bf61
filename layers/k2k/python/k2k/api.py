"""The REST resolver every API function uses: one error map, validation, the caller.

Handlers stay thin: a route parses its input with pydantic, takes the caller
from `caller()`, calls one domain function and returns a model.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from k2k import access
from k2k.auth import Caller, caller_from_claims
from k2k.errors import DomainError
from k2k.observability import logger, set_correlation_id

CORRELATION_HEADER = "X-Correlation-Id"
CORS = CORSConfig(allow_origin="*")


def _error(status: int, code: str, message: str, details: Any = None) -> Response[Any]:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    return Response(status_code=status, content_type="application/json", body=body)


def _field(loc: Any) -> str:
    parts = [str(p) for p in (loc or [])]
    # Powertools prefixes body/query/path; keep it, it tells the client where to look.
    return ".".join(parts)


def create_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True, cors=CORS)

    @app.exception_handler(DomainError)
    def domain_error(e: DomainError) -> Response[Any]:
        if e.status >= 500:
            logger.exception("domain error")
        return _error(e.status, e.code, e.message, e.details)

    @app.exception_handler(RequestValidationError)
    def invalid_request(e: RequestValidationError) -> Response[Any]:
        details = [{"field": _field(err.get("loc")), "message": err.get("msg", "invalid")}
                   for err in e.errors()]
        names = ", ".join(d["field"] for d in details) or "request"
        return _error(422, "invalid", f"invalid input: {names}", details)

    @app.exception_handler(ValueError)
    def bad_value(e: ValueError) -> Response[Any]:
        return _error(422, "invalid", str(e))

    return app


def caller(app: APIGatewayRestResolver) -> Caller:
    """The verified caller. The company comes only from the authorizer's claims."""
    return caller_from_claims(app.current_event.request_context.authorizer.claims)


def handle(app: APIGatewayRestResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    request_id = (event.get("requestContext") or {}).get("requestId")
    set_correlation_id(headers.get(CORRELATION_HEADER.lower()) or request_id)
    try:
        access.check_request(event)  # the route's roles (k2k.access), before the request is even read
    except DomainError as e:
        return {"statusCode": e.status, "isBase64Encoded": False,
                "headers": {"Content-Type": "application/json", **CORS.to_dict(headers.get("origin"))},
                "body": json.dumps({"error": {"code": e.code, "message": e.message}})}
    return app.resolve(event, context)
