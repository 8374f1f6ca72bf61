"""Idempotency keys: a client that retries a create or a command gets the first answer, not a second execution.

Every POST honours an `Idempotency-Key` header (`k2k.api.handle` sends each request through `resolve`):

- the first request with a key runs and, when it succeeds (2xx), its answer (status, headers, body) is kept
  for 24 hours; a repeat with the same key gets that answer again, with `Idempotent-Replayed: true`;
- the same key with another body (or query string) is a 422: the key names one request, not a slot;
- while the first is still running, a repeat is a 409 (`Retry-After: 1`): two requests never both execute;
- an answer that is not a success is not kept: nothing was applied (every write is one transaction), so
  the retry runs again, as a retry after fixing the input should; nor is one too large for its item;
- keys belong to the caller's company (taken from the verified claims, as everywhere): the record lives in
  the company's own partition and the company is part of what is hashed, so one company's key can never
  replay another company's answer. The key is also bound to the request's method and path.

Powertools' idempotency utility does the work, on the application's single table: one persistence layer
per request, whose partition is the company's (`C#<cid>#IDEMPOTENCY`), whose sort key is the hash, and
whose expiry is the table's TTL attribute. The in-progress marker expires with the Lambda invocation
(Powertools reads the remaining time from the context), so a request killed mid-way does not block its
key for a day. Powertools is imported only when a request carries the header.

What it does not cover: a Lambda that dies after its transaction committed but before the answer was kept
leaves an in-progress marker; once that expires (the invocation's timeout), a retry runs again.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from k2k.auth import caller_from_claims
from k2k.config import Settings
from k2k.errors import DomainError
from k2k.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
METHODS = frozenset({"POST"})
KEEP_FOR = timedelta(hours=24)
# An answer is kept in one item (400 KB at most, its body escaped inside Powertools' JSON): a larger one is
# answered but not kept, rather than failing after its work was done.
MAX_KEPT_BODY_BYTES = 300_000
PARTITION = "IDEMPOTENCY"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces: a UUID, a ULID, an order reference

OPENAPI_PARAMETER: dict[str, Any] = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[\x21-\x7e]+$"},
    "description": (
        "Makes a retry safe: send the same key (a UUID, say) with the same request, and a repeat within 24 hours "
        "returns the first successful answer (same status and body, header `Idempotent-Replayed: true`) "
        "instead of running again. The same key with another body is a 422; a repeat while the first is still "
        "running is a 409 (retry shortly). Keys are your company's own; answers that are not successes are "
        "not kept."),
}


def applies(method: str) -> bool:
    """Whether requests with this method honour the header (creates and commands)."""
    return method.upper() in METHODS


class _NotKept(Exception):
    """An answer that is not a success: Powertools deletes the in-progress record, so a retry runs again."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__("not kept")
        self.response = response


def resolve(app: APIGatewayRestResolver, event: dict[str, Any], context: Any,
            cors: CORSConfig | None = None) -> dict[str, Any]:
    """The app's answer to this request, executed at most once per company, method, path and key.
    `cors` gives this module's own refusals the headers the app's answers carry."""
    key = _header(event, HEADER)
    if key is None or not applies(str(event.get("httpMethod") or "")):
        return app.resolve(event, context)
    if not _KEY.fullmatch(key):
        return _refusal(event, cors, 422, "invalid", f"invalid input: header.{HEADER}", [{
            "field": f"header.{HEADER}", "message": "1 to 255 printable ASCII characters without spaces"}])
    try:
        who = caller_from_claims(((event.get("requestContext") or {}).get("authorizer") or {}).get("claims"))
    except DomainError:
        return app.resolve(event, context)  # no verified caller: the route refuses it, and nothing is kept
    scope = who.company_id or f"operator#{who.user_id}"  # the operator has no company: its own user
    return _once(app, event, context, cors, scope, key)


def _once(app: APIGatewayRestResolver, event: dict[str, Any], context: Any, cors: CORSConfig | None, scope: str,
          key: str) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    from k2k import aws

    store = DynamoDBPersistenceLayer(
        table_name=Settings.from_env().table_name, key_attr="pk", sort_key_attr="sk",
        static_pk_value=f"C#{scope}#{PARTITION}", expiry_attr="purge_at", boto3_client=aws.client("dynamodb"))
    config = IdempotencyConfig(
        event_key_jmespath="[scope, request, key]", payload_validation_jmespath="[body, query]",
        raise_on_no_idempotency_key=True, expires_after_seconds=int(KEEP_FOR.total_seconds()),
        hash_function="sha256", lambda_context=context if hasattr(context, "get_remaining_time_in_millis") else None,
        response_hook=_replayed)

    @idempotent_function(data_keyword_argument="request", persistence_store=store, config=config,
                         key_prefix="request")
    def execute(request: dict[str, Any]) -> dict[str, Any]:
        response = app.resolve(event, context)
        if not 200 <= int(response.get("statusCode") or 500) < 300:
            raise _NotKept(response)
        if len(str(response.get("body") or "").encode()) > MAX_KEPT_BODY_BYTES:
            logger.warning("answer too large to keep for its Idempotency-Key; a retry runs again",
                           extra={"request": request["request"]})
            raise _NotKept(response)
        return response

    request = {"scope": scope, "request": f"{event.get('httpMethod')} {event.get('path')}", "key": key,
               "body": _body(event), "query": event.get("queryStringParameters") or {}}
    try:
        response = dict(execute(request=request))
        replayed = REPLAYED_HEADER in (response.get("multiValueHeaders") or {})
        if replayed and cors is not None:  # the CORS headers of this request's origin, not the first's
            cors_headers = {k: [v] for k, v in cors.to_dict(_header(event, "Origin")).items()}
            response["multiValueHeaders"] = {**response["multiValueHeaders"], **cors_headers}
        return response
    except _NotKept as e:
        return e.response
    except IdempotencyValidationError:
        return _refusal(event, cors, 422, "idempotency_key_reused",
                        f"this {HEADER} was already used for another request; use a new key for a new request",
                        [{"field": f"header.{HEADER}",
                          "message": "already used with another body or query string (keys are kept 24 hours)"}])
    except IdempotencyAlreadyInProgressError:
        return _refusal(event, cors, 409, "in_progress",
                        f"a request with this {HEADER} is still being processed; retry in a moment",
                        [{"field": f"header.{HEADER}", "message": "in progress"}], retry_after=1)


def _replayed(response: Any, idempotent_data: Any) -> Any:
    if isinstance(response, dict):
        response = dict(response)
        headers = dict(response.get("multiValueHeaders") or {})
        headers[REPLAYED_HEADER] = ["true"]
        response["multiValueHeaders"] = headers
    return response


def _header(event: dict[str, Any], name: str) -> str | None:
    wanted = name.lower()
    return next((str(v) for k, v in (event.get("headers") or {}).items() if k.lower() == wanted), None)


def _body(event: dict[str, Any]) -> Any:
    """The body as compared between a request and its repeat: parsed JSON when it is (so spacing and key order
    do not matter), else the text as sent."""
    raw = event.get("body")
    if raw is None or event.get("isBase64Encoded"):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _refusal(event: dict[str, Any], cors: CORSConfig | None, status: int, code: str, message: str,
             details: list[dict[str, str]], retry_after: int | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", **(cors.to_dict(_header(event, "Origin")) if cors else {})}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return {"statusCode": status, "isBase64Encoded": False, "headers": headers,
            "body": json.dumps({"error": {"code": code, "message": message, "details": details}})}
