"""Standalone purchase orders: a company buys products from any of its vendors, K2K or not
(DOMAIN.md, Products and purchasing; seed 003).

A standalone PO names a vendor of the company (its vendor code), an optional customer (the
production company the goods are for), a ship date and lines of the company's products with their
cost. It is created pending approval; once approved, its goods are confirmed into the staging area
under their box codes (as a K2K PO's are when its vendor confirms), and received from there into
inventory at their landed cost - or, for a line bought for a prebook, billed (services/staging.py).

    PENDING_APPROVAL --approve--> APPROVED --confirm (goods arrived: staging)--> CONFIRMED
    CONFIRMED --every box received from staging--> RECEIVED
    PENDING_APPROVAL or APPROVED --cancel (not once its K2K vendor answered it)--> CANCELLED
    PENDING_APPROVAL or APPROVED --change quantities (its K2K vendor's answer pending)--> the same, revision + 1
    answered by its K2K vendor, not shipped --change or cancel--> a request the vendor accepts or rejects

Plain rules, no AWS: services/purchasing.py stores and moves them.
"""

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from k2k import pricing
from k2k.bounds import (
    Boxes,
    BunchesPerBox,
    Code,
    Input,
    Quantity,
    StemsPerBunch,
    UnitMoney,
)
from k2k.errors import Conflict, Invalid
from k2k.events import event_type
from k2k.inventory import BoxType, Dimensions, DimensionsIn, InventoryLine, InventoryType, LineFields
from k2k.invoices import ExpectedLine, ReconciledPo
from k2k.models import Model
from k2k.money import cents
from k2k.network import BuyerSettings
from k2k.orders import PoStatus, PurchaseOrder
from k2k.procurement import (
    AnswerStatus,
    ChangeRequest,
    LineAnswer,
    LineChange,
    LineChangeIn,
    RequestStatus,
    requoted,
)
from k2k.products import Product, ProductKind, UnitType

# A PO is one document; its largest step (confirm: the PO, its event and a staging item per line)
# is one transaction of at most 100 actions.
MAX_PO_LINES = 50


class PoLine(Model):
    """A line of a standalone PO: `quantity` units of one product, packed `boxes` x units per box."""

    line_no: int
    product_code: str
    description: str
    kind: ProductKind
    unit: UnitType = Field(description="what quantity, unit_cost and landed_cost count")
    quantity: int = Field(ge=1, description="units (stems, bunches or units) ordered")
    unit_cost: Decimal = Field(description="the vendor's cost per unit")
    landed_cost: Decimal = Field(description="per unit: unit cost + the company's duties, handling and freight")
    customer_code: str | None = Field(default=None, description="the customer the goods are for, e.g. the "
                                                                "production company")
    prebook_id: str | None = None
    prebook_line_no: int | None = None
    box_code: str = Field(description="the code its goods arrive and are stocked under")
    box_type: BoxType | None = None
    boxes: int = Field(ge=1, description="boxes, or loose units when box_type is null")
    bunches_per_box: int = Field(default=1, description="bunches (or units) per box")
    stems_per_bunch: int = 1
    dimensions: Dimensions | None = None
    location: str = Field(description="the company location it is received at")
    boxes_received: int = 0
    vendor_answer: LineAnswer | None = Field(default=None, description=(
        "K2K for Procurement: the vendor's answer to this line (status, quantity, price, differences)"))

    @property
    def total(self) -> Decimal:
        return cents(self.quantity * self.unit_cost)

    # The names a staged line is read by (services/staging.py), shared with K2K PO lines.
    @property
    def product(self) -> str:
        return self.description

    @property
    def unit_type(self) -> UnitType:
        return self.unit


class StandalonePurchaseOrder(Model):
    kind: Literal["standalone"] = Field(default="standalone", description="a PO not born from K2K stock")
    po_id: str
    buyer_company_id: str
    vendor_code: str
    vendor_name: str
    vendor_company_id: str | None = Field(default=None, description="the vendor's K2K company, when it has one")
    customer_code: str | None = Field(default=None, description="e.g. the production company the goods are for")
    ship_date: date
    status: PoStatus
    lines: list[PoLine]
    awb: str | None = None
    k2k_transfer: bool = Field(default=False, description=(
        "marked for K2K for Procurement (a connection that transfers only marked POs transfers it)"))
    vendor_prebook_id: str | None = Field(default=None, description=(
        "K2K for Procurement: the vendor's prebook it became, set when the vendor answers"))
    vendor_answered_at: datetime | None = None
    revision: int = Field(default=0, description=(
        "K2K for Procurement: changes made to its quantities since it was created (its vendor's prebook follows)"))
    change_request: ChangeRequest | None = Field(default=None, description=(
        "K2K for Procurement: the latest change or cancel asked of a vendor that answered the PO already"))
    created_by: str | None = None
    approved_by: str | None = None
    version: int = 1
    created_at: datetime
    updated_at: datetime

    @property
    def total(self) -> Decimal:
        return sum((ln.total for ln in self.lines), Decimal("0.00"))


