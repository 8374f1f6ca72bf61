"""What each import type's workbook holds: its columns, their rules, and how headers are found.

Headers are matched by name, not position: case, spaces, underscores and
hyphens are forgiven ("invoice  #", "INVOICE#", "Customer_Code"), and a few
aliases are known. Columns we do not know are kept and copied to the results.
"""

import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from k2k.imports import rules
from k2k.imports.model import ImportType
from k2k.inventory import BoxType, UnitType


class Need(StrEnum):
    REQUIRED = "required"
    MULTI_LOCATION = "required for multi-location companies"
    OPTIONAL = "optional"


@dataclass(frozen=True)
class Column:
    name: str
    field: str
    rule: rules.Rule
    need: Need
    help: str
    example: Any = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportSpec:
    import_type: ImportType
    title: str
    columns: tuple[Column, ...]
    unique: str | None = None  # the field no two rows (and no stored item) may share
    notes: tuple[str, ...] = field(default_factory=tuple)

    def column(self, field_name: str) -> Column:
        return next(c for c in self.columns if c.field == field_name)


_UNFOLDED = re.compile(r"[\s_.-]+")  # \s in a str pattern is str.isspace()


def fold(header: Any) -> str:
    """A header as compared: no case, no spaces, underscores, hyphens or dots."""
    return _UNFOLDED.sub("", str(header).casefold())


_LOCATION = Column("Location Code", "location", rules.text(20), Need.MULTI_LOCATION,
                   "one of the company's location codes; may be left empty when the company has one location",
                   "MIA", ("Location",))

OPEN_INVOICES = ImportSpec(
    ImportType.OPEN_INVOICES, "Open Invoices",
    (
        Column("Invoice #", "invoice_no", rules.text(20), Need.REQUIRED,
               "the invoice number in the external system, at most 20 characters; saved as the Ref #",
               "A-10021", ("Invoice Number", "Invoice No", "Invoice")),
        Column("Customer Code", "customer_code", rules.text(20), Need.REQUIRED,
               "a customer code that exists in K2K", "BLOOM", ("Customer",)),
        Column("Invoice Date", "invoice_date", rules.ymd_date, Need.REQUIRED,
               "a date, written YYYY-MM-DD", "2026-03-05", ("Date",)),
        Column("Invoice Balance", "balance", rules.amount(3, positive=True), Need.REQUIRED,
               "the open balance, more than 0, at most 3 decimals", "1250.375", ("Balance",)),
        Column("Customer PO", "customer_po", rules.text(20), Need.REQUIRED,
               "the customer's purchase order number, at most 20 characters", "PO-7781",
               ("Customer PO #", "PO", "PO #")),
        _LOCATION,
    ),
    unique="invoice_no",
    notes=("Each invoice is saved with carrier \"No Carrier\" and its balance as an additional charge.",
           "An invoice number already in K2K, or twice in the file, is rejected, never overwritten."),
)

OPEN_CREDITS = ImportSpec(
    ImportType.OPEN_CREDITS, "Open Credits",
    (
        Column("Credit #", "credit_no", rules.text(20), Need.REQUIRED,
               "the credit number in the external system, at most 20 characters", "CR-3301",
               ("Credit Number", "Credit No", "Reference #")),
        Column("Customer Code", "customer_code", rules.text(20), Need.REQUIRED,
               "a customer code that exists in K2K", "BLOOM", ("Customer",)),
        Column("Credit Date", "credit_date", rules.ymd_date, Need.REQUIRED,
               "a date, written YYYY-MM-DD", "2026-03-05", ("Date",)),
        Column("Credit Balance", "balance", rules.amount(3, positive=True), Need.REQUIRED,
               "a positive amount, at most 3 decimals", "80.5", ("Balance", "Amount")),
        _LOCATION,
        Column("Description", "description", rules.text(120), Need.OPTIONAL,
               "free text, at most 120 characters", "Returned HB, damaged", ("Notes", "Comment")),
    ),
    unique="credit_no",
    notes=("Each credit becomes a balance adjustment lowering the customer's balance.",),
)

