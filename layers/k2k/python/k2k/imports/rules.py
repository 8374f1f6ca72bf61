"""Cell rules: what a value in an import column must look like, as plain functions.

Each rule takes the value the reader gives (str, float, int, bool, date,
datetime) and returns the typed value or raises Reject with the rule in the
trade's words; the row validator prefixes the column name:
"Invoice #: at most 20 characters (got 21)".

Each rule also has a column check for the batch path: a whole column in, the
typed values out, UNSURE where the rule itself must look (and word the
message). The checks run as C loops (map, min, max, dict lookups) over the
column while it is clean, the usual case, and fall back to a comprehension
only when it is not: the row path of an import costs a few C-level passes
per column, not a Python call per cell.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal, InvalidOperation
from itertools import repeat
from operator import is_, mul, ne, truediv
from typing import Any, TypeVar

from k2k.money import decimals

Rule = Callable[[Any], Any]
T = TypeVar("T")

_YMD = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_WHOLE = re.compile(r"[+-]?\d+(?:\.0+)?")


class _Unsure:
    """What a column check says when the full rule must look at a cell (and word its message)."""

    def __repr__(self) -> str:
        return "UNSURE"


UNSURE: Any = _Unsure()
Column = Callable[[Any], list[Any]]  # a whole column's values -> typed values, or UNSURE per cell


class Sure(list[Any]):
    """A column check's output that it knows holds no UNSURE (its clean path): not searched again."""


def unsure_at(values: list[Any]) -> list[int]:
    """Positions of UNSURE in a column check's output, found in C: identity tests, then list.index over
    their results (`UNSURE in values` would compare each Decimal by value, several times slower)."""
    if type(values) is Sure:
        return []
    return _true_at(list(map(is_, values, repeat(UNSURE))))


def _true_at(flags: list[bool]) -> list[int]:
    """Positions of True in a list of booleans, by list.index (a C loop between hits)."""
    found: list[int] = []
    if True in flags:
        i = flags.index(True)
        try:
            while True:
                found.append(i)
                i = flags.index(True, i + 1)
        except ValueError:
            pass
    return found


def all_of(values: Any, kind: type) -> bool:
    """Every value is exactly of `kind` (not a subclass: bool is an int, datetime a date)."""
    return len(set(map(type, values))) == 1 and type(values[0]) is kind if values else True


class Memo(dict[Any, Any]):
    """A column check by distinct value: `list(map(memo.__getitem__, column))` runs in C and calls
    `typed` once per value a column holds (a column of dates or codes holds few). Only for checks that
    type every non-text value as UNSURE: 1.0, 1 and True are one dictionary key."""

    def __init__(self, typed: Callable[[Any], Any]) -> None:
        super().__init__()
        self.typed = typed

    def __missing__(self, value: Any) -> Any:
        out = self[value] = self.typed(value)
        return out

    def column(self, values: Any) -> list[Any]:
        """The column typed, value by value (Sure when no value was UNSURE: a look at the few distinct)."""
        out = list(map(self.__getitem__, values))
        return out if any(map(is_, self.values(), repeat(UNSURE))) else Sure(out)


def column_check(fast: Column) -> Callable[[Rule], Rule]:
    """Attach a column-at-a-time fast path to a rule: it accepts only cells that are clearly fine, with
    the same typed value the rule gives; anything else is UNSURE and goes through the rule itself."""

    def attach(rule: Rule) -> Rule:
        rule.column = fast  # type: ignore[attr-defined]
        return rule

    return attach


class Reject(Exception):
    """A cell breaks a rule; `rule` says which, in words a user can act on."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


def is_blank(value: Any) -> bool:
    return value is None or (type(value) is str and not value.strip())


def shown(value: Any) -> str:
    """A value as the user typed it, for messages."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else format(value, ".15g")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") if value.time() != dtime(0) else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value).strip()


def as_text(value: Any) -> str:
    """Codes and numbers typed as numbers (12345) are text to us; dates and TRUE/FALSE are not."""
    if type(value) is str:
        return value.strip()
    if isinstance(value, bool):
        raise Reject(f"must be text, not {shown(value)}")
    if isinstance(value, float | int):
        return shown(value)
    if isinstance(value, date):
        raise Reject(f"must be text, not a date ({shown(value)})")
    return str(value).strip()


def text(max_length: int) -> Rule:
    # Sure only of a cell whose text, spaces included, fits: a long padded cell is the row validator's
    # to judge (it caps a cell's length before anything else).
    def column(values: Any) -> list[Any]:
        try:
            stripped = list(map(str.strip, values))  # one C loop while every cell is text (the usual case)
        except TypeError:
            return [s if v.__class__ is str and len(v) <= max_length and (s := v.strip()) else UNSURE
                    for v in values]
        if not stripped or (max(map(len, values)) <= max_length and all(stripped)):
            return Sure(stripped)
        return [s if s and len(v) <= max_length else UNSURE for s, v in zip(stripped, values)]  # noqa: B905

    @column_check(column)
    def rule(value: Any) -> str:
        s = as_text(value)
        if len(s) > max_length:
            raise Reject(f"at most {max_length} characters (got {len(s)})")
        return s

    return rule


def _day(v: Any) -> Any:
    if v.__class__ is date:
        return v
    if v.__class__ is str and len(v) == 10 and v[4] == "-" and v[7] == "-" and v[:4].isdigit():
        try:
            return date.fromisoformat(v)
        except ValueError:
            return UNSURE
    return UNSURE


def _dates(values: Any) -> list[Any]:
    return Memo(_day).column(values)  # the same few dates fill a whole column


