"""The buyer's side of orders: e-commerce carts, prebooks, purchase orders (K2K and standalone), staging (REST).

The invoices staging bills are customer invoices: functions/accounts.

Cart timers are `timers.py`.
"""

from __future__ import annotations

import gc

gc.disable()  # no collection during init: what it builds lives as long as the process (frozen below)

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from k2k import lazy
from k2k.api import IdPath, Limit, LineNoPath, NextToken, caller, create_resolver, handle
from k2k.bounds import PAGE_SIZE
from k2k.config import Settings
from k2k.observability import logger
from k2k.paging import Page
from k2k.router import Body
from k2k.store import Store

if TYPE_CHECKING:
    from k2k import orders
    from k2k import procurement as procurement_rules
    from k2k import purchasing as purchasing_rules
    from k2k.services import order_data, procurement, purchasing, staging
    from k2k.services import orders as svc
else:  # each route's service and the domain it is made of: at the route's first request (k2k.lazy)
    orders = lazy.module("k2k.orders")
    procurement_rules = lazy.module("k2k.procurement")
    purchasing_rules = lazy.module("k2k.purchasing")
    order_data = lazy.module("k2k.services.order_data")
    procurement = lazy.module("k2k.services.procurement")
    purchasing = lazy.module("k2k.services.purchasing")
    staging = lazy.module("k2k.services.staging")
    svc = lazy.module("k2k.services.orders")

app = create_resolver()


def _db() -> Store:
    return Store(Settings.from_env().table_name)


@app.post("/carts", status_code=201, summary="Open a cart with a first K2K line (holds the vendor's stock)")
def open_cart(body: svc.CartAdd) -> orders.Cart:
    return svc.add_to_cart(_db(), caller(app), None, body)


@app.post("/carts/<cart_id>/lines", summary="Add a K2K line to an open cart")
def add_line(cart_id: IdPath, body: svc.CartAdd) -> orders.Cart:
    return svc.add_to_cart(_db(), caller(app), cart_id, body)


@app.get("/carts/<cart_id>", summary="A cart")
def get_cart(cart_id: IdPath) -> orders.Cart:
    return order_data.get_cart(_db(), caller(app).company_id, cart_id)


@app.post("/carts/<cart_id>/checkout", summary="Check out: the cart becomes a prebook for the end customer")
def checkout(cart_id: IdPath) -> svc.CheckedOut:
    cart, prebook = svc.checkout(_db(), caller(app), cart_id)
    return svc.CheckedOut(cart=cart, prebook=prebook)


@app.post("/prebooks", status_code=201, summary="A salesperson's prebook with K2K lines")
def create_prebook(body: svc.PrebookIn) -> orders.Prebook:
    return svc.create_prebook(_db(), caller(app), body)


