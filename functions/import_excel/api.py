"""Data Import (Admin only): upload links, jobs and blank templates; pending boxes to confirm (REST).

The worker for dropped workbooks is `worker.py`.
"""

from __future__ import annotations

import gc

gc.disable()  # no collection during init: what it builds lives as long as the process (frozen below)

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from k2k import lazy
from k2k.api import IdPath, Limit, NextToken, caller, create_resolver, handle
from k2k.bounds import PAGE_SIZE
from k2k.config import Settings
from k2k.observability import logger
from k2k.paging import Page
from k2k.router import Path, Query
from k2k.store import Store

if TYPE_CHECKING:
    from k2k.imports import model, pending, service
    from k2k.services import open_invoices
else:  # each route's service (and the domain it writes): at the route's first request (k2k.lazy)
    model = lazy.module("k2k.imports.model")
    pending = lazy.module("k2k.imports.pending")
    service = lazy.module("k2k.imports.service")
    open_invoices = lazy.module("k2k.services.open_invoices")

app = create_resolver()


def _settings() -> Settings:
    return Settings.from_env()


@app.post("/imports", status_code=201, summary="Start an import: a job and a link to upload the workbook to (Admin)")
def create_import(body: service.UploadRequest) -> service.UploadLink:
    settings = _settings()
    return service.request_upload(Store(settings.table_name), settings, caller(app), body)


@app.get("/imports", summary="The company's recent imports, newest first (Admin)")
def list_imports(limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> Page[service.JobView]:
    settings = _settings()
    return service.list_jobs(Store(settings.table_name), settings, caller(app), limit, next_token)


@app.get("/imports/<job_id>", summary="One import: status, progress, counts and the results link (Admin)")
def get_import(job_id: IdPath) -> service.JobView:
    settings = _settings()
    return service.get_job(Store(settings.table_name), settings, caller(app), job_id)


@app.get("/open-invoices", summary="Imported open invoices, found by customer PO and/or invoice date")
def search_open_invoices(customer_po: Annotated[str | None, Query(max_length=20)] = None,
                         invoice_date: Annotated[date | None, Query()] = None,
                         limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> Page[open_invoices.OpenInvoice]:
    return open_invoices.search(Store(_settings().table_name), caller(app), customer_po, invoice_date, limit,
                                next_token)


@app.get("/imports/templates/<import_type>", summary="The blank template of an import type (Admin)")
def get_template(import_type: Annotated[model.ImportType, Path()]) -> service.TemplateLink:
    return service.template_link(_settings(), caller(app), import_type)


@app.get("/pending-boxes", summary="Pending boxes: Inventory in Boxes rows imported without confirm, by job and row")
def list_pending_boxes(job_id: Annotated[str | None, Query(max_length=64)] = None,
                       limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> Page[pending.PendingBox]:
    return pending.list_pending(Store(_settings().table_name), caller(app), job_id, limit, next_token)


@app.post("/pending-boxes/confirm", summary="Confirm some or all pending rows of an import into inventory")
def confirm_pending_boxes(body: pending.PendingSelection) -> pending.PendingConfirmed:
    return pending.confirm(Store(_settings().table_name), caller(app), body)


@app.post("/pending-boxes/discard", summary="Discard some or all pending rows of an import")
def discard_pending_boxes(body: pending.PendingSelection) -> pending.PendingDiscarded:
    return pending.discard(Store(_settings().table_name), caller(app), body)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context)


gc.freeze()  # init's objects stay for the process: later collections need not scan them
gc.enable()
