"""Reading a workbook fast and in bounded memory: python-calamine behind a streaming guard.

calamine is many times faster than openpyxl's cell loop, but it builds a dense
grid of the whole sheet in native memory, sized by the furthest cell: a
1 KB file naming cell XFD1048576 would make it abort the process. So an .xlsx
sheet is first streamed once (inflated in chunks, never whole) to:
  - refuse DTDs, more bytes than the uncompressed limit, and any cell outside
    its band's window (a column past the limit, a row past Excel's last or
    too far from the band's first, a cell without a position or under
    another XML prefix): one regex per chunk finds such a cell, with no
    Python per cell or per row;
  - split its rows into bands of `Limits.band_rows` rows, written (stored
    while small) as separate sheets of a normalized workbook that shares
    the original styles and shared strings; calamine then loads one band at
    a time, so its memory is bounded by the band, not by the file, and it
    only ever reads bytes this scan has checked.
An .xls (BIFF8) file is small by construction (65,536 rows x 256 columns) and
is read directly, after its grid size is checked from the BIFF records.
"""

from __future__ import annotations

import posixpath
import re
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from k2k.imports.safety import (
    OLE_MAGIC,
    OTHER_MAINS,
    XLSX_MAIN,
    Budget,
    FileRejected,
    Kind,
    Limits,
    check_zip,
    ole_problem,
    parse_xml,
    read_part,
    sniff,
    stream_part,
)
from k2k.imports.spec import fold
from k2k.imports.validate import Merged, column_letter

_P = rb"(?:[A-Za-z_][\w.-]*:)?"  # an optional namespace prefix (x:sheetData)
SHEETDATA = re.compile(rb"<(" + _P + rb")sheetData\s*(/?)>")
_REF = re.compile(rb' r="([A-Z]+)(\d+)"')  # a cell's reference, read when its cell is refused
_ELEMENT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s/>]")
MERGE = re.compile(rb"<" + _P + rb"mergeCell\s+ref\s*=\s*[\"']([A-Z]{1,3})(\d{1,7}):([A-Z]{1,3})(\d{1,7})[\"']")
HEAD_MAX = 16 * 1024 * 1024
STORE_BELOW = 128 * 1024 * 1024
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


def _columns_upto(limit: int) -> bytes:
    """A regex for the column letters of the first `limit` columns (A to CV for 100), shortest first."""
    by_prefix: dict[str, list[str]] = {}
    for index in range(limit):
        letters = column_letter(index)
        by_prefix.setdefault(letters[:-1], []).append(letters[-1])
    alts = [f"{prefix}[{last[0]}-{last[-1]}]" for prefix, last in by_prefix.items()]
    return ("(?:" + "|".join(alts) + ")").encode()


def _numbers_between(low: int, high: int) -> bytes:
    """A regex for the decimal numbers from `low` to `high` (1 <= low <= high), written without leading zeros."""
    alts: list[str] = []
    full: list[int] = []  # lengths whose every number is in range: one alternative for all of them
    for digits in range(len(str(low)), len(str(high)) + 1):
        a, b = max(low, 10 ** (digits - 1)), min(high, 10 ** digits - 1)
        if (a, b) == (10 ** (digits - 1), 10 ** digits - 1):
            full.append(digits)
        elif a <= b:
            alts.extend(_same_length(str(a), str(b)))
    if full:
        alts.insert(0, rf"[1-9]\d{{{full[0] - 1},{full[-1] - 1}}}")
    return ("(?:" + "|".join(alts) + ")").encode()


def _same_length(a: str, b: str) -> list[str]:
    """Patterns for the numbers from a to b (a <= b), both written with the same number of digits."""
    if a == b:
        return [a]
    i = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
    head, x, y, rest = a[:i], int(a[i]), int(b[i]), len(a) - i - 1
    if rest == 0:
        return [f"{head}[{x}-{y}]"]
    out, tail = [], []
    full_from, full_to = x, y
    if a[i + 1:] != "0" * rest:
        out = [head + str(x) + p for p in _same_length(a[i + 1:], "9" * rest)]
        full_from = x + 1
    if b[i + 1:] != "9" * rest:
        tail = [head + str(y) + p for p in _same_length("0" * rest, b[i + 1:])]
        full_to = y - 1
    if full_from <= full_to:
        first = str(full_from) if full_from == full_to else f"[{full_from}-{full_to}]"
        out.append(head + first + rf"\d{{{rest}}}")
    return out + tail