@column_check(_dates)
def ymd_date(value: Any) -> date:
    """A real date cell, or text written YYYY-MM-DD; never a guess at 03/04/2024."""
    if isinstance(value, datetime):
        if value.time() != dtime(0):
            raise Reject(f"must be a date without a time (got {shown(value)})")
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        raise Reject(f"must be a date written YYYY-MM-DD (got {shown(value)})")
    if isinstance(value, float | int):
        raise Reject(f"must be a date written YYYY-MM-DD (got the number {shown(value)})")
    s = str(value).strip()
    if not _YMD.fullmatch(s):
        raise Reject(f"must be a date written YYYY-MM-DD (got {s})")
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise Reject(f"{s} is not a real date") from None


def _number(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise Reject(f"must be a number (got {shown(value)})")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Reject("must be a number")
        # What Excel shows: 15 significant digits, so 0.1+0.2 is 0.3 and not 0.30000000000000004.
        return Decimal(format(value, ".15g"))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, date):
        raise Reject(f"must be a number, not a date ({shown(value)})")
    s = str(value).strip()
    if not _NUMBER.fullmatch(s):
        raise Reject(f"must be a number like 1234.50 (got {s})")
    try:
        return Decimal(s)
    except InvalidOperation:
        raise Reject(f"must be a number like 1234.50 (got {s})") from None


def amount(max_decimals: int = 3, *, positive: bool = False, max_value: Decimal = Decimal("999999999.999")) -> Rule:
    """Money with at most `max_decimals` places: 12.3456 is rejected, never rounded.

    Trailing zeros do not count (12.3450 is 12.345), a value does.
    """
    quantum = Decimal(1).scaleb(-max_decimals)
    low, high = (0.0, float(max_value))
    fixed = f"{{:.{max_decimals}f}}".format
    scale = 10 ** max_decimals

    def inside(v: float) -> bool:
        return low < v <= high if positive else low <= v <= high

    def one_by_one(values: Any) -> list[Any]:
        return [Decimal(s) if v.__class__ is float and inside(v) and float(s := fixed(v)) == v else UNSURE
                for v in values]

    def column(values: Any) -> list[Any]:
        # A float on the decimal grid is the closest double to what was typed, N / 10**max_decimals: it
        # reads back as itself from N = round(v * 10**max_decimals), and N scaled is the number the rule
        # gets through 15 significant digits (the maximum has 12), quantized. Off the grid (0.1 + 0.2,
        # 12.3456), out of bounds, zero (whose sign the rule keeps) or not a float: UNSURE, and the rule
        # decides.
        if not all_of(values, float):
            return one_by_one(values)
        try:
            grid = list(map(round, map(mul, values, repeat(float(scale)))))
        except (ValueError, OverflowError):  # nan, inf
            return one_by_one(values)
        out = list(map(quantum.__mul__, map(Decimal, grid)))  # N x 10**-max_decimals, exact: N has 12 digits
        wrong = list(map(ne, map(truediv, grid, repeat(scale)), values))
        if values and not (inside(min(values)) and inside(max(values))):
            wrong = [w or not inside(v) for w, v in zip(wrong, values)]  # noqa: B905
        if 0.0 in values:
            wrong = [w or v == 0 for w, v in zip(wrong, values)]  # noqa: B905
        if True not in wrong:
            return Sure(out)
        for i in _true_at(wrong):
            out[i] = UNSURE
        return out

    @column_check(column)
    def rule(value: Any) -> Decimal:
        d = _number(value)
        places = decimals(d.normalize())
        if places > max_decimals:
            raise Reject(f"at most {max_decimals} decimals (got {shown(value)})")
        if positive and d <= 0:
            raise Reject(f"must be more than 0 (got {shown(value)})")
        if not positive and d < 0:
            raise Reject(f"must not be negative (got {shown(value)})")
        if d > max_value:
            raise Reject(f"must be at most {max_value:,} (got {shown(value)})")
        return d.quantize(quantum)

    return rule


def whole(minimum: int, maximum: int) -> Rule:
    def column(values: Any) -> list[Any]:
        if values and all_of(values, float) and minimum <= min(values) and max(values) <= maximum \
                and all(map(float.is_integer, values)):
            return Sure(map(int, values))
        return [int(v) if v.__class__ is float and v.is_integer() and minimum <= v <= maximum else UNSURE
                for v in values]

    @column_check(column)
    def rule(value: Any) -> int:
        if isinstance(value, (bool, date)):
            raise Reject(f"must be a whole number (got {shown(value)})")
        if isinstance(value, float):
            if not (math.isfinite(value) and value.is_integer()):
                raise Reject(f"must be a whole number (got {shown(value)})")
            n = int(value)
        elif isinstance(value, int):
            n = value
        else:
            s = str(value).strip()
            if not _WHOLE.fullmatch(s):
                raise Reject(f"must be a whole number (got {s})")
            n = int(Decimal(s))
        if not minimum <= n <= maximum:
            raise Reject(f"must be between {minimum:,} and {maximum:,} (got {n:,})")
        return n

    return rule


def one_of(options: Mapping[str, T]) -> Rule:
    """A choice from a short list, case and spacing forgiven (hb, HB, " Hb ")."""
    listed = ", ".join(options)
    folded = {k.replace(" ", "").upper(): v for k, v in options.items()}

    def typed(v: Any) -> Any:  # sure only of a short cell: a long one is the row validator's to judge
        return folded.get(v.replace(" ", "").upper(), UNSURE) if v.__class__ is str and len(v) <= 64 else UNSURE

    def column(values: Any) -> list[Any]:
        return Memo(typed).column(values)

    @column_check(column)
    def rule(value: Any) -> T:
        key = as_text(value).replace(" ", "").upper()
        if key not in folded:
            raise Reject(f"must be one of {listed} (got {shown(value)})")
        return folded[key]

    return rule
