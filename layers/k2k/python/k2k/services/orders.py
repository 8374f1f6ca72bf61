"""K2K orders on the store: carts, prebooks, purchase orders and the vendor's K2K order.

Every step is one TransactWriteItems across the documents it touches - the
vendor's line (stock, by a conditional update that can never go below zero),
the buyer's cart/prebook/PO and the vendor's order (each conditional on the
version read) and the outbox. A lost race on a document is retried from a
fresh read; a lost race on stock is the customer's answer ("only N left").
"""

from __future__ import annotations

import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from k2k import clock, keys, pricing, store
from k2k.auth import Caller
from k2k.bounds import (
    BoxCount,
    BunchesPerBox,
    Code,
    CompanyId,
    Id,
    Input,
    Label,
    LineBoxes,
    Name,
    StemsPerBunch,
    UnitMoney,
    Version,
)
from k2k.errors import Conflict, Invalid, NotFound
from k2k.events import new_event, outbox
from k2k.inventory import BoxType, InventoryLine, InventoryStockMoved, UnitType, age_ineligibility, ineligibility
from k2k.models import Model
from k2k.network import Company, Connection
from k2k.orders import (
    Cart,
    CartCheckedOut,
    CartExpired,
    CartLine,
    CartOpened,
    CartStatus,
    Classification,
    LineStatus,
    OrderLine,
    OrderStatus,
    PoStatus,
    Prebook,
    PrebookLine,
    PurchaseOrder,
    PurchaseOrderPlaced,
    ShipVia,
    Source,
    VendorOrder,
    cart_open,
    check_ship_date,
    choose_po,
    next_line_no,
)
from k2k.services.inventory import get_line
from k2k.services.network import connection_for_buyer, get_company, get_customer
from k2k.store import ConditionFailed, Store, plain, to_item

ATTEMPTS = 10

T = TypeVar("T")


def _id() -> str:
    return uuid.uuid4().hex[:12].upper()


# -- keys and documents -------------------------------------------------------------------------

def cart_key(buyer: str, cart_id: str) -> dict[str, str]:
    return {"pk": keys.company_pk(buyer), "sk": f"CART#{cart_id}"}


def po_key(buyer: str, po_id: str) -> dict[str, str]:
    return {"pk": keys.company_pk(buyer), "sk": f"PO#{po_id}"}


def prebook_key(buyer: str, prebook_id: str) -> dict[str, str]:
    return {"pk": keys.company_pk(buyer), "sk": f"PREBOOK#{prebook_id}"}


def order_key(vendor: str, order_id: str) -> dict[str, str]:
    return {"pk": keys.company_pk(vendor), "sk": f"ORDER#{order_id}"}


def _load(db: Store, key: dict[str, str], model: type[T], what: str) -> T:
    item = db.get(key["pk"], key["sk"])
    if item is None:
        raise NotFound(f"{what} not found")
    return model.model_validate(plain(item))  # type: ignore[attr-defined, no-any-return]


def get_cart(db: Store, company_id: str, cart_id: str) -> Cart:
    return _load(db, cart_key(company_id, cart_id), Cart, "cart")


def get_po(db: Store, company_id: str, po_id: str) -> PurchaseOrder:
    return _load(db, po_key(company_id, po_id), PurchaseOrder, "purchase order")


def get_prebook(db: Store, company_id: str, prebook_id: str) -> Prebook:
    return _load(db, prebook_key(company_id, prebook_id), Prebook, "prebook")


def get_order(db: Store, company_id: str, order_id: str) -> VendorOrder:
    return _load(db, order_key(company_id, order_id), VendorOrder, "order")


def list_pos(db: Store, company_id: str) -> list[PurchaseOrder]:
    return [PurchaseOrder.model_validate(plain(i)) for i in db.query(keys.company_pk(company_id), "PO#")]


def list_orders(db: Store, company_id: str) -> list[VendorOrder]:
    return [VendorOrder.model_validate(plain(i)) for i in db.query(keys.company_pk(company_id), "ORDER#")]


