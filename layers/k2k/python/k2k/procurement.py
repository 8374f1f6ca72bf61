"""K2K for Procurement: a buyer's standalone POs to a connected vendor reach the vendor as prebooks, and
the vendor's answer comes back onto the PO (DOMAIN.md, K2K connections; docs/procurement.md).

A Procurement connection is its own document, beside (never instead of) a Sales connection between the
same two companies: a pair may have either, both or neither, and Sales' publishing never reads this one.
Its id is "<vendor>.<buyer>", as a Sales connection's.

    buyer requests --> REQUESTED --vendor accepts (setup checked)--> ACTIVE

Transfer: a PO the connection transfers (all POs to that vendor, or only those marked) becomes, once it
is created, the vendor's prebook `prebook_id_for(buyer, po)` for the buyer as its customer; that id is
what makes a PurchaseOrderCreated delivered twice produce one prebook. The vendor answers each line
(confirmed as is, a changed quantity or price, rejected); the answer comes back onto each PO line with
its differences named. Plain rules, no AWS: services/procurement.py stores and moves them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from k2k.bounds import Boxes, Code, Input, LineNo, Quantity, UnitMoney, Version
from k2k.errors import Invalid
from k2k.events import event_type
from k2k.models import Model
from k2k.network import ConnectionStatus, Parties, SetupGap, Side, accept_request, linking_gaps


class TransferMode(StrEnum):
    ALL = "ALL"  # every standalone PO to this vendor
    MARKED = "MARKED"  # only POs created with k2k_transfer: true


class ProcurementSettings(Model):
    transfer: TransferMode = Field(default=TransferMode.ALL, description=(
        "which of the buyer's POs to this vendor transfer: ALL, or only those MARKED (k2k_transfer: true)"))
    auto_approve_on_confirm: bool = Field(default=False, description=(
        "the vendor's confirmation approves a PO still pending approval"))


class ProcurementSettingsIn(Input, ProcurementSettings):
    """Settings as a request states them."""


class ProcurementConnection(Parties):
    NOT_FOUND: ClassVar[str] = "procurement connection not found"

    status: ConnectionStatus
    settings: ProcurementSettings
    buyer_customer_code: str | None = Field(default=None, description="the buyer as the vendor's customer")
    vendor_code: str | None = Field(default=None, description="the vendor as the buyer's vendor")
    requested_at: datetime
    updated_at: datetime
    version: int = 1


@event_type("k2k.network", "ProcurementConnectionChanged")
class ProcurementConnectionChanged(Model):
    """A K2K for Procurement connection was requested or accepted."""

    connection: ProcurementConnection
    change: str


def missing_setup(has_customer: bool, has_vendor: bool, vendor_name: str, buyer_name: str) -> list[SetupGap]:
    """As for Sales, less the buyer's freight rate (no K2K stock is priced to it): each has the other."""
    return linking_gaps(has_customer, has_vendor, vendor_name, buyer_name)


def accept(conn: ProcurementConnection, by: Side, gaps: list[SetupGap]) -> ConnectionStatus:
    return accept_request(conn.status, by, gaps, "procurement connection")


def transfers(conn: ProcurementConnection | None, marked: bool) -> bool:
    """Whether a PO to this connection's vendor goes to the vendor as a prebook."""
    if conn is None or conn.status is not ConnectionStatus.ACTIVE:
        return False
    return conn.settings.transfer is TransferMode.ALL or marked


def prebook_id_for(buyer_company_id: str, po_id: str) -> str:
    """The vendor's prebook for a buyer's PO: one id per PO, so a second transfer finds the first."""
    return f"PB-{buyer_company_id}-{po_id}"


class TransferredFrom(Model):
    """On a vendor's prebook: the buyer's PO it was transferred from."""

    buyer_company_id: str
    po_id: str
    confirmed_at: datetime | None = Field(default=None, description="when the vendor answered it")
    shipped_at: datetime | None = Field(default=None, description="when the vendor shipped it")
    cancelled_at: datetime | None = Field(default=None, description="when the customer cancelled its PO")
    awb: str | None = None


# -- the vendor's answer ---------------------------------------------------------------------------

class AnswerStatus(StrEnum):
    PENDING = "PENDING"  # transferred, not answered yet
    CONFIRMED = "CONFIRMED"  # as ordered
    CHANGED = "CHANGED"  # confirmed with another quantity or price
    REJECTED = "REJECTED"


class LineAnswerIn(Input):
    line_no: LineNo
    status: Literal["CONFIRMED", "REJECTED"]
    quantity: Quantity | None = Field(default=None, description="CONFIRMED: another quantity than ordered")
    unit_price: UnitMoney | None = Field(default=None, description="CONFIRMED: another price than ordered")

    @model_validator(mode="after")
    def _rejected_plain(self) -> LineAnswerIn:
        if self.status == "REJECTED" and (self.quantity is not None or self.unit_price is not None):
            raise ValueError("a rejected line names no quantity or price")
        return self