def _col_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n - 1


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass
class Sheet:
    """The sheet to import: its name, its size, merged ranges, and its rows in order."""

    name: str
    rows_total: int
    merged: list[Merged]
    _workbook: CalamineWorkbook
    _bands: list[int | str] = field(default_factory=list)

    def bands(self) -> Iterator[tuple[list[int], list[list[Any]]]]:
        """(1-based row numbers, rows of cells by absolute column), a band at a time, blank rows left out."""
        for band in self._bands:
            try:
                sheet = (self._workbook.get_sheet_by_index(band) if isinstance(band, int)
                         else self._workbook.get_sheet_by_name(band))
                start = sheet.start
                # iter_rows() would start at the sheet's row 1 (empty rows before the band included);
                # to_python() starts at the band's first cell, which `start` locates.
                rows = sheet.to_python(skip_empty_area=True)
            except CalamineError as e:
                raise FileRejected(f"the workbook is damaged and cannot be read ({e})") from None
            del sheet  # the band's native grid; its rows are Python lists now
            if start is None:
                continue
            first_row, first_col = start
            blank = [""] * (len(rows[0]) if rows else 0)  # the grid is rectangular
            if blank in rows:  # one C loop (a row compares unequal at its first filled cell); blank rows are rare
                kept = [i for i, cells in enumerate(rows) if cells != blank]
                rows = [rows[i] for i in kept]
                numbers = [first_row + i + 1 for i in kept]
            else:
                numbers = list(range(first_row + 1, first_row + 1 + len(rows)))
            if first_col:
                pad = [""] * first_col
                rows = [pad + cells for cells in rows]
            yield numbers, rows
            del numbers, rows  # not kept while calamine builds the next band: one band in memory at a time

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """(1-based row number, cells by absolute column) for each row that is not blank."""
        for numbers, rows in self.bands():
            yield from zip(numbers, rows, strict=True)

    def close(self) -> None:
        self._workbook.close()


def open_sheet(path: Path, filename: str, workdir: Path, preferred: tuple[str, ...],
               limits: Limits | None = None) -> Sheet:
    """Check the file and open the sheet to import (named like the import type, else the first visible one)."""
    limits = limits or Limits()
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(4096)
    if head.startswith(OLE_MAGIC) and size <= limits.xls_bytes:
        # An encrypted .xlsx is an OLE container too: say it is password-protected, not misnamed.
        problem = ole_problem(path.read_bytes())
        if problem and "password" in problem:
            raise FileRejected(problem)
    kind = sniff(head, filename)
    if size > limits.file_bytes:
        raise FileRejected(f"the file is {size / 2**20:,.1f} MiB; at most {limits.file_bytes // 2**20} MiB")
    if kind is Kind.XLS:
        return _open_xls(path, limits, preferred)
    return _open_xlsx(path, workdir, limits, preferred)


# -- .xlsx ------------------------------------------------------------------------------------------

@dataclass
class _Parts:
    sheet_name: str
    sheet_part: str
    styles: str | None
    shared_strings: str | None
    date1904: bool


