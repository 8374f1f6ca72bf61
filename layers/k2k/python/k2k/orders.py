"""K2K orders: carts, prebooks, purchase orders, the vendor's K2K order, staging.

Stock of a vendor line moves between three buckets, and their sum only changes
when the vendor edits its stock:
  boxes_on_hand (open market) --add to cart / PO from prebook--> boxes_held or boxes_sold
  boxes_held (in carts, not checked out) --checkout--> boxes_sold
  boxes_held --cart expiry, confirm deletes it--> boxes_on_hand
  boxes_sold (checked out or prebooked) --void, line deleted--> boxes_on_hand
"""

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, computed_field

from k2k import pricing
from k2k.cart_timer import CartOpened as CartOpened  # a cart's events, kept light for the cart timer's cold start
from k2k.cart_timer import CartTimerElapsed as CartTimerElapsed
from k2k.errors import Conflict, Invalid
from k2k.events import event_type
from k2k.inventory import BoxType, Dimensions, InventoryType, LineFields, UnitType
from k2k.models import Model
from k2k.money import cents
from k2k.network import Connection
from k2k.procurement import TransferredFrom
from k2k.products import ProductKind


class Source(StrEnum):
    ECOMMERCE = "ECOMMERCE"
    PREBOOK = "PREBOOK"
    AVAILABILITY = "AVAILABILITY"  # a PO with K2K products, bought from the buyer's availability for its own stock
    PROCUREMENT = "PROCUREMENT"  # a buyer's PO transferred by a K2K for Procurement connection (k2k.procurement)


class CartStatus(StrEnum):
    OPEN = "OPEN"
    CHECKED_OUT = "CHECKED_OUT"
    EXPIRED = "EXPIRED"


