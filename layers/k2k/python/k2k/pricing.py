"""K2K prices and costs (DOMAIN.md, Prices and costs). Pure functions over Decimal.

- vendor price to a buyer = the vendor's price x (1 + the buyer's markup)
- landed cost per unit = that price + freight (cube rate x box cube / units per box)
  + duties (a percentage of the price) + handling (per box / units per box)
- suggested sale price = landed cost / (1 - K2K GPM of the buyer location)
- GPM = (price - cost) / price
Box dimensions are inches; the cube is in cubic feet (1728 cubic inches).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from k2k.money import cents, unit

CUBIC_INCHES_PER_FOOT = Decimal(1728)
HUNDRED = Decimal(100)
FBE = {"EB": Decimal("0.125"), "QB": Decimal("0.25"), "HB": Decimal("0.5"), "FB": Decimal("1")}


def units_per_box(unit_type: str, bunches_per_box: int, stems_per_bunch: int) -> int:
    return bunches_per_box * stems_per_bunch if unit_type == "STEM" else bunches_per_box


def box_cube(length: Decimal, width: Decimal, height: Decimal) -> Decimal:
    """Cubic feet of a box measured in inches."""
    return length * width * height / CUBIC_INCHES_PER_FOOT


def price_to_buyer(vendor_price: Decimal, markup_pct: Decimal) -> Decimal:
    return unit(vendor_price * (1 + markup_pct / HUNDRED))


def landed_cost(price: Decimal, *, cube: Decimal, units: int, cube_rate: Decimal,
                duties_pct: Decimal = Decimal(0), handling_per_box: Decimal = Decimal(0)) -> Decimal:
    freight = cube_rate * cube / units
    duties = price * duties_pct / HUNDRED
    handling = handling_per_box / units
    return unit(price + freight + duties + handling)


def suggested_price(landed: Decimal, gpm_pct: Decimal) -> Decimal:
    if not Decimal(0) <= gpm_pct < HUNDRED:
        raise ValueError("GPM must be at least 0% and below 100%")
    return cents(landed / (1 - gpm_pct / HUNDRED))


def gpm_pct(price: Decimal, cost: Decimal) -> Decimal:
    if price == 0:
        return Decimal(0)
    return ((price - cost) / price * HUNDRED).quantize(Decimal("0.01"))


def line_total(boxes: int, unit_type: str, bunches_per_box: int, stems_per_bunch: int,
               unit_price: Decimal) -> Decimal:
    return cents(boxes * units_per_box(unit_type, bunches_per_box, stems_per_bunch) * unit_price)


def earliest_ship_date(today: date, local_time: time, ship_days_offset: int,
                       cutoff: time | None = None, available: date | None = None) -> date:
    """today + the vendor's offset, a day later past its cut-off, never before the goods are available."""
    days = ship_days_offset + (1 if cutoff is not None and local_time >= cutoff else 0)
    earliest = today + timedelta(days=days)
    return max(earliest, available) if available else earliest


def local_now(tz_name: str, now: datetime) -> datetime:
    """`now` where the company is. A name the IANA database does not know (stored before the API
    checked them) reads as the default zone, logged: one company's setting never fails another's
    availability or cart."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        from k2k.bounds import DEFAULT_TIMEZONE
        from k2k.observability import logger

        logger.warning("unknown time zone read as the default", extra={"timezone": str(tz_name)[:64],
                                                                       "default": DEFAULT_TIMEZONE})
        zone = ZoneInfo(DEFAULT_TIMEZONE)
    return now.astimezone(zone)
