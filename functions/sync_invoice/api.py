"""Vendor invoices for K2K orders and the buyer's PO reconciliation (REST).

The invoice queue's consumer is `consumer.py`.
"""

from __future__ import annotations

import gc

gc.disable()  # no collection during init: what it builds lives as long as the process (frozen below)

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from k2k import lazy
from k2k.api import IdPath, InvoiceNoPath, Limit, NextToken, caller, create_resolver, handle
from k2k.bounds import PAGE_SIZE, UPLOAD_BODY_BYTES
from k2k.config import Settings
from k2k.observability import logger
from k2k.paging import Page
from k2k.router import Query
from k2k.store import Store

if TYPE_CHECKING:
    from k2k import invoices
    from k2k.services import invoices as svc
else:  # the invoices service and the domain it is made of: at a route's first request (k2k.lazy)
    invoices = lazy.module("k2k.invoices")
    svc = lazy.module("k2k.services.invoices")

app = create_resolver()


def _db() -> Store:
    return Store(Settings.from_env().table_name)


def _docs() -> svc.Documents:
    return svc.Documents(Settings.from_env().documents_bucket)


Version = Annotated[int | None, Query(ge=1, le=1_000_000, description="a PDF version; default the current one")]


# -- the vendor's invoices ------------------------------------------------------------------------

@app.get("/invoices", summary="The vendor's K2K invoices, by number")
def list_invoices(limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> Page[invoices.Invoice]:
    return svc.list_invoices(_db(), caller(app), limit, next_token)


@app.get("/invoices/<invoice_no>", summary="One invoice")
def get_invoice(invoice_no: InvoiceNoPath) -> invoices.Invoice:
    return svc.get_invoice(_db(), caller(app).company_id, invoice_no)


@app.put("/invoices/<invoice_no>", summary="Correct lines or charges: a new version and PDF (Admin, AR)")
def update_invoice(invoice_no: InvoiceNoPath, body: invoices.InvoiceChange) -> invoices.Invoice:
    return svc.update_invoice(_db(), _docs(), caller(app), invoice_no, body)


@app.post("/invoices/<invoice_no>/void", summary="Void an invoice (type CONFIRM) (Admin, AR)")
def void_invoice(invoice_no: InvoiceNoPath, body: svc.InvoiceVoid) -> invoices.Invoice:
    return svc.void_invoice(_db(), _docs(), caller(app), invoice_no, body)


@app.get("/invoices/<invoice_no>/pdf", summary="A 5-minute download link to the invoice PDF")
def invoice_pdf(invoice_no: InvoiceNoPath, version: Version = None) -> svc.PdfLink:
    return svc.invoice_pdf(_db(), _docs(), caller(app), invoice_no, version)


# -- the buyer's PO reconciliation --------------------------------------------------------------

@app.get("/reconciliation", summary="POs with a vendor invoice or an automation notice, with their flags")
def list_reconciliations(status: Annotated[invoices.RecStatus | None, Query()] = None, limit: Limit = PAGE_SIZE,
                         next_token: NextToken = None) -> Page[svc.ReconciliationView]:
    return svc.list_reconciliations(_db(), caller(app), status, limit, next_token)


@app.get("/reconciliation/<po_id>", summary="A PO's vendor invoice, status, differences and why it was not uploaded")
def get_reconciliation(po_id: IdPath) -> svc.ReconciliationView:
    return svc.get_reconciliation(_db(), caller(app), po_id)


@app.post("/reconciliation/<po_id>/approve",
          summary="AP -> AA (procurement), AA -> A (accounting: Admin, AR, Credit Manager)")
def approve(po_id: IdPath, body: svc.StepIn) -> svc.ReconciliationView:
    return svc.step(_db(), caller(app), po_id, invoices.Action.APPROVE, body)


@app.post("/reconciliation/<po_id>/send-back", summary="AA or A back to AP (accounting)")
def send_back(po_id: IdPath, body: svc.StepIn) -> svc.ReconciliationView:
    return svc.step(_db(), caller(app), po_id, invoices.Action.SEND_BACK, body)


@app.post("/reconciliation/<po_id>/paid", summary="Mark an approved invoice paid (accounting)")
def mark_paid(po_id: IdPath, body: svc.StepIn) -> svc.ReconciliationView:
    return svc.step(_db(), caller(app), po_id, invoices.Action.PAY, body)


@app.post("/reconciliation/<po_id>/vendor-invoice", status_code=201,
          summary="Upload the vendor's invoice by hand: number, amount, PDF (procurement)")
def upload_vendor_invoice(po_id: IdPath, body: svc.ManualInvoiceIn) -> svc.ReconciliationView:
    return svc.upload_vendor_invoice(_db(), _docs(), caller(app), po_id, body)


@app.get("/reconciliation/<po_id>/pdf", summary="A 5-minute download link to the vendor invoice PDF on this PO")
def reconciliation_pdf(po_id: IdPath, version: Version = None) -> svc.PdfLink:
    return svc.reconciliation_pdf(_db(), _docs(), caller(app), po_id, version)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context, body_limits={
        "/reconciliation/{po_id}/vendor-invoice": UPLOAD_BODY_BYTES})  # it carries the vendor's PDF


gc.freeze()  # init's objects stay for the process: later collections need not scan them
gc.enable()
