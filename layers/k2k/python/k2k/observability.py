"""Logger, tracer and metrics, created once; the correlation id that follows a change across events."""

from __future__ import annotations

import contextvars
import uuid

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()

_correlation: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")


def set_correlation_id(value: str | None) -> str:
    cid = value or str(uuid.uuid4())
    _correlation.set(cid)
    logger.set_correlation_id(cid)
    return cid


def correlation_id() -> str:
    return _correlation.get() or set_correlation_id(None)