def list_prebooks(db: Store, company_id: str) -> list[Prebook]:
    return [Prebook.model_validate(plain(i)) for i in db.query(keys.company_pk(company_id), "PREBOOK#")]


def write(doc: BaseModel, key: dict[str, str], kind: str, read_version: int | None) -> store.Op:
    """Put a whole document, conditional on the version it was read at (None: must be new)."""
    item = to_item(doc, **key, kind=kind)
    if read_version is None:
        return store.put(item, condition="attribute_not_exists(pk)")
    return store.put(item, condition="version = :v", values={":v": read_version})


def stock(vendor: str, line_id: str, *, on_hand: int = 0, held: int = 0, sold: int = 0,
          price: Decimal | None = None) -> store.Op:
    """Move boxes between a line's buckets; the condition keeps every bucket at zero or more."""
    conditions = ["attribute_exists(pk)"]
    values: dict[str, Any] = {":oh": on_hand, ":held": held, ":sold": sold, ":one": 1, ":zero": 0}
    for attr, delta, name in (("boxes_on_hand", on_hand, ":need_oh"), ("boxes_held", held, ":need_held"),
                              ("boxes_sold", sold, ":need_sold")):
        if delta < 0:
            conditions.append(f"{attr} >= {name}")
            values[name] = -delta
    if price is not None:  # the cost the buyer was quoted is the cost it pays
        conditions.append("price = :price AND on_hold = :false")
        values.update({":price": price, ":false": False})
    return store.update(
        {"pk": keys.company_pk(vendor), "sk": keys.inventory_sk(line_id)},
        "SET boxes_on_hand = boxes_on_hand + :oh, "
        "boxes_held = if_not_exists(boxes_held, :zero) + :held, "
        "boxes_sold = if_not_exists(boxes_sold, :zero) + :sold, version = version + :one",
        values=values, condition=" AND ".join(conditions))


def stock_event(vendor: str, line_id: str) -> store.Op:
    return outbox(new_event(InventoryStockMoved(vendor_company_id=vendor, line_id=line_id),
                            company_id=vendor, aggregate_id=line_id, aggregate_version=0))


def _retrying(attempt: Callable[[], T]) -> T:
    """Run a read-decide-write step again from fresh reads while it loses races on documents."""
    for n in range(ATTEMPTS):
        try:
            return attempt()
        except _Retry:
            time.sleep(random.uniform(0, 0.01 * 2**n))  # spread the contenders out
    raise Conflict("too many concurrent changes; try again")


class _Retry(Exception):
    pass


def _transact(db: Store, ops: list[store.Op], stock_ops: int = 0, out_of_stock: str = "") -> None:
    """The first `stock_ops` ops are stock moves: their failure is final, any other is a retry."""
    try:
        db.transact(ops)
    except ConditionFailed as e:
        if any(e.failed_at(i) for i in range(stock_ops)):
            raise Conflict(out_of_stock) from e
        raise _Retry from e


# -- pricing a K2K line for the buyer ---------------------------------------------------------

class Quote(Model):
    line: InventoryLine
    connection: Connection
    unit_cost: Decimal
    landed_cost: Decimal
    suggested_price: Decimal
    earliest_ship_date: date


