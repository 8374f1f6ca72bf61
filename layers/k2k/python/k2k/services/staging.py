"""The buyer's staging area: confirmed K2K boxes wait here under the vendor's box codes.

Receiving boxes either bills them straight to the prebook's customer (automatic
billing & allocation, not for customers on credit hold or over their limit) or
puts them into the buyer's own inventory. The credit check is judged on the
customer's ledger balance and holds in the receipt's transaction: the customer
item must still be at the entry count and version read (k2k.services.accounts),
so two receipts racing for the last of a customer's credit cannot both bill;
the loser reads again, and goes to inventory with the reason if it no longer fits.
"""

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field

from k2k import clock, idempotency, keys, paging, pricing, store
from k2k import purchasing as purchasing_rules
from k2k.auth import Caller
from k2k.bounds import Boxes, Code, Id, Input
from k2k.errors import Conflict, NotFound
from k2k.events import new_event, outbox
from k2k.inventory import LineFields
from k2k.ledger import credit_refusal
from k2k.models import Model
from k2k.money import cents
from k2k.network import Company, Customer
from k2k.orders import OrderLine, StagingReceived, billing_price, received_line, receiving_location
from k2k.paging import Page
from k2k.purchasing import PoLine
from k2k.receivables import CustomerInvoice, CustomerInvoiceLine, CustomerInvoiceSource
from k2k.services import inventory as inventory_svc
from k2k.services import order_data, purchasing
from k2k.services.accounts import invoice_ops, read_customer, read_invoice_number
from k2k.services.network import read_company
from k2k.services.order_data import get_prebook, transact
from k2k.services.partner_audience import read_audience
from k2k.store import Item, Reads, Store, plain, retrying


class StagedBoxes(Model):
    po_id: str
    line_no: int
    box_code: str
    product: str
    po_kind: Literal["k2k", "standalone"] = Field(default="k2k", description="the kind of PO the boxes came on")
    vendor_company_id: str | None = Field(default=None, description="the vendor's K2K company (always for K2K)")
    vendor_code: str | None = None
    vendor_name: str
    awb: str
    boxes_confirmed: int
    boxes_received: int
    customer_code: str | None = Field(default=None, description="the end customer; null when bought for stock")
    prebook_id: str | None = None


class ReceiveIn(Input):
    box_code: Code
    boxes: Boxes | None = Field(default=None, description="default: every box still in staging")
    po_id: Id | None = Field(default=None, description="when one box code waits on several POs")


class Receipt(Model):
    po_id: str
    box_code: str
    boxes: int
    billed: CustomerInvoice | None = None
    not_billed_because: str | None = None
    into_inventory_line_id: str | None = None


def list_staging(db: Store, caller: Caller, limit: int, token: str | None) -> "Page[StagedBoxes]":
    items, next_token = paging.read(db, caller.company_id, keys.company_pk(caller.company_id), "STAGING#",
                                    limit=limit, token=token)
    return Page(items=[StagedBoxes.model_validate(plain(i)) for i in items], next_token=next_token)


def _find(db: Store, buyer: str, body: ReceiveIn, recheck: bool) -> Item:
    waiting = order_data.waiting_in_staging(db, buyer, body.box_code, body.po_id, recheck=recheck)
    if waiting is None:
        raise NotFound(f"no boxes with code {body.box_code} are waiting in staging")
    return waiting


def _invoice(invoice_id: str, buyer: Company, customer: Customer, line: OrderLine | PoLine, boxes: int,
             price: Decimal, prebook_id: str, source: CustomerInvoiceSource) -> CustomerInvoice:
    units = boxes * pricing.units_per_box(line.unit_type.value, line.bunches_per_box, line.stems_per_bunch)
    total = cents(units * price)
    now = clock.now()
    return CustomerInvoice(
        invoice_id=invoice_id, company_id=buyer.company_id,
        customer_code=customer.code, invoice_date=now.date(), lines=[CustomerInvoiceLine(
            box_code=line.box_code, product=line.product, boxes=boxes, unit_type=line.unit_type.value,
            units=units, unit_price=price, total=total)],
        total=total, balance=total, source=source, prebook_id=prebook_id, created_at=now)


