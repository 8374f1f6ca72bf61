"""The logger, created once; the correlation id that follows a change across events.

No X-Ray SDK tracer: the template's `Tracing: Active` has Lambda record every
invocation without it, and the SDK would be a dependency of its own whose import
and Tracer() cost a cold start three quarters of the floor (boto3, Powertools and
pydantic): 0.26 s of CPU on Python 3.12.
"""

from __future__ import annotations

import contextvars
import uuid

from aws_lambda_powertools.logging import Logger

logger = Logger()

_correlation: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")


def set_correlation_id(value: str | None) -> str:
    cid = value or str(uuid.uuid4())
    _correlation.set(cid)
    logger.set_correlation_id(cid)
    return cid


def correlation_id() -> str:
    return _correlation.get() or set_correlation_id(None)
