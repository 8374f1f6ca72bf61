"""K2K for Procurement: a buyer's standalone POs to a connected vendor reach the vendor as prebooks, and
the vendor's answer comes back onto the PO (DOMAIN.md, K2K connections; docs/procurement.md).

A Procurement connection is its own document, beside (never instead of) a Sales connection between the
same two companies: a pair may have either, both or neither, and Sales' publishing never reads this one.
Its id is "<vendor>.<buyer>", as a Sales connection's.

    buyer requests --> REQUESTED --vendor accepts (setup checked)--> ACTIVE

Transfer: a PO the connection transfers (all POs to that vendor, or only those marked) becomes, once it
is created, the vendor's prebook `prebook_id_for(buyer, po)` for the buyer as its customer; that id is
what makes a PurchaseOrderCreated delivered twice produce one prebook. The vendor answers each line
(confirmed as is, a changed quantity or price, another product - a substitution -, rejected); the
answer comes back onto each PO line with its differences named.

Changes after transfer: until the vendor answers, the buyer changes quantities (or cancels) and the change
reaches the prebook (the PO's `revision` says which change the prebook reflects); once answered, a change
or a cancel is a `ChangeRequest` the vendor accepts or rejects, until it ships. Each side's transaction
checks the other's document, so a change and an answer (or a request and a shipment) racing cannot both
win. Plain rules, no AWS: services/procurement.py stores and moves them.
"""

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol, Self, TypeVar

from pydantic import Field, model_validator

from k2k.bounds import Boxes, Code, Input, LineNo, Name, Note, Quantity, UnitMoney, Version
from k2k.errors import Conflict, Invalid
from k2k.events import event_type
from k2k.models import Model
from k2k.network import ConnectionStatus, Parties, SetupGap, Side, accept_request, linking_gaps


class Numbered(Protocol):
    """A document line: what with_quantities needs of it."""

    line_no: int

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self: ...


L = TypeVar("L", bound=Numbered)


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


def with_quantities(lines: list[L], changes: Iterable[Any]) -> list[L]:
    """The prebook's lines with the quantity and boxes each change names by line number; the others as they are."""
    by_no = {c.line_no: c for c in changes}
    return [ln.model_copy(update={"quantity": by_no[ln.line_no].quantity, "boxes": by_no[ln.line_no].boxes})
            if ln.line_no in by_no else ln for ln in lines]


# -- changes after transfer ------------------------------------------------------------------------

class RequestKind(StrEnum):
    CHANGE = "CHANGE"  # other quantities
    CANCEL = "CANCEL"  # the whole PO


