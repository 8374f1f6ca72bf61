"""Row validation: every rule of an import type, applied to one row, with no AWS and no per-row setup.

A row is accepted whole (its typed values) or rejected whole (one message
naming each broken column and rule). What the company has (customers,
vendors, locations) is loaded once into a Context; duplicates within the file
are caught here, duplicates already stored are caught by the writer's
conditional writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from k2k.imports import rules
from k2k.imports.model import ImportType
from k2k.imports.spec import Column, HeaderMatch, ImportSpec, Need, fold
from k2k.inventory import UnitType


def column_letter(index: int) -> str:
    """0 -> A, 27 -> AB."""
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _unsure(values: list[Any]) -> list[int]:
    """Positions of UNSURE cells; a clean column (the usual case) costs one C-level membership scan."""
    if rules.UNSURE not in values:
        return []
    return [i for i, v in enumerate(values) if v is rules.UNSURE]


def _flagged(flags: bytearray) -> Iterator[int]:
    """Positions set in a bytearray, found by C-level search (most batches have few or none)."""
    i = flags.find(1)
    while i >= 0:
        yield i
        i = flags.find(1, i + 1)


@dataclass
class Context:
    """What rows are checked against, loaded once per import."""

    locations: list[str]
    customers: Iterable[str] = ()
    vendors: Iterable[str] = ()
    customer_codes: dict[str, str] = field(init=False)
    vendor_codes: dict[str, str] = field(init=False)
    location_codes: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        # Codes are matched forgiving case and spacing, and stored as K2K spells them.
        self.customer_codes = {fold(c): c for c in self.customers}
        self.vendor_codes = {fold(v): v for v in self.vendors}
        self.location_codes = {fold(loc): loc for loc in self.locations}

    @property
    def multi_location(self) -> bool:
        return len(self.locations) > 1


@dataclass(frozen=True)
class Merged:
    """A merged range, 0-based and inclusive, as it reads in Excel (A7:C7)."""

    first_row: int
    first_col: int
    last_row: int
    last_col: int

    @property
    def ref(self) -> str:
        return (f"{column_letter(self.first_col)}{self.first_row + 1}:"
                f"{column_letter(self.last_col)}{self.last_row + 1}")


class RowValidator:
    """Validates the rows of one sheet against one spec; call it with (row number, cells)."""

    def __init__(self, spec: ImportSpec, header: HeaderMatch, context: Context,
                 merged: Iterable[Merged] = (), *, max_cell_chars: int = 1024) -> None:
        self.spec = spec
        self.context = context
        self.max_cell_chars = max_cell_chars
        needed = {Need.REQUIRED} | ({Need.MULTI_LOCATION} if context.multi_location else set())
        # (position, column, required) for each column present, in sheet order.
        self.plan: list[tuple[int, Column, bool]] = sorted(
            ((header.positions[c.field], c, c.need in needed) for c in spec.columns if c.field in header.positions),
            key=lambda p: p[0])
        self.absent = [c.field for c in spec.columns if c.field not in header.positions]
        self.order = [c.field for _, c, _ in self.plan] + self.absent  # the batch path's value tuples
        self.names = {c.field: c.name for c in spec.columns}
        self.seen: dict[str, int] = {}
        self.merged_rows: dict[int, list[Merged]] = {}
        positions = {p: c.name for p, c, _ in self.plan}
        for m in merged:
            if m.first_row == m.last_row and m.first_col == m.last_col:
                continue
            if not any(m.first_col <= p <= m.last_col for p in positions):
                continue  # merged cells outside the columns we read do not matter
            for r in range(m.first_row, min(m.last_row, m.first_row + 10_000) + 1):
                self.merged_rows.setdefault(r + 1, []).append(m)
        self._check = {
            ImportType.OPEN_INVOICES: self._invoice,
            ImportType.OPEN_CREDITS: self._credit,
            ImportType.INVENTORY_IN_BOXES: self._boxes,
        }[spec.import_type]
        # Cross-cell rules the batch path still applies per row (codes and locations it does by column).
        self._extra = self._box_rules if spec.import_type is ImportType.INVENTORY_IN_BOXES else None

    def __call__(self, row: int, cells: list[Any], *, unique: bool = True) -> tuple[dict[str, Any] | None, str | None]:
        """(values, None) for an accepted row, (None, message) for a rejected one."""
        errors: list[str] = []
        failed: set[str] = set()
        values: dict[str, Any] = dict.fromkeys(self.absent)
        width = len(cells)
        limit = self.max_cell_chars
        merged = self.merged_rows.get(row)
        covered: set[int] = set()
        if merged:
            # A merged range is one problem, said once; its covered cells are not "required" again.
            errors.extend(f"merged cells {m.ref}: unmerge them and fill in each cell" for m in merged)
            covered = {p for m in merged for p in range(m.first_col, m.last_col + 1)}
        for position, column, required in self.plan:
            value = cells[position] if position < width else ""
            if value is None:  # other readers (openpyxl) say None where calamine says ""
                value = ""
            if type(value) is str:
                if len(value) > limit:
                    errors.append(f"{column.name}: at most {limit:,} characters in a cell (got {len(value):,})")
                    values[column.field] = None
                    failed.add(column.field)
                    continue
                if not value or value.isspace():
                    if required and not (merged and position in covered):
                        errors.append(f"{column.name}: {column.need.value}")
                        failed.add(column.field)
                    values[column.field] = None
                    continue
            try:
                values[column.field] = column.rule(value)
            except rules.Reject as e:
                errors.append(f"{column.name}: {e.rule}")
                values[column.field] = None
                failed.add(column.field)
        self._check(values, errors, failed)
        if not errors and unique and self.spec.unique:
            key = values[self.spec.unique]
            first = self.seen.setdefault(key, row)
            if first != row:
                errors.append(f"{self.names[self.spec.unique]}: {key} appears more than once in the file "
                              f"(first on row {first})")
        if errors:
            return None, "; ".join(errors)
        return values, None

    def batch(self, numbers: list[int], rows: list[list[Any]]) -> list[tuple[tuple[Any, ...] | None, str | None]]:
        """The same verdicts as calling the validator row by row (values as tuples in `order`), by column.

        Each rule's column check types the cells that are clearly fine in one pass (a comprehension, no
        call per cell); company codes are looked up the same way. A row with any cell the checks are
        unsure of goes through the full row validator, which words the message. So the cost per row
        is a few list slots, not a dozen function calls.
        """
        n = len(rows)
        width = max(map(len, rows), default=0)
        if any(len(r) != width for r in rows):
            rows = [r + [""] * (width - len(r)) for r in rows]
        columns = list(zip(*rows, strict=True)) if width else []
        unsure = bytearray(n)
        fields: list[str] = []
        typed: list[list[Any]] = []
        for position, column, required in self.plan:
            cells = columns[position] if position < width else ("",) * n
            out = column.rule.column(cells)  # type: ignore[attr-defined]
            for i in _unsure(out):
                v = cells[i]
                if not required and (v is None or (v.__class__ is str and (not v or v.isspace()))):
                    out[i] = None
                else:
                    unsure[i] = 1
            fields.append(column.field)
            typed.append(out)
        for field_name, codes, default in self._lookups():
            if field_name not in fields:
                continue
            k = fields.index(field_name)
            out = [codes.get(v, rules.UNSURE) if v is not None else default for v in typed[k]]
            for i in _unsure(out):
                unsure[i] = 1
            typed[k] = out
        for i, row in enumerate(numbers):
            if row in self.merged_rows:
                unsure[i] = 1
        absent = self._absent_values()
        tuples: list[Any] = list(zip(*typed))  # noqa: B905 - equal lengths by construction
        if absent:
            tuples = [t + absent for t in tuples]
        order = self.order
        verdicts: list[tuple[tuple[Any, ...] | None, str | None]] = [(t, None) for t in tuples]
        # Only the rows the column checks were unsure of cost a call each.
        for i in _flagged(unsure):
            values, message = self(numbers[i], rows[i], unique=False)
            verdicts[i] = (None, message) if values is None else (tuple(values[f] for f in order), None)
        if self._extra is not None:
            for i, (t, _) in enumerate(verdicts):
                if t is None or unsure[i]:
                    continue
                values = dict(zip(order, t))  # noqa: B905
                errors: list[str] = []
                self._extra(values, errors)  # may fill a default (stems per bunch)
                verdicts[i] = (None, "; ".join(errors)) if errors else (tuple(values[f] for f in order), None)
        unique = self.spec.unique
        if unique:
            # The first accepted row with a number keeps it, in sheet order, whichever path accepted it.
            k = order.index(unique)
            setdefault = self.seen.setdefault
            firsts = [setdefault(t[k], row) if t is not None else row
                      for (t, _), row in zip(verdicts, numbers)]  # noqa: B905
            name = self.names[unique]
            verdicts = [v if first == row or v[0] is None else
                        (None, f"{name}: {v[0][k]} appears more than once in the file (first on row {first})")
                        for v, first, row in zip(verdicts, firsts, numbers)]  # noqa: B905
        return verdicts

    def _absent_values(self) -> tuple[Any, ...]:
        ctx = self.context
        return tuple(ctx.locations[0] if f == "location" and not ctx.multi_location else None for f in self.absent)

    def as_dict(self, values: tuple[Any, ...]) -> dict[str, Any]:
        """A batch verdict's values by field name (the batch path keeps them as tuples: cheaper by far)."""
        return dict(zip(self.order, values, strict=True))

    def _lookups(self) -> list[tuple[str, dict[str, str], str | None]]:
        """Codes matched exactly in the fast path (the row validator forgives case); a blank location
        is the only location of a single-location company."""
        ctx = self.context
        default = ctx.locations[0] if not ctx.multi_location else None
        exact = {
            "customer_code": {c: c for c in ctx.customer_codes.values()},
            "vendor_code": {v: v for v in ctx.vendor_codes.values()},
        }
        return [("customer_code", exact["customer_code"], None), ("vendor_code", exact["vendor_code"], None),
                ("location", {loc: loc for loc in ctx.locations}, default)]

    def cells_of(self, values: dict[str, Any]) -> list[Any]:
        """An accepted row laid back out under its header, as read (for rows refused at write time)."""
        width = max((p for p, _, _ in self.plan), default=-1) + 1
        cells: list[Any] = [""] * width
        for position, column, _ in self.plan:
            value = values.get(column.field)
            cells[position] = "" if value is None else rules.shown(getattr(value, "value", value))
        return cells

    # -- the rules that look at more than one cell, or at the company ------------------------------
    # Each check skips a field whose cell already failed: one message per problem.
    def _location(self, values: dict[str, Any], errors: list[str], failed: set[str]) -> None:
        given = values.get("location")
        ctx = self.context
        if "location" in failed:
            return
        if given is None:
            if not ctx.multi_location:
                values["location"] = ctx.locations[0]
            return
        found = ctx.location_codes.get(fold(given))
        if found is None:
            errors.append(f"Location Code: {given} is not one of your locations ({', '.join(ctx.locations)})")
        else:
            values["location"] = found

    def _customer(self, values: dict[str, Any], errors: list[str], failed: set[str]) -> None:
        code = values["customer_code"]
        if code is None:
            return
        found = self.context.customer_codes.get(fold(code))
        if found is None:
            errors.append(f"Customer Code: no customer {code} in K2K")
        else:
            values["customer_code"] = found

    def _invoice(self, values: dict[str, Any], errors: list[str], failed: set[str]) -> None:
        self._customer(values, errors, failed)
        self._location(values, errors, failed)

    def _credit(self, values: dict[str, Any], errors: list[str], failed: set[str]) -> None:
        self._customer(values, errors, failed)
        self._location(values, errors, failed)

    def _boxes(self, values: dict[str, Any], errors: list[str], failed: set[str]) -> None:
        vendor = values["vendor_code"]
        if vendor is not None:
            found = self.context.vendor_codes.get(fold(vendor))
            if found is None:
                errors.append(f"Vendor Code: no vendor {vendor} in K2K")
            else:
                values["vendor_code"] = found
        self._location(values, errors, failed)
        self._box_rules(values, errors, failed)

    def _box_rules(self, values: dict[str, Any], errors: list[str], failed: frozenset[str] | set[str] = frozenset()
                   ) -> None:
        if values.get("stems_per_bunch") is None and "stems_per_bunch" not in failed:
            if values["unit_type"] is UnitType.STEM:
                errors.append("Stems/Bunch: required when the unit type is Stem")
            elif values["unit_type"] is not None:
                values["stems_per_bunch"] = 1
        sides = [values.get(k) for k in ("length", "width", "height")]
        if any(s is not None for s in sides) and not all(s is not None for s in sides):
            errors.append("Box Length, Box Width, Box Height: give all three or none")