class Packing(Input):
    """How a line's units come packed; without it, they come loose (one unit per 'box')."""

    box_type: BoxType | None = Field(default=None, description="null: not packed in boxes")
    boxes: Boxes
    bunches_per_box: BunchesPerBox = Field(default=1, description="bunches (or units, for UNIT goods) per box")
    stems_per_bunch: StemsPerBunch = 1
    dimensions: DimensionsIn | None = Field(default=None, description="a box's size, for freight by cube")


class PoLineIn(Input):
    product_code: Code = Field(description="a product of the company's catalogue")
    quantity: Quantity = Field(description="in the product's unit: stems, bunches or units")
    unit_cost: UnitMoney
    customer_code: Code | None = Field(default=None, description="default: the PO's customer")
    box_code: Code | None = Field(default=None, description="default: <po_id>-<line_no>")
    packing: Packing | None = None


class StandalonePoIn(Input):
    kind: Literal["standalone"]
    vendor_code: Code = Field(description="one of the company's vendors (PUT /vendors/{vendor_code})")
    customer_code: Code | None = Field(default=None, description="e.g. the production company")
    ship_date: date
    location: Code | None = Field(default=None, description="where the goods are received; default: the first")
    k2k_transfer: bool = Field(default=False, description=(
        "K2K for Procurement: transfer it to the vendor even when the connection transfers only marked POs"))
    lines: list[PoLineIn] = Field(min_length=1, max_length=MAX_PO_LINES,
                                  description="each with its own box code (services.purchasing.plan_po checks)")


class PlannedLine(Model):
    """A line as a caller plans it (a REST body's line, or a prebook's line bought from a production
    company with its link)."""

    product_code: str
    quantity: int
    unit_cost: Decimal
    customer_code: str | None = None
    box_code: str | None = None
    packing: Packing | None = None
    prebook_id: str | None = None
    prebook_line_no: int | None = None


# -- events ---------------------------------------------------------------------------------------

@event_type("k2k.orders", "PurchaseOrderCreated")
class PurchaseOrderCreated(Model):
    """A standalone PO was created, pending approval."""

    purchase_order: StandalonePurchaseOrder


@event_type("k2k.orders", "PurchaseOrderApproved")
class PurchaseOrderApproved(Model):
    """A standalone PO was approved."""

    purchase_order: StandalonePurchaseOrder


@event_type("k2k.orders", "PurchaseOrderConfirmed")
class PurchaseOrderConfirmed(Model):
    """A standalone PO's goods arrived: its lines wait in the staging area under their box codes."""

    purchase_order: StandalonePurchaseOrder


@event_type("k2k.orders", "PurchaseOrderAnswered")
class PurchaseOrderAnswered(Model):
    """K2K for Procurement: the vendor answered a standalone PO; each line carries its answer."""

    purchase_order: StandalonePurchaseOrder


@event_type("k2k.orders", "PurchaseOrderCancelled")
class PurchaseOrderCancelled(Model):
    """A standalone PO was cancelled before its goods were confirmed (and before its K2K vendor answered it)."""

    purchase_order: StandalonePurchaseOrder


@event_type("k2k.orders", "PurchaseOrderChanged")
class PurchaseOrderChanged(Model):
    """A standalone PO's quantities were changed (before its K2K vendor answered it: its prebook follows)."""

    purchase_order: StandalonePurchaseOrder


@event_type("k2k.orders", "PurchaseOrderReceived")
class PurchaseOrderReceived(Model):
    """Every box of a standalone PO was received from staging (into inventory, or billed)."""

    purchase_order: StandalonePurchaseOrder


# -- rules --------------------------------------------------------------------------------------

def check_ship_date(ship_date: date, today: date) -> None:
    if ship_date < today:
        raise Invalid(f"the ship date {ship_date.isoformat()} is in the past (today is {today.isoformat()})",
                      field="ship_date")


def packed(product: Product, quantity: int, packing: Packing | None, field: str) -> Packing:
    """The line's packing, checked against its quantity: boxes x units per box must be the quantity."""
    if packing is None:
        return Packing(boxes=quantity)
    units = packing.boxes * pricing.units_per_box(product.unit.value, packing.bunches_per_box,
                                                  packing.stems_per_bunch)
    if units != quantity:
        raise Invalid(f"{packing.boxes} boxes of this packing hold {units} {product.unit.value.lower()}s, "
                      f"not the quantity {quantity}", field=f"{field}.quantity")
    return packing


