"""The partner forwarder: every K2K event a company may receive goes to its subscriptions (k2k.partners).

A delivery that fails is retried with backoff: the record fails and its message comes back after
`retry_delay(attempt)` (SQS visibility). After MAX_ATTEMPTS the failed deliveries are parked in the
company's list of failed deliveries (GET /integrations/failed-deliveries) and the record succeeds.
"""

from __future__ import annotations

import gc

gc.disable()  # no collection during init: what it builds lives as long as the process (frozen below)

import json
import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from k2k import aws
from k2k.config import Settings
from k2k.consumer import UnhandledEvent, partial_batch
from k2k.events import Event, from_eventbridge
from k2k.observability import logger, set_correlation_id
from k2k.partners import INTERNAL, MAX_ATTEMPTS, RECIPIENTS, retry_delay
from k2k.services import partners as svc
from k2k.store import Store

QUEUE_URL_ENV = "PARTNER_QUEUE_URL"


class RetryLater(Exception):
    """Some deliveries failed; the message comes back after the backoff."""


def _db() -> Store:
    return Store(Settings.from_env().table_name)


def _forward(event: Event, record: dict[str, Any], companies: dict[str, svc.Summary]) -> None:
    attempt = int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
    failures = svc.forward(_db(), event, companies)
    if not failures:
        return
    if attempt >= MAX_ATTEMPTS:
        svc.park(_db(), failures, event, attempt)
        return
    delay = retry_delay(attempt)
    queue_url = os.environ.get(QUEUE_URL_ENV)
    if queue_url:
        aws.client("sqs").change_message_visibility(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"],
                                                    VisibilityTimeout=delay)
    raise RetryLater(f"{len(failures)} deliveries failed (attempt {attempt} of {MAX_ATTEMPTS}); again in {delay} s")


# Every event type the tenant-wall table lets out; the rule in template.yaml routes exactly these.
HANDLERS = {detail_type: _forward for detail_type in RECIPIENTS if detail_type not in INTERNAL}


def _parsed(record: dict[str, Any]) -> Event | None:
    try:
        return from_eventbridge(json.loads(record["body"]))
    except Exception:
        return None  # _record parses it again and fails that record alone


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    # The subscriptions summary of every company the batch's events concern: one read for the whole batch.
    companies = svc.summaries(_db(), svc.recipients_of(e for e in map(_parsed, records) if e is not None))

    def record_handler(record: dict[str, Any]) -> None:
        k2k_event = from_eventbridge(json.loads(record["body"]))
        set_correlation_id(k2k_event.metadata.correlation_id)
        forward = HANDLERS.get(k2k_event.detail_type)
        if forward is None:
            raise UnhandledEvent(f"no handler for {k2k_event.detail_type} (event {k2k_event.metadata.event_id})")
        forward(k2k_event, record, companies)

    # A batch whose deliveries all wait for their backoff is not a failed invocation.
    return partial_batch(event, record_handler, raise_when_all_fail=False)


gc.freeze()  # init's objects stay for the process: later collections need not scan them
gc.enable()
