"""A corpus of bad files, each dropped into the folder: every one ends in a clear result, none in a crash.

Files are made in code (tests/fixtures/imports/workbooks.py): the hostile
ones by hand, the merely wrong ones as Excel would save them.
"""

import io
import zipfile
from datetime import date

import pytest
from openpyxl import load_workbook

from tests.fixtures.imports import workbooks as wb
from tests.fixtures.imports.world import DOCS, emulated_aws

H = wb.INVOICE_HEADER
ROW = ["A-1", "PETALS", "2026-03-05", 10, "PO-1", "MIA"]


def docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/'
                   'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("word/document.xml", "<document/>")
    return out.getvalue()


def plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("invoices.txt", "A-1,PETALS")
    return out.getvalue()


def truncated() -> bytes:
    good = wb.invoices(ROW)
    return good[: len(good) // 2]


def broken_sheet_xml() -> bytes:
    return wb.raw_xlsx(wb.SHEET_OPEN + '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Invoice #</t>'
                       '</is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>oops</row></sheetData></worksheet>')


def shared_strings_xxe() -> bytes:
    sst = ('<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&xxe;</t></si></sst>')
    return wb.raw_xlsx(
        wb.sheet_xml([H]).replace('<c r="A1" t="inlineStr"><is><t xml:space="preserve">Invoice #</t></is></c>',
                                  '<c r="A1" t="s"><v>0</v></c>'),
        parts={"xl/sharedStrings.xml": sst},
        rels_extra='<Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                   'relationships/sharedStrings" Target="sharedStrings.xml"/>')


FAILED = [
    ("empty", b"", "empty.xlsx", "the file is empty"),
    ("header only", wb.invoices(), "header.xlsx", "has a header row but no rows to import"),
    ("wrong sheet", wb.invoices(ROW, sheet="Data", before=("Notes",)), "notes.xlsx",
     "the sheet 'Notes' has no header row with the columns 'Invoice #'"),
    ("no header", wb.workbook([["a", "b"], [1, 2]]), "plain.xlsx", "download the Open Invoices template"),
    ("not an excel name", wb.invoices(ROW), "march.csv", "only .xlsx and .xls files are imported"),
    ("macro-enabled name", wb.invoices(ROW), "march.xlsm", "only .xlsx and .xls files are imported"),
    ("macro-enabled content", wb.raw_xlsx(wb.sheet_xml([H, ROW]), main=wb.XLSM_MAIN), "renamed.xlsx",
     "macro-enabled workbook (.xlsm)"),
    ("vba project inside", wb.raw_xlsx(wb.sheet_xml([H, ROW]), parts={"xl/vbaProject.bin": b"\x00" * 64}),
     "vba.xlsx", "contains macros"),
    ("csv renamed", b"Invoice #,Customer Code\nA-1,PETALS\n", "renamed.xlsx", "it is a text (CSV) file"),
    ("html renamed", b"<html><table><tr><td>A-1</td></tr></table></html>", "report.xlsx", "web page (HTML)"),
    ("xls renamed", wb.ole_with("Workbook"), "old.xlsx", "named .xlsx but is an .xls file"),
    ("password-protected xlsx", wb.ole_with("EncryptionInfo", "EncryptedPackage"), "secret.xlsx",
     "password-protected"),
    ("encrypted zip entries", wb.encrypted_flag(wb.invoices(ROW)), "locked.xlsx", "password-protected"),
    ("word document renamed", docx(), "letter.xlsx", "Word document"),
    ("zip archive renamed", plain_zip(), "archive.xlsx", "it is a zip archive, not an Excel workbook"),
    ("truncated download", truncated(), "cut.xlsx", "damaged"),
    ("broken sheet xml", broken_sheet_xml(), "broken.xlsx", "damaged"),
    ("zip bomb", wb.zip_bomb(64), "bomb.xlsx", "zip bomb"),
    ("billion laughs", wb.raw_xlsx(wb.billion_laughs()), "lol.xlsx", "DTD"),
    ("external entity in shared strings", shared_strings_xxe(), "xxe.xlsx", "DTD"),
    ("cell at XFD1048576", wb.raw_xlsx(wb.sheet_xml([H, ROW]).replace(
        "</sheetData>", '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>')),
     "far.xlsx", "at most 100 columns"),
    ("row past excel's last", wb.raw_xlsx(wb.sheet_xml([H, ROW]).replace(
        "</sheetData>", '<row r="9999999"><c r="A9999999"><v>1</v></c></row></sheetData>')),
     "deep.xlsx", "past Excel's last row"),
    ("rows out of order", wb.raw_xlsx(wb.sheet_xml([H, ROW]).replace(
        "</sheetData>", '<row r="900000"><c r="A900000"><v>1</v></c></row></sheetData>')),
     "jump.xlsx", "rows are not in order"),
    ("cells without a position", wb.raw_xlsx(wb.sheet_xml([H]).replace(
        "</sheetData>", '<row r="2">' + "<c><v>1</v></c>" * 5000 + "</row></sheetData>")),
     "noref.xlsx", "cells without a position"),
    ("101 columns", wb.workbook([[*H, *[f"extra {i}" for i in range(95)]], ROW]), "wide.xlsx",
     "at most 100 columns"),
]


@pytest.fixture
def world():
    with emulated_aws() as w:
        w.company("bloom", locations=("MIA", "NYC"), customers=("PETALS",), notification_emails=("ar@bloom.example",))
        yield w


@pytest.mark.parametrize(("data", "filename", "reason"), [c[1:] for c in FAILED], ids=[c[0] for c in FAILED])
def test_a_file_that_cannot_be_imported_fails_with_a_clear_reason(world, data, filename, reason):
    out = world.drop(f"imports/bloom/open-invoices/{filename}", data)
    assert out == {"batchItemFailures": []}
    [job] = world.jobs("bloom")
    assert job["status"] == "failed"
    assert reason in job["failure_reason"]
    assert world.db.query("C#bloom", "INVREF#") == []  # nothing half-imported
    [email] = world.emails()
    assert job["failure_reason"] in email.body
    assert world.s3.get_object(Bucket="k2k-test-drop", Key=f"imports/bloom/open-invoices/{filename}")  # kept


REJECTED_ROWS = [
    ("merged cells", wb.invoices(ROW, ["A-2", None, None, 10, "PO-2", "MIA"], merged=("A3:C3",)),
     "merged cells A3:C3: unmerge them and fill in each cell"),
    ("date typed as text the wrong way", wb.invoices(["A-2", "PETALS", "5/3/2026", 10, "PO-2", "MIA"]),
     "Invoice Date: must be a date written YYYY-MM-DD (got 5/3/2026)"),
    ("date typed as a number", wb.invoices(["A-2", "PETALS", 46086, 10, "PO-2", "MIA"]),
     "Invoice Date: must be a date written YYYY-MM-DD (got the number 46086)"),
    ("a date that does not exist", wb.invoices(["A-2", "PETALS", "2026-02-30", 10, "PO-2", "MIA"]),
     "Invoice Date: 2026-02-30 is not a real date"),
    ("four decimals", wb.invoices(["A-2", "PETALS", "2026-03-05", 10.1234, "PO-2", "MIA"]),
     "Invoice Balance: at most 3 decimals (got 10.1234)"),
    ("four decimals typed as text", wb.invoices(["A-2", "PETALS", "2026-03-05", "10.1234", "PO-2", "MIA"]),
     "Invoice Balance: at most 3 decimals (got 10.1234)"),
    ("21-character invoice number", wb.invoices(["A" * 21, "PETALS", "2026-03-05", 10, "PO-2", "MIA"]),
     "Invoice #: at most 20 characters (got 21)"),
    ("a cell longer than the limit", wb.invoices(["A-2", "PETALS", "2026-03-05", 10, "P" * 2000, "MIA"]),
     "Customer PO: at most 1,024 characters in a cell (got 2,000)"),
    ("everything missing", wb.invoices(["A-2", None, None, None, None, None]),
     "Customer Code: required; Invoice Date: required; Invoice Balance: required; Customer PO: required; "
     "Location Code: required for multi-location companies"),
]


@pytest.mark.parametrize(("data", "message"), [c[1:] for c in REJECTED_ROWS], ids=[c[0] for c in REJECTED_ROWS])
def test_a_bad_row_is_rejected_whole_with_its_reason_and_the_good_rows_are_imported(world, data, message):
    world.drop("imports/bloom/open-invoices/rows.xlsx", data)
    [job] = world.jobs("bloom")
    assert job["status"] == "completed_with_errors", job.get("failure_reason")
    rows = world.results(job["results_key"])
    assert rows[-1][-1] == message
    assert world.db.get("C#bloom", "INVREF#A-2") is None


def test_dates_as_excel_dates_and_as_yyyy_mm_dd_text_both_import(world):
    world.drop("imports/bloom/open-invoices/dates.xlsx", wb.invoices(
        ["A-1", "PETALS", date(2026, 3, 5), 10, "PO-1", "MIA"], ["A-2", "PETALS", "2026-03-06", 10, "PO-1", "MIA"]))
    assert world.db.get("C#bloom", "INVREF#A-1")["invoice_date"] == "2026-03-05"
    assert world.db.get("C#bloom", "INVREF#A-2")["invoice_date"] == "2026-03-06"


def test_text_that_looks_like_a_formula_never_becomes_one_in_the_results(world):
    hostile = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "CRx"]
    sheet = wb.sheet_xml([H, *[[h, "NOBODY", "2026-03-05", 10, h, "MIA"] for h in hostile]])
    world.drop("imports/bloom/open-invoices/evil.xlsx", wb.raw_xlsx(sheet.replace("CRx", "&#13;x")))
    hostile[-1] = "\rx"  # a carriage return, as the cell holds it
    [job] = world.jobs("bloom")
    body = world.s3.get_object(Bucket=DOCS, Key=job["results_key"])["Body"].read()
    sheet = load_workbook(io.BytesIO(body)).worksheets[0]
    cells = [sheet.cell(row=r, column=c) for r in range(2, 8) for c in (1, 5)]
    assert all(c.data_type == "s" and c.value.startswith("'") for c in cells)
    # (XML reads a carriage return back as a line feed; what matters is the apostrophe in front.)
    assert {c.value[1:] for c in cells} == {h.replace("\r", "\n") for h in hostile}
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert "<f>" not in z.read("xl/worksheets/sheet1.xml").decode()


def test_an_xls_workbook_is_imported_like_an_xlsx(world):
    world.drop("imports/bloom/open-invoices/old-system.xls", wb.xls([
        H, ["A-1", "PETALS", "2026-03-05", 10.5, "PO-1", "MIA"],
        ["A-2", "PETALS", "2026-03-05", 1.2345, "PO-1", "MIA"]]))
    [job] = world.jobs("bloom")
    assert (job["status"], job["imported"], job["rejected"]) == ("completed_with_errors", 1, 1)
    assert world.results(job["results_key"])[1][-1] == "Invoice Balance: at most 3 decimals (got 1.2345)"


@pytest.mark.parametrize(("data", "reason"), [
    (wb.xls([H, ROW], far_cell=(65535, 255)), "at most 100 columns"),
    (wb.xls([H, ROW], far_cell=(65535, 40)), "an .xls may span at most 2,000,000 cells"),
    (wb.ole_with("Workbook", "_VBA_PROJECT_CUR"), "contains macros"),
    (wb.ole_with("WordDocument"), "Word document"),
], ids=["cell at IV65536", "a grid too large", "macros", "a Word 97 document"])
def test_a_hostile_or_wrong_xls_fails_with_a_clear_reason(world, data, reason):
    world.drop("imports/bloom/open-invoices/old.xls", data)
    [job] = world.jobs("bloom")
    assert job["status"] == "failed"
    assert reason in job["failure_reason"]
