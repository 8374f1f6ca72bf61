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
from itertools import compress, repeat
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
        self.seen: dict[str, int] = {}  # the first row of each unique number (see _first_of_each)
        self._numbers: set[Any] = set()
        self._blocks: list[tuple[list[Any], list[int], list[bool] | None]] | None = []
        self.merged_rows: dict[int, list[Merged]] = {}
        positions = {p: c.name for p, c, _ in self.plan}
        for m in merged:
            if m.first_row == m.last_row and m.first_col == m.last_col:
                continue
            if not any(m.first_col <= p <= m.last_col for p in positions):
                continue  # merged cells outside the columns we read do not matter
            for r in range(m.first_row, min(m.last_row, m.first_row + 10_000) + 1):
                self.merged_rows.setdefault(r + 1, []).append(m)
        # A code spelled as K2K spells it is found without folding it (what its fold finds, by construction).
        self._spelled = [{code: table[fold(code)] for code in table.values()}
                         for table in (context.customer_codes, context.vendor_codes, context.location_codes)]
        self._check = {
            ImportType.OPEN_INVOICES: self._invoice,
            ImportType.OPEN_CREDITS: self._credit,
            ImportType.INVENTORY_IN_BOXES: self._boxes,
        }[spec.import_type]
        # Cross-cell rules the batch path still applies per row (codes and locations it does by column).
        self._extra = self._box_rules if spec.import_type is ImportType.INVENTORY_IN_BOXES else None
        # The batch path: what an absent column holds (a single location's code), and each code column's
        # exact lookup (the row validator forgives case); a blank location is the only location of a
        # single-location company.
        single = context.locations[0] if not context.multi_location else None
        self.absent_values = tuple(single if f == "location" else None for f in self.absent)
        known = {"customer_code": context.customer_codes.values(), "vendor_code": context.vendor_codes.values(),
                 "location": context.locations}
        # Per column read: the codes a cell may hold exactly (those its rule takes as they are), and what a
        # blank cell of an optional code column is; None for a column that is not a code.
        self._codes: list[dict[Any, Any] | None] = []
        for _, column, required in self.plan:
            if column.field not in known:
                self._codes.append(None)
                continue
            codes: dict[Any, Any] = {c: c for c in known[column.field]
                                     if column.rule.column([c]) == [c]}  # type: ignore[attr-defined]
            if not required:
                codes |= {None: single if column.field == "location" else None}
                codes[""] = codes[None]
            self._codes.append(codes)

    def __call__(self, row: int, cells: list[Any], *, unique: bool = True) -> tuple[dict[str, Any] | None, str | None]:
        """(values, None) for an accepted row, (None, message) for a rejected one."""
        return self._row(row, cells, None, unique)

    def _row(self, row: int, cells: list[Any], known: list[Any] | None, unique: bool
             ) -> tuple[dict[str, Any] | None, str | None]:
        """The row validator; `known` (from the batch path, in plan order) holds the value of each cell its
        column check was sure of, UNSURE for the others: a sure cell is one its rule accepts with that
        value, so only the others are checked again."""
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
        for j, (position, column, required) in enumerate(self.plan):
            if known is not None and known[j] is not rules.UNSURE:
                values[column.field] = known[j]
                continue
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
            self._first_rows()
            key = values[self.spec.unique]
            first = self.seen.setdefault(key, row)
            if first != row:
                errors.append(f"{self.names[self.spec.unique]}: {key} appears more than once in the file "
                              f"(first on row {first})")
        if errors:
            return None, "; ".join(errors)
        return values, None

    def checked(self, numbers: list[int], rows: list[list[Any]]) -> tuple[list[int], list[list[Any]], dict[int, str]]:
        """Rows validated a column at a time: (their numbers, their values column by column in `order`, the
        message of each rejected row by its index in `rows`). The verdicts are the row validator's; the
        values stay in columns (a row's tuple is made when it is written), and a rejected row's slots in
        them mean nothing: it is skipped when rows are made (columns are not copied to drop it).

        Each rule's column check types the cells that are clearly fine in a few C loops over the column;
        company codes are looked up the same way. A row with any cell the checks are unsure of goes
        through the row validator, for those cells only, which words the message. So a clean row costs
        a few list slots, not a dozen function calls.
        """
        n = len(rows)
        try:
            cells_by_column = list(zip(*rows, strict=True))
        except ValueError:  # rows of different lengths (not calamine's: a band is a grid)
            longest = max(map(len, rows))
            rows = [r + [""] * (longest - len(r)) for r in rows]
            cells_by_column = list(zip(*rows, strict=True))
        width = len(cells_by_column)
        unsure = bytearray(n)
        # Each column as its rule types it, UNSURE where the rule itself must look; a code column is
        # looked up whole (a cell that is exactly one of the company's codes is that code).
        columns: list[list[Any]] = []
        for (position, column, required), codes in zip(self.plan, self._codes, strict=True):
            cells = cells_by_column[position] if position < width else ("",) * n
            out = (column.rule.column(cells) if codes is None  # type: ignore[attr-defined]
                   else list(map(codes.get, cells, repeat(rules.UNSURE))))
            for i in rules.unsure_at(out):
                v = cells[i]
                if not required and (v is None or (v.__class__ is str and (not v or v.isspace()))):
                    out[i] = codes.get(None) if codes is not None else None
                else:
                    unsure[i] = 1
            columns.append(out)
        read = list(columns)  # what _row may take as known
        columns += [[v] * n for v in self.absent_values]
        if self.merged_rows:
            for i, row in enumerate(numbers):
                if row in self.merged_rows:
                    unsure[i] = 1
        order = self.order
        messages: dict[int, str] = {}
        # Only the rows the column checks were unsure of cost a call each, for the cells they were unsure of.
        for i in _flagged(unsure):
            values, message = self._row(numbers[i], rows[i], [col[i] for col in read], False)
            if values is None:
                messages[i] = message  # type: ignore[assignment]
            else:
                for col, f in zip(columns, order):  # noqa: B905
                    col[i] = values[f]
        if self._extra is not None:
            for i in range(n):
                if unsure[i]:
                    continue
                values = {f: col[i] for f, col in zip(order, columns)}  # noqa: B905
                errors: list[str] = []
                self._extra(values, errors)  # may fill a default (stems per bunch)
                if errors:
                    messages[i] = "; ".join(errors)
                else:
                    for col, f in zip(columns, order):  # noqa: B905
                        col[i] = values[f]
        if self.spec.unique:
            self._first_of_each(numbers, columns[order.index(self.spec.unique)], messages)
        return numbers, columns, messages

    def _first_of_each(self, numbers: list[int], keys: list[Any], messages: dict[int, str]) -> None:
        """The first accepted row with a number keeps it, in sheet order, whichever path accepted it; a later
        one is rejected (its message added to `messages`, where the rows already rejected are)."""
        kept = None
        if messages:
            kept = [True] * len(keys)
            for i in messages:
                kept[i] = False
        if self._blocks is not None:  # no number has been given twice so far: a set, and no row numbers yet
            accepted = keys if kept is None else list(compress(keys, kept))
            before = len(self._numbers)
            self._numbers.update(accepted)
            if len(self._numbers) - before == len(accepted):
                self._blocks.append((keys, numbers, kept))
                return  # the usual case: one C loop over a set
            self._first_rows()  # a number given twice: `seen` takes over from the set, which it drops
        name = self.names[self.spec.unique]  # type: ignore[index]
        setdefault = self.seen.setdefault
        for i in range(len(keys)) if kept is None else compress(range(len(keys)), kept):
            key, row = keys[i], numbers[i]
            first = setdefault(key, row)
            if first != row:
                messages[i] = f"{name}: {key} appears more than once in the file (first on row {first})"

    def _first_rows(self) -> None:
        """`seen`, the first row of each number so far, from the blocks the batch path kept (once)."""
        if self._blocks is not None:
            for keys, numbers, kept in self._blocks:
                pairs = zip(keys, numbers)  # noqa: B905 - each block's accepted numbers are new
                self.seen.update(pairs if kept is None else compress(pairs, kept))
            self._blocks, self._numbers = None, set()

    def as_dict(self, values: tuple[Any, ...]) -> dict[str, Any]:
        """A batch verdict's values by field name (the batch path keeps them as tuples: cheaper by far)."""
        return dict(zip(self.order, values, strict=True))

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
        found = self._spelled[2].get(given) or ctx.location_codes.get(fold(given))
        if found is None:
            errors.append(f"Location Code: {given} is not one of your locations ({', '.join(ctx.locations)})")
        else:
            values["location"] = found

    def _customer(self, values: dict[str, Any], errors: list[str], failed: set[str]) -> None:
        code = values["customer_code"]
        if code is None:
            return
        found = self._spelled[0].get(code) or self.context.customer_codes.get(fold(code))
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
            found = self._spelled[1].get(vendor) or self.context.vendor_codes.get(fold(vendor))
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
