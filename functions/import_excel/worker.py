"""Data Import worker, fed by the import queue: EventBridge "Object Created" events from the drop
bucket, one per SQS record."""

from __future__ import annotations

import gc

gc.disable()  # no collection during init: what it builds lives as long as the process (frozen below)

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.typing import LambdaContext

from k2k import lazy
from k2k.config import Settings
from k2k.consumer import Record, UnhandledEvent, partial_batch
from k2k.observability import logger, set_correlation_id
from k2k.store import Store

if TYPE_CHECKING:
    from k2k.imports import service
else:  # the import service (its rules, writers and the domain it writes): at the first dropped workbook (k2k.lazy)
    service = lazy.module("k2k.imports.service")


def _dropped(notification: dict[str, Any], record: Record) -> None:
    detail = notification["detail"]
    obj = detail["object"]
    set_correlation_id(notification["id"])
    drop = service.Drop(
        bucket=detail["bucket"]["name"], key=unquote_plus(obj["key"]), raw_key=obj["key"],
        etag=str(obj.get("etag") or obj.get("eTag") or ""),  # S3 says etag; some emulators eTag
        sequencer=str(obj.get("sequencer", "")), time=str(notification.get("time", "")),
        message_id=record["messageId"],
        receive_count=int(record["attributes"].get("ApproximateReceiveCount") or 1),
    )
    logger.info("workbook dropped", extra={"bucket": drop.bucket, "key": drop.key, "attempt": drop.receive_count})
    settings = Settings.from_env()
    try:
        service.run_drop(Store(settings.table_name), settings, drop)
    except Exception:
        logger.exception("import interrupted; SQS delivers the file again", extra={"key": drop.key})
        raise


HANDLERS = {"Object Created": _dropped}  # S3's EventBridge notifications, as ImportRule routes them


def _record(record: Record) -> None:
    notification = json.loads(record["body"])
    handler = HANDLERS.get(notification.get("detail-type"))
    if handler is None:  # fail the record (retried, then dead-lettered) rather than acknowledge it
        raise UnhandledEvent(f"no handler for {notification.get('detail-type')!r} (event {notification.get('id')})")
    handler(notification, record)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # With one file per batch, a failure is the whole batch: report it rather than raise, as the queue expects.
    return partial_batch(event, _record, raise_when_all_fail=False)


gc.freeze()  # init's objects stay for the process: later collections need not scan them
gc.enable()
