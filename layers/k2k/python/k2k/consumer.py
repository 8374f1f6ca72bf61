"""Event consumers: SQS batches of bus events, partial failures, at-most-once effect.

A consumer registers one function per detail-type. Each function makes its
effect idempotent itself: conditions on its writes in the store (a version, or
the item not existing yet: a stale or repeated event changes nothing), and for
emails the marks of `k2k.notifications` (`send_once`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from k2k.events import Event, from_eventbridge
from k2k.observability import logger, set_correlation_id

Handler = Callable[[Event], None]


Record = dict[str, Any]


class BatchFailed(Exception):
    """Every record of a batch failed: the invocation fails, as Lambda expects."""


class UnhandledEvent(Exception):
    """An event this consumer has no handler for: the record fails (retried, then dead-lettered), never
    acknowledged. The rule in template.yaml and the handler table disagree (tests/unit/test_event_routing.py)."""


def partial_batch(event: dict[str, Any], record_handler: Callable[[Record], None], *,
                  raise_when_all_fail: bool = True) -> dict[str, Any]:
    """Run each SQS record; report the ones that raised, so SQS delivers only those again.

    Powertools' BatchProcessor does the same, but its import loads its pydantic parser models
    whenever pydantic is loaded: a third of the cold-start floor for a ten-line loop.
    """
    records: list[Record] = event.get("Records") or []
    failed = []
    for record in records:
        try:
            record_handler(record)
        except Exception:
            logger.exception("record failed; SQS delivers it again", extra={"message_id": record["messageId"]})
            failed.append({"itemIdentifier": record["messageId"]})
    if raise_when_all_fail and records and len(failed) == len(records):
        raise BatchFailed(f"all {len(records)} records of the batch failed")
    return {"batchItemFailures": failed}


def sqs_batch(event: dict[str, Any], handlers: Mapping[str, Handler]) -> dict[str, Any]:
    def record_handler(record: Record) -> None:
        message = json.loads(record["body"])
        k2k_event = from_eventbridge(message)
        set_correlation_id(k2k_event.metadata.correlation_id)
        handler = handlers.get(k2k_event.detail_type)
        if handler is None:
            raise UnhandledEvent(f"no handler for {k2k_event.detail_type} (event {k2k_event.metadata.event_id}); "
                                 f"this consumer handles {', '.join(sorted(handlers))}")
        logger.info("applying event", extra={"detail_type": k2k_event.detail_type,
                                             "event_id": k2k_event.metadata.event_id,
                                             "aggregate_id": k2k_event.metadata.aggregate_id,
                                             "aggregate_version": k2k_event.metadata.aggregate_version})
        handler(k2k_event)

    return partial_batch(event, record_handler)

