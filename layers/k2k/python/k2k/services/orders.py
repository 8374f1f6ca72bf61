"""K2K orders on the store: carts, prebooks, purchase orders and the vendor's K2K order.

Every step is one TransactWriteItems across the documents it touches - the
vendor's line (stock, by a conditional update that can never go below zero),
the buyer's cart/prebook/PO and the vendor's order (each conditional on the
version read) and the outbox. A lost race on a document is retried from a
fresh read; a refused stock move is the customer's answer, said from a fresh
read of the line (removed, on hold, price changed, only N left now).
Documents are read and saved through services/order_data.py, stock moves
through services/inventory.py (StockMove); neither is done here.
"""

import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import Field, model_validator

from k2k import clock, idempotency, pricing, store
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
    LineNo,
    Money,
    Name,
    Quantity,
    StemsPerBunch,
    UnitMoney,
    Version,
)
from k2k.errors import Conflict, Invalid, NotFound
from k2k.events import new_event, outbox
from k2k.inventory import BoxType, InventoryLine, UnitType, age_ineligibility, ineligibility, stock_refusal
from k2k.models import Model
from k2k.network import Company, Connection
from k2k.orders import (
    MAX_ORDER_LINES,
    MAX_PREBOOK_LINES,
    MAX_PREBOOK_VENDORS,
    Cart,
    CartCheckedOut,
    CartExpired,
    CartLine,
    CartOpened,
    CartStatus,
    Classification,
    K2kPrebookLine,
    LineStatus,
    OrderLine,
    OrderStatus,
    PoStatus,
    Prebook,
    PrebookLine,
    ProductPrebookLine,
    PurchaseOrder,
    PurchaseOrderPlaced,
    ShipVia,
    Source,
    VendorOrder,
    VendorOrderLine,
    cart_open,
    check_cart_room,
    check_distinct_lines,
    check_k2k_vendor,
    check_prebook_size,
    check_ship_date,
    choose_po,
    k2k_sale_price,
    next_line_no,
)
from k2k.purchasing import AnyPurchaseOrder, PlannedLine, StandalonePoIn, StandalonePurchaseOrder
from k2k.services import accounts, purchasing
from k2k.services import products as product_svc
from k2k.services.inventory import StockMove, get_line, get_lines, merged, present, read_line
from k2k.services.inventory import events as stock_events
from k2k.services.network import connection_for_buyer, get_company, read_company, read_connection_for_buyer
from k2k.services.order_data import (
    Guard,
    bump,
    cart_key,
    get_cart,
    get_order,
    get_po,
    get_prebook,
    line_added,
    order_key,
    pending_guard,
    po_key,
    pos_and_orders,
    prebook_key,
    read_cart,
    read_guard,
    reserve_line,
    transact,
    write,
    written,
)
from k2k.services.partner_audience import read_audience
from k2k.store import ConditionFailed, LostRace, Reads, Store, retrying

L = TypeVar("L", bound=VendorOrderLine)


def _id() -> str:
    return uuid.uuid4().hex[:12].upper()


# -- pricing a K2K line for the buyer ---------------------------------------------------------

class Quote(Model):
    line: InventoryLine
    connection: Connection
    unit_cost: Decimal
    landed_cost: Decimal
    location: str = Field(description="the buyer location it is priced for")
    suggested_price: Decimal
    earliest_ship_date: date


def _selling(buyer: Company, location: str | None) -> str:
    """The buyer location a purchase is priced for and received at (default: the company's first)."""
    if location is not None and location not in buyer.location_codes:
        raise Invalid(f"location {location} is not one of {', '.join(buyer.location_codes)}", field="location")
    return location or buyer.location_codes[0]


def quote(db: Store, buyer: Company, vendor_id: str, line_id: str, location: str | None = None, *,
          read: tuple[Connection | None, InventoryLine | None] | None = None) -> Quote:
    """What a K2K line costs this buyer now, or why it cannot be bought (as if it did not exist). `read`: the
    buyer's connection with the vendor and the vendor's line as the caller read them (in its batch)."""
    selling = _selling(buyer, location)
    conn, line = read if read is not None else (connection_for_buyer(db, buyer.company_id, vendor_id), None)
    if conn is None or not conn.active:
        raise NotFound("K2K line not found")
    if read is None:
        try:
            line = get_line(db, vendor_id, line_id)
        except NotFound:
            raise NotFound("K2K line not found") from None
    if line is None:
        raise NotFound("K2K line not found")
    return _priced(buyer, conn, line, selling)


