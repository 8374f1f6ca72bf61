"""Customer invoices (accounts receivable): billed from staging, raised by hand, or imported as open invoices.

Every customer invoice is posted to the customer's ledger (k2k.ledger) in the
transaction that writes it; voiding one posts its reversal.
"""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from k2k import keys
from k2k.errors import Conflict
from k2k.ledger import EntryType
from k2k.models import Model


class CustomerInvoiceSource(StrEnum):
    K2K_STAGING = "K2K_STAGING"  # automatic billing of K2K boxes received from staging
    PO_STAGING = "PO_STAGING"  # automatic billing of a standalone PO's goods received from staging (seed 003)
    HAND = "HAND"
    IMPORT = "IMPORT"


# The ledger entry each source posts.
ENTRY_TYPE = {
    CustomerInvoiceSource.K2K_STAGING: EntryType.STAGING_INVOICE,
    CustomerInvoiceSource.PO_STAGING: EntryType.STAGING_INVOICE,
    CustomerInvoiceSource.HAND: EntryType.HAND_INVOICE,
    CustomerInvoiceSource.IMPORT: EntryType.IMPORTED_INVOICE,
}


class CustomerInvoiceStatus(StrEnum):
    OPEN = "OPEN"
    VOID = "VOID"


class CustomerInvoiceLine(Model):
    box_code: str | None = None
    line_id: str | None = Field(default=None, description="the company's inventory line the boxes were taken from")
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
    balance: Decimal = Field(description="what is still open on this invoice: its total, 0.00 once voided")
    source: CustomerInvoiceSource
    status: CustomerInvoiceStatus = CustomerInvoiceStatus.OPEN
    prebook_id: str | None = None
    created_by: str | None = None
    created_at: datetime
    void_reason: str | None = None
    voided_at: datetime | None = None
    version: int = 1


def invoice_key(company_id: str, invoice_id: str) -> dict[str, str]:
    return {"pk": keys.company_pk(company_id), "sk": f"ARINV#{invoice_id}"}


def invoice_keys(invoice: CustomerInvoice) -> dict[str, str]:
    """What an invoice is written under: its key, and its place among its customer's invoices (gsi2)."""
    return {**invoice_key(invoice.company_id, invoice.invoice_id),
            "gsi2pk": keys.customer_invoices_pk(invoice.company_id, invoice.customer_code)}


def customer_invoice_id(number: int) -> str:
    """Customer invoices (billed from staging or raised by hand) are numbered without gaps per company."""
    return f"AR-{number:06d}"


def voided(invoice: CustomerInvoice, reason: str, at: datetime) -> CustomerInvoice:
    if invoice.status is CustomerInvoiceStatus.VOID:
        raise Conflict(f"invoice {invoice.invoice_id} is already void")
    if invoice.source is CustomerInvoiceSource.IMPORT:
        raise Conflict("an imported open invoice belongs to the system that issued it: "
                       "post a credit or an adjustment instead of voiding it")
    return invoice.model_copy(update={"status": CustomerInvoiceStatus.VOID, "balance": Decimal("0.00"),
                                      "void_reason": reason, "voided_at": at, "version": invoice.version + 1})
