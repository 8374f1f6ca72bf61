"""The availability projection: inventory, stock and connection events, fed by the availability-sync queue."""

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
    from k2k import inventory
    from k2k.services import availability, network
else:  # the availability service and the domain its events are made of: at the first event (k2k.lazy)
    inventory = lazy.module("k2k.inventory")
    availability = lazy.module("k2k.services.availability")
    network = lazy.module("k2k.services.network")


def _db() -> Store:
    return Store(Settings.from_env().table_name)


def _line_changed(event: Event) -> None:
    availability.project_line(_db(), inventory.InventoryLine.model_validate(event.data), event.metadata.occurred_at)


def _stock_moved(event: Event) -> None:
    moved = inventory.InventoryStockMoved.model_validate(event.data)
    availability.project_current(_db(), moved.vendor_company_id, moved.line_id)


def _line_removed(event: Event) -> None:
    availability.unpublish_line(_db(), inventory.InventoryLineRemoved.model_validate(event.data))


def _connection_changed(event: Event) -> None:
    conn = network.ConnectionChanged.model_validate(event.data).connection
    availability.resync(_db(), conn.vendor_company_id, conn.buyer_company_id)


def _resync_requested(event: Event) -> None:
    data = inventory.AvailabilityResyncRequested.model_validate(event.data)
    if data.buyer_company_id:
        availability.resync(_db(), data.vendor_company_id, data.buyer_company_id)
    else:
        availability.resync_vendor(_db(), data.vendor_company_id)


HANDLERS = {
    "InventoryLineChanged": _line_changed,
    "InventoryStockMoved": _stock_moved,
    "InventoryLineRemoved": _line_removed,
    "ConnectionChanged": _connection_changed,
    "AvailabilityResyncRequested": _resync_requested,
}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return sqs_batch(event, HANDLERS)


gc.freeze()  # init's objects stay for the process: later collections need not scan them
gc.enable()
