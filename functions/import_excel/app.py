"""Data Import (Admin only): upload links, jobs and blank templates; and the worker for dropped workbooks.

Two entry points: `api_handler` (REST) and `worker_handler` (the import queue:
EventBridge "Object Created" events from the drop bucket, one per SQS record).
"""

import json
from datetime import date
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from k2k.api import caller, create_resolver, handle
from k2k.config import Settings
from k2k.imports import service
from k2k.imports.model import ImportType
from k2k.observability import logger, set_correlation_id, tracer
from k2k.services import open_invoices
from k2k.store import Store

app = create_resolver()


def _settings() -> Settings:
    return Settings.from_env()


@app.post("/imports", status_code=201, summary="Start an import: a job and a link to upload the workbook to (Admin)")
def create_import(body: service.UploadRequest) -> service.UploadLink:
    settings = _settings()
    return service.request_upload(Store(settings.table_name), settings, caller(app), body)


@app.get("/imports", summary="The company's recent imports, newest first (Admin)")
def list_imports() -> list[service.JobView]:
    settings = _settings()
    return service.list_jobs(Store(settings.table_name), settings, caller(app))


@app.get("/imports/<job_id>", summary="One import: status, progress, counts and the results link (Admin)")
def get_import(job_id: Annotated[str, Path()]) -> service.JobView:
    settings = _settings()
    return service.get_job(Store(settings.table_name), settings, caller(app), job_id)


@app.get("/open-invoices", summary="Imported open invoices, found by customer PO and/or invoice date")
def search_open_invoices(customer_po: Annotated[str | None, Query()] = None,
                         invoice_date: Annotated[date | None, Query()] = None) -> list[open_invoices.OpenInvoice]:
    return open_invoices.search(Store(_settings().table_name), caller(app), customer_po, invoice_date)


@app.get("/imports/templates/<import_type>", summary="The blank template of an import type (Admin)")
def get_template(import_type: Annotated[ImportType, Path()]) -> service.TemplateLink:
    return service.template_link(_settings(), caller(app), import_type)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def api_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context)


# -- worker -----------------------------------------------------------------------------------------

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
def worker_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # With one file per batch, a failure is the whole batch: report it rather than raise, as the queue expects.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event, record_handler=_dropped, processor=processor, context=context))