def landed_cost(settings: BuyerSettings, unit_cost: Decimal, unit: UnitType, packing: Packing) -> Decimal:
    """As for K2K boxes (BuyerSettings.landed_cost): the cost plus the company's duties, its handling per
    box and its freight by the box's cube - for goods in boxes; loose units bear duties only."""
    units = pricing.units_per_box(unit.value, packing.bunches_per_box, packing.stems_per_bunch)
    if packing.box_type is None:
        return pricing.landed_cost(unit_cost, cube=Decimal(0), units=1, cube_rate=Decimal(0),
                                   duties_pct=settings.duties_pct)
    dims = packing.dimensions
    cube = pricing.box_cube(dims.length, dims.width, dims.height) if dims else Decimal(0)
    return settings.landed_cost(unit_cost, cube=cube, units=units)


def new_line(line_no: int, po_id: str, product: Product, planned: PlannedLine, packing: Packing,
             customer_code: str | None, location: str, settings: BuyerSettings) -> PoLine:
    return PoLine(
        line_no=line_no, product_code=product.code, description=product.description, kind=product.kind,
        unit=product.unit, quantity=planned.quantity, unit_cost=planned.unit_cost,
        landed_cost=landed_cost(settings, planned.unit_cost, product.unit, packing),
        customer_code=planned.customer_code or customer_code, prebook_id=planned.prebook_id,
        prebook_line_no=planned.prebook_line_no, box_code=planned.box_code or f"{po_id}-{line_no}",
        box_type=packing.box_type, boxes=packing.boxes, bunches_per_box=packing.bunches_per_box,
        stems_per_bunch=packing.stems_per_bunch,
        dimensions=Dimensions.model_validate(packing.dimensions.model_dump()) if packing.dimensions else None,
        location=location)


def check_status(po: StandalonePurchaseOrder, wanted: PoStatus, doing: str) -> None:
    if po.status is not wanted:
        raise Conflict(f"the purchase order is {po.status.value.lower().replace('_', ' ')}; only a "
                       f"{wanted.value.lower().replace('_', ' ')} one can be {doing}")


def box_code_refusal(line: PoLine, in_stock: InventoryLine | None) -> str | None:
    """Why a PO line cannot be stocked under its box code: the code holds another product in inventory
    (its boxes would join that line), or None."""
    if in_stock is None or in_stock.product_code == line.product_code:
        return None
    return (f"box code {line.box_code} is in stock as {in_stock.product_code or in_stock.product}, "
            f"not {line.product_code}; give this line its own box code")


def check_cancellable(po: StandalonePurchaseOrder) -> None:
    """The buyer cancels until the goods are confirmed, and a PO transferred to a K2K vendor (k2k.procurement)
    until that vendor answers it: after that a change is the vendor's to accept (not built)."""
    if po.status not in (PoStatus.PENDING_APPROVAL, PoStatus.APPROVED):
        raise Conflict(f"the purchase order is {po.status.value.lower().replace('_', ' ')}; only one pending "
                       "approval or approved can be cancelled")
    if po.vendor_answered_at is not None:
        raise Conflict(f"{po.vendor_name} confirmed this purchase order already: cancelling it is a request they "
                       "accept or reject")


def check_changeable(po: StandalonePurchaseOrder) -> None:
    """Quantities change (or a change is asked) until the goods are confirmed or shipped, one request at a time."""
    if po.status not in (PoStatus.PENDING_APPROVAL, PoStatus.APPROVED):
        raise Conflict(f"the purchase order is {po.status.value.lower().replace('_', ' ')}; only one pending "
                       "approval or approved can be changed")
    if po.change_request is not None and po.change_request.status is RequestStatus.PENDING:
        raise Conflict(f"{po.vendor_name} has not answered request {po.change_request.request_no} yet")


