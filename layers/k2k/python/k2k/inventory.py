"""Vendor inventory lines and the K2K publishing rules (DOMAIN.md, Publishing).

A line is published to a connected buyer only if every rule in `ineligibility`
holds. Aging is a function of time, so the projection keeps the received date
and the read applies the age window (`age_ineligibility`).
"""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Self

from pydantic import Field, model_validator

from k2k.bounds import (
    BunchesPerBox,
    Code,
    Inches,
    Input,
    Label,
    Name,
    Short,
    StemsPerBunch,
    StockBoxes,
    Tag,
    UnitMoney,
    Version,
)
from k2k.events import event_type
from k2k.models import Model
from k2k.network import VendorTerms
from k2k.products import ProductKind as ProductKind  # defined with the products; every line has a kind
from k2k.products import UnitType as UnitType
from k2k.products import unit_refusal


class BoxType(StrEnum):
    EB = "EB"
    QB = "QB"
    HB = "HB"
    FB = "FB"


class InventoryType(StrEnum):
    OPEN_MARKET = "M"
    FUTURE_SALES = "F"
    PREBOOK = "P"
    STANDING_ORDER = "S"


class Dimensions(Model):
    length: Inches
    width: Inches
    height: Inches


class DimensionsIn(Input, Dimensions):
    """A box's dimensions as a request states them."""


class LineFields(Model):
    """Everything a vendor can set on an inventory line."""

    box_code: Code
    product_code: Short | None = None
    product: Name = Field(description="product description")
    # Not `kind`: that name is the store's own attribute on every item (k2k.store.plain drops it).
    product_kind: ProductKind = Field(default=ProductKind.LIVE_GOODS, description="only live goods are published "
                                                                                "to K2K")
    category: Label | None = None
    colour: Short | None = None
    grade: Tag | None = None
    box_type: BoxType | None = Field(default=None, description="null for stock not packed in boxes")
    unit_type: UnitType = UnitType.STEM
    bunches_per_box: BunchesPerBox
    stems_per_bunch: StemsPerBunch = 1
    boxes_on_hand: StockBoxes
    cost: UnitMoney | None = None
    price: UnitMoney | None = Field(default=None, description="the vendor's open-market price per unit")
    location: Code
    inventory_type: InventoryType = InventoryType.OPEN_MARKET
    received_date: date | None = None
    available_date: date | None = Field(default=None, description="for future sales: when the boxes arrive")
    on_hold: bool = False
    mixed_box: bool = Field(default=False, description="mixed or assorted box")
    dimensions: Dimensions | None = None

    @model_validator(mode="after")
    def _dates(self) -> Self:
        if self.inventory_type is InventoryType.FUTURE_SALES and self.available_date is None:
            raise ValueError("a future sales line needs its available_date")
        why = unit_refusal(self.product_kind, self.unit_type)
        if why:
            raise ValueError(why)
        return self


class LineFieldsIn(Input, LineFields):
    """A new line as the vendor states it."""

    dimensions: DimensionsIn | None = None


class LinePatch(Input):
    """A partial change: only the fields it names change (null clears an optional one); `version`,
    when given, must match (optimistic concurrency)."""

    version: Version | None = None
    product_code: Short | None = None
    product: Name | None = None
    product_kind: ProductKind | None = None
    category: Label | None = None
    colour: Short | None = None
    grade: Tag | None = None
    box_type: BoxType | None = None
    unit_type: UnitType | None = None
    bunches_per_box: BunchesPerBox | None = None
    stems_per_bunch: StemsPerBunch | None = None
    boxes_on_hand: StockBoxes | None = None
    cost: UnitMoney | None = None
    price: UnitMoney | None = None
    location: Code | None = None
    inventory_type: InventoryType | None = None
    received_date: date | None = None
    available_date: date | None = None
    on_hold: bool | None = None
    mixed_box: bool | None = None
    dimensions: DimensionsIn | None = None

    def changes(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude_unset=True).items() if k != "version"}


@event_type("k2k.inventory", "InventoryLineChanged")
class InventoryLine(LineFields):
    """A vendor inventory line as it is now (created or changed)."""

    line_id: str
    vendor_company_id: str
    boxes_held: int = Field(default=0, ge=0, description="in buyers' carts, not checked out")
    boxes_sold: int = Field(default=0, ge=0, description="on K2K orders, checked out or prebooked")
    boxes_shipped: int = Field(default=0, ge=0, description="of the sold boxes, those on orders the vendor "
                                                              "confirmed (shipped); the rest can still come back")
    version: int = Field(ge=1)
    updated_at: datetime


@event_type("k2k.inventory", "InventoryLineRemoved")
class InventoryLineRemoved(Model):
    """A vendor removed an inventory line; buyers stop seeing it."""

    line_id: str
    vendor_company_id: str
    version: int


@event_type("k2k.inventory", "AvailabilityResyncRequested")
class AvailabilityResyncRequested(Model):
    """Repair: re-project a vendor's lines to one buyer, or to every connected buyer."""

    vendor_company_id: str
    buyer_company_id: str | None = None