BOX_TYPES = {t.value: t for t in BoxType}
UNIT_TYPES = {"Stem": UnitType.STEM, "Bunch": UnitType.BUNCH}
_COUNT = rules.whole(1, 1_000_000)
_INCHES = rules.amount(2, positive=True, max_value=Decimal("200"))

INVENTORY_IN_BOXES = ImportSpec(
    ImportType.INVENTORY_IN_BOXES, "Inventory in Boxes",
    (
        Column("Vendor Code", "vendor_code", rules.text(20), Need.REQUIRED,
               "a vendor code that exists in K2K", "ROSAFLOR", ("Vendor",)),
        Column("AWB", "awb", rules.text(30), Need.OPTIONAL, "the air waybill, at most 30 characters",
               "369-12345675", ("Air Waybill",)),
        Column("Ship Date", "ship_date", rules.ymd_date, Need.REQUIRED, "a date, written YYYY-MM-DD", "2026-03-05"),
        Column("Product Code or Description", "product", rules.text(120), Need.REQUIRED,
               "the product code or its description, at most 120 characters", "Freedom Red Rose 50cm",
               ("Product", "Product Code", "Description", "Product Description")),
        Column("Boxes", "boxes", _COUNT, Need.REQUIRED, "a whole number of boxes, at least 1", 12),
        Column("Box Type", "box_type", rules.one_of(BOX_TYPES), Need.REQUIRED, "EB, QB, HB or FB", "HB"),
        Column("Unit Type", "unit_type", rules.one_of(UNIT_TYPES), Need.REQUIRED, "Stem or Bunch", "Stem"),
        Column("Bunches/Box", "bunches_per_box", rules.whole(1, 10_000), Need.REQUIRED,
               "a whole number, at least 1", 10, ("Bunches per Box",)),
        Column("Stems/Bunch", "stems_per_bunch", rules.whole(1, 1_000), Need.OPTIONAL,
               "a whole number, at least 1; required when the unit type is Stem", 25, ("Stems per Bunch",)),
        Column("Unit Cost", "cost", rules.amount(3), Need.REQUIRED, "cost per unit, at most 3 decimals", "0.28",
               ("Cost",)),
        _LOCATION,
        Column("Unit Price", "price", rules.amount(3), Need.OPTIONAL,
               "open-market price per unit, at most 3 decimals; buyers see lines with a price", "0.35",
               ("Price",)),
        Column("Box Length", "length", _INCHES, Need.OPTIONAL, "inches; with width and height, the box's cube", 40),
        Column("Box Width", "width", _INCHES, Need.OPTIONAL, "inches", 10),
        Column("Box Height", "height", _INCHES, Need.OPTIONAL, "inches", 10),
    ),
    notes=("Rows can be confirmed straight into inventory (confirm_inventory), or are kept as pending boxes.",
           "Each row gets its own box code: <job id>-<row>."),
)

SPECS: dict[ImportType, ImportSpec] = {s.import_type: s for s in (OPEN_INVOICES, OPEN_CREDITS, INVENTORY_IN_BOXES)}


@dataclass
class HeaderMatch:
    """Where each known column is in the sheet (0-based), and what is wrong with the header row."""

    positions: dict[str, int]
    missing: list[Column]
    repeated: list[str]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.repeated


def match_header(spec: ImportSpec, header: list[Any], *, multi_location: bool) -> HeaderMatch:
    names: dict[str, Column] = {}
    for col in spec.columns:
        for name in (col.name, *col.aliases):
            names.setdefault(fold(name), col)
    positions: dict[str, int] = {}
    repeated: list[str] = []
    for index, value in enumerate(header):
        found = names.get(fold(value)) if not rules.is_blank(value) else None
        if found is None:
            continue
        col = found
        if col.field in positions:
            repeated.append(col.name)
        else:
            positions[col.field] = index
    needed = {Need.REQUIRED, Need.MULTI_LOCATION} if multi_location else {Need.REQUIRED}
    missing = [c for c in spec.columns if c.need in needed and c.field not in positions]
    return HeaderMatch(positions, missing, sorted(set(repeated)))
