"""The results workbook: each rejected row with its original columns, its row number and what is wrong.

User text goes back into a spreadsheet here, so no value may become a formula:
text starting with =, +, -, @, tab or CR is written as text with a leading
apostrophe (OWASP's advice for spreadsheet injection), and every text cell is
typed as a string, never left for the reader to interpret.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
EXCEL_CELL_CHARS = 32_767
_BOLD = Font(bold=True)
_MESSAGE_FILL = PatternFill("solid", fgColor="FDE9E7")


def neutralize(value: Any) -> Any:
    """A value that is safe to write: numbers and dates as they are, text never a formula."""
    if value is None or isinstance(value, bool | int | float | date | datetime | time):
        return value
    if isinstance(value, timedelta):
        return str(value)
    text = str(value)[:EXCEL_CELL_CHARS - 1]
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def _cell(ws: Any, value: Any, **style: Any) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=neutralize(value))
    if isinstance(cell.value, str):
        cell.data_type = "s"  # openpyxl would otherwise read "=..." as a formula; we already prefixed it
    for name, v in style.items():
        setattr(cell, name, v)
    return cell


def write_results(path: Path, title: str, header: list[Any], rejected: Iterable[tuple[int, list[Any], str]]) -> int:
    """Write the workbook; returns how many rows it lists."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(f"{title} - rejected"[:31])
    width = len(header)
    ws.append([_cell(ws, h, font=_BOLD) for h in header]
              + [_cell(ws, "Row", font=_BOLD), _cell(ws, "Message", font=_BOLD)])
    count = 0
    for row, cells, message in rejected:
        values = list(cells[:width]) + [""] * (width - len(cells))
        ws.append([_cell(ws, v) for v in values] + [row, _cell(ws, message, fill=_MESSAGE_FILL)])
        count += 1
    wb.save(path)
    return count
