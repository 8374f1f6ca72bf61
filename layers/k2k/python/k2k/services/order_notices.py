"""Who is told what about K2K orders, by email (SES). The events themselves are on the bus.

An email cannot join a DynamoDB transaction, so a notice is sent at least once:
an event already recorded in the inbox is skipped; otherwise the email is sent
and then the event recorded. A Lambda dying between the two sends that email
again on redelivery; it never loses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress

from k2k import consumer, keys
from k2k.events import Event
from k2k.orders import CartCheckedOut, OrderConfirmed, OrderLine, OrderLinesRemoved, PurchaseOrderPlaced
from k2k.services.network import get_company, get_customer
from k2k.store import ConditionFailed, Store

CONSUMER = "order-notices"


def _send(to: Iterable[str | None], subject: str, text: str) -> list[str]:
    from k2k.notifications import send_email

    recipients = sorted({r for r in to if r})
    if recipients:
        send_email(recipients, subject, text)
    return recipients


def _sent(db: Store, company_id: str, event: Event) -> bool:
    return db.get(keys.inbox_pk(company_id), f"{CONSUMER}#{event.metadata.event_id}") is not None


def _record(db: Store, company_id: str, event: Event) -> None:
    record = consumer.inbox(CONSUMER, company_id, event)
    with suppress(ConditionFailed):  # a concurrent copy of the event recorded it first
        db.put(record.key_or_item, record.condition)


def _lines(lines: Iterable[OrderLine]) -> str:
    return "\n".join(f"  {ln.boxes} x {ln.box_type.value} {ln.product} (box code {ln.box_code})" for ln in lines)


def notify(db: Store, event: Event) -> list[str]:
    """Send the notices an order event calls for; returns the recipients (empty if already sent)."""
    company = event.metadata.producer_company_id
    if _sent(db, company, event):
        return []
    recipients = _compose(db, event)
    _record(db, company, event)
    return recipients


Contacts = list[str | None]


def _buyer_contacts(db: Store, buyer_id: str, customer_codes: Iterable[str]) -> tuple[Contacts, Contacts]:
    """(the buyer's salespeople for these end customers, the end customers themselves)."""
    sales: Contacts = []
    customers: Contacts = []
    for code in set(customer_codes):
        customer = get_customer(db, buyer_id, code)
        if customer:
            sales.append(customer.salesperson_email)
            customers.append(customer.email)
    return sales, customers


def _compose(db: Store, event: Event) -> list[str]:
    if event.detail_type == "PurchaseOrderPlaced":
        placed = PurchaseOrderPlaced.model_validate(event.data)
        order = placed.order
        vendor = get_company(db, order.vendor_company_id)
        account = get_customer(db, order.vendor_company_id, order.customer_code) if order.customer_code else None
        return _send([account.salesperson_email if account else None, *vendor.settings.notification_emails],
                     f"New K2K order {order.order_id} from {order.buyer_name}",
                     f"{order.buyer_name} placed K2K order {order.order_id} for ship date {order.ship_date}.\n"
                     f"{_lines(order.lines)}\nLines not yet checked out are deleted when you confirm.")
    if event.detail_type == "CartCheckedOut":
        done = CartCheckedOut.model_validate(event.data)
        sales, customers = _buyer_contacts(db, done.cart.buyer_company_id, [done.cart.customer_code])
        return _send([*sales, *customers], f"Order {done.prebook.prebook_id} confirmed",
                     f"Thank you: your order {done.prebook.prebook_id} ships {done.prebook.ship_date}.\n"
                     + "\n".join(f"  {ln.boxes} x {ln.product}" for ln in done.prebook.lines))
    if event.detail_type == "OrderConfirmed":
        confirmed = OrderConfirmed.model_validate(event.data)
        if not confirmed.deleted_lines:
            return []
        order = confirmed.order
        vendor = get_company(db, order.vendor_company_id)
        sales, customers = _buyer_contacts(db, order.buyer_company_id,
                                           [ln.customer_code for ln in confirmed.deleted_lines])
        return _send([*sales, *customers, *vendor.settings.notification_emails],
                     f"K2K order {order.order_id}: lines never checked out were deleted",
                     f"{vendor.name} confirmed order {order.order_id} (AWB {order.awb}). These lines were never "
                     f"checked out and were deleted:\n{_lines(confirmed.deleted_lines)}")
    if event.detail_type == "OrderLinesRemoved":
        removed = OrderLinesRemoved.model_validate(event.data)
        order = removed.order
        buyer = get_company(db, order.buyer_company_id)
        vendor = get_company(db, order.vendor_company_id)
        sales, _ = _buyer_contacts(db, order.buyer_company_id, [ln.customer_code for ln in removed.removed_lines])
        what = "voided the whole order" if removed.voided else "deleted lines from the order"
        reason = f"\nReason: {removed.reason}" if removed.reason else ""
        return _send([*sales, *buyer.settings.notification_emails],
                     f"K2K order {order.order_id}: {vendor.name} {what}",
                     f"{vendor.name} {what} {order.order_id} (your PO {order.po_id}). Find another supply for:\n"
                     f"{_lines(removed.removed_lines)}{reason}")
    return []
