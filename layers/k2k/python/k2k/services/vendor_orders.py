"""The vendor's side of K2K orders: confirm, void, delete lines.

Removing a line touches everything it lives in - the vendor's order, the
buyer's PO, the end customer's cart or prebook - and gives its boxes back to
open market, in one transaction. Void and delete apply to orders not yet
confirmed; after shipment the buyer modifies its own PO instead.
"""

import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar

from pydantic import Field

from k2k import clock, idempotency, store
from k2k.auth import Caller
from k2k.bounds import Confirm, Input, Note, Tag
from k2k.errors import Conflict
from k2k.events import new_event, outbox
from k2k.orders import (
    CartStatus,
    LineStatus,
    OrderConfirmed,
    OrderLine,
    OrderLinesRemoved,
    OrderStatus,
    PoStatus,
    PurchaseOrder,
    VendorOrder,
    VendorOrderLine,
    check_confirm_word,
)
from k2k.services.inventory import StockMove, merged, read_present
from k2k.services.inventory import events as stock_events
from k2k.services.order_data import (
    bump,
    cart_key,
    get_cart,
    get_order,
    get_prebook,
    order_key,
    pending_guard,
    po_key,
    prebook_key,
    read_guard,
    read_po,
    staged,
    transact,
    written,
)
from k2k.services.partner_audience import read_audience
from k2k.store import Reads, Store, retrying, to_item

L = TypeVar("L", bound=VendorOrderLine)


class OrderConfirmation(Input):
    awb: Tag | None = Field(default=None, description="air waybill; assigned when omitted")


class OrderVoid(Input):
    confirm: Confirm
    reason: Note | None = None


def _own_order(db: Store, caller: Caller, order_id: str) -> VendorOrder:
    return get_order(db, caller.company_id, order_id)  # another company's order is simply not found


def _marking(nos: set[int], status: LineStatus) -> Callable[[L], L]:
    def mark(ln: L) -> L:
        return ln.model_copy(update={"status": status}) if ln.line_no in nos else ln
    return mark


def _returns(vendor_id: str, removed: Sequence[VendorOrderLine]) -> list[StockMove]:
    """Removed lines' boxes back to open market: sold ones if checked out, held ones if not."""
    return [StockMove(vendor_id, ln.vendor_line_id, ln.box_code, on_hand=ln.boxes,
                      sold=-ln.boxes if ln.checked_out else 0, held=0 if ln.checked_out else -ln.boxes)
            for ln in removed]


def _buyer_documents(db: Store, po: PurchaseOrder, removed: Sequence[OrderLine], status: LineStatus) -> list[store.Op]:
    """The end customers' carts and prebooks the removed lines came from (found on the buyer's PO lines:
    the vendor's copy of a line does not say whose they were)."""
    ops: list[store.Op] = []
    buyer = po.buyer_company_id
    for cart_id in {ln.cart_id for ln in removed if ln.cart_id and not ln.checked_out}:
        cart = get_cart(db, buyer, cart_id)
        if cart.status is not CartStatus.OPEN:
            continue
        gone = {(ln.line_no, po.po_id) for ln in removed}
        cart = bump(cart, lines=[c.model_copy(update={"status": status}) if (c.line_no, c.po_id) in gone else c
                                 for c in cart.lines])
        ops.append(written(cart, cart_key(buyer, cart_id), "CART"))
    for prebook_id in {ln.prebook_id for ln in removed if ln.prebook_id}:
        prebook = get_prebook(db, buyer, prebook_id)
        gone_nos = {ln.prebook_line_no for ln in removed if ln.prebook_id == prebook_id}
        prebook = bump(prebook, lines=[p.model_copy(update={"status": status}) if p.line_no in gone_nos else p
                                       for p in prebook.lines])
        ops.append(written(prebook, prebook_key(buyer, prebook_id), "PREBOOK"))
    return ops


def _remove(db: Store, caller: Caller, order_id: str, pick: Callable[[VendorOrderLine], bool], status: LineStatus,
            reason: str | None) -> VendorOrder:
    def attempt() -> VendorOrder:
        if (before := idempotency.done(db, VendorOrder)) is not None:  # a keyed request's re-execution (a void)
            return before  # type: ignore[no-any-return]
        now = clock.now()
        order = _own_order(db, caller, order_id)
        if order.status is not OrderStatus.OPEN:
            raise Conflict(f"the order is {order.status.value}; only open orders can be changed")
        removed = [ln for ln in order.lines if ln.active and pick(ln)]
        if not removed:
            raise Conflict("no such open line on this order")
        nos = {ln.line_no for ln in removed}
        mark = _marking(nos, status)
        lines = [mark(ln) for ln in order.lines]
        empty = not any(ln.active for ln in lines)
        order = bump(order, lines=lines, updated_at=now, void_reason=reason or order.void_reason,
                     status=OrderStatus.VOIDED if empty else order.status)
        # The buyer's PO, its pending-PO guard and the vendor lines the boxes go back to: one batch.
        reads = Reads()
        po_read = read_po(reads, order.buyer_company_id, order.po_id)
        guard = read_guard(reads, order.buyer_company_id, order.vendor_company_id, order.ship_date)
        # (A line removed before removals were refused while it held boxes has nowhere to take them.)
        kept = read_present(reads, merged(_returns(order.vendor_company_id, removed)))
        reads.run(db)
        po, moves = po_read(), kept()
        was = po.status
        removed_on_po = [ln for ln in po.lines if ln.line_no in nos]
        po = bump(po, lines=[mark(ln) for ln in po.lines], updated_at=now,
                  status=PoStatus.CANCELLED if empty else po.status)
        ops = [written(order, order_key(caller.company_id, order_id), "ORDER"),
               written(po, po_key(order.buyer_company_id, po.po_id), "PO"), *pending_guard(db, was, po, guard()),
               *_buyer_documents(db, po, removed_on_po, status), *stock_events(moves),
               outbox(new_event(OrderLinesRemoved(order=order, removed_lines=removed, voided=empty, reason=reason),
                                company_id=caller.company_id, aggregate_id=order_id,
                                aggregate_version=order.version)),
               *idempotency.outcome(VendorOrder, order)]
        transact(db, ops, moves)
        return order

    return retrying(attempt)