def receive(db: Store, caller: Caller, body: ReceiveIn) -> Receipt:
    attempts = 0

    def attempt() -> Receipt:
        nonlocal attempts
        if (before := idempotency.done(db, Receipt)) is not None:  # a keyed request's re-execution: its answer
            return before  # type: ignore[no-any-return]
        attempts += 1
        staged = _find(db, caller.company_id, body, recheck=attempts > 1)  # again: the index may lag
        remaining = int(staged["boxes_confirmed"]) - int(staged["boxes_received"])
        boxes = body.boxes or remaining
        if boxes > remaining:
            raise Conflict(f"only {remaining} boxes of {body.box_code} are waiting in staging")
        standalone = purchasing.staged_line(staged)
        # The company, and what billing a K2K line reads (the customer its checkout stamped on the line, the
        # invoice counter), in one batch: read whether or not the company bills automatically, at no extra request.
        reads = Reads()
        buyer_read = read_company(reads, caller.company_id)
        k2k_line = None if standalone is not None else OrderLine.model_validate(staged["line"])
        billing = _billing_reads(reads, caller.company_id, k2k_line) if k2k_line is not None else None
        stamp = read_audience(reads, [caller.company_id])  # StagingReceived is the buyer's alone
        reads.run(db)
        buyer = buyer_read()
        ops = [order_data.received(staged, boxes)]
        settings = buyer.settings.buyer
        if standalone is not None:  # a standalone PO's line: counted on its PO, billed or stocked at landed cost
            sa = standalone
            receipt = Receipt(po_id=staged["po_id"], box_code=sa.box_code, boxes=boxes)
            ops += purchasing.receipt_ops(db, buyer.company_id, receipt.po_id, sa.line_no, boxes)
            # Bought for a prebook (finished goods from the production company, seed 003): bill its customer.
            if not (settings.automatic_billing_allocation and sa.prebook_id
                    and _bill(db, buyer, caller, sa, boxes, receipt, ops)):
                # Its code taken by another product since the PO was made: its boxes must not join that line.
                why = purchasing_rules.box_code_refusal(sa, inventory_svc.line_by_box_code(
                    db, buyer.company_id, sa.box_code))
                if why:
                    raise Conflict(why)
                _into_inventory(db, buyer, sa.box_code, boxes, receipt, ops,
                                lambda today: purchasing_rules.received_line(sa, boxes, settings.gpm_for(sa.location),
                                                                             today))
        else:
            assert k2k_line is not None
            line = k2k_line
            receipt = Receipt(po_id=staged["po_id"], box_code=line.box_code, boxes=boxes)
            billed = False
            if settings.automatic_billing_allocation and line.prebook_id:
                billed = _bill(db, buyer, caller, line, boxes, receipt, ops, billing)
            if not billed:
                at = receiving_location(line.location, buyer.location_codes)
                _into_inventory(db, buyer, line.box_code, boxes, receipt, ops, lambda today: received_line(
                    line, boxes, at, settings.gpm_for(at), today))
        ops.append(outbox(stamp(new_event(StagingReceived(
            buyer_company_id=buyer.company_id, po_id=receipt.po_id, box_code=receipt.box_code, boxes=boxes,
            billed_invoice_id=receipt.billed.invoice_id if receipt.billed else None,
            into_inventory_line_id=receipt.into_inventory_line_id), company_id=buyer.company_id,
            aggregate_id=receipt.po_id, aggregate_version=0))))
        ops += idempotency.outcome(Receipt, receipt)
        transact(db, ops)  # a failed condition (boxes received, the customer's account or number): again
        return receipt

    return retrying(attempt, f"the receipt of {body.box_code}", RECEIPT_ATTEMPTS)


RECEIPT_ATTEMPTS = 25  # receipts for one customer contend on its account: each round one of them wins


Billing = tuple[Callable[[], Customer | None], Callable[[], tuple[str, store.Op]]]


