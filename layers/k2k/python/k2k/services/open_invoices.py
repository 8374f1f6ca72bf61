"""Open invoices brought in by Data Import, found by customer PO or by invoice date."""

from datetime import date
from decimal import Decimal
from typing import Any

from k2k import paging
from k2k.auth import Caller
from k2k.errors import Invalid
from k2k.imports.model import invoices_by_date_pk, invoices_by_po_pk
from k2k.models import Model
from k2k.paging import Page
from k2k.store import Store


class OpenInvoice(Model):
    ref_no: str
    customer_code: str
    invoice_date: date
    customer_po: str
    location: str | None = None
    carrier: str
    additional_charges: list[dict[str, Any]]
    total: Decimal
    balance: Decimal
    status: str
    source: str


def search(db: Store, caller: Caller, customer_po: str | None, invoice_date: date | None, limit: int,
           token: str | None) -> "Page[OpenInvoice]":
    cid = caller.company_id
    if customer_po:
        # gsi1 keys the company's invoices by customer PO, sorted by date.
        items, next_token = paging.read(db, cid, invoices_by_po_pk(cid, customer_po),
                                        invoice_date.isoformat() if invoice_date else None, index="gsi1",
                                        limit=limit, token=token)
    elif invoice_date:
        # gsi3 keys them by invoice date.
        items, next_token = paging.read(db, cid, invoices_by_date_pk(cid, invoice_date.isoformat()), "INVREF#",
                                        index="gsi3", limit=limit, token=token)
    else:
        raise Invalid("search by customer_po, invoice_date or both", field="customer_po")
    return Page(items=[OpenInvoice.model_validate(i) for i in items], next_token=next_token)