def _find_parts(archive: zipfile.ZipFile, limits: Limits, budget: Budget, preferred: tuple[str, ...]) -> _Parts:
    names = {n.lower(): n for n in archive.namelist()}
    ct_name = names.get("[content_types].xml")
    if ct_name is None:
        raise FileRejected("it is a zip archive, not an Excel workbook")
    types = parse_xml(read_part(archive, ct_name, limits, budget), ct_name)
    overrides = {(o.get("PartName") or "").lstrip("/").lower(): o.get("ContentType") or ""
                 for o in types if _local(o.tag) == "Override"}
    for content_type in overrides.values():
        if content_type in OTHER_MAINS:
            raise FileRejected(OTHER_MAINS[content_type])
        if "vbaProject" in content_type:
            raise FileRejected("the workbook contains macros; save it as an Excel Workbook (.xlsx) without macros")
    main = next((p for p, t in overrides.items() if t == XLSX_MAIN), None)
    if main is None or main not in names:
        kinds = " ".join(overrides.values())
        if "wordprocessingml" in kinds:
            raise FileRejected("it is a Word document, not an Excel workbook")
        if "presentationml" in kinds:
            raise FileRejected("it is a PowerPoint presentation, not an Excel workbook")
        raise FileRejected("it is not an Excel workbook (no workbook part inside)")
    workbook = parse_xml(read_part(archive, names[main], limits, budget), main)
    folder, base = posixpath.split(names[main])
    rels_name = posixpath.join(folder, "_rels", base + ".rels").lower()
    if rels_name not in names:
        raise FileRejected("the workbook is damaged: its relationships part is missing")
    rels = {r.get("Id"): (r.get("Type") or "", r.get("Target") or "")
            for r in parse_xml(read_part(archive, names[rels_name], limits, budget), rels_name)
            if _local(r.tag) == "Relationship"}

    def target(t: str) -> str | None:
        path = t.lstrip("/") if t.startswith("/") else posixpath.normpath(posixpath.join(folder, t))
        return names.get(path.lower())

    date1904 = False
    sheets: list[tuple[str, str]] = []
    for el in workbook.iter():
        tag = _local(el.tag)
        if tag == "workbookPr":
            date1904 = (el.get("date1904") or "").lower() in ("1", "true")
        elif tag == "sheet":
            rid = next((v for k, v in el.attrib.items() if _local(k) == "id"), None)
            rel_type, rel_target = rels.get(rid, ("", ""))
            part = target(rel_target) if rel_target else None
            if part and rel_type.endswith("/worksheet") and (el.get("state") or "visible") == "visible":
                sheets.append((el.get("name") or "", part))
    if not sheets:
        raise FileRejected("the workbook has no visible worksheet")
    wanted = {fold(p) for p in preferred}
    name, part = next((s for s in sheets if fold(s[0]) in wanted), sheets[0])
    styles = next((target(t) for rt, t in rels.values() if rt.endswith("/styles")), None)
    strings = next((target(t) for rt, t in rels.values() if rt.endswith("/sharedStrings")), None)
    return _Parts(name, part, styles, strings, date1904)