def _priced(buyer: Company, conn: Connection, line: InventoryLine, selling: str) -> Quote:
    """What this vendor line costs the buyer now over this (active) connection, priced for the selling
    location; a line the connection does not publish now cannot be bought (409 saying why)."""
    now = pricing.local_now(conn.vendor_timezone, clock.now())
    broken = ineligibility(line, conn.terms) + age_ineligibility(
        line.inventory_type.value, line.received_date, conn.terms, now.date())
    if broken:
        raise Conflict("this line is no longer available: " + ", ".join(r.value for r in broken))
    assert line.price is not None and line.dimensions is not None
    settings = buyer.settings.buyer
    cost = pricing.price_to_buyer(line.price, conn.terms.markup_pct)
    units = pricing.units_per_box(line.unit_type.value, line.bunches_per_box, line.stems_per_bunch)
    landed = settings.landed_cost(
        cost, cube=pricing.box_cube(line.dimensions.length, line.dimensions.width, line.dimensions.height),
        units=units)
    return Quote(line=line, connection=conn, unit_cost=cost, landed_cost=landed, location=selling,
                 suggested_price=pricing.suggested_price(landed, settings.gpm_for(selling)),
                 earliest_ship_date=pricing.earliest_ship_date(
                     now.date(), now.time(), conn.terms.ship_days_offset, conn.terms.cutoff_time,
                     line.available_date))


def _order_line(q: Quote, line_no: int, boxes: int, customer_code: str | None, checked_out: bool, *,
                cart_id: str | None = None, prebook_id: str | None = None,
                prebook_line_no: int | None = None, sale_price: Decimal | None = None) -> OrderLine:
    """The buyer's PO line for a quoted K2K line (the vendor's order gets its `for_vendor()` copy)."""
    line = q.line
    assert line.box_type is not None
    return OrderLine(line_no=line_no, vendor_line_id=line.line_id, box_code=line.box_code, product=line.product,
                     box_type=line.box_type, unit_type=line.unit_type, bunches_per_box=line.bunches_per_box,
                     stems_per_bunch=line.stems_per_bunch, boxes=boxes, unit_cost=q.unit_cost,
                     customer_code=customer_code, checked_out=checked_out, cart_id=cart_id,
                     prebook_id=prebook_id, prebook_line_no=prebook_line_no, sale_price=sale_price,
                     landed_cost=q.landed_cost,
                     location=q.location, product_code=line.product_code, category=line.category,
                     colour=line.colour, grade=line.grade, dimensions=line.dimensions)


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


# -- e-commerce carts ---------------------------------------------------------------------------

class CartAdd(Input):
    customer_code: Code = Field(description="the buyer's end customer")
    ship_date: date
    vendor_company_id: CompanyId
    line_id: Id
    boxes: LineBoxes
    location: Code | None = Field(default=None, description="the buyer location that sells (its GPM prices it)")


def add_to_cart(db: Store, caller: Caller, cart_id: str | None, body: CartAdd) -> Cart:
    vendor_id = body.vendor_company_id

    def attempt() -> Cart:
        if (before := idempotency.done(db, Cart)) is not None:  # a keyed request's re-execution: its answer
            return before
        now = clock.now()
        # Everything this add depends on, in one batch: the buyer, its customer, its connection with the
        # vendor, the vendor's line, the cart and the pending-PO guard (which names the PO to join).
        reads = Reads()
        company = read_company(reads, caller.company_id)
        customer = accounts.read_customer(reads, caller.company_id, body.customer_code)
        conn = read_connection_for_buyer(reads, caller.company_id, vendor_id)
        line_read = read_line(reads, vendor_id, body.line_id)
        cart_read = read_cart(reads, caller.company_id, cart_id) if cart_id is not None else None
        guard_read = read_guard(reads, caller.company_id, vendor_id, body.ship_date)
        stamp = read_audience(reads, [caller.company_id, vendor_id])
        reads.run(db)
        buyer = company()
        if customer() is None:
            raise Invalid(f"customer {body.customer_code} not found", field="customer_code")
        q = quote(db, buyer, vendor_id, body.line_id, body.location, read=(conn(), line_read()))
        check_ship_date(body.ship_date, q.earliest_ship_date)
        if cart_read is None:
            timer = timedelta(minutes=buyer.settings.buyer.cart_timer_minutes)
            cart = Cart(cart_id=f"CART-{_id()}", buyer_company_id=buyer.company_id,
                        customer_code=body.customer_code, ship_date=body.ship_date, status=CartStatus.OPEN,
                        opened_at=now, expires_at=now + timer, version=0)
        else:
            cart = cart_read()
            cart_open(cart, now)
            if (cart.customer_code, cart.ship_date) != (body.customer_code, body.ship_date):
                raise Invalid("a cart is for one customer and one ship date", field="ship_date")
            check_cart_room(cart)
        separate = buyer.settings.automations.separate_ecommerce_pos
        guard = None if separate else guard_read()
        # The PO this line may join, by key: this cart's own PO with the vendor (separate e-commerce POs), or
        # the one the guard names - never a query over the buyer's history of POs. Joining takes a line number
        # by an atomic ADD on the PO's header (no read of its lines, no version to race on).
        if separate:
            candidates = list(dict.fromkeys(ln.po_id for ln in cart.lines if ln.vendor_company_id == vendor_id))
        else:
            candidates = [guard.po_id] if guard else []
        joining = None
        for po_id in candidates:
            if (joining := reserve_line(db, buyer.company_id, po_id, separate=separate)) is not None:
                break
        documents: list[store.Op] = []
        placed: list[store.Op] = []
        if joining is None:  # none to join: a new PO and vendor order, with this line
            po, order = _new_po(buyer, q, body.ship_date, Source.ECOMMERCE, separate, PoStatus.PENDING_APPROVAL,
                                now)
            line = _order_line(q, 1, body.boxes, body.customer_code, False, cart_id=cart.cart_id)
            po = bump(po, lines=[line], updated_at=now)
            order = bump(order, lines=[line.for_vendor()], updated_at=now)
            documents = [written(po, po_key(buyer.company_id, po.po_id), "PO"),
                         written(order, order_key(po.vendor_company_id, order.order_id), "ORDER"),
                         *pending_guard(db, None, po, guard)]
            placed = [outbox(stamp(new_event(PurchaseOrderPlaced(order=order), company_id=buyer.company_id,
                                             aggregate_id=po.po_id, aggregate_version=po.version)))]
            po_id, order_id = po.po_id, order.order_id
        else:
            line = _order_line(q, joining.line_no, body.boxes, body.customer_code, False, cart_id=cart.cart_id)
            documents = line_added(buyer.company_id, joining, line, separate, now)
            po_id, order_id = joining.po_id, joining.order_id
        cart = bump(cart, lines=[*cart.lines, CartLine(
            vendor_company_id=body.vendor_company_id, vendor_line_id=body.line_id, box_code=q.line.box_code,
            product=q.line.product, boxes=body.boxes, po_id=po_id, line_no=line.line_no,
            unit_price=q.suggested_price, order_id=order_id)])
        move = StockMove(body.vendor_company_id, body.line_id, q.line.box_code, on_hand=-body.boxes,
                         held=body.boxes, price=q.line.price)
        ops = [written(cart, cart_key(buyer.company_id, cart.cart_id), "CART"), *documents, move.event(stamp)]
        if cart.version == 1:
            ops.append(outbox(stamp(new_event(
                CartOpened(buyer_company_id=buyer.company_id, cart_id=cart.cart_id, expires_at=cart.expires_at),
                company_id=buyer.company_id, aggregate_id=cart.cart_id, aggregate_version=cart.version))))
        ops += placed
        transact(db, [*ops, *idempotency.outcome(Cart, cart)], [move])
        return cart

    return retrying(attempt)


