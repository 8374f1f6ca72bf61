"""Customer invoices (accounts receivable): billed from staging, or imported as open invoices."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from k2k import keys
from k2k.models import Model


class CustomerInvoiceSource(StrEnum):
    K2K_STAGING = "K2K_STAGING"
    IMPORT = "IMPORT"


class CustomerInvoiceLine(Model):
    box_code: str
    product: str
    boxes: int
    unit_type: str
    units: int = Field(description="stems or bunches billed")
    unit_price: Decimal
    total: Decimal


class CustomerInvoice(Model):
    invoice_id: str
    company_id: str
    customer_code: str
    invoice_date: date
    customer_po: str | None = None
    ref_no: str | None = None
    carrier: str | None = None
    location: str | None = None
    lines: list[CustomerInvoiceLine] = Field(default_factory=list)
    additional_charges: Decimal = Decimal("0.00")
    total: Decimal
    balance: Decimal
    source: CustomerInvoiceSource
    prebook_id: str | None = None
    created_at: datetime


def invoice_key(company_id: str, invoice_id: str) -> dict[str, str]:
    return {"pk": keys.company_pk(company_id), "sk": f"ARINV#{invoice_id}"}
