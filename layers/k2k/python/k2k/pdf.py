"""Lays out an invoice PDF (fpdf2). What it says is decided in k2k.invoices.invoice_document.

The same document always renders to the same bytes (fixed creation date and
file id), so a retried render of a version writes an identical object.
"""

from __future__ import annotations

import hashlib

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from k2k.invoices import InvoiceDocument

FONT = "Helvetica"


def _text(value: str) -> str:
    # The core fonts are Latin-1; anything else prints as "?" rather than failing the invoice.
    return value.encode("latin-1", "replace").decode("latin-1")


def render(doc: InvoiceDocument) -> bytes:
    pdf = FPDF(format="letter")
    pdf.set_creation_date(doc.created_at)
    pdf.set_producer("K2K")
    pdf.set_title(_text(doc.title))
    pdf.set_author(_text(doc.author))
    digest = hashlib.md5(doc.model_dump_json().encode(), usedforsecurity=False).hexdigest()
    pdf.file_id = lambda: f"<{digest}><{digest}>"  # type: ignore[method-assign]
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.epw

    pdf.set_font(FONT, "B", 18)
    pdf.cell(width / 2, 10, _text(doc.title), new_x=XPos.RIGHT, new_y=YPos.TOP)
    pdf.set_font(FONT, "B", 12)
    pdf.cell(width / 2, 10, _text(doc.seller[0]), align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if doc.stamp:
        pdf.set_text_color(200, 0, 0)
        pdf.set_font(FONT, "B", 28)
        pdf.cell(width, 14, _text(doc.stamp), align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)
    pdf.ln(4)

    pdf.set_font(FONT, "B", 10)
    pdf.cell(width, 6, "Bill to", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 10)
    for line in doc.bill_to:
        pdf.cell(width, 5, _text(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    for label, value in doc.facts:
        pdf.set_font(FONT, "B", 9)
        pdf.cell(30, 5, _text(label), new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.set_font(FONT, "", 9)
        pdf.cell(width - 30, 5, _text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)

    pdf.set_font(FONT, "", 9)
    table = doc.table
    aligns = tuple("RIGHT" if n else "LEFT" for n in table.numeric)
    with pdf.table(col_widths=tuple(table.widths), text_align=aligns, line_height=6,  # type: ignore[arg-type]
                   first_row_as_headings=True) as grid:
        for row in [table.columns, *table.rows]:
            cells = grid.row()
            for value in row:
                cells.cell(_text(value))
    pdf.ln(3)

    for label, value in doc.totals:
        bold = label == doc.totals[-1][0]
        pdf.set_font(FONT, "B" if bold else "", 10)
        pdf.cell(width - 35, 6, _text(label), align=Align.R, new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.cell(35, 6, _text(value), align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if doc.notes:
        pdf.ln(4)
        pdf.set_font(FONT, "I", 9)
        for note in doc.notes:
            pdf.multi_cell(width, 5, _text(note), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
