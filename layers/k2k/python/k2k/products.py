"""A company's products catalogue: what it buys, stocks and sells, by kind (DOMAIN.md, Products).

- live goods: flowers, counted in stems or bunches (and packed in boxes);
- hard goods: vases, wraps, containers, counted in units;
- finished goods: bouquets and arrangements made from both, counted in units.
Only live goods are ever published to K2K buyers (k2k.inventory.ineligibility). The unit types are
defined here, with the kinds they fit; k2k.inventory uses them for its lines.
"""

from enum import StrEnum
from typing import Self

from pydantic import Field, model_validator

from k2k.bounds import Code, Input, Name
from k2k.models import Model


class ProductKind(StrEnum):
    LIVE_GOODS = "LIVE_GOODS"
    HARD_GOODS = "HARD_GOODS"
    FINISHED_GOODS = "FINISHED_GOODS"


class UnitType(StrEnum):
    """What a line's quantities, costs and prices count. A box of UNIT goods holds `bunches_per_box` units."""

    STEM = "STEM"
    BUNCH = "BUNCH"
    UNIT = "UNIT"


# The units a product of each kind is counted in.
UNITS: dict[ProductKind, tuple[UnitType, ...]] = {
    ProductKind.LIVE_GOODS: (UnitType.STEM, UnitType.BUNCH),
    ProductKind.HARD_GOODS: (UnitType.UNIT,),
    ProductKind.FINISHED_GOODS: (UnitType.UNIT,),
}


def unit_refusal(kind: ProductKind, unit: UnitType) -> str | None:
    """Why a product of this kind cannot be counted in this unit, or None."""
    allowed = UNITS[kind]
    if unit in allowed:
        return None
    return (f"{kind.value.lower().replace('_', ' ')} are counted in "
            f"{' or '.join(u.value for u in allowed)}, not {unit.value}")


class ProductFields(Model):
    description: Name
    kind: ProductKind
    unit: UnitType = Field(description="what its quantities, costs and prices count: STEM or BUNCH for live "
                                       "goods, UNIT for hard and finished goods")


class ProductIn(Input):
    """A product as a request states it (its code is the path's)."""

    description: Name
    kind: ProductKind
    unit: UnitType | None = Field(default=None, description="default: STEM for live goods, UNIT for the others")

    @model_validator(mode="after")
    def _unit_fits_kind(self) -> Self:
        why = unit_refusal(self.kind, self.unit_or_default)
        if why:
            raise ValueError(why)
        return self

    @property
    def unit_or_default(self) -> UnitType:
        return self.unit or UNITS[self.kind][0]


class Product(ProductFields):
    code: Code


def product(code: str, body: ProductIn) -> Product:
    return Product(code=code, description=body.description, kind=body.kind, unit=body.unit_or_default)