@app.get("/prebooks", summary="The company's prebooks")
def list_prebooks(limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> Page[orders.Prebook]:
    return order_data.list_prebooks(_db(), caller(app).company_id, limit, next_token)


@app.get("/prebooks/<prebook_id>", summary="A prebook")
def get_prebook(prebook_id: IdPath) -> orders.Prebook:
    return order_data.get_prebook(_db(), caller(app).company_id, prebook_id)


@app.post("/prebooks/<prebook_id>/purchase-orders", status_code=201,
          summary="Buy a prebook: its K2K lines (auto-approved K2K POs; orders appear at the vendors) and the "
                  "product lines the body names (a standalone PO per chosen vendor, e.g. the production company)")
def create_pos(prebook_id: IdPath,
               body: Annotated[svc.PrebookPosIn | None, Body()] = None) -> list[purchasing_rules.AnyPurchaseOrder]:
    return svc.create_pos_from_prebook(_db(), caller(app), prebook_id, body)


@app.post("/prebooks/<prebook_id>/confirm",
          summary="K2K for Procurement: the vendor answers a prebook transferred from its customer's PO (lines "
                  "confirmed as they are unless named: another quantity or price, or rejected); the answer goes "
                  "back onto the customer's PO")
def confirm_prebook(prebook_id: IdPath, body: Annotated[procurement_rules.PrebookAnswerIn, Body()]) -> orders.Prebook:
    return procurement.answer_prebook(_db(), caller(app), prebook_id, body)


@app.post("/prebooks/<prebook_id>/ship",
          summary="K2K for Procurement: the vendor ships an answered transferred prebook (its confirmed lines under "
                  "their box codes, one AWB); the boxes wait in the customer's staging area")
def ship_prebook(prebook_id: IdPath, body: Annotated[procurement_rules.ShipIn, Body()]) -> orders.Prebook:
    return procurement.ship_prebook(_db(), caller(app), prebook_id, body)


@app.post("/prebooks/<prebook_id>/change-request",
          summary="K2K for Procurement: the vendor accepts or rejects its customer's change or cancel of a prebook it "
                  "answered already; the answer goes back onto the customer's PO")
def answer_change_request(prebook_id: IdPath,
                          body: Annotated[procurement_rules.ChangeAnswerIn, Body()]) -> orders.Prebook:
    return procurement.answer_change_request(_db(), caller(app), prebook_id, body)


@app.post("/purchase-orders", status_code=201,
          summary="Create a PO: with K2K products from the availability (kind k2k: auto-approved, the vendor's "
                  "order exists), or standalone to one of the company's vendors (kind standalone: pending approval)")
def create_po(body: Annotated[svc.PurchaseOrderIn, Body()]) -> purchasing_rules.AnyPurchaseOrder:
    if isinstance(body, purchasing_rules.StandalonePoIn):
        return purchasing.create_po(_db(), caller(app), body)
    return svc.buy_from_availability(_db(), caller(app), body)


@app.get("/purchase-orders", summary="The company's purchase orders, K2K and standalone (each with its kind)")
def list_pos(limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> Page[purchasing_rules.AnyPurchaseOrder]:
    return purchasing.list_pos(_db(), caller(app).company_id, limit, next_token)


@app.get("/purchase-orders/<po_id>", summary="A PO, and (K2K) where it differs from what the vendor confirmed")
def get_po(po_id: IdPath) -> svc.PurchaseOrderView:
    po = purchasing.get_any_po(_db(), caller(app).company_id, po_id)
    return svc.PurchaseOrderView(purchase_order=po,
                                 differences=svc.differences(po) if isinstance(po, orders.PurchaseOrder) else [])


@app.post("/purchase-orders/<po_id>/approve", summary="Approve a standalone PO pending approval")
def approve_po(po_id: IdPath, body: purchasing.ApproveIn) -> purchasing_rules.StandalonePurchaseOrder:
    return purchasing.approve(_db(), caller(app), po_id, body)


@app.post("/purchase-orders/<po_id>/cancel",
          summary="Cancel a standalone PO not yet confirmed; one transferred to a K2K vendor directly until the "
                  "vendor answers it (its prebook is cancelled too), after that as a request the vendor accepts or "
                  "rejects")
def cancel_po(po_id: IdPath, body: purchasing.ApproveIn) -> purchasing_rules.StandalonePurchaseOrder:
    return procurement.cancel_po(_db(), caller(app), po_id, body)


@app.post("/purchase-orders/<po_id>/change",
          summary="Change a standalone PO's quantities before its goods are confirmed; one transferred to a K2K vendor "
                  "directly until the vendor answers it (its prebook follows), after that as a request the vendor "
                  "accepts or rejects")
def change_po(po_id: IdPath,
              body: Annotated[procurement_rules.PoChangeIn, Body()]) -> purchasing_rules.StandalonePurchaseOrder:
    return procurement.change_po(_db(), caller(app), po_id, body)


@app.post("/purchase-orders/<po_id>/confirm",
          summary="An approved standalone PO's goods arrived: its lines wait in staging under their box codes")
def confirm_po(po_id: IdPath, body: purchasing.ConfirmIn) -> purchasing_rules.StandalonePurchaseOrder:
    return purchasing.confirm(_db(), caller(app), po_id, body)


@app.patch("/purchase-orders/<po_id>/lines/<line_no>", summary="Modify a shipped K2K PO line (the buyer's PO only)")
def modify_line(po_id: IdPath, line_no: LineNoPath,
                body: svc.ShippedLinePatch) -> svc.PurchaseOrderView:
    po = svc.modify_shipped_line(_db(), caller(app), po_id, line_no, body)
    return svc.PurchaseOrderView(purchase_order=po, differences=svc.differences(po))


@app.get("/staging", summary="Boxes waiting to be received: confirmed K2K boxes under the vendor's box codes, "
                             "standalone PO lines under theirs")
def list_staging(limit: Limit = PAGE_SIZE, next_token: NextToken = None) -> Page[staging.StagedBoxes]:
    return staging.list_staging(_db(), caller(app), limit, next_token)


@app.post("/staging/receive", summary="Receive boxes by box code: bill the prebook's customer or stock them")
def receive(body: staging.ReceiveIn) -> staging.Receipt:
    return staging.receive(_db(), caller(app), body)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context)


gc.freeze()  # init's objects stay for the process: later collections need not scan them
gc.enable()