def quote(db: Store, buyer: Company, vendor_id: str, line_id: str, location: str | None = None) -> Quote:
    """What a K2K line costs this buyer now, or why it cannot be bought (as if it did not exist)."""
    conn = connection_for_buyer(db, buyer.company_id, vendor_id)
    if conn is None or not conn.active:
        raise NotFound("K2K line not found")
    try:
        line = get_line(db, vendor_id, line_id)
    except NotFound:
        raise NotFound("K2K line not found") from None
    now = pricing.local_now(conn.vendor_timezone, clock.now())
    broken = ineligibility(line, conn.terms) + age_ineligibility(
        line.inventory_type.value, line.received_date, conn.terms, now.date())
    if broken:
        raise Conflict("this line is no longer available: " + ", ".join(r.value for r in broken))
    assert line.price is not None and line.dimensions is not None
    settings = buyer.settings.buyer
    cost = pricing.price_to_buyer(line.price, conn.terms.markup_pct)
    units = pricing.units_per_box(line.unit_type.value, line.bunches_per_box, line.stems_per_bunch)
    landed = pricing.landed_cost(
        cost, cube=pricing.box_cube(line.dimensions.length, line.dimensions.width, line.dimensions.height),
        units=units, cube_rate=settings.freight_cube_rate or Decimal(0), duties_pct=settings.duties_pct,
        handling_per_box=settings.handling_per_box)
    gpm = settings.gpm_for(location or buyer.location_codes[0])
    return Quote(line=line, connection=conn, unit_cost=cost, landed_cost=landed,
                 suggested_price=pricing.suggested_price(landed, gpm),
                 earliest_ship_date=pricing.earliest_ship_date(
                     now.date(), now.time(), conn.terms.ship_days_offset, conn.terms.cutoff_time,
                     line.available_date))


def _order_line(q: Quote, line_no: int, boxes: int, customer_code: str, checked_out: bool, *,
                cart_id: str | None = None, prebook_id: str | None = None,
                prebook_line_no: int | None = None) -> OrderLine:
    line = q.line
    assert line.box_type is not None
    return OrderLine(line_no=line_no, vendor_line_id=line.line_id, box_code=line.box_code, product=line.product,
                     box_type=line.box_type, unit_type=line.unit_type, bunches_per_box=line.bunches_per_box,
                     stems_per_bunch=line.stems_per_bunch, boxes=boxes, unit_cost=q.unit_cost,
                     customer_code=customer_code, checked_out=checked_out, cart_id=cart_id,
                     prebook_id=prebook_id, prebook_line_no=prebook_line_no)


def _pending_pos(db: Store, buyer_id: str) -> list[PurchaseOrder]:
    items = db.query(keys.company_pk(buyer_id), "PO#", consistent=True, filter_expression="#s = :p",
                     names={"#s": "status"}, values={":p": PoStatus.PENDING_APPROVAL.value})
    return [PurchaseOrder.model_validate(plain(i)) for i in items]


def _new_po(buyer: Company, q: Quote, ship_date: date, source: Source, separate: bool, status: PoStatus,
            now: datetime) -> tuple[PurchaseOrder, VendorOrder]:
    po_id, order_id = f"PO-{_id()}", f"K2K-{_id()}"
    conn = q.connection
    po = PurchaseOrder(po_id=po_id, buyer_company_id=buyer.company_id, vendor_company_id=conn.vendor_company_id,
                       vendor_name=conn.vendor_name, vendor_code=conn.vendor_code, order_id=order_id,
                       ship_date=ship_date, source=source, separate=separate, status=status, lines=[],
                       version=0, created_at=now, updated_at=now)
    order = VendorOrder(order_id=order_id, vendor_company_id=conn.vendor_company_id,
                        buyer_company_id=buyer.company_id, buyer_name=buyer.name,
                        customer_code=conn.buyer_customer_code, po_id=po_id, ship_date=ship_date,
                        status=OrderStatus.OPEN, lines=[], version=0, created_at=now, updated_at=now)
    return po, order


def pending_guard(was: PoStatus | None, po: PurchaseOrder) -> list[store.Op]:
    """At most one consolidating PO pending approval per vendor and ship date: a guard item is created
    with it and removed when it leaves pending approval, so two first adds racing cannot open two."""
    if po.separate:
        return []
    key = {"pk": keys.company_pk(po.buyer_company_id),
           "sk": f"POPENDING#{po.vendor_company_id}#{po.ship_date.isoformat()}"}
    pending = po.status is PoStatus.PENDING_APPROVAL
    if pending and was is not PoStatus.PENDING_APPROVAL:
        return [store.put({**key, "kind": "POGUARD", "po_id": po.po_id}, condition="attribute_not_exists(pk)")]
    if was is PoStatus.PENDING_APPROVAL and not pending:
        return [store.delete(key, condition="attribute_not_exists(pk) OR po_id = :po", values={":po": po.po_id})]
    return []