class RequestStatus(StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


class LineChange(Model):
    line_no: int
    quantity: int = Field(description="the new quantity, in the line's unit")
    boxes: int = Field(description="the boxes that quantity fills")


class ChangeRequest(Model):
    """The buyer's change or cancel of a PO its vendor answered already: the vendor's to accept or reject."""

    request_no: int = Field(description="1 for the PO's first request, then one more per request")
    kind: RequestKind
    lines: list[LineChange] = Field(default_factory=list, description="CHANGE: the lines' new quantities")
    status: RequestStatus = RequestStatus.PENDING
    reason: str | None = Field(default=None, description="the vendor's, when it rejects")
    requested_by: str
    requested_at: datetime
    answered_at: datetime | None = None


class LineChangeIn(Input):
    line_no: LineNo
    quantity: Quantity = Field(description="the new quantity: whole boxes of the line's packing")


class PoChangeIn(Input):
    """The buyer changes quantities of a standalone PO: directly until its K2K vendor answers it (the change
    reaches the vendor's prebook), a request the vendor accepts or rejects after that."""

    lines: list[LineChangeIn] = Field(min_length=1, max_length=50)
    version: Version | None = Field(default=None, description="the version you read; 409 if it changed since")

    @model_validator(mode="after")
    def _once_each(self) -> Self:
        numbers = [ln.line_no for ln in self.lines]
        if len(numbers) != len(set(numbers)):
            raise ValueError("each line is changed once")
        return self


class ChangeAnswerIn(Input):
    """The vendor's answer to its customer's pending change or cancel request."""

    decision: Literal["ACCEPT", "REJECT"]
    reason: Note | None = Field(default=None, description="why, when rejecting")


ANSWERED_MEANWHILE = ("the vendor answered this purchase order a moment ago: its answer is on its way; send this "
                      "again to ask the vendor")
SHIPPED = "the vendor shipped this purchase order already: it cannot be changed or cancelled any more"


def next_request(current: ChangeRequest | None, kind: RequestKind, lines: list[LineChange], by: str,
                 now: datetime) -> ChangeRequest:
    """A new request; one at a time (the vendor answers the pending one first)."""
    if current is not None and current.status is RequestStatus.PENDING:
        raise Conflict(f"request {current.request_no} ({current.kind.value.lower()}) is waiting for the vendor's "
                       "answer; one request at a time")
    return ChangeRequest(request_no=(current.request_no if current else 0) + 1, kind=kind, lines=lines,
                         requested_by=by, requested_at=now)


def answer_request(current: ChangeRequest | None, body: ChangeAnswerIn, now: datetime) -> ChangeRequest:
    if current is None or current.status is not RequestStatus.PENDING:
        raise Conflict("no change request of the customer is waiting for an answer")
    return current.model_copy(update={
        "status": RequestStatus.ACCEPTED if body.decision == "ACCEPT" else RequestStatus.REJECTED,
        "reason": body.reason, "answered_at": now})


@event_type("k2k.orders", "PurchaseOrderChangeRequested")
class PurchaseOrderChangeRequested(Model):
    """The buyer asks the vendor to change or cancel a PO the vendor answered already (the request only)."""

    buyer_company_id: str
    po_id: str
    vendor_company_id: str
    prebook_id: str
    request: ChangeRequest


@event_type("k2k.orders", "PrebookChangeAnswered")
class PrebookChangeAnswered(Model):
    """The vendor accepted or rejected its customer's change or cancel request; accepted, it applies to both."""

    vendor_company_id: str
    prebook_id: str
    buyer_company_id: str
    po_id: str
    request: ChangeRequest


@event_type("k2k.orders", "PrebookChanged")
class PrebookChanged(Model):
    """The buyer changed (or cancelled) a PO before its vendor answered it, and the vendor's prebook followed."""

    vendor_company_id: str
    prebook_id: str
    buyer_company_id: str
    po_id: str
    revision: int = Field(description="the PO's change the prebook now reflects")
    cancelled: bool = False
    lines: list[LineChange] = Field(default_factory=list, description="every line's quantity and boxes now")


class TransferredFrom(Model):
    """On a vendor's prebook: the buyer's PO it was transferred from."""

    buyer_company_id: str
    po_id: str
    revision: int = Field(default=0, description="the PO's change (0: none) this prebook reflects")
    change_request: ChangeRequest | None = Field(default=None, description="the customer's latest request")
    confirmed_at: datetime | None = Field(default=None, description="when the vendor answered it")
    shipped_at: datetime | None = Field(default=None, description="when the vendor shipped it")
    cancelled_at: datetime | None = Field(default=None, description="when the customer cancelled its PO")
    awb: str | None = None


# -- the vendor's answer ---------------------------------------------------------------------------

class AnswerStatus(StrEnum):
    PENDING = "PENDING"  # transferred, not answered yet
    CONFIRMED = "CONFIRMED"  # as ordered
    CHANGED = "CHANGED"  # confirmed with another quantity or price
    SUBSTITUTED = "SUBSTITUTED"  # confirmed as another product (and perhaps another quantity or price)
    REJECTED = "REJECTED"


class LineAnswerIn(Input):
    line_no: LineNo
    status: Literal["CONFIRMED", "REJECTED"]
    quantity: Quantity | None = Field(default=None, description="CONFIRMED: another quantity than ordered")
    unit_price: UnitMoney | None = Field(default=None, description="CONFIRMED: another price than ordered")
    product_code: Code | None = Field(default=None, description=(
        "CONFIRMED: a substitution - the product the vendor sends instead of the one ordered (with description)"))
    description: Name | None = Field(default=None, description="the substitute's description")

    @model_validator(mode="after")
    def _rejected_plain(self) -> Self:
        if self.status == "REJECTED" and (self.quantity is not None or self.unit_price is not None
                                          or self.product_code is not None or self.description is not None):
            raise ValueError("a rejected line names no quantity, price or substitute")
        if (self.product_code is None) != (self.description is None):
            raise ValueError("a substitute names its product_code and its description")
        return self


class PrebookAnswerIn(Input):
    """The vendor's answer to a transferred prebook: a line it does not name is confirmed as it is."""

    lines: list[LineAnswerIn] = Field(default_factory=list, max_length=50)
    version: Version | None = None

    @model_validator(mode="after")
    def _once_each(self) -> Self:
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
    product_code: str | None = Field(default=None, description="SUBSTITUTED: the product the vendor sends instead")
    description: str | None = Field(default=None, description="SUBSTITUTED: the substitute's description")
    differences: list[str] = Field(default_factory=list, description="what differs from the order, in words")


def answer_line(line_no: int, quantity: int, unit_price: Decimal, given: LineAnswerIn | None, *,
                product_code: str = "", description: str = "") -> LineAnswer:
    """One line's answer against what was ordered (that product, quantity and price): its status and every
    difference named; a substitution is SUBSTITUTED whatever else changed."""
    if given is not None and given.status == "REJECTED":
        return LineAnswer(line_no=line_no, status=AnswerStatus.REJECTED, quantity=0, unit_price=unit_price,
                          differences=["rejected by the vendor"])
    q = given.quantity if given is not None and given.quantity is not None else quantity
    p = given.unit_price if given is not None and given.unit_price is not None else unit_price
    substitute = given if given is not None and given.product_code not in (None, product_code) else None
    answer = LineAnswer(line_no=line_no, status=AnswerStatus.CONFIRMED, quantity=q, unit_price=p,
                        product_code=substitute.product_code if substitute else None,
                        description=substitute.description if substitute else None)
    return requoted(answer, quantity, unit_price, product_code, description)


def requoted(answer: LineAnswer, quantity: int, unit_price: Decimal, product_code: str = "",
             description: str = "") -> LineAnswer:
    """A confirmed line's answer against what is ordered now (after a change the vendor accepted, too): its
    status and every difference named."""
    differences = []
    if answer.product_code is not None:
        differences.append(f"product {product_code} ({description}) -> {answer.product_code} "
                           f"({answer.description})")
    if answer.quantity != quantity:
        differences.append(f"quantity {quantity} -> {answer.quantity}")
    if answer.unit_price != unit_price:
        differences.append(f"price {unit_price} -> {answer.unit_price}")
    status = (AnswerStatus.SUBSTITUTED if answer.product_code is not None else
              AnswerStatus.CHANGED if differences else AnswerStatus.CONFIRMED)
    return answer.model_copy(update={"status": status, "differences": differences})


def answered_line(answer: LineAnswer) -> dict[str, object]:
    """What a confirmed line's answer changes on the vendor's prebook line: the quantity, price and (substituted)
    product the vendor confirmed (a rejected line is DELETED)."""
    changes: dict[str, object] = {"quantity": answer.quantity, "unit_price": answer.unit_price}
    if answer.product_code is not None:
        changes |= {"product_code": answer.product_code, "description": answer.description}
    return changes


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
