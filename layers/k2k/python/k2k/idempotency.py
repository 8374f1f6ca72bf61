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

A request whose work committed but whose answer was not kept (the Lambda died after its transaction, or
Powertools' save of the answer was throttled) leaves an in-progress marker; once that expires (the invocation's
timeout) a retry runs the route again. So the use cases that create or change something commit their answer
with their work: `done(db, T)` at the start of a keyed request's execution returns the answer an earlier
execution of the same request (company, method, path, key) committed, and `outcome(T, answer)` is the op that
commits it, in the use case's own transaction (kept 24 hours, like the answer). A re-execution thus answers what
the first one did (same status, same body) instead of buying, billing or receiving twice; the same key with
another body is a 422 there too.

What it does not cover: the POST routes whose use case does not commit its outcome (docs/guarantees.md names
those that do); a repeat of those after the marker expired runs again (most are commands that then refuse,
as the state changed: a 409).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from k2k import store
from k2k.auth import caller_from_claims
from k2k.config import Settings
from k2k.errors import DomainError, Invalid
from k2k.observability import logger

if TYPE_CHECKING:
    from k2k.router import CORSConfig, Router

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


def resolve(app: Router, event: dict[str, Any], context: Any,
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


def _once(app: Router, event: dict[str, Any], context: Any, cors: CORSConfig | None, scope: str,
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

    persistence = DynamoDBPersistenceLayer(
        table_name=Settings.from_env().table_name, key_attr="pk", sort_key_attr="sk",
        static_pk_value=f"C#{scope}#{PARTITION}", expiry_attr="purge_at", boto3_client=aws.client("dynamodb"))
    config = IdempotencyConfig(
        event_key_jmespath="[scope, request, key]", payload_validation_jmespath="[body, query]",
        raise_on_no_idempotency_key=True, expires_after_seconds=int(KEEP_FOR.total_seconds()),
        hash_function="sha256", lambda_context=context if hasattr(context, "get_remaining_time_in_millis") else None,
        response_hook=_replayed)

    @idempotent_function(data_keyword_argument="request", persistence_store=persistence, config=config,
                         key_prefix="request")
    def execute(request: dict[str, Any]) -> dict[str, Any]:
        with _executing(request):
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


# -- answers committed with the work ------------------------------------------------------------

class KeyReused(Invalid):
    code = "idempotency_key_reused"


@dataclass(frozen=True)
class _Executing:
    key: dict[str, str]  # the outcome item's key: the request's identity in the company's partition
    fingerprint: str  # of its body and query string


_executing_now: ContextVar[_Executing | None] = ContextVar("k2k_idempotency_executing", default=None)


@contextmanager
def _executing(request: dict[str, Any]) -> Iterator[None]:
    identity = _hash([request["scope"], request["request"], request["key"]])
    token = _executing_now.set(_Executing(
        key={"pk": f"C#{request['scope']}#{PARTITION}", "sk": f"OUTCOME#{identity}"},
        fingerprint=_hash([request["body"], request["query"]])))
    try:
        yield
    finally:
        _executing_now.reset(token)


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def done(db: store.Store, answer_type: Any) -> Any:
    """The answer an earlier execution of this keyed request committed with its work (`outcome`), or None (no
    key, or nothing committed yet). The same key with another body is refused, as Powertools refuses it."""
    now = _executing_now.get()
    if now is None:
        return None
    item = db.get(now.key["pk"], now.key["sk"])
    if item is None:
        return None
    if item.get("fingerprint") != now.fingerprint:
        raise KeyReused(f"this {HEADER} was already used for another request; use a new key for a new request",
                        field=f"header.{HEADER}")
    return _adapter(answer_type).validate_json(item["answer"])


def outcome(answer_type: Any, answer: Any) -> list[store.Op]:
    """The op that commits this keyed request's answer with its work (put it in the use case's transaction),
    so that a re-execution finds it (`done`); none without a key, or for an answer too large to keep."""
    now = _executing_now.get()
    if now is None:
        return []
    text = _adapter(answer_type).dump_json(answer).decode()
    if len(text.encode()) > MAX_KEPT_BODY_BYTES:
        return []
    purge_at = int((datetime.now(UTC) + KEEP_FOR).timestamp())
    return [store.put({**now.key, "kind": "OUTCOME", "fingerprint": now.fingerprint, "answer": text,
                       "purge_at": purge_at}, condition="attribute_not_exists(pk)")]


@functools.cache
def _adapter(answer_type: Any) -> TypeAdapter[Any]:
    """One validator/serializer per answer type, built once (a TypeAdapter builds its schema when made)."""
    return TypeAdapter(answer_type)


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