def _bump(doc: T, **changes: Any) -> T:
    return doc.model_copy(update={**changes, "version": doc.version + 1})  # type: ignore[attr-defined]


def _written(doc: BaseModel, key: dict[str, str], kind: str) -> store.Op:
    version = doc.version  # type: ignore[attr-defined]
    return write(doc, key, kind, version - 1 if version > 1 else None)


# -- e-commerce carts ---------------------------------------------------------------------------

class CartAdd(Input):
    customer_code: Code = Field(description="the buyer's end customer")
    ship_date: date
    vendor_company_id: CompanyId
    line_id: Id
    boxes: LineBoxes
    location: Code | None = Field(default=None, description="the buyer location that sells (its GPM prices it)")


def add_to_cart(db: Store, caller: Caller, cart_id: str | None, body: CartAdd) -> Cart:
    buyer = get_company(db, caller.company_id)
    if get_customer(db, buyer.company_id, body.customer_code) is None:
        raise Invalid(f"customer {body.customer_code} not found", field="customer_code")

    def attempt() -> Cart:
        now = clock.now()
        q = quote(db, buyer, body.vendor_company_id, body.line_id, body.location)
        check_ship_date(body.ship_date, q.earliest_ship_date)
        if cart_id is None:
            timer = timedelta(minutes=buyer.settings.buyer.cart_timer_minutes)
            cart = Cart(cart_id=f"CART-{_id()}", buyer_company_id=buyer.company_id,
                        customer_code=body.customer_code, ship_date=body.ship_date, status=CartStatus.OPEN,
                        opened_at=now, expires_at=now + timer, version=0)
        else:
            cart = get_cart(db, buyer.company_id, cart_id)
            cart_open(cart, now)
            if (cart.customer_code, cart.ship_date) != (body.customer_code, body.ship_date):
                raise Invalid("a cart is for one customer and one ship date", field="ship_date")
        separate = buyer.settings.automations.separate_ecommerce_pos
        po = choose_po(_pending_pos(db, buyer.company_id), body.vendor_company_id, body.ship_date,
                       Source.ECOMMERCE, cart.cart_id, separate)
        if po is None:
            po, order = _new_po(buyer, q, body.ship_date, Source.ECOMMERCE, separate, PoStatus.PENDING_APPROVAL,
                                now)
        else:
            order = get_order(db, po.vendor_company_id, po.order_id)
        line_no = next_line_no(po.lines)
        line = _order_line(q, line_no, body.boxes, body.customer_code, False, cart_id=cart.cart_id)
        new_po = po.version == 0
        was = None if new_po else po.status
        po = _bump(po, lines=[*po.lines, line], updated_at=now)
        order = _bump(order, lines=[*order.lines, line], updated_at=now)
        cart = _bump(cart, lines=[*cart.lines, CartLine(
            vendor_company_id=body.vendor_company_id, vendor_line_id=body.line_id, box_code=q.line.box_code,
            product=q.line.product, boxes=body.boxes, po_id=po.po_id, line_no=line_no,
            unit_price=q.suggested_price)])
        ops = [
            stock(body.vendor_company_id, body.line_id, on_hand=-body.boxes, held=body.boxes,
                  price=q.line.price),
            _written(cart, cart_key(buyer.company_id, cart.cart_id), "CART"),
            _written(po, po_key(buyer.company_id, po.po_id), "PO"),
            _written(order, order_key(po.vendor_company_id, order.order_id), "ORDER"),
            *pending_guard(was, po),
            stock_event(body.vendor_company_id, body.line_id),
        ]
        if cart.version == 1:
            ops.append(outbox(new_event(
                CartOpened(buyer_company_id=buyer.company_id, cart_id=cart.cart_id, expires_at=cart.expires_at),
                company_id=buyer.company_id, aggregate_id=cart.cart_id, aggregate_version=cart.version)))
        if new_po:
            ops.append(outbox(new_event(PurchaseOrderPlaced(po=po, order=order), company_id=buyer.company_id,
                                        aggregate_id=po.po_id, aggregate_version=po.version)))
        left = q.line.boxes_on_hand
        _transact(db, ops, 1, f"only {left} boxes of {q.line.box_code} are left" if left else
                  f"{q.line.box_code} is sold out")
        return cart

    return _retrying(attempt)