class PrebookAnswerIn(Input):
    """The vendor's answer to a transferred prebook: a line it does not name is confirmed as it is."""

    lines: list[LineAnswerIn] = Field(default_factory=list, max_length=50)
    version: Version | None = None

    @model_validator(mode="after")
    def _once_each(self) -> PrebookAnswerIn:
        numbers = [ln.line_no for ln in self.lines]
        if len(numbers) != len(set(numbers)):
            raise ValueError("each line is answered once")
        return self


class LineAnswer(Model):
    """The vendor's answer to one line, as both sides keep it."""

    line_no: int
    status: AnswerStatus
    quantity: int = Field(description="what the vendor confirmed (0 when rejected)")
    unit_price: Decimal = Field(description="the vendor's price per unit")
    differences: list[str] = Field(default_factory=list, description="what differs from the order, in words")


def answer_line(line_no: int, quantity: int, unit_price: Decimal, given: LineAnswerIn | None) -> LineAnswer:
    """One line's answer against what was ordered: its status and every difference named."""
    if given is not None and given.status == "REJECTED":
        return LineAnswer(line_no=line_no, status=AnswerStatus.REJECTED, quantity=0, unit_price=unit_price,
                          differences=["rejected by the vendor"])
    q = given.quantity if given is not None and given.quantity is not None else quantity
    p = given.unit_price if given is not None and given.unit_price is not None else unit_price
    differences = []
    if q != quantity:
        differences.append(f"quantity {quantity} -> {q}")
    if p != unit_price:
        differences.append(f"price {unit_price} -> {p}")
    return LineAnswer(line_no=line_no, status=AnswerStatus.CHANGED if differences else AnswerStatus.CONFIRMED,
                      quantity=q, unit_price=p, differences=differences)


@event_type("k2k.orders", "PrebookAnswered")
class PrebookAnswered(Model):
    """The vendor answered a prebook transferred from a buyer's PO; the answer goes back onto that PO.
    It carries the answer only, never the vendor's prebook (its customer codes, its own prices)."""

    vendor_company_id: str
    prebook_id: str
    buyer_company_id: str
    po_id: str
    answers: list[LineAnswer]


def check_answers(line_numbers: set[int], answers: list[LineAnswerIn]) -> None:
    for n, given in enumerate(answers):
        if given.line_no not in line_numbers:
            raise Invalid(f"the prebook has no line {given.line_no}", field=f"lines.{n}.line_no")


# -- the vendor's shipment -------------------------------------------------------------------------

class ShippedLine(Model):
    line_no: int
    box_code: str = Field(description="the vendor's box code: the buyer stages and stocks the boxes under it")
    boxes: int


class ShipLineIn(Input):
    line_no: LineNo
    box_code: Code = Field(description="the vendor's box code for this line's boxes")
    boxes: Boxes


class ShipIn(Input):
    """The vendor ships an answered transferred prebook: every line it did not reject, once each."""

    awb: Code = Field(description="the air waybill the boxes fly on")
    lines: list[ShipLineIn] = Field(min_length=1, max_length=50)


@event_type("k2k.orders", "PrebookShipped")
class PrebookShipped(Model):
    """The vendor shipped a prebook transferred from a buyer's PO: its boxes wait in the buyer's staging area
    under the vendor's box codes."""

    vendor_company_id: str
    prebook_id: str
    buyer_company_id: str
    po_id: str
    awb: str
    lines: list[ShippedLine]


def check_shipment(rejected: set[int], to_ship: set[int], body: ShipIn) -> list[ShippedLine]:
    """Every line the vendor confirmed is shipped, each once, each under its own box code."""
    for n, ln in enumerate(body.lines):
        if ln.line_no not in to_ship:
            why = "was rejected" if ln.line_no in rejected else "is not a line of the prebook"
            raise Invalid(f"line {ln.line_no} {why}", field=f"lines.{n}.line_no")
    named = [ln.line_no for ln in body.lines]
    if len(set(named)) != len(named):
        raise Invalid("each line is shipped once", field="lines")
    missing = sorted(to_ship - set(named))
    if missing:
        raise Invalid(f"line(s) {', '.join(map(str, missing))} are confirmed: ship them too", field="lines")
    codes = [ln.box_code for ln in body.lines]
    if len(set(codes)) != len(codes):
        raise Invalid("each line needs its own box code", field="lines")
    return [ShippedLine(line_no=ln.line_no, box_code=ln.box_code, boxes=ln.boxes) for ln in body.lines]