def _lines_by_po(cart: Cart) -> dict[str, list[CartLine]]:
    grouped: dict[str, list[CartLine]] = defaultdict(list)
    for line in cart.lines:
        if line.status is LineStatus.ACTIVE:
            grouped[line.po_id].append(line)
    return grouped


def _stock_moves(cart: Cart, on_hand: int = 0, held: int = 0, sold: int = 0) -> list[StockMove]:
    """Stock moves for the cart's active lines, one per vendor line (a transaction touches an item
    once). The arguments: the sign of the move per bucket, e.g. held=-1, sold=1."""
    return merged([StockMove(ln.vendor_company_id, ln.vendor_line_id, ln.box_code, on_hand=on_hand * ln.boxes,
                             held=held * ln.boxes, sold=sold * ln.boxes)
                   for ln in cart.lines if ln.status is LineStatus.ACTIVE])


def checkout(db: Store, caller: Caller, cart_id: str) -> tuple[Cart, Prebook]:
    def attempt() -> tuple[Cart, Prebook]:
        if (before := idempotency.done(db, tuple[Cart, Prebook])) is not None:
            return before  # type: ignore[no-any-return]
        now = clock.now()
        reads = Reads()
        company, cart_read = read_company(reads, caller.company_id), read_cart(reads, caller.company_id, cart_id)
        stamp = read_audience(reads, [caller.company_id])  # CartCheckedOut is the buyer's alone
        reads.run(db)
        buyer, cart = company(), cart_read()
        cart_open(cart, now)
        active = [ln for ln in cart.lines if ln.status is LineStatus.ACTIVE]
        if not active:
            raise Conflict("the cart is empty")
        # The cart's POs, their vendor orders and pending-PO guards: one batch.
        by_po = _lines_by_po(cart)
        reads = Reads()
        guards = {po_id: read_guard(reads, buyer.company_id, lines[0].vendor_company_id, cart.ship_date)
                  for po_id, lines in by_po.items()}
        documents = pos_and_orders(db, buyer.company_id, [(po_id, lines[0].vendor_company_id, lines[0].order_id)
                                                          for po_id, lines in by_po.items()], reads)
        classification = (Classification.OPEN_MARKET if buyer.settings.buyer.classify_k2k_sales_as_open_market
                          else Classification.PREBOOK)
        prebook_id = f"PB-{_id()}"
        ops: list[store.Op] = []
        prebook_lines: list[PrebookLine] = []
        for po_id, lines in by_po.items():
            if po_id not in documents:
                raise NotFound("purchase order not found")
            po, order = documents[po_id]
            mine = {ln.line_no for ln in lines}
            for cl in lines:
                pl = next(ln for ln in po.lines if ln.line_no == cl.line_no)
                prebook_lines.append(K2kPrebookLine(
                    line_no=len(prebook_lines) + 1, vendor_company_id=cl.vendor_company_id,
                    vendor_line_id=cl.vendor_line_id, box_code=cl.box_code, product=cl.product, boxes=cl.boxes,
                    unit_type=pl.unit_type, bunches_per_box=pl.bunches_per_box, stems_per_bunch=pl.stems_per_bunch,
                    unit_price=cl.unit_price, unit_cost=pl.unit_cost, suggested_price=cl.unit_price, po_id=po_id,
                    po_line_no=cl.line_no))

            numbers = {pl.po_line_no: pl.line_no for pl in prebook_lines if pl.po_id == po_id}
            prices = {cl.line_no: cl.unit_price for cl in lines}

            def check(ln: OrderLine, mine: set[int] = mine, numbers: dict = numbers, prices: dict = prices
                      ) -> OrderLine:
                if ln.line_no not in mine or not ln.active:
                    return ln
                # The sale price goes onto the PO line, so the staging receipt bills it without the prebook.
                return ln.model_copy(update={"checked_out": True, "prebook_id": prebook_id,
                                             "prebook_line_no": numbers[ln.line_no], "sale_price": prices[ln.line_no]})

            def vendor_check(ln: VendorOrderLine, mine: set[int] = mine) -> VendorOrderLine:
                return ln.model_copy(update={"checked_out": True}) if ln.line_no in mine and ln.active else ln

            # K2K POs are approved automatically once a purchase is checked out.
            was = po.status
            po = bump(po, lines=[check(ln) for ln in po.lines], status=PoStatus.APPROVED, updated_at=now)
            order = bump(order, lines=[vendor_check(ln) for ln in order.lines], updated_at=now)
            ops += [*pending_guard(db, was, po, guards[po_id]()), written(po, po_key(buyer.company_id, po_id), "PO"),
                    written(order, order_key(po.vendor_company_id, order.order_id), "ORDER")]
        prebook = Prebook(prebook_id=prebook_id, buyer_company_id=buyer.company_id,
                          customer_code=cart.customer_code, ship_date=cart.ship_date,
                          classification=classification, source=Source.ECOMMERCE, cart_id=cart_id,
                          lines=prebook_lines, created_at=now)
        cart = bump(cart, status=CartStatus.CHECKED_OUT, prebook_id=prebook_id)
        moves = _stock_moves(cart, held=-1, sold=1)
        # The cart's version decides a checkout racing the timer: exactly one of them commits.
        ops = [written(cart, cart_key(buyer.company_id, cart_id), "CART"), *ops,
               write(prebook, prebook_key(buyer.company_id, prebook_id), "PREBOOK", None), *stock_events(moves),
               outbox(stamp(new_event(CartCheckedOut(cart=cart, prebook=prebook), company_id=buyer.company_id,
                                      aggregate_id=cart_id, aggregate_version=cart.version))),
               *idempotency.outcome(tuple[Cart, Prebook], (cart, prebook))]
        try:
            transact(db, ops, moves)
        except LostRace:  # the cart changed: expired, or another checkout won - say which
            cart_open(get_cart(db, buyer.company_id, cart_id), clock.now())
            raise
        return cart, prebook

    return retrying(attempt)


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

            def cancel(ln: L, mine: set[int] = mine) -> L:
                return ln.model_copy(update={"status": LineStatus.CANCELLED}) \
                    if ln.line_no in mine and ln.active else ln

            po_lines = [cancel(ln) for ln in po.lines]
            empty = not any(ln.active for ln in po_lines)
            was = po.status
            po = bump(po, lines=po_lines, updated_at=now, status=PoStatus.CANCELLED if empty else po.status)
            ops += pending_guard(db, was, po)
            order = bump(order, lines=[cancel(ln) for ln in order.lines], updated_at=now,
                         status=OrderStatus.VOIDED if empty else order.status)
            ops += [written(po, po_key(buyer_id, po_id), "PO"),
                    written(order, order_key(po.vendor_company_id, order.order_id), "ORDER")]
        # The lines still active hold stock; lines the vendor deleted already gave theirs back.
        # (A line removed before removals were refused while holding boxes has nowhere to take them.)
        moves = present(db, _stock_moves(cart, held=-1, on_hand=1))
        cart = bump(cart, status=CartStatus.EXPIRED, lines=[
            ln.model_copy(update={"status": LineStatus.CANCELLED}) if ln.status is LineStatus.ACTIVE else ln
            for ln in cart.lines])
        transact(db, [written(cart, cart_key(buyer_id, cart_id), "CART"), *ops, *stock_events(moves),
                      outbox(new_event(CartExpired(cart=cart), company_id=buyer_id, aggregate_id=cart_id,
                                       aggregate_version=cart.version))], moves)
        return cart

    return retrying(attempt)