def line_changes(po: StandalonePurchaseOrder, changes: Sequence[LineChangeIn]) -> list[LineChange]:
    """Each named line's new quantity and the boxes it fills (whole boxes of the line's packing, else 422)."""
    by_no = {ln.line_no: ln for ln in po.lines}
    out = []
    for n, change in enumerate(changes):
        line = by_no.get(change.line_no)
        if line is None:
            raise Invalid(f"the purchase order has no line {change.line_no}", field=f"lines.{n}.line_no")
        if line.vendor_answer is not None and line.vendor_answer.status is AnswerStatus.REJECTED:
            raise Invalid(f"{po.vendor_name} rejected line {change.line_no}", field=f"lines.{n}.line_no")
        per_box = (pricing.units_per_box(line.unit.value, line.bunches_per_box, line.stems_per_bunch)
                   if line.box_type is not None else 1)
        if change.quantity % per_box:
            raise Invalid(f"{change.quantity} {line.unit.value.lower()}s do not fill whole boxes of "
                          f"{per_box}", field=f"lines.{n}.quantity")
        out.append(LineChange(line_no=line.line_no, quantity=change.quantity, boxes=change.quantity // per_box))
    return out


def with_changes(lines: Sequence[PoLine], changes: Sequence[LineChange]) -> list[PoLine]:
    """The lines with their new quantities; a line its vendor answered keeps the vendor's answer, its
    differences now against the new quantity (the vendor accepted the change: it confirms that quantity)."""
    by_no = {c.line_no: c for c in changes}
    out = []
    for ln in lines:
        change = by_no.get(ln.line_no)
        if change is None:
            out.append(ln)
            continue
        answer = ln.vendor_answer
        if answer is not None and answer.status is not AnswerStatus.REJECTED:
            answer = requoted(answer.model_copy(update={"quantity": change.quantity}), change.quantity,
                              ln.unit_cost, ln.product_code, ln.description)
        out.append(ln.model_copy(update={"quantity": change.quantity, "boxes": change.boxes,
                                         "vendor_answer": answer}))
    return out


def fully_received(lines: Sequence[PoLine]) -> bool:
    """Every box of every line is in, but a line its K2K vendor rejected: none of it ever comes."""
    return all(ln.boxes_received >= ln.boxes for ln in lines
               if ln.vendor_answer is None or ln.vendor_answer.status is not AnswerStatus.REJECTED)


def received_line(line: PoLine, boxes: int, gpm_pct: Decimal, received: date) -> LineFields:
    """A standalone PO line's boxes received from staging as an inventory line: under its box code, at its
    landed cost, priced at the location's GPM, of its product's kind, received today."""
    return LineFields(
        box_code=line.box_code, product_code=line.product_code, product=line.description, product_kind=line.kind,
        box_type=line.box_type, unit_type=line.unit, bunches_per_box=line.bunches_per_box,
        stems_per_bunch=line.stems_per_bunch, boxes_on_hand=boxes, cost=line.landed_cost,
        price=pricing.suggested_price(line.landed_cost, gpm_pct), location=line.location,
        inventory_type=InventoryType.OPEN_MARKET, received_date=received, dimensions=line.dimensions)


def as_shipped(line: PoLine, box_code: str, boxes: int) -> PoLine:
    """A line as its K2K vendor shipped it: under the vendor's box code, its boxes, and - substituted - the product
    the vendor sends, which is what the buyer stages and receives (the answer keeps what was ordered in words)."""
    answer = line.vendor_answer
    changes: dict[str, object] = {"box_code": box_code, "boxes": boxes}
    if answer is not None and answer.status is AnswerStatus.SUBSTITUTED:
        changes |= {"product_code": answer.product_code, "description": answer.description}
    return line.model_copy(update=changes)


def agreed(line: PoLine) -> tuple[int, Decimal] | None:
    """The quantity and unit price both sides agreed on for a line: what the K2K vendor confirmed, else what was
    ordered; None for a line the vendor rejected (nothing of it is delivered or billed)."""
    answer = line.vendor_answer
    if answer is None:
        return line.quantity, line.unit_cost
    if answer.status is AnswerStatus.REJECTED:
        return None
    return answer.quantity, answer.unit_price


def reconciled(po: StandalonePurchaseOrder) -> ReconciledPo | None:
    """A standalone PO as its reconciliation reads it, once its K2K vendor answered it (K2K for Procurement):
    each line the vendor did not reject, under its box code (the vendor's, once shipped), at the agreed quantity
    and price. None for a PO whose vendor takes no part in K2K for Procurement."""
    if po.vendor_company_id is None or po.vendor_prebook_id is None:
        return None
    lines = [ExpectedLine(box_code=ln.box_code, boxes=ln.boxes, total=cents(deal[0] * deal[1]))
             for ln in po.lines if (deal := agreed(ln)) is not None]
    return ReconciledPo(po_id=po.po_id, buyer_company_id=po.buyer_company_id, vendor_company_id=po.vendor_company_id,
                        vendor_name=po.vendor_name, order_id=po.vendor_prebook_id,
                        total=sum((ln.total for ln in lines), Decimal("0.00")), lines=lines)


# A PO of either kind, as the PO routes answer it.
AnyPurchaseOrder = Annotated[PurchaseOrder | StandalonePurchaseOrder, Field(discriminator="kind")]