def void_order(db: Store, caller: Caller, order_id: str, body: OrderVoid) -> VendorOrder:
    check_confirm_word(body.confirm)
    return _remove(db, caller, order_id, lambda ln: True, LineStatus.VOIDED, body.reason)


def delete_line(db: Store, caller: Caller, order_id: str, line_no: int) -> VendorOrder:
    return _remove(db, caller, order_id, lambda ln: ln.line_no == line_no, LineStatus.DELETED, None)


def confirm_order(db: Store, caller: Caller, order_id: str, body: OrderConfirmation) -> VendorOrder:
    """Lines never checked out are deleted first; the AWB is assigned; the buyer's PO is confirmed
    and its boxes wait in the buyer's staging area under the vendor's box codes. The confirmed boxes
    are shipped: they can no longer come back to the vendor's line, which may now be removed."""

    def attempt() -> VendorOrder:
        if (before := idempotency.done(db, VendorOrder)) is not None:  # a keyed request's re-execution
            return before  # type: ignore[no-any-return]
        now = clock.now()
        order = _own_order(db, caller, order_id)
        if order.status is not OrderStatus.OPEN:
            raise Conflict(f"the order is {order.status.value}; only open orders can be confirmed")
        unchecked = [ln for ln in order.lines if ln.active and not ln.checked_out]
        shipped = [ln for ln in order.lines if ln.active and ln.checked_out]
        if not shipped:
            raise Conflict("no line of this order has been checked out yet; nothing to confirm")
        nos = {ln.line_no for ln in unchecked}
        mark = _marking(nos, LineStatus.DELETED)
        awb = body.awb or f"K2K-{uuid.uuid4().hex[:8].upper()}"
        order = bump(order, lines=[mark(ln) for ln in order.lines], status=OrderStatus.CONFIRMED, awb=awb,
                     updated_at=now)
        returned = _returns(order.vendor_company_id, unchecked)
        ships = [StockMove(order.vendor_company_id, ln.vendor_line_id, ln.box_code, shipped=ln.boxes) for ln in shipped]
        # The buyer's PO and the vendor lines the boxes ship from (or go back to): one batch.
        reads = Reads()
        po_read = read_po(reads, order.buyer_company_id, order.po_id)
        kept = read_present(reads, merged([*returned, *ships]))
        stamp = read_audience(reads, [order.vendor_company_id, order.buyer_company_id])
        reads.run(db)
        po, moves = po_read(), kept()
        unchecked_on_po = [ln for ln in po.lines if ln.line_no in nos]
        po_lines = [mark(ln) for ln in po.lines]
        po = bump(po, lines=po_lines, status=PoStatus.CONFIRMED, awb=awb, updated_at=now,
                  confirmed_lines=[ln for ln in po_lines if ln.active])
        staging = [staged(po.buyer_company_id, {
            "po_id": po.po_id, "line_no": ln.line_no, "box_code": ln.box_code, "product": ln.product,
            "vendor_company_id": order.vendor_company_id, "vendor_name": po.vendor_name, "awb": awb,
            "boxes_confirmed": ln.boxes, "customer_code": ln.customer_code, "prebook_id": ln.prebook_id,
            "prebook_line_no": ln.prebook_line_no, "line": to_item(ln)}) for ln in po.confirmed_lines]
        ops = [written(order, order_key(caller.company_id, order_id), "ORDER"),
               written(po, po_key(po.buyer_company_id, po.po_id), "PO"), *staging,
               *_buyer_documents(db, po, unchecked_on_po, LineStatus.DELETED), *stock_events(moves, stamp),
               outbox(stamp(new_event(OrderConfirmed(order=order, deleted_lines=unchecked),
                                      company_id=caller.company_id, aggregate_id=order_id,
                                      aggregate_version=order.version))),
               *idempotency.outcome(VendorOrder, order)]
        transact(db, ops, moves)
        return order

    return retrying(attempt)