# -- prebooks and POs from prebooks -------------------------------------------------------------

class PrebookLineIn(Input):
    """A K2K line from the availability (vendor_company_id, line_id, boxes), or a product of the company's
    catalogue (product_code, quantity, and its cost when known), e.g. finished goods pre-sold."""

    vendor_company_id: CompanyId | None = Field(default=None, description="K2K lines: the vendor")
    line_id: Id | None = Field(default=None, description="K2K lines: the vendor's line in the availability")
    boxes: LineBoxes | None = Field(default=None, description="K2K lines")
    product_code: Code | None = Field(default=None, description="product lines: a product of the catalogue")
    quantity: Quantity | None = Field(default=None, description="product lines: units of the product")
    unit_price: UnitMoney | None = Field(default=None, description="null or 0.00: billed at the suggested price")
    cost: Money | None = Field(default=None, description=(
        "product lines: the line's total cost (live goods' landed cost + hard goods + labour, for all its "
        "units), from which the prebook shows its GPM; a K2K line's cost comes from the availability"))

    @model_validator(mode="after")
    def _k2k_or_product(self) -> Self:
        k2k = (self.vendor_company_id, self.line_id, self.boxes)
        product = (self.product_code, self.quantity)
        if any(v is not None for v in product) or self.cost is not None:
            if any(v is not None for v in k2k):
                raise ValueError("a line is either a K2K line (vendor_company_id, line_id, boxes) or a product "
                                 "line (product_code, quantity, cost), not both")
            if None in product:
                raise ValueError("a product line names its product_code and quantity")
        elif None in k2k:
            raise ValueError("a K2K line names its vendor_company_id, line_id and boxes "
                             "(a product line: product_code and quantity)")
        return self


