"""The vendor's side of K2K orders: list, confirm, void, delete lines (REST).

Order notices (emails for order events) are `notices.py`.
"""

from __future__ import annotations

import gc

gc.disable()  # no collection during init: what it builds lives as long as the process (frozen below)

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from k2k import lazy
from k2k.api import IdPath, Limit, LineNoPath, NextToken, caller, create_resolver, handle
from k2k.bounds import PAGE_SIZE
from k2k.config import Settings
from k2k.observability import logger
from k2k.paging import Page
from k2k.store import Store

if TYPE_CHECKING:
    from k2k import orders
    from k2k.services import order_data, vendor_orders
else:  # the orders services and the domain they are made of: at a route's first request (k2k.lazy)
    orders = lazy.module("k2k.orders")
    order_data = lazy.module("k2k.services.order_data")
    vendor_orders = lazy.module("k2k.services.vendor_orders")


app = create_resolver()


def _db() -> Store:
    return Store(Settings.from_env().table_name)


@app.get("/orders", summary="The vendor's K2K orders (flagged k2k)")
def list_orders(limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> Page[orders.VendorOrder]:
    return order_data.list_orders(_db(), caller(app).company_id, limit, next_token)


@app.get("/orders/<order_id>", summary="One K2K order")
def get_order(order_id: IdPath) -> orders.VendorOrder:
    return order_data.get_order(_db(), caller(app).company_id, order_id)


@app.post("/orders/<order_id>/confirm", summary="Confirm: lines never checked out are deleted, an AWB assigned")
def confirm(order_id: IdPath, body: vendor_orders.OrderConfirmation) -> orders.VendorOrder:
    return vendor_orders.confirm_order(_db(), caller(app), order_id, body)


@app.post("/orders/<order_id>/void", summary="Void the whole order (type CONFIRM); the buyer is told")
def void(order_id: IdPath, body: vendor_orders.OrderVoid) -> orders.VendorOrder:
    return vendor_orders.void_order(_db(), caller(app), order_id, body)


@app.delete("/orders/<order_id>/lines/<line_no>", summary="Delete a line; its boxes go back to open market")
def delete_line(order_id: IdPath, line_no: LineNoPath) -> orders.VendorOrder:
    return vendor_orders.delete_line(_db(), caller(app), order_id, line_no)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context)


gc.freeze()  # init's objects stay for the process: later collections need not scan them
gc.enable()