def _stamped(line: OrderLine | PoLine) -> bool:
    """A K2K line checked out (or bought for a prebook) carries its sale price and customer: no prebook to read."""
    return isinstance(line, OrderLine) and line.sale_price is not None and line.customer_code is not None


def _billing_reads(reads: Reads, company_id: str, line: OrderLine) -> Billing | None:
    """The customer's account and the invoice counter, added to a batch: for a line that names its customer."""
    if not (line.prebook_id and _stamped(line)):
        return None
    assert line.customer_code is not None
    return read_customer(reads, company_id, line.customer_code), read_invoice_number(reads, company_id)


def _bill(db: Store, buyer: Company, caller: Caller, line: OrderLine | PoLine, boxes: int, receipt: Receipt,
          ops: list[store.Op], billing: Billing | None = None) -> bool:
    """Bill the received boxes to the customer of the prebook the PO line was bought for, at the prebook
    line's price (k2k.orders.billing_price), unless the customer is gone, on credit hold or would go over its
    limit, or the line has no price to bill at: then False, and the receipt says why. `billing`: the customer
    and the counter, when they were read already (with the company)."""
    assert line.prebook_id is not None
    prebook = None if _stamped(line) else get_prebook(db, buyer.company_id, line.prebook_id)
    code = prebook.customer_code if prebook is not None else line.customer_code
    assert code is not None
    if billing is None:
        reads = Reads()  # the customer's account and the invoice counter, in one batch
        billing = read_customer(reads, buyer.company_id, code), read_invoice_number(reads, buyer.company_id)
        reads.run(db)
    customer_read, number = billing
    customer = customer_read()
    if customer is None:
        receipt.not_billed_because = f"customer {code} no longer exists"
        return False
    if prebook is None:
        assert isinstance(line, OrderLine)
        price = line.sale_price
    else:
        pl = next(p for p in prebook.lines if p.line_no == line.prebook_line_no)
        price = billing_price(pl, buyer.settings.buyer.gpm_for(receiving_location(line.location,
                                                                                   buyer.location_codes)))
        if price is None:
            receipt.not_billed_because = (f"line {pl.line_no} of prebook {prebook.prebook_id} has no sales price "
                                          "and no cost to suggest one from")
            return False
    assert price is not None
    invoice_id, take_number = number()
    source = CustomerInvoiceSource.PO_STAGING if isinstance(line, PoLine) else CustomerInvoiceSource.K2K_STAGING
    invoice = _invoice(invoice_id, buyer, customer, line, boxes, price, line.prebook_id, source)
    why = credit_refusal(customer.credit_hold, customer.credit_limit, customer.balance, invoice.total)
    if why:
        receipt.not_billed_because = why
        return False
    # The invoice, its ledger entry and the customer's new balance, conditional on the account read.
    ops.append(take_number)
    ops.extend(invoice_ops(buyer.currency, customer, invoice, caller.user_id, credit_checked=True)[0])
    receipt.billed = invoice
    return True


def _into_inventory(db: Store, buyer: Company, box_code: str, boxes: int, receipt: Receipt, ops: list[store.Op],
                    fields: Callable[[date], LineFields]) -> None:
    """The boxes join the buyer's own inventory under their box code: a K2K line's at the landed cost the buyer
    bought it at, priced for the location it was bought for (k2k.orders.received_line), a standalone PO line's
    at its landed cost (k2k.purchasing.received_line); boxes of a code already in stock are added to that line.
    Either way the stock change publishes its event."""
    existing = db.get(keys.company_pk(buyer.company_id), f"BOXCODE#{box_code}")
    if existing is not None:
        move = inventory_svc.StockMove(buyer.company_id, existing["line_id"], box_code, on_hand=boxes)
        ops += [move.op(), move.event()]
        receipt.into_inventory_line_id = existing["line_id"]
        return
    now = clock.now()
    new = inventory_svc.new_line(buyer, fields(pricing.local_now(buyer.settings.timezone, now).date()), now)
    ops.extend(inventory_svc.create_ops(new))
    receipt.into_inventory_line_id = new.line_id