class PrebookIn(Input):
    customer_code: Code
    ship_date: date
    carrier: Label | None = None
    ship_via: ShipVia = ShipVia.WAREHOUSE
    salesperson: Name | None = None
    location: Code | None = None
    lines: list[PrebookLineIn] = Field(min_length=1, max_length=MAX_PREBOOK_LINES,
                                       description=f"at most {MAX_PREBOOK_LINES} lines, the K2K ones from at most "
                                                   f"{MAX_PREBOOK_VENDORS} vendors (bought in one step)")


def _product_line(db: Store, company_id: str, n: int, ln: PrebookLineIn) -> ProductPrebookLine:
    assert ln.product_code is not None and ln.quantity is not None
    try:
        product = product_svc.get_product(db, company_id, ln.product_code)
    except NotFound as e:
        raise Invalid(f"product {ln.product_code} not found", field=f"lines.{n - 1}.product_code") from e
    return ProductPrebookLine(line_no=n, product_code=product.code, description=product.description,
                              kind=product.kind, unit=product.unit, quantity=ln.quantity,
                              unit_price=ln.unit_price, cost=ln.cost)


def create_prebook(db: Store, caller: Caller, body: PrebookIn) -> Prebook:
    if (before := idempotency.done(db, Prebook)) is not None:
        return before  # type: ignore[no-any-return]
    buyer = get_company(db, caller.company_id)
    if accounts.get_customer(db, buyer.company_id, body.customer_code) is None:
        raise Invalid(f"customer {body.customer_code} not found", field="customer_code")
    check_prebook_size([ln.vendor_company_id for ln in body.lines])
    if body.location is not None and body.location not in buyer.location_codes:
        raise Invalid(f"location {body.location} is not one of {', '.join(buyer.location_codes)}", field="location")
    lines: list[PrebookLine] = []
    for n, ln in enumerate(body.lines, start=1):
        if ln.product_code is not None:
            lines.append(_product_line(db, buyer.company_id, n, ln))
            continue
        assert ln.vendor_company_id is not None and ln.line_id is not None and ln.boxes is not None
        q = quote(db, buyer, ln.vendor_company_id, ln.line_id, body.location)
        check_ship_date(body.ship_date, q.earliest_ship_date)
        lines.append(K2kPrebookLine(line_no=n, vendor_company_id=ln.vendor_company_id, vendor_line_id=ln.line_id,
                                    box_code=q.line.box_code, product=q.line.product, boxes=ln.boxes,
                                    unit_type=q.line.unit_type, bunches_per_box=q.line.bunches_per_box,
                                    stems_per_bunch=q.line.stems_per_bunch, unit_price=ln.unit_price,
                                    unit_cost=q.unit_cost, suggested_price=q.suggested_price))
    prebook = Prebook(prebook_id=f"PB-{_id()}", buyer_company_id=buyer.company_id,
                      customer_code=body.customer_code, ship_date=body.ship_date, carrier=body.carrier,
                      ship_via=body.ship_via, salesperson=body.salesperson or caller.email or None,
                      classification=Classification.PREBOOK, source=Source.PREBOOK, location=body.location,
                      lines=lines,
                      created_at=clock.now())
    db.transact([write(prebook, prebook_key(buyer.company_id, prebook.prebook_id), "PREBOOK", None),
                 *idempotency.outcome(Prebook, prebook)])
    return prebook


