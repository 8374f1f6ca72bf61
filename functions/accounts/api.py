"""Customer accounts (REST): customers, their ledger and statements, payments, customer invoices.

Who may call each route: k2k.access. The balance is the ledger's: no route takes it.
"""

from __future__ import annotations

import gc

gc.disable()  # no collection during init: what it builds lives as long as the process (frozen below)

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from k2k import lazy
from k2k.api import CodePath, DocumentNoPath, Limit, NextToken, caller, create_resolver, handle
from k2k.bounds import PAGE_SIZE
from k2k.config import Settings
from k2k.observability import logger
from k2k.paging import Page
from k2k.router import Body, Query
from k2k.store import Store

if TYPE_CHECKING:
    from k2k import ledger, network, receivables
    from k2k.services import accounts as svc
else:  # the accounts service and the domain it is made of: at a route's first request (k2k.lazy)
    ledger = lazy.module("k2k.ledger")
    network = lazy.module("k2k.network")
    receivables = lazy.module("k2k.receivables")
    svc = lazy.module("k2k.services.accounts")


app = create_resolver()


def _db() -> Store:
    return Store(Settings.from_env().table_name)


@app.get("/customers", summary="The company's customers by code, with their ledger balances, a page at a time")
def list_customers(limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> Page[network.Customer]:
    return svc.customers_page(_db(), caller(app).company_id, limit, next_token)


@app.get("/customers/<customer_code>", summary="A customer and its balance")
def get_customer(customer_code: CodePath) -> network.Customer:
    return svc.require_customer(_db(), caller(app).company_id, customer_code, field="path")


@app.put("/customers/<customer_code>", summary=(
    "Create a customer (no version), or change its fields (the version you read; 409 if stale). "
    "The balance is read-only: a body with balance is refused (422)"))
def put_customer(customer_code: CodePath, body: Annotated[network.CustomerIn, Body()]) -> network.Customer:
    return svc.put_customer(_db(), caller(app), customer_code, body)


@app.get("/customers/<customer_code>/statement", summary=(
    "The customer's ledger in posting order with the running balance, by posting date, a page at a time"))
def get_statement(customer_code: CodePath,
                  from_: Annotated[date | None, Query(alias="from", description="first posting date")] = None,
                  to: Annotated[date | None, Query(description="last posting date")] = None,
                  limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> svc.Statement:
    who = caller(app)
    return svc.statement(_db(), who.company_id, customer_code, from_, to, limit, next_token)


@app.post("/customers/<customer_code>/payments", status_code=201,
          summary="Record a payment (once per reference: a repeated request returns the same entry)")
def record_payment(customer_code: CodePath, body: svc.PaymentIn) -> ledger.LedgerEntry:
    return svc.record_payment(_db(), caller(app), customer_code, body)


@app.post("/customers/<customer_code>/adjustments", status_code=201,
          summary="Post an adjustment, up or down, with its reason (once per reference)")
def record_adjustment(customer_code: CodePath, body: svc.AdjustmentIn) -> ledger.LedgerEntry:
    return svc.record_adjustment(_db(), caller(app), customer_code, body)


@app.get("/customer-invoices", summary=(
    "Invoices to the company's customers, a page at a time: billed or raised by hand (by number), then imported"))
def list_invoices(customer_code: Annotated[str | None, Query(max_length=20)] = None, limit: Limit = PAGE_SIZE,
                  next_token: NextToken = None) -> Page[receivables.CustomerInvoice]:
    return svc.list_invoices(_db(), caller(app).company_id, customer_code, limit, next_token)


@app.post("/customer-invoices", status_code=201, summary=(
    "Raise a customer invoice by hand (any price, $0.00 included): named inventory boxes leave stock"))
def raise_invoice(body: svc.HandInvoiceIn) -> receivables.CustomerInvoice:
    return svc.raise_invoice(_db(), caller(app), body)


@app.get("/customer-invoices/<invoice_id>", summary="One customer invoice")
def get_invoice(invoice_id: DocumentNoPath) -> receivables.CustomerInvoice:
    return svc.get_invoice(_db(), caller(app).company_id, invoice_id)


@app.post("/customer-invoices/<invoice_id>/void", summary=(
    "Void a customer invoice: a reversal entry is posted and its inventory boxes go back to stock"))
def void_invoice(invoice_id: DocumentNoPath, body: svc.VoidIn) -> receivables.CustomerInvoice:
    return svc.void_invoice(_db(), caller(app), invoice_id, body)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context)


gc.freeze()  # init's objects stay for the process: later collections need not scan them
gc.enable()