def _lines_by_po(cart: Cart) -> dict[str, list[CartLine]]:
    grouped: dict[str, list[CartLine]] = defaultdict(list)
    for line in cart.lines:
        if line.status is LineStatus.ACTIVE:
            grouped[line.po_id].append(line)
    return grouped


def _stock_moves(cart: Cart, **direction: int) -> tuple[list[store.Op], list[store.Op]]:
    """Stock ops for the cart's active lines, one per vendor line (a transaction touches an item
    once), and their events. direction: the sign of the move per bucket, e.g. held=-1, sold=1."""
    boxes: dict[tuple[str, str], int] = defaultdict(int)
    for line in cart.lines:
        if line.status is LineStatus.ACTIVE:
            boxes[(line.vendor_company_id, line.vendor_line_id)] += line.boxes
    ops = [stock(v, lid, on_hand=direction.get("on_hand", 0) * n, held=direction.get("held", 0) * n,
                 sold=direction.get("sold", 0) * n) for (v, lid), n in boxes.items()]
    return ops, [stock_event(v, lid) for (v, lid) in boxes]


def checkout(db: Store, caller: Caller, cart_id: str) -> tuple[Cart, Prebook]:
    buyer = get_company(db, caller.company_id)

    def attempt() -> tuple[Cart, Prebook]:
        now = clock.now()
        cart = get_cart(db, buyer.company_id, cart_id)
        cart_open(cart, now)
        active = [ln for ln in cart.lines if ln.status is LineStatus.ACTIVE]
        if not active:
            raise Conflict("the cart is empty")
        classification = (Classification.OPEN_MARKET if buyer.settings.buyer.classify_k2k_sales_as_open_market
                          else Classification.PREBOOK)
        prebook_id = f"PB-{_id()}"
        ops: list[store.Op] = []
        prebook_lines: list[PrebookLine] = []
        for po_id, lines in _lines_by_po(cart).items():
            po = get_po(db, buyer.company_id, po_id)
            order = get_order(db, po.vendor_company_id, po.order_id)
            mine = {ln.line_no for ln in lines}
            for cl in lines:
                pl = next(ln for ln in po.lines if ln.line_no == cl.line_no)
                prebook_lines.append(PrebookLine(
                    line_no=len(prebook_lines) + 1, vendor_company_id=cl.vendor_company_id,
                    vendor_line_id=cl.vendor_line_id, box_code=cl.box_code, product=cl.product, boxes=cl.boxes,
                    unit_type=pl.unit_type, bunches_per_box=pl.bunches_per_box, stems_per_bunch=pl.stems_per_bunch,
                    unit_price=cl.unit_price, unit_cost=pl.unit_cost, suggested_price=cl.unit_price, po_id=po_id,
                    po_line_no=cl.line_no))

            numbers = {pl.po_line_no: pl.line_no for pl in prebook_lines if pl.po_id == po_id}

            def check(ln: OrderLine, mine: set[int] = mine, numbers: dict = numbers) -> OrderLine:
                if ln.line_no not in mine or not ln.active:
                    return ln
                return ln.model_copy(update={"checked_out": True, "prebook_id": prebook_id,
                                             "prebook_line_no": numbers[ln.line_no]})

            # K2K POs are approved automatically once a purchase is checked out.
            was = po.status
            po = _bump(po, lines=[check(ln) for ln in po.lines], status=PoStatus.APPROVED, updated_at=now)
            order = _bump(order, lines=[check(ln) for ln in order.lines], updated_at=now)
            ops += [*pending_guard(was, po), _written(po, po_key(buyer.company_id, po_id), "PO"),
                    _written(order, order_key(po.vendor_company_id, order.order_id), "ORDER")]
        prebook = Prebook(prebook_id=prebook_id, buyer_company_id=buyer.company_id,
                          customer_code=cart.customer_code, ship_date=cart.ship_date,
                          classification=classification, source=Source.ECOMMERCE, cart_id=cart_id,
                          lines=prebook_lines, created_at=now)
        cart = _bump(cart, status=CartStatus.CHECKED_OUT, prebook_id=prebook_id)
        stock_ops, stock_events = _stock_moves(cart, held=-1, sold=1)
        # The cart's version decides a checkout racing the timer: exactly one of them commits.
        ops = [_written(cart, cart_key(buyer.company_id, cart_id), "CART"), *stock_ops, *ops,
               write(prebook, prebook_key(buyer.company_id, prebook_id), "PREBOOK", None), *stock_events,
               outbox(new_event(CartCheckedOut(cart=cart, prebook=prebook), company_id=buyer.company_id,
                                aggregate_id=cart_id, aggregate_version=cart.version))]
        try:
            db.transact(ops)
        except ConditionFailed as e:
            if e.failed_at(0):  # the cart changed: expired, or another checkout won - say which
                cart_open(get_cart(db, buyer.company_id, cart_id), clock.now())
            raise _Retry from e
        return cart, prebook

    return _retrying(attempt)