class PrebookPoLineIn(Input):
    line_no: LineNo = Field(description="a product line of the prebook")
    vendor_code: Code = Field(description="one of the company's vendors (K2K or not), e.g. the production company")
    unit_cost: UnitMoney = Field(description="the PO line's cost per unit: for finished goods, the production "
                                             "company's labour (the materials are in the prebook line's cost)")


class PrebookPosIn(Input):
    lines: list[PrebookPoLineIn] = Field(default_factory=list, max_length=MAX_PREBOOK_LINES, description=(
        "the product lines to buy now, each with its vendor and cost: one standalone PO per vendor. The K2K "
        "lines not yet on a PO are bought too, from their own vendors at the availability's cost"))

    @model_validator(mode="after")
    def _once_each(self) -> Self:
        numbers = [ln.line_no for ln in self.lines]
        if len(numbers) != len(set(numbers)):
            raise ValueError("each prebook line is named once")
        return self


def create_pos_from_prebook(db: Store, caller: Caller, prebook_id: str,
                            body: PrebookPosIn | None = None) -> list[PurchaseOrder | StandalonePurchaseOrder]:
    """Buy a prebook's lines not yet on a PO, in one step: its K2K lines from their vendors (one PO per vendor,
    joining a pending one when the rules allow, auto-approved, the vendor's order lines checked out - a
    prebook is a firm sale), and the product lines `body` names on one standalone PO per chosen vendor
    (purchasing.plan_po), each PO line linked to its prebook line."""
    buyer = get_company(db, caller.company_id)
    chosen = body.lines if body else []

    answer = list[PurchaseOrder | StandalonePurchaseOrder]

    def attempt() -> list[PurchaseOrder | StandalonePurchaseOrder]:
        if (before := idempotency.done(db, answer)) is not None:
            return before  # type: ignore[no-any-return]
        now = clock.now()
        prebook = get_prebook(db, buyer.company_id, prebook_id)
        k2k_todo = [ln for ln in prebook.lines if isinstance(ln, K2kPrebookLine) and ln.po_id is None
                    and ln.status is LineStatus.ACTIVE]
        products = _chosen_product_lines(prebook, chosen)
        if not k2k_todo and not products:
            waiting = [str(ln.line_no) for ln in prebook.lines if isinstance(ln, ProductPrebookLine)
                       and ln.po_id is None and ln.status is LineStatus.ACTIVE]
            if waiting:
                raise Invalid(f"line(s) {', '.join(waiting)} of this prebook are products: name a vendor and unit "
                              "cost for each to buy them on a standalone PO", field="lines")
            raise Conflict("every line of this prebook is already on a purchase order")
        updated_lines: dict[int, PrebookLine] = {ln.line_no: ln for ln in prebook.lines}
        selling = prebook.location if prebook.location in buyer.location_codes else None
        ops: list[store.Op] = []
        moves: list[StockMove] = []
        result: list[PurchaseOrder | StandalonePurchaseOrder] = []
        if k2k_todo:
            k2k_pos, ops, moves = _k2k_pos(db, buyer, prebook, k2k_todo, updated_lines, now)
            result += k2k_pos
        for vendor_code, lines in _by_vendor(products).items():
            try:
                po, po_ops = purchasing.plan_po(db, caller, vendor_code, prebook.customer_code, prebook.ship_date,
                                                [_po_line(prebook, ln, cost) for ln, cost in lines], selling)
            except Invalid as e:
                if e.details and e.details[0].get("field") == "vendor_code":  # the request's line that named it
                    first = next(i for i, c in enumerate(chosen) if c.vendor_code == vendor_code)
                    raise Invalid(e.message, field=f"lines.{first}.vendor_code") from e
                raise
            result.append(po)
            ops += po_ops
            for (ln, _), po_line in zip(lines, po.lines, strict=True):
                updated_lines[ln.line_no] = ln.model_copy(update={
                    "po_id": po.po_id, "po_line_no": po_line.line_no, "vendor_code": vendor_code})
        prebook = bump(prebook, lines=[updated_lines[n] for n in sorted(updated_lines)])
        ops.append(written(prebook, prebook_key(buyer.company_id, prebook_id), "PREBOOK"))
        ops += idempotency.outcome(answer, result)
        if len(ops) + len(moves) > store.MAX_TRANSACTION_ITEMS:
            raise Invalid(f"buying these lines in one step takes {len(ops) + len(moves)} writes, more than "
                          f"{store.MAX_TRANSACTION_ITEMS}: name fewer product lines (or vendors) and buy the rest "
                          "next", field="lines")
        transact(db, ops, moves)
        return result

    return retrying(attempt)


