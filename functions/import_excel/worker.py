"""Data Import worker, fed by the import queue: EventBridge "Object Created" events from the drop
bucket, one per SQS record."""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from k2k.config import Settings
from k2k.imports import service
from k2k.observability import logger, set_correlation_id
from k2k.store import Store


def _settings() -> Settings:
    return Settings.from_env()


def _dropped(record: SQSRecord) -> None:
    s3_event = S3EventBridgeNotificationEvent(json.loads(record.body))
    detail = s3_event.detail
    obj = detail.raw_event["object"]
    set_correlation_id(s3_event.get_id)
    drop = service.Drop(
        bucket=detail.bucket.name, key=detail.object.key, raw_key=obj["key"],
        etag=str(obj.get("etag") or obj.get("eTag") or ""),  # S3 says etag; some emulators eTag
        sequencer=str(obj.get("sequencer", "")), time=str(s3_event.raw_event.get("time", "")),
        message_id=record.message_id, receive_count=int(record.attributes.approximate_receive_count or 1),
    )
    logger.info("workbook dropped", extra={"bucket": drop.bucket, "key": drop.key, "attempt": drop.receive_count})
    settings = _settings()
    try:
        service.run_drop(Store(settings.table_name), settings, drop)
    except Exception:
        logger.exception("import interrupted; SQS delivers the file again", extra={"key": drop.key})
        raise


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # With one file per batch, a failure is the whole batch: report it rather than raise, as the queue expects.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event, record_handler=_dropped, processor=processor, context=context))