def expire_cart(db: Store, buyer_id: str, cart_id: str) -> Cart | None:
    """The timer ran out: cancel the cart's PO and vendor order lines and return its stock.
    Returns None when there is nothing to do (already checked out or expired, or not due yet)."""

    def attempt() -> Cart | None:
        now = clock.now()
        try:
            cart = get_cart(db, buyer_id, cart_id)
        except NotFound:
            return None
        if cart.status is not CartStatus.OPEN or now < cart.expires_at:
            return None
        ops: list[store.Op] = []
        for po_id, lines in _lines_by_po(cart).items():
            po = get_po(db, buyer_id, po_id)
            order = get_order(db, po.vendor_company_id, po.order_id)
            mine = {ln.line_no for ln in lines}

            def cancel(ln: OrderLine, mine: set[int] = mine) -> OrderLine:
                return ln.model_copy(update={"status": LineStatus.CANCELLED}) \
                    if ln.line_no in mine and ln.active else ln

            po_lines = [cancel(ln) for ln in po.lines]
            empty = not any(ln.active for ln in po_lines)
            was = po.status
            po = _bump(po, lines=po_lines, updated_at=now, status=PoStatus.CANCELLED if empty else po.status)
            ops += pending_guard(was, po)
            order = _bump(order, lines=[cancel(ln) for ln in order.lines], updated_at=now,
                          status=OrderStatus.VOIDED if empty else order.status)
            ops += [_written(po, po_key(buyer_id, po_id), "PO"),
                    _written(order, order_key(po.vendor_company_id, order.order_id), "ORDER")]
        # The lines still active hold stock; lines the vendor deleted already gave theirs back.
        stock_ops, stock_events = _stock_moves(cart, held=-1, on_hand=1)
        cart = _bump(cart, status=CartStatus.EXPIRED, lines=[
            ln.model_copy(update={"status": LineStatus.CANCELLED}) if ln.status is LineStatus.ACTIVE else ln
            for ln in cart.lines])
        _transact(db, [_written(cart, cart_key(buyer_id, cart_id), "CART"), *stock_ops, *ops, *stock_events,
                       outbox(new_event(CartExpired(cart=cart), company_id=buyer_id, aggregate_id=cart_id,
                                        aggregate_version=cart.version))])
        return cart

    return _retrying(attempt)


# -- prebooks and POs from prebooks -------------------------------------------------------------

class PrebookLineIn(Input):
    vendor_company_id: CompanyId
    line_id: Id
    boxes: LineBoxes
    unit_price: UnitMoney | None = Field(default=None, description="null or 0.00: billed at the suggested price")


