"""The invoice queue: OrderConfirmed bills the order (PrebookShipped, a prebook a buyer's PO became: K2K for
Procurement); each invoice event reaches the buyer's PO and both companies' inboxes."""

from __future__ import annotations

import gc

gc.disable()  # no collection during init: what it builds lives as long as the process (frozen below)

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from k2k import lazy
from k2k.config import Settings
from k2k.consumer import sqs_batch
from k2k.events import Event
from k2k.observability import logger
from k2k.store import Store

if TYPE_CHECKING:
    from k2k import orders, procurement
    from k2k.services import invoices as svc
else:  # the invoices service and the domain its events are made of: at the first event (k2k.lazy)
    orders = lazy.module("k2k.orders")
    procurement = lazy.module("k2k.procurement")
    svc = lazy.module("k2k.services.invoices")


def _db() -> Store:
    return Store(Settings.from_env().table_name)


def _docs() -> svc.Documents:
    return svc.Documents(Settings.from_env().documents_bucket)


def _order_confirmed(event: Event) -> None:
    svc.issue_for_order(_db(), _docs(), orders.OrderConfirmed.model_validate(event.data))


def _prebook_shipped(event: Event) -> None:
    svc.issue_for_prebook(_db(), _docs(), procurement.PrebookShipped.model_validate(event.data))


def _invoice_event(event: Event) -> None:
    svc.on_invoice_event(_db(), _docs(), event)


HANDLERS = {
    "OrderConfirmed": _order_confirmed,
    "PrebookShipped": _prebook_shipped,
    "InvoiceIssued": _invoice_event,
    "InvoiceUpdated": _invoice_event,
    "InvoiceVoided": _invoice_event,
}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return sqs_batch(event, HANDLERS)


gc.freeze()  # init's objects stay for the process: later collections need not scan them
gc.enable()
