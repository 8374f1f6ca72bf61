"""The invoice PDF: a real PDF that says what the invoice says, the same bytes every time."""

import re
import zlib
from datetime import UTC, date, datetime
from decimal import Decimal as D

from k2k.inventory import BoxType, UnitType
from k2k.invoices import Invoice, billed_line, invoice_document, totals, void
from k2k.pdf import render

NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


def pdf_text(raw: bytes) -> str:
    """The page content streams, inflated: enough to find the words written on the page."""
    text = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", raw, re.S):
        try:
            text.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            text.append(stream.decode("latin-1"))
    return "".join(text)


def invoice(product="Rose Freedom 50cm"):
    lines = [billed_line(1, "FR50HB", product, BoxType.HB, UnitType.STEM, 2, 10, 25, D("0.350"))]
    subtotal, total = totals(lines, [])
    return Invoice(invoice_no=1042, vendor_company_id="rosaflor", vendor_name="Rosaflor Farms",
                   buyer_company_id="bloom", buyer_name="Bloom Wholesale", customer_code="BLOOM", order_id="K2K-1",
                   po_id="PO-1", awb="AWB-77", ship_date=date(2026, 11, 25), invoice_date=date(2026, 11, 22),
                   lines=lines, subtotal=subtotal, total=total, issued_at=NOW, updated_at=NOW)


def test_the_invoice_pdf_names_the_number_the_box_code_and_the_total():
    raw = render(invoice_document(invoice()))
    assert raw.startswith(b"%PDF-")
    text = pdf_text(raw)
    for words in ("INVOICE 1042", "Rosaflor Farms", "Bloom Wholesale", "FR50HB", "0.350", "175.00", "AWB-77",
                  "PO-1"):
        assert words in text, words


def test_rendering_a_version_twice_gives_the_same_bytes():
    assert render(invoice_document(invoice())) == render(invoice_document(invoice()))


def test_a_voided_invoice_is_stamped_void():
    text = pdf_text(render(invoice_document(void(invoice(), "CONFIRM", "billed twice", None, NOW))))
    assert "VOID" in text and "billed twice" in text


def test_characters_outside_the_pdf_fonts_do_not_stop_the_invoice():
    raw = render(invoice_document(invoice(product="Rosa \u201cExplorer\u201d \u2013 Ecuador \u273f")))
    assert "Rosa ?Explorer? ? Ecuador ?" in pdf_text(raw)