class PrebookIn(Input):
    customer_code: Code
    ship_date: date
    carrier: Label | None = None
    ship_via: ShipVia = ShipVia.WAREHOUSE
    salesperson: Name | None = None
    location: Code | None = None
    lines: list[PrebookLineIn] = Field(min_length=1, max_length=100)


def create_prebook(db: Store, caller: Caller, body: PrebookIn) -> Prebook:
    buyer = get_company(db, caller.company_id)
    if get_customer(db, buyer.company_id, body.customer_code) is None:
        raise Invalid(f"customer {body.customer_code} not found", field="customer_code")
    lines = []
    for n, ln in enumerate(body.lines, start=1):
        q = quote(db, buyer, ln.vendor_company_id, ln.line_id, body.location)
        check_ship_date(body.ship_date, q.earliest_ship_date)
        lines.append(PrebookLine(line_no=n, vendor_company_id=ln.vendor_company_id, vendor_line_id=ln.line_id,
                                 box_code=q.line.box_code, product=q.line.product, boxes=ln.boxes,
                                 unit_type=q.line.unit_type, bunches_per_box=q.line.bunches_per_box,
                                 stems_per_bunch=q.line.stems_per_bunch, unit_price=ln.unit_price,
                                 unit_cost=q.unit_cost, suggested_price=q.suggested_price))
    prebook = Prebook(prebook_id=f"PB-{_id()}", buyer_company_id=buyer.company_id,
                      customer_code=body.customer_code, ship_date=body.ship_date, carrier=body.carrier,
                      ship_via=body.ship_via, salesperson=body.salesperson or caller.email or None,
                      classification=Classification.PREBOOK, source=Source.PREBOOK, lines=lines,
                      created_at=clock.now())
    db.transact([write(prebook, prebook_key(buyer.company_id, prebook.prebook_id), "PREBOOK", None)])
    return prebook


def create_pos_from_prebook(db: Store, caller: Caller, prebook_id: str) -> list[PurchaseOrder]:
    """Buy the prebook's K2K lines: one PO per vendor (joining a pending one when the rules allow),
    auto-approved, with the vendor's order lines checked out - a prebook is a firm sale."""
    buyer = get_company(db, caller.company_id)

    def attempt() -> list[PurchaseOrder]:
        now = clock.now()
        prebook = get_prebook(db, buyer.company_id, prebook_id)
        todo = [ln for ln in prebook.lines if ln.po_id is None and ln.status is LineStatus.ACTIVE]
        if not todo:
            raise Conflict("every line of this prebook is already on a purchase order")
        pos: dict[str, tuple[PurchaseOrder, VendorOrder]] = {}
        needs: dict[tuple[str, str], int] = defaultdict(int)
        prices: dict[tuple[str, str], Decimal | None] = {}
        others: list[store.Op] = []
        out_of_stock = []
        updated_lines = {ln.line_no: ln for ln in prebook.lines}
        for ln in todo:
            q = quote(db, buyer, ln.vendor_company_id, ln.vendor_line_id)
            if ln.vendor_company_id not in pos:
                found = choose_po(_pending_pos(db, buyer.company_id), ln.vendor_company_id, prebook.ship_date,
                                  Source.PREBOOK, None, False)
                if found is None:
                    pos[ln.vendor_company_id] = _new_po(buyer, q, prebook.ship_date, Source.PREBOOK, False,
                                                        PoStatus.PENDING_APPROVAL, now)
                else:
                    pos[ln.vendor_company_id] = (found, get_order(db, found.vendor_company_id, found.order_id))
            po, order = pos[ln.vendor_company_id]
            line = _order_line(q, next_line_no(po.lines), ln.boxes, prebook.customer_code, True,
                               prebook_id=prebook_id, prebook_line_no=ln.line_no)
            pos[ln.vendor_company_id] = (po.model_copy(update={"lines": [*po.lines, line]}),
                                         order.model_copy(update={"lines": [*order.lines, line]}))
            updated_lines[ln.line_no] = ln.model_copy(update={"po_id": po.po_id, "po_line_no": line.line_no,
                                                               "unit_cost": q.unit_cost})
            needs[(ln.vendor_company_id, ln.vendor_line_id)] += ln.boxes
            prices[(ln.vendor_company_id, ln.vendor_line_id)] = q.line.price
            out_of_stock.append(f"{q.line.box_code} ({q.line.boxes_on_hand} left)")
        # One stock op per vendor line: a transaction touches each item once.
        stock_ops = [stock(v, lid, on_hand=-n, sold=n, price=prices[(v, lid)]) for (v, lid), n in needs.items()]
        others += [stock_event(v, lid) for (v, lid) in needs]
        result = []
        for po, order in pos.values():
            created = po.version == 0
            was = None if created else po.status
            po = _bump(po, status=PoStatus.APPROVED, updated_at=now)  # K2K POs are approved automatically
            others += pending_guard(was, po)
            order = _bump(order, updated_at=now)
            result.append(po)
            others += [_written(po, po_key(buyer.company_id, po.po_id), "PO"),
                       _written(order, order_key(po.vendor_company_id, order.order_id), "ORDER")]
            if created:
                others.append(outbox(new_event(PurchaseOrderPlaced(po=po, order=order), company_id=buyer.company_id,
                                               aggregate_id=po.po_id, aggregate_version=po.version)))
        prebook = _bump(prebook, lines=[updated_lines[n] for n in sorted(updated_lines)])
        others.append(_written(prebook, prebook_key(buyer.company_id, prebook_id), "PREBOOK"))
        _transact(db, [*stock_ops, *others], len(stock_ops),
                  "not enough boxes left for this prebook: " + ", ".join(out_of_stock))
        return result

    return _retrying(attempt)