# Produced by orders (source k2k.orders) but about a line's stock: defined here, so the availability
# projection, which consumes it, does not load the orders models.
@event_type("k2k.orders", "InventoryStockMoved")
class InventoryStockMoved(Model):
    """Boxes of a vendor line moved between on hand, held and sold; buyers' availability follows."""

    vendor_company_id: str
    line_id: str


def apply_patch(line: InventoryLine, patch: LinePatch, now: datetime) -> InventoryLine:
    merged = {**line.model_dump(), **patch.changes()}
    # Validate the whole line again: a patch cannot produce a line that could not be created.
    fields = LineFields.model_validate({k: merged[k] for k in LineFields.model_fields})
    return InventoryLine(**fields.model_dump(), line_id=line.line_id, vendor_company_id=line.vendor_company_id,
                         boxes_held=line.boxes_held, boxes_sold=line.boxes_sold,
                         boxes_shipped=line.boxes_shipped, version=line.version + 1,
                         updated_at=now)


# -- stock rules --------------------------------------------------------------------------------

def _boxes(n: int) -> str:
    return f"{n} box" if n == 1 else f"{n} boxes"


def removal_refusal(line: InventoryLine) -> str | None:
    """Why this line cannot be removed now, or None. Boxes held in carts or sold on orders not yet
    confirmed must be able to come back to the line (expiry, void, delete), so it stays until then."""
    unshipped = line.boxes_sold - line.boxes_shipped
    holds = [f"{_boxes(line.boxes_held)} held in buyers' carts" if line.boxes_held else "",
             f"{_boxes(unshipped)} sold on orders not yet confirmed" if unshipped > 0 else ""]
    holds = [h for h in holds if h]
    if not holds:
        return None
    return (f"line {line.box_code} cannot be removed: {' and '.join(holds)}; they must be checked out and "
            "confirmed, expire, or be deleted from their orders first")


def stock_refusal(line: InventoryLine | None, box_code: str, take: int, quoted_price: Decimal | None) -> str | None:
    """Why taking `take` boxes off hand at `quoted_price` fails on the line as it is NOW (read after the
    refused write), or None when it would succeed now (the refusal was a race: go again)."""
    if line is None:
        return f"{box_code} is no longer available: the vendor removed it"
    if quoted_price is not None and line.on_hold:
        return f"{box_code} is no longer available: the vendor put it on hold"
    if quoted_price is not None and line.price != quoted_price:
        return f"the price of {box_code} changed since it was quoted; look at its availability again"
    if line.boxes_on_hand < take:
        if line.boxes_on_hand <= 0:
            return f"{box_code} is sold out"
        return f"only {_boxes(line.boxes_on_hand)} of {box_code} {'is' if line.boxes_on_hand == 1 else 'are'} left"
    return None


# -- publishing rules ---------------------------------------------------------------------------

class Rule(StrEnum):
    NOT_OPEN_MARKET = "not open market (or future sales not shared)"
    NOT_LIVE_GOODS = "not live goods (hard and finished goods are never published)"
    NO_PRICE = "has no price"
    NOT_IN_BOXES = "not in boxes"
    NO_BOXES = "no boxes on hand"
    ON_HOLD = "on hold"
    MIXED_BOX = "mixed or assorted box"
    NO_DIMENSIONS = "box has no dimensions"
    LOCATION_NOT_CONNECTED = "location not connected to this buyer"
    TOO_YOUNG = "younger than the minimum age"
    TOO_OLD = "older than the maximum age"


def ineligibility(line: LineFields, terms: VendorTerms) -> list[Rule]:
    """Rules the line breaks for a buyer on these terms, aging aside (see age_ineligibility)."""
    broken = []
    if line.product_kind is not ProductKind.LIVE_GOODS:
        broken.append(Rule.NOT_LIVE_GOODS)
    shared = line.inventory_type is InventoryType.OPEN_MARKET or (
        line.inventory_type is InventoryType.FUTURE_SALES and terms.share_future_sales)
    if not shared:
        broken.append(Rule.NOT_OPEN_MARKET)
    if line.price is None or line.price <= 0:
        broken.append(Rule.NO_PRICE)
    if line.box_type is None:
        broken.append(Rule.NOT_IN_BOXES)
    if line.boxes_on_hand <= 0:
        broken.append(Rule.NO_BOXES)
    if line.on_hold:
        broken.append(Rule.ON_HOLD)
    if line.mixed_box:
        broken.append(Rule.MIXED_BOX)
    if line.dimensions is None:
        broken.append(Rule.NO_DIMENSIONS)
    if terms.connected_locations is not None and line.location not in terms.connected_locations:
        broken.append(Rule.LOCATION_NOT_CONNECTED)
    return broken


def age_days(received: date | None, today: date) -> int | None:
    return (today - received).days if received else None


def age_ineligibility(inventory_type: str, received: date | None, terms: VendorTerms, today: date) -> list[Rule]:
    """Aging applies to received stock; future sales have not arrived yet."""
    if inventory_type == InventoryType.FUTURE_SALES.value:
        return []
    age = max(age_days(received, today) or 0, 0)  # a clock a little ahead never makes boxes "too young"
    if age < terms.min_age_days:
        return [Rule.TOO_YOUNG]
    if age > terms.max_age_days:
        return [Rule.TOO_OLD]
    return []