class _Bands:
    """Writes the sheet's rows into band sheets of the normalized workbook, checking each part.

    calamine sizes its grid by the furthest cells it places, so every cell of a band must sit in a
    bounded window: a column within the limit, a row within 2 x the band's rows of its first cell
    (and not past Excel's last), written where calamine reads it (r="A12" first, on a <c> with the
    sheet's own namespace prefix). One regex with a negative lookahead finds the first cell that is not
    so, in C (no Python per cell or per row); a clean part (the usual case) costs that search, a count
    of its row ends and a look for cells under another prefix. The guard must cost less than the read
    it protects.

    A band is narrow while its cells stay within the first band_cells // band_rows columns (A:P): it
    holds band_rows rows. A cell further right makes it wide: the rows already written end the band
    (their window was the narrow one), and the band that starts there holds band_cells // columns rows,
    so a band's grid is at most 2 x band_cells cells however wide the sheet.

    Parts are ranges of the inflated buffer (never copied): the regexes, counts and zip writes all take
    the buffer with bounds.
    """

    def __init__(self, out: zipfile.ZipFile, head: bytes, prefix: bytes, limits: Limits) -> None:
        self.out = out
        self.limits = limits
        self.head = head
        ws = re.search(rb"<(" + _P + rb")worksheet\b", head)
        if not ws:
            raise FileRejected("the workbook is damaged: the sheet has no worksheet element")
        self.close_tags = b"</" + prefix + b"sheetData></" + ws.group(1) + b"worksheet>"
        self.row_end = b"</" + prefix + b"row>"
        # A cell is <c followed by a space, > or / (rich text's <color>, <charset>... are not cells).
        self.cell = re.escape(b"<" + prefix + b"c") + rb"(?=[\s/>])"
        self.located = re.compile(self.cell + rb' r="[A-Z]{1,3}0*([1-9]\d{0,8})"')
        self.any_cell = re.compile(self.cell)
        narrow = max(1, min(limits.columns, limits.band_cells // limits.band_rows))
        self.always_wide = narrow >= limits.columns  # a narrow band's rows already fit the cells of the widest
        self.columns = {False: _columns_upto(narrow), True: _columns_upto(limits.columns)}
        self.rows_of = {False: limits.band_rows,
                        True: max(1, min(limits.band_rows, limits.band_cells // limits.columns))}
        # calamine takes a cell by its local name: <x:c> counts as much as <c>, whatever x is.
        self.stray = (re.compile(rb":c[\s/>]") if not prefix else
                      re.compile(rb"<c[\s/>]|(?<!<" + re.escape(prefix[:-1]) + rb"):c[\s/>]"))
        self.colon = b":" if not prefix else b""  # without one, a part has no stray cell (one memchr)
        self.outside: re.Pattern[bytes] | None = None  # the current band's cells outside its window
        self.low = 0  # the row of the current band's first cell
        self.wide = False
        self.count = 0  # bands written
        self.rows = 0  # rows seen
        self.band_rows = 0
        self.file: Any = None

    def feed(self, buf: bytes, start: int, end: int) -> None:
        """buf[start:end], whole rows, into bands."""
        ends = buf.count(self.row_end, start, end)
        while start < end:
            if self.file is None:
                self.file = self.out.open(f"xl/worksheets/b{self.count}.xml", "w", force_zip64=True)
                self.file.write(self.head)
                self.band_rows, self.outside, self.wide = 0, None, self.always_wide
            room = self.rows_of[self.wide] - self.band_rows
            if ends <= room:
                cut, rows = end, ends
            else:
                cut, rows = _after(buf, self.row_end, room, start, end, ends), room
            if not self._write(buf, start, cut, rows):
                continue  # the band turned wide: fewer rows fit it
            start, ends = cut, ends - rows
            if rows == room:
                self._close()

    def _window(self) -> None:
        high = min(self.low + 2 * self.rows_of[self.wide] - 1, self.limits.rows)
        if self.low > high:
            raise FileRejected(f"the sheet has a row {self.low:,}, past Excel's last row ({self.limits.rows:,})")
        self.outside = re.compile(self.cell + rb'(?! r="' + self.columns[self.wide] + b"0*"
                                  + _numbers_between(self.low, high) + b'")')

    def _write(self, buf: bytes, start: int, end: int, ends: int) -> bool:
        """Checks and writes a part; False (nothing written) when a cell past the narrow columns made the
        band wide."""
        if self.outside is None:
            first = self.located.search(buf, start, end)
            if first is not None:
                self.low = int(first.group(1))
                self._window()
        bad = (self.outside or self.any_cell).search(buf, start, end)
        if bad:
            if self.outside is not None and not self.wide:
                self.wide = True  # checked again in the wide window, where it may still be refused
                if self.band_rows:
                    self._close()  # the rows so far keep their narrow band; the next one starts here
                else:
                    self._window()
                return False
            self._refuse(buf, bad.end())
        if buf.find(self.colon, start, end) >= 0:  # found in text (a note saying "x:c ") only costs a look
            for stray in self.stray.finditer(buf, start, end):
                if _ELEMENT.fullmatch(buf, buf.rfind(b"<", start, stray.start() + 1), stray.end()):
                    raise FileRejected("the sheet writes its cells under more than one XML prefix, which no "
                                       "spreadsheet program does; open the file in Excel and save it again")
        self.rows += ends
        if self.rows > self.limits.rows:
            raise FileRejected(f"the sheet has more than {self.limits.rows:,} rows")
        self.band_rows += ends
        self.file.write(memoryview(buf)[start:end])
        return True

    def _refuse(self, buf: bytes, after: int) -> None:
        """Why the cell whose tag ends at `after` cannot be read; only a refused file gets here."""
        ref = _REF.match(buf, after)
        if ref is not None:
            letters, digits = ref.group(1).decode(), ref.group(2)
            if len(letters) > 3 or _col_index(letters.encode()) >= self.limits.columns:
                raise FileRejected(f"the sheet uses cell {letters}{digits.decode()}; at most "
                                   f"{self.limits.columns} columns (A to {column_letter(self.limits.columns - 1)})")
            row = int(digits)
            if row > self.limits.rows:
                raise FileRejected(f"the sheet has a row {row:,}, past Excel's last row ({self.limits.rows:,})")
            if self.outside is not None and not self.low <= row < self.low + 2 * self.rows_of[self.wide]:
                raise FileRejected("the sheet's rows are not in order; open the file in Excel and save it again")
        raise FileRejected("the sheet has cells without a position, written by a program K2K cannot read "
                           "safely; open the file in Excel and save it again")

    def _close(self) -> None:
        if self.file is not None:
            self.file.write(self.close_tags)
            self.file.close()
            self.file = None
            self.count += 1

    def finish(self) -> None:
        self._close()


def _after(buf: bytes, sub: bytes, n: int, start: int, end: int, total: int) -> int:
    """The position just after the n-th of the `total` occurrences of `sub` in buf[start:end] (0 < n < total).

    Rows are of a size: the n-th row end is near n / total of the way, so the ends before that point are
    counted (in C) and the few between it and the n-th are stepped over."""
    size = len(sub)
    guess = start + (end - start) * n // total
    before = buf.count(sub, start, guess)
    if before < n:
        at = max(start, guess - size + 1)  # an end straddling the guess is not counted: it is the next one
        for _ in range(n - before):
            at = buf.index(sub, at, end) + size
        return at
    at = guess
    for _ in range(before - n + 1):
        at = buf.rindex(sub, start, at)
    return at + size


def _open_xlsx(path: Path, workdir: Path, limits: Limits, preferred: tuple[str, ...]) -> Sheet:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise FileRejected("the workbook is damaged: it is not a readable .xlsx (zip) file") from None
    normalized = workdir / "normalized.xlsx"
    try:
        # Stored when small (fastest for calamine), deflated when large (Lambda's /tmp is 512 MiB by default).
        big = sum(i.file_size for i in archive.infolist()) > STORE_BELOW
        method = zipfile.ZIP_DEFLATED if big else zipfile.ZIP_STORED
        with archive, zipfile.ZipFile(normalized, "w", method, compresslevel=1 if big else None) as out:
            check_zip(archive, limits)
            budget = Budget(limits)
            parts = _find_parts(archive, limits, budget, preferred)
            copied = {}
            for role, name in (("styles", parts.styles), ("sharedStrings", parts.shared_strings)):
                if name:
                    with archive.open(name) as src, out.open(f"xl/{role}.xml", "w", force_zip64=True) as dst:
                        for chunk in stream_part(src, name, budget):
                            dst.write(chunk)
                    copied[role] = f"xl/{role}.xml"
            with archive.open(parts.sheet_part) as src:
                bands, merged = _split(src, parts.sheet_part, out, budget, limits)
            _write_skeleton(out, bands.count, copied, parts.date1904)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, NotImplementedError) as e:
        raise FileRejected(f"the workbook is damaged and cannot be read ({e})") from None
    if bands.rows == 0:
        raise FileRejected(f"the sheet {parts.sheet_name!r} is empty")
    try:
        workbook = CalamineWorkbook.from_path(str(normalized))
    except CalamineError as e:
        raise FileRejected(f"the workbook is damaged and cannot be read ({e})") from None
    return Sheet(parts.sheet_name, bands.rows, merged, workbook, list(range(bands.count)))


def _split(src: Any, name: str, out: zipfile.ZipFile, budget: Budget, limits: Limits) -> tuple[_Bands, list[Merged]]:
    holder: list[_Bands] = []
    try:
        return _split_into(src, name, out, budget, limits, holder)
    finally:
        if holder and holder[0].file is not None:
            holder[0].file.close()  # a refused file leaves no half-written band open in the zip


def _split_into(src: Any, name: str, out: zipfile.ZipFile, budget: Budget, limits: Limits,
                holder: list[_Bands]) -> tuple[_Bands, list[Merged]]:
    buf = b""
    bands: _Bands | None = None
    tail = b""
    end_tag = row_end = b""
    done = False
    for chunk in stream_part(src, name, budget):
        if done:
            tail += chunk
            if len(tail) > HEAD_MAX:
                raise FileRejected("the sheet's trailing parts are larger than 16 MiB")
            continue
        buf += chunk  # what is left of the last chunk is part of a row: small
        if bands is None:
            opening = SHEETDATA.search(buf)
            if opening is None:
                if len(buf) > HEAD_MAX:
                    raise FileRejected("the workbook is damaged: the sheet has no data part")
                continue
            prefix = opening.group(1)
            end_tag, row_end = b"</" + prefix + b"sheetData>", b"</" + prefix + b"row>"
            if opening.group(2):  # <sheetData/>: no rows at all
                bands = _Bands(out, buf[:opening.start()] + b"<" + prefix + b"sheetData>", prefix, limits)
                holder.append(bands)
                tail, buf, done = buf[opening.end():], b"", True
                continue
            bands = _Bands(out, buf[:opening.end()], prefix, limits)
            holder.append(bands)
            buf = buf[opening.end():]
        closing = buf.find(end_tag)
        if closing >= 0:
            bands.feed(buf, 0, closing)
            tail, buf, done = buf[closing + len(end_tag):], b"", True
            continue
        cut = buf.rfind(row_end)
        if cut >= 0:
            cut += len(row_end)
            bands.feed(buf, 0, cut)
            buf = buf[cut:]
        elif len(buf) > HEAD_MAX:
            raise FileRejected("the sheet has a row larger than 16 MiB")
    if bands is None or not done:
        raise FileRejected("the workbook is damaged: the sheet ends before its data does")
    bands.finish()
    merged = []
    for m in MERGE.finditer(tail):
        merged.append(Merged(int(m.group(2)) - 1, _col_index(m.group(1)), int(m.group(4)) - 1, _col_index(m.group(3))))
        if len(merged) > limits.merged_ranges:
            raise FileRejected(f"the sheet has more than {limits.merged_ranges:,} merged ranges")
    return bands, merged


def _write_skeleton(out: zipfile.ZipFile, count: int, copied: dict[str, str], date1904: bool) -> None:
    ct = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">',
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>',
          '<Default Extension="xml" ContentType="application/xml"/>',
          f'<Override PartName="/xl/workbook.xml" ContentType="{XLSX_MAIN}"/>']
    rels = [f'<Relationship Id="rId{i + 1}" Type="{REL_NS}/worksheet" Target="worksheets/b{i}.xml"/>'
            for i in range(count)]
    sheets = [f'<sheet name="b{i}" sheetId="{i + 1}" r:id="rId{i + 1}"/>' for i in range(count)]
    for i in range(count):
        ct.append(f'<Override PartName="/xl/worksheets/b{i}.xml" '
                  'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>')
    for role, part in copied.items():
        ct.append(f'<Override PartName="/{part}" '
                  f'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.{role}+xml"/>')
        rels.append(f'<Relationship Id="r{role}" Type="{REL_NS}/{role}" Target="{role}.xml"/>')
    ct.append("</Types>")
    out.writestr("[Content_Types].xml", "".join(ct))
    out.writestr("_rels/.rels", f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_REL_NS}">'
                 f'<Relationship Id="rId1" Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    out.writestr("xl/_rels/workbook.xml.rels", f'<?xml version="1.0" encoding="UTF-8"?><Relationships '
                 f'xmlns="{PKG_REL_NS}">{"".join(rels)}</Relationships>')
    pr = '<workbookPr date1904="1"/>' if date1904 else ""
    out.writestr("xl/workbook.xml", f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN_NS}" '
                 f'xmlns:r="{REL_NS}">{pr}<sheets>{"".join(sheets)}</sheets></workbook>')


# -- .xls -------------------------------------------------------------------------------------------

def _open_xls(path: Path, limits: Limits, preferred: tuple[str, ...]) -> Sheet:
    data = path.read_bytes()
    if len(data) > limits.xls_bytes:
        raise FileRejected(f"the .xls file is {len(data) / 2**20:,.1f} MiB; at most {limits.xls_bytes // 2**20} MiB "
                           "(save it as .xlsx for larger files)")
    problem = ole_problem(data)
    if problem:
        raise FileRejected(problem)
    height, width = xls_extent(data)
    if width > limits.columns:
        raise FileRejected(f"the sheet uses column {column_letter(width - 1)}; at most {limits.columns} columns")
    if height * width > limits.xls_cells:
        raise FileRejected(f"the sheet spans {height:,} rows x {width} columns; an .xls may span at most "
                           f"{limits.xls_cells:,} cells (save it as .xlsx)")
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        metas = [m for m in workbook.sheets_metadata
                 if m.typ == SheetTypeEnum.WorkSheet and m.visible == SheetVisibleEnum.Visible]
        if not metas:
            raise FileRejected("the workbook has no visible worksheet")
        wanted = {fold(p) for p in preferred}
        meta = next((m for m in metas if fold(m.name) in wanted), metas[0])
        sheet = workbook.get_sheet_by_name(meta.name)
        ranges = sheet.merged_cell_ranges or []
        merged = [Merged(a[0], a[1], b[0], b[1]) for a, b in ranges[: limits.merged_ranges]]
        rows_total = sheet.height
        del sheet
    except CalamineError as e:
        raise FileRejected(f"the workbook is damaged and cannot be read ({e})") from None
    if rows_total == 0:
        raise FileRejected(f"the sheet {meta.name!r} is empty")
    return Sheet(meta.name, rows_total, merged, workbook, [meta.name])


def xls_extent(data: bytes) -> tuple[int, int]:
    """(rows, columns) the largest sheet's cells span, from the BIFF records, before calamine builds its grid.

    Reads the compound file's "Workbook" stream (FAT chain) and the row/column of each cell record.
    """
    if not data.startswith(OLE_MAGIC) or len(data) < 512:
        raise FileRejected("the .xls file is damaged")
    try:
        stream = _ole_stream(data, ("Workbook", "Book"))
    except (struct.error, IndexError, KeyError):
        raise FileRejected("the .xls file is damaged (its compound file structure cannot be read)") from None
    rows = cols = 0
    pos = 0
    single = {0x0006, 0x0201, 0x0203, 0x0204, 0x0205, 0x027E, 0x00FD, 0x00D6}  # FORMULA BLANK NUMBER LABEL ...
    multi = {0x00BD, 0x00BE}  # MULRK, MULBLANK: row, first col, ..., last col
    n = len(stream)
    while pos + 4 <= n:
        rtype, size = struct.unpack_from("<HH", stream, pos)
        body = pos + 4
        if rtype in single and size >= 4:
            r, c = struct.unpack_from("<HH", stream, body)
            rows, cols = max(rows, r + 1), max(cols, c + 1)
        elif rtype in multi and size >= 6:
            r = struct.unpack_from("<H", stream, body)[0]
            last = struct.unpack_from("<H", stream, body + size - 2)[0]
            rows, cols = max(rows, r + 1), max(cols, last + 1)
        pos = body + size
    return rows, cols


def _ole_stream(data: bytes, names: tuple[str, ...]) -> bytes:
    sector_shift, mini_shift = struct.unpack_from("<HH", data, 30)
    sector = 1 << sector_shift
    n_fat, first_dir = struct.unpack_from("<II", data, 44)[0], struct.unpack_from("<I", data, 48)[0]
    mini_cutoff, first_minifat = struct.unpack_from("<II", data, 56)
    first_difat, n_difat = struct.unpack_from("<II", data, 68)
    difat = list(struct.unpack_from("<109I", data, 76))
    next_difat = first_difat
    for _ in range(min(n_difat, 1024)):
        if next_difat >= 0xFFFFFFFA:
            break
        off = (next_difat + 1) * sector
        entries = struct.unpack_from(f"<{sector // 4}I", data, off)
        difat.extend(entries[:-1])
        next_difat = entries[-1]
    fat: list[int] = []
    for s in difat[: max(n_fat, 0)]:
        if s >= 0xFFFFFFFA:
            continue
        fat.extend(struct.unpack_from(f"<{sector // 4}I", data, (s + 1) * sector))

    def chain(start: int, limit: int = 1 << 20) -> bytes:
        out = bytearray()
        seen = 0
        while start < 0xFFFFFFFA and seen < limit:
            out += data[(start + 1) * sector: (start + 2) * sector]
            start = fat[start]
            seen += 1
        return bytes(out)

    directory = chain(first_dir)
    for off in range(0, len(directory) - 127, 128):
        name_len = struct.unpack_from("<H", directory, off + 64)[0]
        name = directory[off: off + max(name_len - 2, 0)].decode("utf-16-le", "replace")
        if name in names:
            start, size = struct.unpack_from("<II", directory, off + 116)
            if size < mini_cutoff:
                root_start = struct.unpack_from("<I", directory, 116)[0]
                mini = chain(root_start)
                minifat_bytes = chain(first_minifat)
                minifat = struct.unpack_from(f"<{len(minifat_bytes) // 4}I", minifat_bytes)
                out = bytearray()
                msize = 1 << mini_shift
                while start < 0xFFFFFFFA and len(out) < size:
                    out += mini[start * msize: (start + 1) * msize]
                    start = minifat[start]
                return bytes(out[:size])
            return chain(start)[:size]
    raise KeyError("no workbook stream")
