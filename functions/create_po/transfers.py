"""K2K for Procurement, fed by the procurement queue: a buyer's new PO becomes its vendor's prebook, and the
vendor's answer to that prebook comes back onto the PO, and its shipment into the buyer's staging area; the
buyer's changes and cancels reach the prebook, or as requests the vendor answers (k2k.services.procurement)."""

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
    from k2k import procurement as prebooks
    from k2k import purchasing
    from k2k.services import procurement
else:  # the procurement service and the domain its events are made of: at the first event (k2k.lazy)
    prebooks = lazy.module("k2k.procurement")
    purchasing = lazy.module("k2k.purchasing")
    procurement = lazy.module("k2k.services.procurement")


def _db() -> Store:
    return Store(Settings.from_env().table_name)


def _po_created(event: Event) -> None:
    procurement.transfer_po(_db(), purchasing.PurchaseOrderCreated.model_validate(event.data).purchase_order)


def _prebook_answered(event: Event) -> None:
    procurement.on_prebook_answered(_db(), prebooks.PrebookAnswered.model_validate(event.data))


def _prebook_shipped(event: Event) -> None:
    procurement.on_prebook_shipped(_db(), prebooks.PrebookShipped.model_validate(event.data))


def _po_cancelled(event: Event) -> None:
    procurement.on_po_cancelled(_db(), purchasing.PurchaseOrderCancelled.model_validate(event.data).purchase_order)


def _po_changed(event: Event) -> None:
    procurement.on_po_changed(_db(), purchasing.PurchaseOrderChanged.model_validate(event.data).purchase_order)


def _change_requested(event: Event) -> None:
    procurement.on_change_requested(_db(), prebooks.PurchaseOrderChangeRequested.model_validate(event.data))


def _change_answered(event: Event) -> None:
    procurement.on_change_answered(_db(), prebooks.PrebookChangeAnswered.model_validate(event.data))


HANDLERS = {"PurchaseOrderCreated": _po_created, "PurchaseOrderCancelled": _po_cancelled,
            "PurchaseOrderChanged": _po_changed, "PrebookAnswered": _prebook_answered,
            "PrebookShipped": _prebook_shipped, "PurchaseOrderChangeRequested": _change_requested,
            "PrebookChangeAnswered": _change_answered}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return sqs_batch(event, HANDLERS)


gc.freeze()  # init's objects stay for the process: later collections need not scan them
gc.enable()
