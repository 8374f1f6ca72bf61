"""Blank templates: the header row of each import type, and a sheet explaining every column."""

from __future__ import annotations

import hashlib
import io

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from k2k.imports import rules
from k2k.imports.spec import ImportSpec


def template_bytes(spec: ImportSpec) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = spec.title
    ws.append([c.name for c in spec.columns])
    for i, col in enumerate(spec.columns, start=1):
        ws.cell(row=1, column=i).font = Font(bold=True)
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = max(14, len(col.name) + 4)
        if col.rule is rules.ymd_date:
            ws.column_dimensions[letter].number_format = "yyyy-mm-dd"
        elif col.example and isinstance(col.example, str) and not col.example.replace(".", "").isdigit():
            ws.column_dimensions[letter].number_format = "@"  # codes stay text (00123 keeps its zeros)
    ws.freeze_panes = "A2"
    help_sheet = wb.create_sheet("How to fill in")
    help_sheet.append(["Column", "Required", "What it must hold", "Example"])
    for cell in help_sheet[1]:
        cell.font = Font(bold=True)
    for col in spec.columns:
        help_sheet.append([col.name, col.need.value, col.help, col.example])
    help_sheet.append([])
    help_sheet.append(["Headers are matched by name, not position; case and spaces do not matter."])
    for note in spec.notes:
        help_sheet.append([note])
    for letter, width in (("A", 28), ("B", 36), ("C", 80), ("D", 24)):
        help_sheet.column_dimensions[letter].width = width
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def template_version(spec: ImportSpec) -> str:
    """Changes whenever the columns do, so a stored template is never stale."""
    text = "|".join(f"{c.name}:{c.need.value}:{c.help}" for c in spec.columns) + "|".join(spec.notes)
    return hashlib.sha256(text.encode()).hexdigest()[:10]