def _chosen_product_lines(prebook: Prebook,
                          chosen: list[PrebookPoLineIn]) -> list[tuple[ProductPrebookLine, PrebookPoLineIn]]:
    """The product lines the request names, each still to buy; a line that is not one is the request's error."""
    by_no = {ln.line_no: ln for ln in prebook.lines}
    found = []
    for i, choice in enumerate(chosen):
        ln = by_no.get(choice.line_no)
        where = f"lines.{i}.line_no"
        if ln is None:
            raise Invalid(f"the prebook has no line {choice.line_no}", field=where)
        if not isinstance(ln, ProductPrebookLine):
            raise Invalid(f"line {choice.line_no} is a K2K line: it is bought from its vendor at the "
                          "availability's cost", field=where)
        if ln.status is not LineStatus.ACTIVE:
            raise Conflict(f"line {choice.line_no} is {ln.status.value.lower()}")
        if ln.po_id is not None:
            raise Conflict(f"line {choice.line_no} is already on purchase order {ln.po_id}")
        found.append((ln, choice))
    return found


def _by_vendor(lines: list[tuple[ProductPrebookLine, PrebookPoLineIn]]
               ) -> dict[str, list[tuple[ProductPrebookLine, Decimal]]]:
    grouped: dict[str, list[tuple[ProductPrebookLine, Decimal]]] = defaultdict(list)
    for ln, choice in lines:
        grouped[choice.vendor_code].append((ln, choice.unit_cost))
    return grouped


def _po_line(prebook: Prebook, ln: ProductPrebookLine, unit_cost: Decimal) -> PlannedLine:
    """A product line as a line of the PO that buys it, linked back to the prebook (staging bills it)."""
    return PlannedLine(product_code=ln.product_code, quantity=ln.quantity, unit_cost=unit_cost,
                       prebook_id=prebook.prebook_id, prebook_line_no=ln.line_no)


def _k2k_pos(db: Store, buyer: Company, prebook: Prebook, todo: list[K2kPrebookLine],
             updated_lines: dict[int, PrebookLine], now: datetime
             ) -> tuple[list[PurchaseOrder], list[store.Op], list[StockMove]]:
    """The K2K POs of a prebook's K2K lines, the ops that write them, and their stock moves."""
    check_prebook_size([ln.vendor_company_id for ln in todo])  # prebooks stored before it was checked
    per_vendor = defaultdict(int, {v: sum(1 for ln in todo if ln.vendor_company_id == v)
                                   for v in {ln.vendor_company_id for ln in todo}})
    pos: dict[str, tuple[PurchaseOrder, VendorOrder]] = {}
    guards: dict[str, Guard | None] = {}
    moves: list[StockMove] = []
    others: list[store.Op] = []
    selling = prebook.location if prebook.location in buyer.location_codes else None
    for ln in todo:
        q = quote(db, buyer, ln.vendor_company_id, ln.vendor_line_id, selling)
        vendor_id = ln.vendor_company_id
        if vendor_id not in pos:
            # The consolidating PO pending approval, if any, by its guard's key.
            reads = Reads()
            guard_read = read_guard(reads, buyer.company_id, vendor_id, prebook.ship_date)
            reads.run(db)
            guard = guards[vendor_id] = guard_read()
            pending = pos_and_orders(db, buyer.company_id, [(guard.po_id, vendor_id, guard.order_id)]) if guard else {}
            found = choose_po([p for p, _ in pending.values()], vendor_id, prebook.ship_date,
                              Source.PREBOOK, None, False, adding=per_vendor[vendor_id])
            if found is None:
                pos[vendor_id] = _new_po(buyer, q, prebook.ship_date, Source.PREBOOK, False,
                                         PoStatus.PENDING_APPROVAL, now)
            else:
                pos[vendor_id] = pending[found.po_id]
        po, order = pos[vendor_id]
        line = _order_line(q, next_line_no(po.lines), ln.boxes, prebook.customer_code, True,
                           prebook_id=prebook.prebook_id, prebook_line_no=ln.line_no, sale_price=k2k_sale_price(ln))
        pos[ln.vendor_company_id] = (po.model_copy(update={"lines": [*po.lines, line]}),
                                     order.model_copy(update={"lines": [*order.lines, line.for_vendor()]}))
        updated_lines[ln.line_no] = ln.model_copy(update={"po_id": po.po_id, "po_line_no": line.line_no,
                                                           "unit_cost": q.unit_cost})
        moves.append(StockMove(ln.vendor_company_id, ln.vendor_line_id, q.line.box_code, on_hand=-ln.boxes,
                               sold=ln.boxes, price=q.line.price))
    moves = merged(moves)  # one stock op per vendor line: a transaction touches each item once
    others += stock_events(moves)
    result = []
    for po, order in pos.values():
        created = po.version == 0
        was = None if created else po.status
        po = bump(po, status=PoStatus.APPROVED, updated_at=now)  # K2K POs are approved automatically
        others += pending_guard(db, was, po, guards[po.vendor_company_id])
        order = bump(order, updated_at=now)
        result.append(po)
        others += [written(po, po_key(buyer.company_id, po.po_id), "PO"),
                   written(order, order_key(po.vendor_company_id, order.order_id), "ORDER")]
        if created:
            others.append(outbox(new_event(PurchaseOrderPlaced(order=order), company_id=buyer.company_id,
                                           aggregate_id=po.po_id, aggregate_version=po.version)))
    return result, others, moves


# -- a PO with K2K products, bought from the buyer's availability ------------------------------

