"""Open invoices brought in by Data Import, found by customer PO or by invoice date."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from k2k import keys
from k2k.auth import Caller
from k2k.errors import Invalid
from k2k.imports.model import invoices_by_po_pk
from k2k.models import Model
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


def search(db: Store, caller: Caller, customer_po: str | None, invoice_date: date | None) -> list[OpenInvoice]:
    if customer_po:
        # gsi1 keys the company's invoices by customer PO, sorted by date.
        items = db.query(invoices_by_po_pk(caller.company_id, customer_po),
                         invoice_date.isoformat() if invoice_date else None, index="gsi1")
    elif invoice_date:
        items = db.query(keys.company_pk(caller.company_id), "INVREF#", filter_expression="invoice_date = :d",
                         values={":d": invoice_date.isoformat()})
    else:
        raise Invalid("search by customer_po, invoice_date or both", field="customer_po")
    return [OpenInvoice.model_validate(i) for i in items]
