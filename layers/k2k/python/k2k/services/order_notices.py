"""Who is told what about K2K orders, by email (SES). The events themselves are on the bus.

The privacy wall (docs/orders.md, "Who sees what"): one email per recipient group, never mixing
companies - the vendor's people, the buyer's people, and each end customer on its own (only its
own lines, and not the vendor's name: the buyer's supplier is the buyer's business). Order events
carry the vendor's view of a line; who a line was for is read here from the buyer's PO.

Each email is sent at least once and marked once sent (k2k.notifications.send_once): a redelivered
event sends only the groups not marked yet, so an email goes out twice only if the Lambda dies in the
instant between SES accepting it and its mark (docs/guarantees.md, "Emails").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from k2k import keys
from k2k.errors import NotFound
from k2k.events import Event
from k2k.orders import (
    CartCheckedOut,
    OrderConfirmed,
    OrderLine,
    OrderLinesRemoved,
    PurchaseOrder,
    PurchaseOrderPlaced,
    VendorOrderLine,
)
from k2k.services.accounts import get_customer, read_customer
from k2k.services.network import read_company
from k2k.services.order_data import read_po
from k2k.store import Reads, Store

CONSUMER = "order-notices"


Group = tuple[Iterable[str | None], str, str]  # one email: (addresses, subject, text)


def _lines(lines: Iterable[VendorOrderLine]) -> str:
    return "\n".join(f"  {ln.boxes} x {ln.box_type.value} {ln.product} (box code {ln.box_code})" for ln in lines)


def notify(db: Store, event: Event) -> list[str]:
    """Send the notices an order event calls for, one email per recipient group, each once; returns the
    recipients of the emails sent now (empty when a delivery before this one sent them all)."""
    from k2k.notifications import Marks, send_once

    pk, scope = keys.inbox_pk(event.metadata.producer_company_id), f"{CONSUMER}#{event.metadata.event_id}"
    reads = Reads()  # the event's email marks, read in the batch of what its emails say (_compose runs it)
    marks = Marks.read(reads, pk, scope)
    sent: list[str] = []
    for to, subject, text in _compose(db, event, reads):
        sent += send_once(db, pk, scope, to, subject, text, marks)
    return sent


Contacts = list[str | None]


def _lines_of(po_read: Callable[[], PurchaseOrder], lines: Iterable[VendorOrderLine]) -> list[OrderLine]:
    try:
        po = po_read()
    except NotFound:
        return []
    nos = {ln.line_no for ln in lines}
    return [ln for ln in po.lines if ln.line_no in nos]


def _salespeople(db: Store, buyer_id: str, customer_codes: Iterable[str | None]) -> Contacts:
    """The buyer's salespeople for these end customers (a line bought for the buyer's own stock has none)."""
    return [c.salesperson_email for c in (get_customer(db, buyer_id, code) for code in set(customer_codes) if code)
            if c]


def _compose(db: Store, event: Event, reads: Reads) -> list[Group]:
    """The emails an event calls for. What they say is read in one batch with `reads` (the event's marks):
    each kind of event adds its keys and runs it, before any email is sent."""
    if event.detail_type == "PurchaseOrderPlaced":
        placed = PurchaseOrderPlaced.model_validate(event.data)
        order = placed.order
        # the vendor and its account of the buyer, in one batch
        vendor_read = read_company(reads, order.vendor_company_id)
        account_read = read_customer(reads, order.vendor_company_id, order.customer_code) if order.customer_code \
            else None
        reads.run(db)
        vendor, account = vendor_read(), account_read() if account_read else None
        return [([account.salesperson_email if account else None, *vendor.settings.notification_emails],
                 f"New K2K order {order.order_id} from {order.buyer_name}",
                 f"{order.buyer_name} placed K2K order {order.order_id} for ship date {order.ship_date}.\n"
                 f"{_lines(order.lines)}\nLines not yet checked out are deleted when you confirm.")]
    if event.detail_type == "CartCheckedOut":
        done = CartCheckedOut.model_validate(event.data)
        buyer_id, code = done.cart.buyer_company_id, done.cart.customer_code
        customer_read = read_customer(reads, buyer_id, code)
        reads.run(db)
        customer = customer_read()
        items = "\n".join(f"  {ln.summary}" for ln in done.prebook.lines)
        return [
            ([customer.email if customer else None], f"Order {done.prebook.prebook_id} confirmed",
             f"Thank you: your order {done.prebook.prebook_id} ships {done.prebook.ship_date}.\n{items}"),
            ([customer.salesperson_email if customer else None],
             f"{code} checked out: prebook {done.prebook.prebook_id}",
             f"Your customer {code} checked out cart {done.cart.cart_id}: prebook {done.prebook.prebook_id} "
             f"ships {done.prebook.ship_date}.\n{items}")]
    if event.detail_type == "OrderConfirmed":
        confirmed = OrderConfirmed.model_validate(event.data)
        if not confirmed.deleted_lines:
            return []
        order = confirmed.order
        # the vendor and the buyer's own copies of the lines (its PO's: which end customer each was for)
        vendor_read = read_company(reads, order.vendor_company_id)
        po_read = read_po(reads, order.buyer_company_id, order.po_id)
        reads.run(db)
        vendor = vendor_read()
        theirs = _lines_of(po_read, confirmed.deleted_lines)
        by_customer: dict[str, list[OrderLine]] = {}
        for ln in theirs:
            if ln.customer_code:  # never checked out, so from a cart: it has an end customer
                by_customer.setdefault(ln.customer_code, []).append(ln)
        groups: list[Group] = [
            (vendor.settings.notification_emails, f"K2K order {order.order_id}: lines never checked out were deleted",
             f"You confirmed K2K order {order.order_id} for {order.buyer_name} (AWB {order.awb}). These lines "
             f"were never checked out and were deleted; their boxes are back on open market:\n"
             f"{_lines(confirmed.deleted_lines)}"),
            (_salespeople(db, order.buyer_company_id, by_customer),
             f"K2K order {order.order_id}: lines never checked out were deleted",
             f"{vendor.name} confirmed order {order.order_id} (your PO {order.po_id}, AWB {order.awb}). "
             f"These lines were never checked out and were deleted:\n"
             + "\n".join(f"{_lines([ln])} for {ln.customer_code}" for ln in theirs))]
        for code, lines in sorted(by_customer.items()):
            customer = get_customer(db, order.buyer_company_id, code)
            groups.append(([customer.email if customer else None],
                           "Items you never checked out were removed from your cart",
                           "These items were still in your cart, never checked out, and are no longer "
                           f"reserved for you:\n{_lines(lines)}"))
        return groups
    if event.detail_type == "OrderLinesRemoved":
        removed = OrderLinesRemoved.model_validate(event.data)
        order = removed.order
        # both companies and the buyer's PO, in one batch
        buyer_read = read_company(reads, order.buyer_company_id)
        vendor_read = read_company(reads, order.vendor_company_id)
        po_read = read_po(reads, order.buyer_company_id, order.po_id)
        reads.run(db)
        buyer, vendor = buyer_read(), vendor_read()
        theirs = _lines_of(po_read, removed.removed_lines)
        sales = _salespeople(db, order.buyer_company_id, [ln.customer_code for ln in theirs])
        what = "voided the whole order" if removed.voided else "deleted lines from the order"
        reason = f"\nReason: {removed.reason}" if removed.reason else ""
        return [([*sales, *buyer.settings.notification_emails],
                 f"K2K order {order.order_id}: {vendor.name} {what}",
                 f"{vendor.name} {what} {order.order_id} (your PO {order.po_id}). Find another supply for:\n"
                 f"{_lines(removed.removed_lines)}{reason}")]
    return []
