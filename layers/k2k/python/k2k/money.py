"""Exact money. Decimal end to end, quantized explicitly, ROUND_HALF_UP.

Unit amounts (price or cost per stem/bunch) carry 3 decimals, as the trade
prices stems in tenths of a cent; totals and sale prices carry cents.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

UNIT = Decimal("0.001")
CENT = Decimal("0.01")
ZERO = Decimal("0")


def to_decimal(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        # Floats never enter money arithmetic directly: go through their shortest repr.
        return Decimal(repr(value))
    return Decimal(str(value))


def unit(value: object) -> Decimal:
    """A per-unit amount, to 3 decimals."""
    return to_decimal(value).quantize(UNIT, rounding=ROUND_HALF_UP)


def cents(value: object) -> Decimal:
    """A total or a sale price, to the cent."""
    return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def decimals(value: Decimal) -> int:
    """How many decimal places a value is written with (0.250 has 3)."""
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0