class K2kPoLineIn(Input):
    line_id: Id = Field(description="a line of the vendor's, as the buyer's K2K availability shows it")
    boxes: LineBoxes


class K2kPoIn(Input):
    """A PO with K2K products (seed 000): the buyer buys boxes from its K2K availability for its own stock."""

    kind: Literal["k2k"] = Field(description="a PO with K2K products, bought from the buyer's availability")
    vendor_company_id: CompanyId
    ship_date: date
    location: Code | None = Field(default=None, description="the buyer location the boxes are for: its GPM prices "
                                  "them, they are received there (default: the company's first)")
    lines: list[K2kPoLineIn] = Field(min_length=1, max_length=MAX_ORDER_LINES,
                                     description=f"at most {MAX_ORDER_LINES} lines (an order's limit), each "
                                                 "availability line once")


def buy_from_availability(db: Store, caller: Caller, body: K2kPoIn) -> PurchaseOrder:
    """A procurement user buys K2K boxes for the buyer's own stock: the vendor's boxes are sold at once
    (on hand -> sold, at the price quoted, in one transaction with the PO, the vendor's K2K order and
    PurchaseOrderPlaced), the PO is approved (K2K POs are approved automatically) and its own - it
    joins no pending PO and none joins it - and from there it goes the way of every K2K PO: the vendor
    confirms, its invoice reaches reconciliation, the boxes arrive in staging. Its lines name no end
    customer, so receiving them bills no one: they join the buyer's inventory at their landed cost."""
    buyer = get_company(db, caller.company_id)
    check_distinct_lines([ln.line_id for ln in body.lines])
    vendor_id = body.vendor_company_id
    selling = _selling(buyer, body.location)

    def attempt() -> PurchaseOrder:
        if (before := idempotency.done(db, PurchaseOrder)) is not None:
            return before  # type: ignore[no-any-return]
        now = clock.now()
        conn = check_k2k_vendor(connection_for_buyer(db, buyer.company_id, vendor_id), vendor_id)
        found = get_lines(db, vendor_id, [ln.line_id for ln in body.lines])  # one read, however many lines
        bought: list[tuple[K2kPoLineIn, Quote]] = []
        for n, ln in enumerate(body.lines):
            where = f"lines.{n}"
            line = found.get(ln.line_id)
            if line is None:
                raise Invalid(f"line {ln.line_id} is not in your K2K availability from {vendor_id}",
                              field=f"{where}.line_id")
            try:
                q = _priced(buyer, conn, line, selling)
            except Conflict as e:  # published once, not now (on hold, sold out, too old...)
                raise Conflict(e.message, details=[{"field": f"{where}.line_id", "message": e.message}]) from None
            check_ship_date(body.ship_date, q.earliest_ship_date)
            short = stock_refusal(q.line, q.line.box_code, ln.boxes, q.line.price)
            if short:  # as read; the stock move's condition below is what guarantees it
                raise Conflict(short, details=[{"field": f"{where}.boxes", "message": short}])
            bought.append((ln, q))
        po, order = _new_po(buyer, bought[0][1], body.ship_date, Source.AVAILABILITY, False, PoStatus.APPROVED, now)
        lines = [_order_line(q, n, ln.boxes, None, True) for n, (ln, q) in enumerate(bought, start=1)]
        po = bump(po, lines=lines)
        order = bump(order, lines=[ln.for_vendor() for ln in lines])
        moves = [StockMove(vendor_id, ln.line_id, q.line.box_code, on_hand=-ln.boxes, sold=ln.boxes,
                           price=q.line.price) for ln, q in bought]
        transact(db, [written(po, po_key(buyer.company_id, po.po_id), "PO"),
                      written(order, order_key(vendor_id, order.order_id), "ORDER"), *stock_events(moves),
                      outbox(new_event(PurchaseOrderPlaced(order=order), company_id=buyer.company_id,
                                       aggregate_id=po.po_id, aggregate_version=po.version)),
                      *idempotency.outcome(PurchaseOrder, po)], moves)
        return po

    return retrying(attempt)


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


# -- what the orders API answers and reads beyond the domain's own models --------------------------

class CheckedOut(Model):
    cart: Cart
    prebook: Prebook


class PurchaseOrderView(Model):
    purchase_order: AnyPurchaseOrder
    differences: list[PoDifference] = Field(description="K2K POs: where the PO differs from what the vendor "
                                                        "confirmed; always empty for standalone POs")


# The body of POST /purchase-orders, told apart by its "kind": a PO with K2K products bought from the
# availability, or a standalone PO to one of the company's vendors.
PurchaseOrderIn = Annotated[K2kPoIn | StandalonePoIn, Field(discriminator="kind")]


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
    changed = bump(po, lines=[OrderLine.model_validate(ln.model_dump()) for ln in lines], updated_at=clock.now())
    try:
        db.transact([written(changed, po_key(caller.company_id, po_id), "PO")])
    except ConditionFailed as e:
        raise Conflict("the PO changed meanwhile; read it again") from e
    return changed