class PoStatus(StrEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    CONFIRMED = "CONFIRMED"
    RECEIVED = "RECEIVED"
    CANCELLED = "CANCELLED"


class OrderStatus(StrEnum):
    OPEN = "OPEN"
    CONFIRMED = "CONFIRMED"
    VOIDED = "VOIDED"


class LineStatus(StrEnum):
    ACTIVE = "ACTIVE"
    CANCELLED = "CANCELLED"  # the cart expired
    DELETED = "DELETED"  # the vendor deleted it, or it was never checked out when the vendor confirmed
    VOIDED = "VOIDED"  # the vendor voided the whole order


class Classification(StrEnum):
    PREBOOK = "P"
    OPEN_MARKET = "M"


class ShipVia(StrEnum):
    WAREHOUSE = "WAREHOUSE"
    GROWER = "GROWER"


class VendorOrderLine(Model):
    """A K2K line as the vendor sees it on its order: what was bought, not for whom.

    The privacy wall (docs/orders.md, "Who sees what"): nothing about the buyer's end customers,
    carts or prebooks is here, and the vendor's copy of a line is only ever made by
    `OrderLine.for_vendor`, which keeps this class's fields and nothing else.
    """

    line_no: int
    vendor_line_id: str
    box_code: str
    product: str
    box_type: BoxType
    unit_type: UnitType
    bunches_per_box: int
    stems_per_bunch: int
    boxes: int = Field(ge=1)
    unit_cost: Decimal = Field(description="the vendor's price to this buyer, per unit; not editable on K2K POs")
    checked_out: bool
    status: LineStatus = LineStatus.ACTIVE

    @property
    def active(self) -> bool:
        return self.status is LineStatus.ACTIVE

    @property
    def total(self) -> Decimal:
        return pricing.line_total(self.boxes, self.unit_type.value, self.bunches_per_box, self.stems_per_bunch,
                                  self.unit_cost)


class OrderLine(VendorOrderLine):
    """A K2K line on the buyer's PO (same line_no as on the vendor's order).

    Every field declared here is the buyer's own business (its end customer, its cart and prebook,
    and whatever else the buyer's PO line grows, such as landed cost): add buyer-only fields HERE,
    never to VendorOrderLine. `for_vendor` keeps only VendorOrderLine's fields, so a field added
    here can never reach the vendor's order, its API responses, its events or its emails.
    """

    customer_code: str | None = Field(default=None, description="the buyer's end customer (never shown to the "
                                      "vendor); null on a PO with K2K products, bought for the buyer's own stock")
    cart_id: str | None = None
    prebook_id: str | None = None
    prebook_line_no: int | None = None
    # What the buyer's availability showed when it bought, so received boxes enter its stock whole
    # (k2k.orders.received_line): its landed cost and location are the buyer's own business.
    landed_cost: Decimal | None = Field(default=None, description="per unit: price to the buyer + freight + "
                                        "duties + handling, as the buyer's availability showed it")
    location: str | None = Field(default=None, description="the buyer location the purchase was for")
    sale_price: Decimal | None = Field(default=None, description="per unit: what the end customer is billed when "
                                       "the boxes are received (the prebook line's price, kept when the line is "
                                       "checked out or bought for a prebook); null before")
    product_code: str | None = None
    category: str | None = None
    colour: str | None = None
    grade: str | None = None
    dimensions: Dimensions | None = None

    def for_vendor(self) -> VendorOrderLine:
        return VendorOrderLine.model_validate(self.model_dump(include=set(VendorOrderLine.model_fields)))


def active_total(lines: Sequence[VendorOrderLine]) -> Decimal:
    """What a PO or order is worth: its active lines (cancelled, deleted or voided ones are not)."""
    return sum((ln.total for ln in lines if ln.active), Decimal("0.00"))


class PurchaseOrder(Model):
    """A K2K PO (from a cart, a prebook or the availability). Standalone POs share its key space and routes
    (k2k.purchasing.StandalonePurchaseOrder); `kind` tells them apart, and is also the stored item's kind."""

    kind: Literal["k2k"] = Field(default="k2k", description="a PO of K2K products")
    po_id: str
    buyer_company_id: str
    vendor_company_id: str
    vendor_name: str
    vendor_code: str | None
    order_id: str = Field(description="the vendor's K2K order this PO created")
    ship_date: date
    source: Source
    separate: bool = Field(description="made separate by the automation; joins no other purchase")
    status: PoStatus
    lines: list[OrderLine]
    awb: str | None = None
    confirmed_lines: list[OrderLine] = Field(default_factory=list,
                                             description="what the vendor confirmed, kept when the PO is modified")
    version: int = 1
    created_at: datetime
    updated_at: datetime

    @property
    def total(self) -> Decimal:
        return active_total(self.lines)


class VendorOrder(Model):
    """The vendor's K2K order: the buyer company is its customer; the buyer's own customers are not
    on it (its lines are VendorOrderLine, made by OrderLine.for_vendor)."""

    order_id: str
    vendor_company_id: str
    buyer_company_id: str
    buyer_name: str
    customer_code: str | None = Field(description="the buyer as the vendor's customer")
    po_id: str
    ship_date: date
    k2k: bool = True
    status: OrderStatus
    lines: list[VendorOrderLine]
    awb: str | None = None
    void_reason: str | None = None
    version: int = 1
    created_at: datetime
    updated_at: datetime

    @property
    def total(self) -> Decimal:
        return active_total(self.lines)


class CartLine(Model):
    vendor_company_id: str
    vendor_line_id: str
    box_code: str
    product: str
    boxes: int
    po_id: str
    line_no: int
    unit_price: Decimal = Field(description="the sale price to the end customer, per unit")
    status: LineStatus = LineStatus.ACTIVE
    order_id: str | None = Field(default=None, description="the vendor's K2K order the PO line is on (kept so "
                                 "checkout reads the PO and the order together; null on carts of before)")


class Cart(Model):
    cart_id: str
    buyer_company_id: str
    customer_code: str
    ship_date: date
    status: CartStatus
    opened_at: datetime
    expires_at: datetime
    lines: list[CartLine] = Field(default_factory=list)
    prebook_id: str | None = None
    version: int = 1


class K2kPrebookLine(Model):
    """A prebook line bought from the buyer's K2K availability: a vendor's line, in boxes."""

    line_type: Literal["K2K"] = "K2K"
    line_no: int
    vendor_company_id: str
    vendor_line_id: str
    box_code: str
    product: str
    boxes: int = Field(ge=1)
    unit_type: UnitType
    bunches_per_box: int
    stems_per_bunch: int
    unit_price: Decimal | None = Field(default=None, description="null or 0.00: billed at the suggested price")
    unit_cost: Decimal | None = None
    suggested_price: Decimal | None = None
    po_id: str | None = None
    po_line_no: int | None = None
    status: LineStatus = LineStatus.ACTIVE

    @property
    def summary(self) -> str:
        return f"{self.boxes} x {self.product}"


LINE_GPM = "(quantity x price - cost) / (quantity x price), in %; null without a sales price or a cost"
PREBOOK_GPM = "the GPM of the active product lines that have a sales price and a cost, in %; null when none has"


class ProductPrebookLine(Model):
    """A prebook line for any product of the company's catalogue, e.g. finished goods pre-sold (seed 003):
    a quantity of the product's unit, an optional sales price per unit, and the line's cost - the total of
    the live goods' landed cost, the hard goods and the production company's labour for all its units -
    from which the line shows its GPM. It is bought on a standalone PO to a vendor chosen then."""

    line_type: Literal["PRODUCT"] = "PRODUCT"
    line_no: int
    product_code: str
    description: str
    kind: ProductKind
    unit: UnitType = Field(description="what quantity, price and cost count")
    quantity: int = Field(ge=1)
    unit_price: Decimal | None = Field(default=None, description="per unit; null or 0.00: no sales price yet "
                                       "(billed at the price suggested from the cost)")
    cost: Decimal | None = Field(default=None, description="the line's total cost: live goods' landed cost + "
                                 "hard goods + labour, for all its units")
    vendor_code: str | None = Field(default=None, description="the vendor of the PO the line is bought on")
    po_id: str | None = None
    po_line_no: int | None = None
    box_type: BoxType | None = Field(default=None, description="how the units come packed, when known")
    boxes: int | None = Field(default=None, description="boxes, when known (a transferred PO's line)")
    bunches_per_box: int | None = Field(default=None, description="bunches (or units) per box, when known "
                                        "(a transferred PO's line: how the customer wants it packed)")
    stems_per_bunch: int | None = Field(default=None, description="when known (a transferred PO's line)")
    status: LineStatus = LineStatus.ACTIVE

    @computed_field(description=LINE_GPM)  # type: ignore[prop-decorator]
    @property
    def gpm_pct(self) -> Decimal | None:
        return line_gpm(self.quantity, self.unit_price, self.cost)

    @property
    def summary(self) -> str:
        return f"{self.quantity} {self.unit} {self.description}"


def _line_type(value: Any) -> str:
    """Lines stored before products existed carry no line_type: they are K2K lines."""
    found = value.get("line_type") if isinstance(value, dict) else getattr(value, "line_type", None)
    return str(found or "K2K")


PrebookLine = Annotated[Annotated[K2kPrebookLine, Tag("K2K")] | Annotated[ProductPrebookLine, Tag("PRODUCT")],
                        Discriminator(_line_type)]


class Prebook(Model):
    prebook_id: str
    buyer_company_id: str
    customer_code: str
    ship_date: date
    carrier: str | None = None
    ship_via: ShipVia = ShipVia.WAREHOUSE
    salesperson: str | None = None
    classification: Classification = Classification.PREBOOK
    source: Source
    cart_id: str | None = None
    location: str | None = Field(default=None, description="the buyer location that sells (prices, receives)")
    lines: list[PrebookLine]
    transferred_from: TransferredFrom | None = Field(default=None, description=(
        "K2K for Procurement: the customer's PO this prebook was transferred from"))
    version: int = 1
    created_at: datetime

    @computed_field(description=PREBOOK_GPM)  # type: ignore[prop-decorator]
    @property
    def gpm_pct(self) -> Decimal | None:
        return prebook_gpm(self.lines)


# -- events ---------------------------------------------------------------------------------------

@event_type("k2k.orders", "PurchaseOrderPlaced")
class PurchaseOrderPlaced(Model):
    """A buyer's K2K PO was created; the vendor's K2K order (po_id on it) exists with it. The vendor is
    told of it, so it carries the vendor's order only, never the buyer's PO lines."""

    order: VendorOrder


@event_type("k2k.orders", "CartCheckedOut")
class CartCheckedOut(Model):
    """An end customer checked out; the prebook exists and the vendor lines are checked out."""

    cart: Cart
    prebook: Prebook


@event_type("k2k.orders", "CartExpired")
class CartExpired(Model):
    """The cart timer ran out; everything the cart created was cancelled and the stock returned."""

    cart: Cart


@event_type("k2k.orders", "OrderConfirmed")
class OrderConfirmed(Model):
    """The vendor confirmed a K2K order (AWB assigned); lines never checked out were deleted first.
    The vendor's view: who the deleted lines were for is on the buyer's PO, read by the buyer's side."""

    order: VendorOrder
    deleted_lines: list[VendorOrderLine]


@event_type("k2k.orders", "OrderLinesRemoved")
class OrderLinesRemoved(Model):
    """The vendor voided an order or deleted lines: the buyer must find another supply."""

    order: VendorOrder
    removed_lines: list[VendorOrderLine]
    voided: bool
    reason: str | None = None


@event_type("k2k.orders", "StagingReceived")
class StagingReceived(Model):
    """The buyer received confirmed K2K boxes from its staging area."""

    buyer_company_id: str
    po_id: str
    box_code: str
    boxes: int
    billed_invoice_id: str | None = None
    into_inventory_line_id: str | None = None


# -- rules --------------------------------------------------------------------------------------

def choose_po(candidates: list[PurchaseOrder], vendor_id: str, ship_date: date, source: Source,
              cart_id: str | None, separate_ecommerce: bool, adding: int = 1) -> PurchaseOrder | None:
    """PO consolidation: a new line joins an existing PO only if vendor, ship date and
    'pending approval' match; with the buyer's automation, each e-commerce purchase has its own.
    A PO whose order could not take `adding` more lines (MAX_ORDER_LINES) is joined by none."""
    for po in candidates:
        if po.vendor_company_id != vendor_id or po.ship_date != ship_date:
            continue
        if po.status is not PoStatus.PENDING_APPROVAL:
            continue
        if active_lines(po.lines) + adding > MAX_ORDER_LINES:
            continue
        if source is Source.ECOMMERCE and separate_ecommerce:
            if po.separate and any(ln.cart_id == cart_id for ln in po.lines):
                return po
            continue
        if po.separate:
            continue
        return po
    return None


def check_ship_date(ship_date: date, earliest: date) -> None:
    if ship_date < earliest:
        raise Invalid(f"the earliest ship date from this vendor is {earliest.isoformat()}", field="ship_date")


def check_k2k_vendor(conn: Connection | None, vendor_id: str) -> Connection:
    """A PO with K2K products is bought over an active K2K connection with its vendor, and only then."""
    if conn is None:
        raise Invalid(f"you have no K2K connection with vendor {vendor_id}", field="vendor_company_id")
    if not conn.active:
        why = f"your K2K connection with {conn.vendor_name} is {conn.status.value.lower()}: nothing can be bought"
        raise Conflict(why, details=[{"field": "vendor_company_id", "message": why}])
    return conn


def check_distinct_lines(line_ids: Sequence[str]) -> None:
    """Each availability line once on a PO (its boxes in one line): a PO line is one vendor line."""
    seen: set[str] = set()
    for n, line_id in enumerate(line_ids):
        if line_id in seen:
            raise Invalid(f"line {line_id} is on this PO twice; put all its boxes on one line",
                          field=f"lines.{n}.line_id")
        seen.add(line_id)


def check_confirm_word(word: str) -> None:
    if word != "CONFIRM":
        raise Invalid("type CONFIRM to void the whole order", field="confirm")


def cart_open(cart: Cart, now: datetime) -> None:
    if cart.status is not CartStatus.OPEN:
        raise Conflict(f"the cart is {cart.status.value.lower().replace('_', ' ')}")
    if now >= cart.expires_at:
        raise Conflict("the cart has expired")


def next_line_no(lines: Sequence[VendorOrderLine]) -> int:
    return max((ln.line_no for ln in lines), default=0) + 1


# -- how big one step may be --------------------------------------------------------------------
# Every step is one DynamoDB transaction, and a transaction holds at most 100 actions. The bounds
# below keep the largest step of each document within it (worst cases: every line its own vendor
# line, every vendor its own PO):
#   confirm    order + PO + outbox + staging item per checked-out line + stock op per vendor line
#              + per line never checked out: its stock event and its cart  <= 3 + 3 x 30 = 93
#   void       order + PO + pending guard + outbox + stock op and event per vendor line
#              + cart or prebook per line                                  <= 4 + 3 x 30 = 94
#   checkout   cart + prebook + outbox + stock op and event per vendor line
#              + (pending guard, PO, order) per PO                         <= 3 + 5 x 19 = 98
#   expiry     one action fewer than checkout (no prebook)
#   POs from a prebook: prebook + stock op and event per vendor line
#              + (pending guard, PO, order, PurchaseOrderPlaced) per vendor  <= 1 + 2 x 30 + 4 x 9 = 97
#              (a product line instead adds at most its standalone PO and PurchaseOrderCreated, 2 for the
#              2 of a K2K line: still <= 97; the use case also checks the count before it writes)
#   a PO with K2K products: PO + order + PurchaseOrderPlaced + stock op and event per line <= 3 + 2 x 30 = 63
MAX_ORDER_LINES = 30
MAX_CART_LINES = 19
MAX_PREBOOK_LINES = 30
MAX_PREBOOK_VENDORS = 9


def active_lines(lines: Sequence[VendorOrderLine]) -> int:
    return sum(1 for ln in lines if ln.active)


def check_cart_room(cart: Cart) -> None:
    if sum(1 for ln in cart.lines if ln.status is LineStatus.ACTIVE) >= MAX_CART_LINES:
        raise Invalid(f"a cart holds at most {MAX_CART_LINES} lines; check this one out and open another",
                      field="line_id")


def check_prebook_size(vendors: Sequence[str | None]) -> None:
    """`vendors`: the K2K vendor of each line (None for a product line, whose vendor is chosen when it is
    bought). Buying a prebook is one step, so its size is bounded."""
    if len(vendors) > MAX_PREBOOK_LINES:
        raise Invalid(f"a prebook has at most {MAX_PREBOOK_LINES} lines (this one has {len(vendors)})",
                      field="lines")
    k2k_vendors = {v for v in vendors if v is not None}
    if len(k2k_vendors) > MAX_PREBOOK_VENDORS:
        raise Invalid(f"a prebook buys from at most {MAX_PREBOOK_VENDORS} vendors "
                      f"(this one from {len(k2k_vendors)}); split it", field="lines")


def line_gpm(quantity: int, unit_price: Decimal | None, cost: Decimal | None) -> Decimal | None:
    """A product line's GPM = (revenue - cost) / revenue, revenue = quantity x price: 20 bouquets at $25.00
    with a cost of $310.00 make (500 - 310) / 500 = 38.00%. None without a sales price or a cost."""
    if unit_price is None or unit_price <= 0 or cost is None:
        return None
    return pricing.gpm_pct(cents(quantity * unit_price), cost)


def prebook_gpm(lines: Sequence[K2kPrebookLine | ProductPrebookLine]) -> Decimal | None:
    """The prebook's GPM over its active product lines that have both a sales price and a cost (a line
    without either would make it up); None when none has. K2K lines are priced from their landed cost by
    the location's K2K GPM, so they are not counted here."""
    priced = [ln for ln in lines if isinstance(ln, ProductPrebookLine) and ln.status is LineStatus.ACTIVE
              and ln.gpm_pct is not None]
    if not priced:
        return None
    revenue = sum((cents(ln.quantity * (ln.unit_price or 0)) for ln in priced), Decimal("0"))
    cost = sum((ln.cost or Decimal("0") for ln in priced), Decimal("0"))
    return pricing.gpm_pct(revenue, cost)


def product_sale_price(line: ProductPrebookLine, gpm_pct: Decimal) -> Decimal | None:
    """What a product line is billed at per unit: its sales price; without one (or at $0.00), the price the
    location's GPM suggests from the line's cost per unit; None when it has neither price nor cost."""
    if line.unit_price is not None and line.unit_price > 0:
        return line.unit_price
    if line.cost is None:
        return None
    return pricing.suggested_price(line.cost / line.quantity, gpm_pct)


def billing_price(line: K2kPrebookLine | ProductPrebookLine, gpm_pct: Decimal) -> Decimal | None:
    """What a prebook line's goods are billed at per unit when they are received: its sales price; without one
    (or at $0.00) the suggested price - a K2K line's from its landed cost as quoted, a product line's from its
    cost (product_sale_price, at `gpm_pct`, the receiving location's). None when there is nothing to bill at."""
    if isinstance(line, ProductPrebookLine):
        return product_sale_price(line, gpm_pct)
    return k2k_sale_price(line)


def k2k_sale_price(line: K2kPrebookLine) -> Decimal | None:
    """A K2K prebook line's price to its customer: its sales price, else (null or $0.00) the suggested price
    as quoted. Kept on the PO line that buys it (`OrderLine.sale_price`), so its receipt bills it as is."""
    if line.unit_price is not None and line.unit_price > 0:
        return line.unit_price
    return line.suggested_price


def receiving_location(bought_for: str | None, locations: Sequence[str]) -> str:
    """Where received K2K boxes go: the buyer location the purchase was for, else the company's first."""
    return bought_for if bought_for is not None and bought_for in locations else locations[0]


def received_line(line: OrderLine, boxes: int, location: str, gpm_pct: Decimal, received: date) -> LineFields:
    """A K2K box received from staging as the buyer's own inventory line: under the vendor's box code, at the
    landed cost the buyer bought it at (the vendor's price to it for lines bought before landed costs were kept),
    priced at the location's K2K GPM, with the product as the vendor described it, received today."""
    cost = line.landed_cost if line.landed_cost is not None else line.unit_cost
    return LineFields(
        box_code=line.box_code, product_code=line.product_code, product=line.product, category=line.category,
        colour=line.colour, grade=line.grade, box_type=line.box_type, unit_type=line.unit_type,
        bunches_per_box=line.bunches_per_box, stems_per_bunch=line.stems_per_bunch, boxes_on_hand=boxes,
        cost=cost, price=pricing.suggested_price(cost, gpm_pct), location=location,
        inventory_type=InventoryType.OPEN_MARKET, received_date=received, dimensions=line.dimensions)
