"""Vendor inventory lines, their publication to connected buyers, and the buyer's availability.

Two entry points: `api_handler` (REST) and `sync_handler` (the projection
consumer fed by the availability-sync queue).
"""


from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from k2k.api import caller, create_resolver, handle
from k2k.config import Settings
from k2k.consumer import sqs_batch
from k2k.events import Event
from k2k.inventory import AvailabilityResyncRequested, InventoryLine, InventoryLineRemoved, LineFields, LinePatch
from k2k.network import CompanyId
from k2k.observability import logger, tracer
from k2k.orders import InventoryStockMoved
from k2k.services import availability
from k2k.services import inventory as svc
from k2k.services.network import ConnectionChanged
from k2k.store import Store

app = create_resolver()


def _db() -> Store:
    return Store(Settings.from_env().table_name)


class LineWithPublication(BaseModel):
    line: InventoryLine
    publication: list[svc.Publication]


class ResyncRequest(BaseModel):
    buyer_company_id: CompanyId | None = None


@app.get("/inventory", summary="The vendor's own inventory lines")
def list_lines() -> list[InventoryLine]:
    return svc.list_lines(_db(), caller(app))


@app.post("/inventory", status_code=201, summary="Add an inventory line")
def create_line(body: LineFields) -> InventoryLine:
    return svc.create_line(_db(), caller(app), body)


@app.get("/inventory/<line_id>", summary="A line, and why each connected buyer does or does not see it")
def get_line(line_id: Annotated[str, Path()]) -> LineWithPublication:
    db = _db()
    line = svc.get_line(db, caller(app).company_id, line_id)
    return LineWithPublication(line=line, publication=svc.publication(db, line))


@app.patch("/inventory/<line_id>", summary="Change price, hold, quantities or any field of a line")
def update_line(line_id: Annotated[str, Path()], body: LinePatch) -> InventoryLine:
    return svc.update_line(_db(), caller(app), line_id, body)


@app.delete("/inventory/<line_id>", status_code=204, summary="Remove a line")
def remove_line(line_id: Annotated[str, Path()]) -> None:
    svc.remove_line(_db(), caller(app), line_id)


@app.post("/inventory/resync", status_code=202, summary="Repair: republish to one buyer or all (Admin, Setup)")
def resync(body: ResyncRequest) -> dict[str, str]:
    svc.request_resync(_db(), caller(app), body.buyer_company_id)
    return {"status": "queued"}


@app.get("/availability", summary="The buyer's K2K availability, priced for one of its locations")
def get_availability(location: Annotated[str | None, Query()] = None,
                     vendor: Annotated[str | None, Query()] = None) -> availability.Availability:
    return availability.read_availability(_db(), caller(app), location, vendor)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def api_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context)


# -- projection consumer ------------------------------------------------------------------------

def _line_changed(event: Event) -> None:
    availability.project_line(_db(), InventoryLine.model_validate(event.data))


def _stock_moved(event: Event) -> None:
    moved = InventoryStockMoved.model_validate(event.data)
    availability.project_current(_db(), moved.vendor_company_id, moved.line_id)


def _line_removed(event: Event) -> None:
    availability.unpublish_line(_db(), InventoryLineRemoved.model_validate(event.data))


def _connection_changed(event: Event) -> None:
    conn = ConnectionChanged.model_validate(event.data).connection
    availability.resync(_db(), conn.vendor_company_id, conn.buyer_company_id)


def _resync_requested(event: Event) -> None:
    data = AvailabilityResyncRequested.model_validate(event.data)
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
def sync_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return sqs_batch(event, context, HANDLERS)
