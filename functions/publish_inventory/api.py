"""Vendor inventory lines, their publication to connected buyers, the buyer's availability, and the
company's products catalogue (REST).

The projection consumer is `sync.py`: it never builds this resolver.
"""

from __future__ import annotations

import gc

gc.disable()  # no collection during init: what it builds lives as long as the process (frozen below)

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from k2k import lazy
from k2k.api import CodePath, IdPath, Limit, NextToken, caller, create_resolver, handle
from k2k.bounds import PAGE_SIZE, Code, CompanyId
from k2k.config import Settings
from k2k.observability import logger
from k2k.paging import Page
from k2k.router import Body, Query
from k2k.store import Store

if TYPE_CHECKING:
    from k2k import inventory, products
    from k2k.services import availability
    from k2k.services import inventory as svc
    from k2k.services import products as product_svc
else:  # each route's service and the domain it is made of: at the route's first request (k2k.lazy)
    inventory = lazy.module("k2k.inventory")
    products = lazy.module("k2k.products")
    availability = lazy.module("k2k.services.availability")
    svc = lazy.module("k2k.services.inventory")
    product_svc = lazy.module("k2k.services.products")

app = create_resolver()


def _db() -> Store:
    return Store(Settings.from_env().table_name)


@app.get("/products", summary="The company's products catalogue (live, hard and finished goods)")
def list_products(limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> Page[products.Product]:
    return product_svc.list_products(_db(), caller(app), limit, next_token)


@app.get("/products/<product_code>", summary="A product")
def get_product(product_code: CodePath) -> products.Product:
    return product_svc.get_product(_db(), caller(app).company_id, product_code)


@app.put("/products/<product_code>", summary="Create or change a product of the catalogue")
def put_product(product_code: CodePath, body: Annotated[products.ProductIn, Body()]) -> products.Product:
    return product_svc.put_product(_db(), caller(app), product_code, body)


@app.get("/inventory", summary="The vendor's own inventory lines")
def list_lines(limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> Page[inventory.InventoryLine]:
    return svc.list_lines(_db(), caller(app), limit, next_token)


@app.post("/inventory", status_code=201, summary="Add an inventory line")
def create_line(body: inventory.LineFieldsIn) -> inventory.InventoryLine:
    return svc.create_line(_db(), caller(app), body)


@app.get("/inventory/<line_id>", summary="A line, and why each connected buyer does or does not see it")
def get_line(line_id: IdPath) -> svc.LineWithPublication:
    db = _db()
    line = svc.get_line(db, caller(app).company_id, line_id)
    return svc.LineWithPublication(line=line, publication=svc.publication(db, line))


@app.patch("/inventory/<line_id>", summary="Change price, hold, quantities or any field of a line")
def update_line(line_id: IdPath, body: inventory.LinePatch) -> inventory.InventoryLine:
    return svc.update_line(_db(), caller(app), line_id, body)


@app.delete("/inventory/<line_id>", status_code=204, summary="Remove a line")
def remove_line(line_id: IdPath) -> None:
    svc.remove_line(_db(), caller(app), line_id)


@app.post("/inventory/resync", status_code=202, summary="Repair: republish to one buyer or all (Admin, Setup)")
def resync(body: svc.ResyncRequest) -> dict[str, str]:
    svc.request_resync(_db(), caller(app), body.buyer_company_id)
    return {"status": "queued"}


@app.get("/availability", summary="The buyer's K2K availability, priced for one of its locations")
def get_availability(location: Annotated[Code | None, Query()] = None,
                     vendor: Annotated[CompanyId | None, Query()] = None,
                     limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> availability.Availability:
    return availability.read_availability(_db(), caller(app), location, vendor, limit=limit, token=next_token)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context)


gc.freeze()  # init's objects stay for the process: later collections need not scan them
gc.enable()