# -- modify shipped K2K POs ---------------------------------------------------------------------

class ShippedLinePatch(Input):
    """What the buyer may change on its own PO after shipment (the vendor's order is untouched)."""

    product: Name | None = None
    boxes: BoxCount | None = None
    box_type: BoxType | None = None
    unit_type: UnitType | None = None
    bunches_per_box: BunchesPerBox | None = None
    stems_per_bunch: StemsPerBunch | None = None
    unit_cost: UnitMoney | None = None
    version: Version | None = None


class PoDifference(Model):
    line_no: int
    field: str
    vendor_confirmed: Any
    on_po: Any


def differences(po: PurchaseOrder) -> list[PoDifference]:
    """Where the PO now differs from what the vendor confirmed (for reconciliation)."""
    confirmed = {ln.line_no: ln for ln in po.confirmed_lines}
    found = []
    for ln in po.lines:
        was = confirmed.get(ln.line_no)
        if was is None:
            continue
        for name in ShippedLinePatch.model_fields:
            if name == "version":
                continue
            before, after = getattr(was, name), getattr(ln, name)
            if before != after:
                found.append(PoDifference(line_no=ln.line_no, field=name, vendor_confirmed=before, on_po=after))
    return found


def modify_shipped_line(db: Store, caller: Caller, po_id: str, line_no: int, patch: ShippedLinePatch) -> PurchaseOrder:
    po = get_po(db, caller.company_id, po_id)
    if po.status not in (PoStatus.CONFIRMED, PoStatus.RECEIVED):
        raise Conflict("only shipped K2K POs (confirmed by the vendor) can be modified; "
                       "a K2K line's cost cannot be edited before")
    if patch.version is not None and patch.version != po.version:
        raise Conflict(f"the PO changed meanwhile (version {po.version}, not {patch.version})")
    if not any(ln.line_no == line_no and ln.active for ln in po.lines):
        raise NotFound("PO line not found")
    changes = patch.model_dump(exclude_unset=True, exclude={"version"})
    lines = [ln.model_copy(update=changes) if ln.line_no == line_no else ln for ln in po.lines]
    changed = _bump(po, lines=[OrderLine.model_validate(ln.model_dump()) for ln in lines], updated_at=clock.now())
    try:
        db.transact([_written(changed, po_key(caller.company_id, po_id), "PO")])
    except ConditionFailed as e:
        raise Conflict("the PO changed meanwhile; read it again") from e
    return changed
